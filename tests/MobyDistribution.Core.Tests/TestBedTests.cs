using System;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Self-tests of the real-registry test bed (no mocks: real docker-registry, real skopeo).</summary>
    [Collection("registries")]
    public sealed class TestBedTests
    {
        private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
        {
            Timeout = TimeSpan.FromSeconds(10),
        };

        private readonly TestBedFixture _bed;

        public TestBedTests(TestBedFixture bed) => _bed = bed;

        private static HttpResponseMessage Send(HttpMethod method, string url, AuthenticationHeaderValue? auth = null)
        {
            using var request = new HttpRequestMessage(method, url);
            request.Headers.Authorization = auth;
            return Http.Send(request);
        }

        private static AuthenticationHeaderValue BasicAuth(string user, string password) =>
            new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));

        private static string Challenge(HttpResponseMessage response) =>
            string.Join(", ", response.Headers.WwwAuthenticate.Select(h => h.ToString()));

        private string TokenUrl(params string[] scopes) =>
            _bed.Issuer.Realm + "?service=" + Uri.EscapeDataString(_bed.Issuer.Service) +
            string.Concat(scopes.Select(s => "&scope=" + Uri.EscapeDataString(s)));

        private static string Sha256(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

        [Fact]
        public void TestBed_AnonymousRegistry_AnswersV2With200()
        {
            using var response = Send(HttpMethod.Get, _bed.Anonymous.BaseUrl + "/v2/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("registry/2.0", response.Headers.GetValues("Docker-Distribution-API-Version").Single());
        }

        [Fact]
        public void TestBed_BasicRegistry_ChallengesWithBasic_AndAcceptsItsUser()
        {
            using var anonymous = Send(HttpMethod.Get, _bed.Basic.BaseUrl + "/v2/");
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            var challenge = Assert.Single(anonymous.Headers.WwwAuthenticate);
            Assert.Equal("Basic", challenge.Scheme);
            Assert.Contains("realm=", challenge.Parameter);

            using var good = Send(HttpMethod.Get, _bed.Basic.BaseUrl + "/v2/", BasicAuth(TestBedEnvironment.User, TestBedEnvironment.Password));
            Assert.Equal(HttpStatusCode.OK, good.StatusCode);

            using var bad = Send(HttpMethod.Get, _bed.Basic.BaseUrl + "/v2/", BasicAuth(TestBedEnvironment.User, "wrong"));
            Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        }

        [Fact]
        public void TestBed_TokenRegistry_ChallengesWithBearer_NamingRealmAndService()
        {
            using var response = Send(HttpMethod.Get, _bed.Token.BaseUrl + "/v2/");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var challenge = Assert.Single(response.Headers.WwwAuthenticate);
            Assert.Equal("Bearer", challenge.Scheme);
            Assert.Contains($"realm=\"{_bed.Issuer.Realm}\"", challenge.Parameter);
            Assert.Contains($"service=\"{_bed.Issuer.Service}\"", challenge.Parameter);
        }

        [Fact]
        public void TestBed_TokenIssuer_RefusesWrongOrMissingCredentials()
        {
            string url = TokenUrl("repository:testbed/refused:pull");
            using (var wrongPassword = Send(HttpMethod.Get, url, BasicAuth(TestBedEnvironment.User, "nope")))
                Assert.Equal(HttpStatusCode.Unauthorized, wrongPassword.StatusCode);
            using (var unknownUser = Send(HttpMethod.Get, url, BasicAuth("mallory", "x")))
                Assert.Equal(HttpStatusCode.Unauthorized, unknownUser.StatusCode);
            using (var anonymous = Send(HttpMethod.Get, url))
                Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

            var log = _bed.Issuer.Requests.Where(r => r.Scopes.Contains("repository:testbed/refused:pull")).ToArray();
            Assert.Equal(3, log.Length);
            Assert.All(log, r => Assert.Equal(401, r.StatusCode));
            Assert.Contains(log, r => r.PresentedUser == "mallory");
        }

        [Fact]
        public void TestBed_TokenIssuer_IssuesTokensTheRegistryAccepts()
        {
            using var tokenResponse = Send(HttpMethod.Get, TokenUrl("repository:testbed/accepted:pull,push"),
                BasicAuth(TestBedEnvironment.User, TestBedEnvironment.Password));
            Assert.Equal(HttpStatusCode.OK, tokenResponse.StatusCode);
            using var json = JsonDocument.Parse(tokenResponse.Content.ReadAsStream());
            string token = json.RootElement.GetProperty("token").GetString()!;
            Assert.Equal(token, json.RootElement.GetProperty("access_token").GetString());
            Assert.Equal(300, json.RootElement.GetProperty("expires_in").GetInt32());

            // Header names the key by x5c; ES256 signature is r||s (64 bytes).
            var parts = token.Split('.');
            Assert.Equal(3, parts.Length);
            using var header = JsonDocument.Parse(FromBase64Url(parts[0]));
            Assert.Equal("ES256", header.RootElement.GetProperty("alg").GetString());
            Assert.Equal(_bed.Issuer.CertificateBase64, header.RootElement.GetProperty("x5c")[0].GetString());
            Assert.Equal(64, FromBase64Url(parts[2]).Length);
            using var claims = JsonDocument.Parse(FromBase64Url(parts[1]));
            Assert.Equal(_bed.Issuer.Service, claims.RootElement.GetProperty("aud").GetString());
            var access = Assert.Single(claims.RootElement.GetProperty("access").EnumerateArray());
            Assert.Equal(new[] { "pull", "push" }, access.GetProperty("actions").EnumerateArray().Select(a => a.GetString()));

            using var v2 = Send(HttpMethod.Get, _bed.Token.BaseUrl + "/v2/", new AuthenticationHeaderValue("Bearer", token));
            Assert.Equal(HttpStatusCode.OK, v2.StatusCode);

            var record = _bed.Issuer.Requests.Last(r => r.Scopes.Contains("repository:testbed/accepted:pull,push"));
            Assert.Equal(TestBedEnvironment.User, record.User);
            Assert.Equal(200, record.StatusCode);
        }

        [Fact]
        public void TestBed_TokenRegistry_RejectsExpiredToken_AsInvalidToken()
        {
            // distribution allows 60 s of clock skew on exp, so "expired" must be well past that.
            string expired = _bed.Issuer.IssueToken(TestBedEnvironment.User,
                new[] { new TokenAccess("repository", "testbed/expired", "pull") }, TimeSpan.FromMinutes(-5));
            using var response = Send(HttpMethod.Get, _bed.Token.BaseUrl + "/v2/", new AuthenticationHeaderValue("Bearer", expired));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("error=\"invalid_token\"", Challenge(response));
        }

        [Fact]
        public void TestBed_PullOnlyUser_GetsOnlyPull_AndIsRefusedPush()
        {
            using var tokenResponse = Send(HttpMethod.Get, TokenUrl("repository:testbed/readonly:pull,push"),
                BasicAuth(TestBedEnvironment.ReaderUser, TestBedEnvironment.ReaderPassword));
            Assert.Equal(HttpStatusCode.OK, tokenResponse.StatusCode);
            using var json = JsonDocument.Parse(tokenResponse.Content.ReadAsStream());
            string token = json.RootElement.GetProperty("token").GetString()!;

            var record = _bed.Issuer.Requests.Last(r => r.Scopes.Contains("repository:testbed/readonly:pull,push"));
            Assert.Equal(new[] { "pull" }, Assert.Single(record.Granted).Actions);

            using var upload = Send(HttpMethod.Post, _bed.Token.BaseUrl + "/v2/testbed/readonly/blobs/uploads/",
                new AuthenticationHeaderValue("Bearer", token));
            Assert.Equal(HttpStatusCode.Unauthorized, upload.StatusCode);
            Assert.Contains("insufficient_scope", Challenge(upload));
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public void TestBed_Skopeo_PushesOciImage_WithTheBuildersDigests(string registryName)
        {
            var registry = _bed.Env.Get(registryName);
            var image = _bed.Image;
            string digest = Skopeo.PushFixture(image, registry, "testbed/image-" + registryName, "v1");
            Assert.Equal(image.ManifestDigest, digest);

            string reference = registry.ImageReference("testbed/image-" + registryName, "v1");
            byte[] raw = Skopeo.InspectRawBytes(reference, registry.Credentials);
            Assert.Equal(image.ManifestDigest, Sha256(raw));
            Assert.Equal(image.ReadBlob(image.ManifestDigest), raw);

            using var manifest = JsonDocument.Parse(raw);
            Assert.Equal(FixtureImage.OciManifestMediaType, manifest.RootElement.GetProperty("mediaType").GetString());
            Assert.Equal(image.Layers.Select(l => l.Digest),
                manifest.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()));

            string config = Skopeo.InspectConfig(reference, registry.Credentials);
            Assert.Equal(image.ConfigDigest, Sha256(Encoding.UTF8.GetBytes(config)));
            Assert.Contains("v1", Skopeo.ListTags(reference, registry.Credentials));

            // By digest too.
            Assert.Equal(image.ManifestDigest, Skopeo.Digest(registry.ImageReference("testbed/image-" + registryName, image.ManifestDigest), registry.Credentials));
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public void TestBed_Skopeo_PushesTwoPlatformIndex_PreservingTheIndexDigest(string registryName)
        {
            var registry = _bed.Env.Get(registryName);
            var index = _bed.Index;
            Assert.True(index.IsIndex);
            string digest = Skopeo.PushFixture(index, registry, "testbed/index-" + registryName, "multi");
            Assert.Equal(index.IndexDigest, digest);

            string reference = registry.ImageReference("testbed/index-" + registryName, "multi");
            byte[] raw = Skopeo.InspectRawBytes(reference, registry.Credentials);
            Assert.Equal(index.IndexDigest, Sha256(raw));
            using var doc = JsonDocument.Parse(raw);
            Assert.Equal(FixtureImage.OciIndexMediaType, doc.RootElement.GetProperty("mediaType").GetString());
            var listed = doc.RootElement.GetProperty("manifests").EnumerateArray().ToArray();
            Assert.Equal(index.ManifestDigests, listed.Select(m => m.GetProperty("digest").GetString()));
            Assert.Equal("v8", listed[1].GetProperty("platform").GetProperty("variant").GetString());

            // Each platform's manifest is there by digest.
            foreach (var m in index.Manifests)
                Assert.Equal(m.Digest, Skopeo.Digest(registry.ImageReference("testbed/index-" + registryName, m.Digest), registry.Credentials));
        }

        [Fact]
        public void TestBed_Skopeo_PushesV2s2_AndReadsTheDigestBack()
        {
            var registry = _bed.Basic;
            string digest = Skopeo.PushFixture(_bed.Image, registry, "testbed/v2s2", "v1", "v2s2");
            Assert.NotEqual(_bed.Image.ManifestDigest, digest);
            string reference = registry.ImageReference("testbed/v2s2", "v1");
            using var doc = JsonDocument.Parse(Skopeo.InspectRawBytes(reference, registry.Credentials));
            Assert.Equal("application/vnd.docker.distribution.manifest.v2+json", doc.RootElement.GetProperty("mediaType").GetString());
            Assert.Equal(_bed.Image.Layers.Select(l => l.Digest),
                doc.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()));
        }

        [Fact]
        public void TestBed_FixtureImage_IsDeterministic_AndDiffIdsMatchTheTars()
        {
            using var a = FixtureImage.Create(layerCount: 3, seed: 7);
            using var b = FixtureImage.Create(layerCount: 3, seed: 7);
            using var c = FixtureImage.Create(layerCount: 3, seed: 8);
            Assert.Equal(a.ManifestDigest, b.ManifestDigest);
            Assert.NotEqual(a.ManifestDigest, c.ManifestDigest);
            Assert.Equal(3, a.Layers.Length);
            Assert.True(File.Exists(Path.Combine(a.LayoutPath, "oci-layout")));

            using var layoutIndex = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(a.LayoutPath, "index.json")));
            var entry = Assert.Single(layoutIndex.RootElement.GetProperty("manifests").EnumerateArray());
            Assert.Equal(a.ManifestDigest, entry.GetProperty("digest").GetString());
            Assert.Equal("latest", entry.GetProperty("annotations").GetProperty(FixtureImage.RefNameAnnotation).GetString());

            using var config = JsonDocument.Parse(a.ReadBlob(a.ConfigDigest));
            Assert.Equal(a.DiffIds, config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()));
            Assert.Equal(3, config.RootElement.GetProperty("history").GetArrayLength());
            foreach (var layer in a.Layers)
            {
                byte[] blob = a.ReadBlob(layer.Digest);
                Assert.Equal(layer.Digest, Sha256(blob));
                Assert.Equal(layer.Size, blob.Length);
                using var gunzip = new GZipStream(new MemoryStream(blob), CompressionMode.Decompress);
                using var tar = new MemoryStream();
                gunzip.CopyTo(tar);
                Assert.Equal(layer.DiffId, Sha256(tar.ToArray()));
                tar.Position = 0;
                using var reader = new TarReader(tar);
                int files = 0;
                while (reader.GetNextEntry() is { } e) if (e.EntryType == TarEntryType.RegularFile) files++;
                Assert.Equal(4, files);
            }
        }

        [Fact]
        public void TestBed_FixtureImage_LargeLayer_HasTheRequestedSize()
        {
            const long size = 3 * 1024 * 1024 + 5;
            using var image = FixtureImage.CreateLargeLayer(size, seed: 3);
            var layer = Assert.Single(image.Layers);
            Assert.InRange(layer.UncompressedSize, size, size + 4096);
            Assert.InRange(layer.Size, size, size + 64 * 1024); // random data: gzip stores it
            Assert.Equal(layer.Digest, Sha256(File.ReadAllBytes(layer.BlobPath)));
        }

        private static byte[] FromBase64Url(string s)
        {
            s = s.Replace('-', '+').Replace('_', '/');
            return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
        }
    }
}
