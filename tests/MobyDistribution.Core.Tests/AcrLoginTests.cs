using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Azure Container Registry's logins without the docker CLI, against the real token registry and the test issuer's
    /// ACR endpoints: an Entra ID access token exchanged for a refresh token, identity tokens on the OAuth2 refresh
    /// grant, and the GET fallback for token services that refuse the POST. No secret may reach a log line or an error.
    /// </summary>
    [Collection("registries")]
    public sealed class AcrLoginTests
    {
        private const string PullRepo = "core/acr-pull";
        private readonly TestBedFixture _bed;
        private readonly ConcurrentQueue<string> _lines = new();
        private readonly List<string> _errors = new();

        public AcrLoginTests(TestBedFixture bed) => _bed = bed;

        private TokenIssuer Issuer => _bed.Issuer;

        private RegistryClient Client(RegistryCredential credential)
        {
            Reg.PushOnce(_bed.Image, _bed.Token, PullRepo, "v1");
            return Reg.Client(_bed.Token, credential, log: line => _lines.Enqueue(line));
        }

        /// <summary>A stand-in for an Entra ID access token, accepted by the issuer's exchange for the test bed's user.</summary>
        private string NewEntraToken(string? tenant = null)
        {
            var token = "entra-" + Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");
            Issuer.AddAccessToken(token, TestBedEnvironment.User, tenant);
            return token;
        }

        private async Task<RegistryException> Refused(Func<Task> operation)
        {
            var e = await Assert.ThrowsAsync<RegistryException>(operation);
            _errors.Add(e.ToString());
            return e;
        }

        /// <summary>No secret in any log line or exception text, and nothing shaped like a JWT (every access token is one).</summary>
        private void AssertNoLeaks(params string[] secrets)
        {
            var all = secrets.Concat(Issuer.RefreshTokensIssued).Where(s => !string.IsNullOrEmpty(s)).ToArray();
            foreach (var text in _lines.Concat(_errors))
            {
                foreach (var secret in all) Assert.False(text.Contains(secret, StringComparison.Ordinal), $"a secret ({secret.Substring(0, 6)}…) leaked into: {text}");
                Assert.DoesNotMatch(new Regex(@"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), text);
            }
        }

        private TokenRequestRecord[] RequestsSince(int start) => Issuer.Requests.Skip(start).ToArray();

        [Fact]
        public async Task AccessToken_IsExchanged_ThenRefreshed_AndPullsAndPushes()
        {
            var entra = NewEntraToken();
            var client = Client(RegistryCredential.FromAccessToken(entra));
            int start = Issuer.RequestCount;

            await client.VerifyAsync();
            var manifest = await client.Manifests.GetAsync(PullRepo, "v1");
            Assert.Equal(_bed.Image.ManifestDigest, manifest.Digest.ToString());
            var repo = Reg.Repo("acr-push");
            var blob = Reg.RandomBytes(4321, 71);
            var uploaded = await client.Blobs.UploadAsync(repo, new MemoryStream(blob), new BlobUploadOptions { Digest = Digest.Compute(blob), Monolithic = true });
            Assert.Equal(BlobUploadOutcome.Uploaded, uploaded.Outcome);
            var tag = "acr-" + Guid.NewGuid().ToString("N").Substring(0, 6);
            await client.Manifests.PutAsync(PullRepo, tag, manifest);

            var seen = RequestsSince(start);
            // One exchange for the session; every token after it came from the refresh grant, as the test bed's user.
            var exchange = Assert.Single(seen, r => r.Path == "/oauth2/exchange");
            Assert.Equal(200, exchange.StatusCode);
            Assert.Equal("access_token", exchange.GrantType);
            Assert.Equal(Issuer.Service, exchange.Service);
            Assert.Null(exchange.Tenant);
            var grants = seen.Where(r => r.Path != "/oauth2/exchange").ToArray();
            Assert.True(grants.Length >= 3, string.Join("\n", seen.Select(r => r.ToString())));
            Assert.All(grants, r => Assert.Equal(("POST", "refresh_token", TestBedEnvironment.User, 200), (r.Method, r.GrantType, r.User, r.StatusCode)));
            Assert.Contains(grants, r => r.Granted.Any(g => g.Name == repo && g.Actions.Contains("push")));
            // An independent client sees what was pushed.
            Assert.Equal(_bed.Image.ManifestDigest, Skopeo.Digest(_bed.Token.ImageReference(PullRepo, tag), _bed.Token.Credentials));
            AssertNoLeaks(entra);
        }

        [Fact]
        public async Task WrongAccessToken_IsUnauthorized_WithAClearMessage_AndNoSecret()
        {
            var wrong = "entra-unknown-" + Guid.NewGuid().ToString("N");
            var client = Client(RegistryCredential.FromAccessToken(wrong));
            var e = await Refused(() => client.VerifyAsync());
            Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
            Assert.Equal(401, e.StatusCode);
            Assert.Contains("refused the access token", e.Message);
            Assert.Contains("/oauth2/exchange", e.Message);

            var g = await Refused(() => Client(RegistryCredential.FromAccessToken(wrong)).Manifests.GetAsync(PullRepo, "v1"));
            Assert.Equal(RegistryErrorKind.Unauthorized, g.Kind);
            AssertNoLeaks(wrong);
        }

        [Fact]
        public async Task Tenant_IsSent_WithTheExchange()
        {
            var entra = NewEntraToken(tenant: "contoso-tenant-id");
            // The issuer takes this token only with its tenant named.
            var without = await Refused(() => Client(RegistryCredential.FromAccessToken(entra)).VerifyAsync());
            Assert.Equal(RegistryErrorKind.Unauthorized, without.Kind);

            int start = Issuer.RequestCount;
            var client = Client(RegistryCredential.FromAccessToken(entra, "contoso-tenant-id"));
            var content = await client.Manifests.GetContentAsync(PullRepo, "v1");
            Assert.Equal(_bed.Image.ManifestDigest, content.Digest.ToString());
            var exchange = Assert.Single(RequestsSince(start), r => r.Path == "/oauth2/exchange");
            Assert.Equal("contoso-tenant-id", exchange.Tenant);
            Assert.Equal(200, exchange.StatusCode);
            AssertNoLeaks(entra);
        }

        [Fact]
        public async Task RefreshTokenOfTheExchange_WhenItLapses_IsReplacedByANewExchange()
        {
            var entra = NewEntraToken();
            var client = Client(RegistryCredential.FromAccessToken(entra));
            await client.Manifests.GetContentAsync(PullRepo, "v1");
            Issuer.RevokeRefreshTokens();
            int start = Issuer.RequestCount;
            // A new scope needs a new token: the refresh token is refused, the access token is exchanged again.
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(Reg.Repo("acr-other"), "v1"));
            var seen = RequestsSince(start);
            Assert.Single(seen, r => r.Path == "/oauth2/exchange" && r.StatusCode == 200);
            Assert.Contains(seen, r => r.GrantType == "refresh_token" && r.StatusCode == 401);
            Assert.Equal(200, seen[^1].StatusCode);
            Assert.Contains("exchanging the access token again", string.Join("\n", _lines));
            AssertNoLeaks(entra);
        }

        [Fact]
        public async Task IdentityToken_FromTheCaller_IsUsedOnTheRefreshGrant()
        {
            var refresh = Issuer.NewRefreshToken(TestBedEnvironment.User);
            var client = Client(RegistryCredential.FromIdentityToken(refresh));
            int start = Issuer.RequestCount;
            await client.VerifyAsync();
            var content = await client.Manifests.GetContentAsync(PullRepo, "v1");
            Assert.Equal(_bed.Image.ManifestDigest, content.Digest.ToString());
            var seen = RequestsSince(start);
            Assert.NotEmpty(seen);
            Assert.All(seen, r => Assert.Equal(("POST", "refresh_token", TestBedEnvironment.User), (r.Method, r.GrantType, r.User)));

            var wrong = await Refused(() => Client(RegistryCredential.FromIdentityToken("not-an-identity-token-" + Guid.NewGuid().ToString("N"))).VerifyAsync());
            Assert.Equal(RegistryErrorKind.Unauthorized, wrong.Kind);
            Assert.Contains("identity token", wrong.Message);
            AssertNoLeaks(refresh);
        }

        [Fact]
        public async Task NullGuidUser_WithTheRefreshTokenAsPassword_IsAnIdentityToken()
        {
            var refresh = Issuer.NewRefreshToken(TestBedEnvironment.User);
            var credential = RegistryCredential.FromPassword(RegistryCredential.RefreshTokenUserName, refresh);
            int start = Issuer.RequestCount;
            var content = await Client(credential).Manifests.GetContentAsync(PullRepo, "v1");
            Assert.Equal(_bed.Image.ManifestDigest, content.Digest.ToString());
            Assert.All(RequestsSince(start), r => Assert.Equal(("POST", "refresh_token", 200), (r.Method, r.GrantType, r.StatusCode)));
            AssertNoLeaks(refresh);
        }

        [Theory]
        [InlineData(404)]
        [InlineData(405)]
        [InlineData(400)]
        public async Task TokenServiceRefusingThePost_IsAskedWithGet_AndOnlyWithGetAfterwards(int refusal)
        {
            var refresh = Issuer.NewRefreshToken(TestBedEnvironment.User);
            var client = Client(RegistryCredential.FromIdentityToken(refresh));
            int start = Issuer.RequestCount;
            Issuer.RefusePostStatus = refusal;
            try
            {
                var content = await client.Manifests.GetContentAsync(PullRepo, "v1");
                Assert.Equal(_bed.Image.ManifestDigest, content.Digest.ToString());
                Assert.Null(await client.Manifests.TryGetDescriptorAsync(Reg.Repo("acr-get"), "v1")); // another scope, another token
            }
            finally
            {
                Issuer.RefusePostStatus = null;
            }
            var seen = RequestsSince(start);
            Assert.Equal(refusal, Assert.Single(seen, r => r.Method == "POST").StatusCode);
            var gets = seen.Where(r => r.Method == "GET").ToArray();
            Assert.True(gets.Length >= 2, string.Join("\n", seen.Select(r => r.ToString())));
            // The refresh token went as the password of ACR's null-GUID user.
            Assert.All(gets, r => Assert.Equal((RegistryCredential.RefreshTokenUserName, TestBedEnvironment.User, 200), (r.PresentedUser, r.User, r.StatusCode)));
            Assert.Contains($"answered the OAuth2 refresh grant with {refusal}; asking with GET instead", string.Join("\n", _lines));
            AssertNoLeaks(refresh);
        }

        [Fact]
        public async Task PasswordCredentials_StayOnTheBasicGet()
        {
            // Only refresh tokens go to the refresh grant; a user and password keep distribution's GET.
            int start = Issuer.RequestCount;
            await Client(RegistryCredential.FromPassword(TestBedEnvironment.User, TestBedEnvironment.Password)).Manifests.GetContentAsync(PullRepo, "v1");
            Assert.All(RequestsSince(start), r => Assert.Equal(("GET", TestBedEnvironment.User), (r.Method, r.PresentedUser)));
        }
    }
}
