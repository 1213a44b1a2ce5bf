using System;
using System.Linq;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>What may be shown of URLs and messages.</summary>
    public sealed class RedactionTests
    {
        [Fact]
        public void UploadState_IsRedacted_DigestKept()
        {
            var url = new Uri("http://127.0.0.1:5000/v2/app/blobs/uploads/1f2e?_state=eyJOYW1lIjoiYXBwIn0%3D&digest=sha256:" + new string('a', 64));
            string shown = Redaction.Url(url);
            Assert.Equal("http://127.0.0.1:5000/v2/app/blobs/uploads/1f2e?_state=REDACTED&digest=sha256:" + new string('a', 64), shown);
        }

        [Fact]
        public void PresignedSignatures_AreRedacted()
        {
            string shown = Redaction.Url("https://bucket.s3.amazonaws.com/docker/blob?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101&X-Amz-Signature=deadbeef&X-Amz-Expires=1200");
            Assert.DoesNotContain("deadbeef", shown);
            Assert.DoesNotContain("AKIA", shown);
            Assert.Contains("X-Amz-Signature=REDACTED", shown);
            Assert.StartsWith("https://bucket.s3.amazonaws.com/docker/blob?", shown);
        }

        [Fact]
        public void UserInfo_IsRemoved()
        {
            string shown = Redaction.Url(new Uri("https://user:pass@registry.example/v2/app/tags/list?n=10&last=b"));
            Assert.Equal("https://registry.example/v2/app/tags/list?n=10&last=b", shown);
            Assert.DoesNotContain("pass", Redaction.Url("https://user:pass@registry.example/v2/"));
        }

        [Fact]
        public void SafeKeys_AreKept_OthersRedacted()
        {
            string shown = Redaction.Url("https://auth.example/token?service=reg&scope=repository:a:pull&account=me&refresh_token=secret");
            Assert.Contains("service=reg", shown);
            Assert.Contains("scope=repository:a:pull", shown);
            Assert.Contains("refresh_token=REDACTED", shown);
            Assert.DoesNotContain("secret", shown);
            Assert.Contains("mount=sha256:", Redaction.Url("http://h/v2/a/blobs/uploads/?mount=sha256:" + new string('b', 64) + "&from=b"));
        }

        [Fact]
        public void RelativeUrls_AreRedactedToo()
        {
            Assert.Equal("/v2/a/blobs/uploads/u?_state=REDACTED", Redaction.Url("/v2/a/blobs/uploads/u?_state=abc"));
            Assert.Equal("/v2/a/tags/list", Redaction.Url("/v2/a/tags/list"));
            Assert.Equal(string.Empty, Redaction.Url((string?)null));
        }

        [Fact]
        public void LongUrls_AreShortenedInTheMiddle_AfterRedaction()
        {
            var scopes = string.Join("&", Enumerable.Range(0, 2300).Select(i => $"scope=repository%3An{i}%3Apull"));
            var url = "https://auth.example/" + new string('p', 500) + "/token?account=s3cr3t&" + scopes + "&service=last";
            string shown = Redaction.Url(url);
            Assert.True(shown.Length <= Redaction.MaxShownPath + Redaction.MaxShownQuery, shown);
            Assert.StartsWith("https://auth.example/ppp", shown);
            Assert.Contains("…", shown);
            Assert.Contains("?account=REDACTED&scope=repository%3An0%3Apull", shown);
            Assert.EndsWith("&service=last", shown);
            Assert.DoesNotContain("s3cr3t", shown);
            Assert.True(Redaction.Text("failed: " + url).Length < 500);
            // Short ones are left whole.
            Assert.Equal("https://auth.example/token?service=reg&scope=repository:a:pull", Redaction.Url("https://auth.example/token?service=reg&scope=repository:a:pull"));
        }

        [Fact]
        public void Text_RedactsCredentialsAndUrls()
        {
            string shown = Redaction.Text("Authorization: Bearer eyJhbGciOi.abc.def failed for https://u:p@h.example/v2/x?_state=s3cr3t&digest=sha256:1 and Basic dXNlcjpwYXNz");
            Assert.DoesNotContain("eyJhbGciOi", shown);
            Assert.DoesNotContain("dXNlcjpwYXNz", shown);
            Assert.DoesNotContain("s3cr3t", shown);
            Assert.DoesNotContain("u:p@", shown);
            Assert.Contains("Bearer REDACTED", shown);
            Assert.Contains("Basic REDACTED", shown);
            Assert.Contains("digest=sha256:1", shown);
        }

        [Theory]
        [InlineData("grant_type=refresh_token&refresh_token=rt-secret-1&service=reg", "refresh_token=REDACTED&service=reg")]
        [InlineData("grant_type=access_token&access_token=at-secret-1&tenant=t", "access_token=REDACTED&tenant=t")]
        [InlineData("{\"refresh_token\": \"rt-secret-1\", \"expires_in\": 60}", "\"refresh_token\": \"REDACTED\"")]
        [InlineData("{\"access_token\":\"at-secret-1\"}", "\"access_token\":\"REDACTED\"")]
        [InlineData("{\"token\":\"tk-secret-1\",\"identitytoken\":\"it-secret-1\"}", "\"identitytoken\":\"REDACTED\"")]
        public void Text_RedactsTokenFields_OfFormsAndJson(string text, string expected)
        {
            string shown = Redaction.Text(text);
            Assert.DoesNotContain("-secret-1", shown);
            Assert.Contains(expected, shown);
        }

        [Fact]
        public void Text_RedactsAnythingShapedLikeAJwt()
        {
            string shown = Redaction.Text("invalid token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl for repository app");
            Assert.Equal("invalid token REDACTED for repository app", shown);
        }
    }
}
