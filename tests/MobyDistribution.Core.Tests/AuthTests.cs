using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Basic and token authentication against the real registries: right, wrong and missing credentials, scopes, expiry.</summary>
    [Collection("registries")]
    public sealed class AuthTests
    {
        private readonly TestBedFixture _bed;

        public AuthTests(TestBedFixture bed) => _bed = bed;

        private const string PullRepo = "core/auth-pull";

        private void EnsurePulled(RegistryServer registry) => Reg.PushOnce(_bed.Image, registry, PullRepo, "v1");

        [Theory]
        [InlineData("basic", "Basic")]
        [InlineData("token", "Bearer")]
        public async Task RightCredentials_Verify_AndPull(string mode, string scheme)
        {
            var registry = _bed.Env.Get(mode);
            EnsurePulled(registry);
            var client = Reg.Client(registry);
            await client.VerifyAsync();
            Assert.Equal(scheme, client.AuthScheme);
            var manifest = await client.Manifests.GetAsync(PullRepo, "v1");
            Assert.Equal(_bed.Image.ManifestDigest, manifest.Digest.ToString());
        }

        [Fact]
        public async Task Anonymous_Verify_OnTheOpenRegistry_Succeeds()
        {
            var client = Reg.Client(_bed.Anonymous);
            await client.VerifyAsync();
            Assert.Null(client.AuthScheme);
        }

        [Theory]
        [InlineData("basic")]
        [InlineData("token")]
        public async Task WrongPassword_IsUnauthorized_ForVerifyAndForAManifestGet(string mode)
        {
            var registry = _bed.Env.Get(mode);
            EnsurePulled(registry);
            var wrong = RegistryCredential.FromPassword(TestBedEnvironment.User, "not-the-password");
            var e = await Assert.ThrowsAsync<RegistryException>(() => Reg.Client(registry, wrong).VerifyAsync());
            Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
            Assert.Equal(401, e.StatusCode);
            Assert.DoesNotContain("not-the-password", e.Message);

            var g = await Assert.ThrowsAsync<RegistryException>(() => Reg.Client(registry, wrong).Manifests.GetAsync(PullRepo, "v1"));
            Assert.Equal(RegistryErrorKind.Unauthorized, g.Kind);
            Assert.DoesNotContain("not-the-password", g.Message);
        }

        [Theory]
        [InlineData("basic")]
        [InlineData("token")]
        public async Task NoCredentials_AgainstAProtectedRegistry_IsUnauthorized(string mode)
        {
            var registry = _bed.Env.Get(mode);
            EnsurePulled(registry);
            var e = await Assert.ThrowsAsync<RegistryException>(() => Reg.Client(registry, anonymous: true).VerifyAsync());
            Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
            var g = await Assert.ThrowsAsync<RegistryException>(() => Reg.Client(registry, anonymous: true).Manifests.GetAsync(PullRepo, "v1"));
            Assert.Equal(RegistryErrorKind.Unauthorized, g.Kind);
            Assert.Equal(401, g.StatusCode);
        }

        [Fact]
        public async Task PullOnlyUser_CanPull_ButPushIsDenied()
        {
            var registry = _bed.Token;
            EnsurePulled(registry);
            var reader = Reg.Client(registry, RegistryCredential.FromPassword(TestBedEnvironment.ReaderUser, TestBedEnvironment.ReaderPassword));
            await reader.VerifyAsync();
            var manifest = await reader.Manifests.GetAsync(PullRepo, "v1");
            Assert.Equal(_bed.Image.ManifestDigest, manifest.Digest.ToString());
            var ms = new MemoryStream();
            await reader.Blobs.DownloadAsync(PullRepo, Digest.Parse(_bed.Image.ConfigDigest), ms);

            var upload = await Assert.ThrowsAsync<RegistryException>(() => reader.Blobs.UploadAsync(PullRepo,
                new MemoryStream(Reg.RandomBytes(100, 1)), new BlobUploadOptions { Monolithic = true }));
            Assert.Equal(RegistryErrorKind.Denied, upload.Kind);
            var put = await Assert.ThrowsAsync<RegistryException>(() => reader.Manifests.PutAsync(PullRepo, "by-reader", manifest));
            Assert.Equal(RegistryErrorKind.Denied, put.Kind);
            var delete = await Assert.ThrowsAsync<RegistryException>(() => reader.Manifests.DeleteAsync(PullRepo, manifest.Digest.ToString()));
            Assert.Equal(RegistryErrorKind.Denied, delete.Kind);
            Assert.NotNull(await reader.Manifests.TryGetDescriptorAsync(PullRepo, "v1"));
        }

        [Fact]
        public async Task ShortLivedToken_IsRenewed_BetweenTwoRequestsOfOneClient()
        {
            var registry = _bed.Token;
            EnsurePulled(registry);
            var issuer = _bed.Issuer;
            var before = issuer.TokenLifetime;
            try
            {
                issuer.TokenLifetime = TimeSpan.FromSeconds(2);
                var client = Reg.Client(registry);
                int start = issuer.RequestCount;
                await client.Manifests.GetContentAsync(PullRepo, "v1");
                int afterFirst = issuer.RequestCount;
                Assert.True(afterFirst > start);
                await Task.Delay(TimeSpan.FromSeconds(2.5));
                var content = await client.Manifests.GetContentAsync(PullRepo, "v1");
                Assert.Equal(_bed.Image.ManifestDigest, content.Digest.ToString());
                Assert.True(issuer.RequestCount > afterFirst, "the client should have asked for a new token");
            }
            finally
            {
                issuer.TokenLifetime = before;
            }
        }

        [Fact]
        public async Task TokenTheRegistryRejects_IsReplaced_OnTheNextRequest()
        {
            // The issuer hands out tokens already expired for the registry but says nothing of it (expires_in 0, so the
            // client assumes the default 60 s): the registry answers invalid_token and the client must fetch again.
            var registry = _bed.Token;
            EnsurePulled(registry);
            var issuer = _bed.Issuer;
            var before = issuer.TokenLifetime;
            var client = Reg.Client(registry);
            try
            {
                issuer.TokenLifetime = TimeSpan.FromMinutes(-5);
                var e = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.GetContentAsync(PullRepo, "v1"));
                Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
            }
            finally
            {
                issuer.TokenLifetime = before;
            }
            // Same client, its cached token is the rejected one: one 401 invalid_token, a new token, success.
            var content = await client.Manifests.GetContentAsync(PullRepo, "v1");
            Assert.Equal(_bed.Image.ManifestDigest, content.Digest.ToString());
        }

        [Fact]
        public async Task AnonymousTokenPull_WhenTheIssuerAllowsIt()
        {
            var registry = _bed.Token;
            EnsurePulled(registry);
            var issuer = _bed.Issuer;
            try
            {
                issuer.AllowAnonymousPull = true;
                var client = Reg.Client(registry, anonymous: true);
                var manifest = await client.Manifests.GetAsync(PullRepo, "v1");
                Assert.Equal(_bed.Image.ManifestDigest, manifest.Digest.ToString());
                var record = issuer.Requests.Last(r => r.Scopes.Any(s => s.Contains(PullRepo)));
                Assert.Null(record.PresentedUser);
                Assert.Equal(200, record.StatusCode);

                var push = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.PutAsync(PullRepo, "anon", manifest));
                Assert.Contains(push.Kind, new[] { RegistryErrorKind.Denied, RegistryErrorKind.Unauthorized });
            }
            finally
            {
                issuer.AllowAnonymousPull = false;
            }
        }

        [Fact]
        public async Task OneTokenClient_ManyConcurrentRequests_AllSucceed()
        {
            var registry = _bed.Token;
            EnsurePulled(registry);
            var client = Reg.Client(registry);
            var image = _bed.Image;
            int before = _bed.Issuer.RequestCount;
            var tasks = Enumerable.Range(0, 12).Select(async i =>
            {
                switch (i % 3)
                {
                    case 0:
                        var content = await client.Manifests.GetContentAsync(PullRepo, "v1");
                        Assert.Equal(image.ManifestDigest, content.Digest.ToString());
                        break;
                    case 1:
                        var layer = image.Layers[i % image.Layers.Length];
                        var ms = new MemoryStream();
                        await client.Blobs.DownloadAsync(PullRepo, Digest.Parse(layer.Digest), ms, layer.Size);
                        break;
                    default:
                        Assert.True(await client.Blobs.ExistsAsync(PullRepo, Digest.Parse(image.ConfigDigest)));
                        break;
                }
            }).ToArray();
            await Task.WhenAll(tasks);
            // Requests refused together share the token one of them fetched.
            Assert.InRange(_bed.Issuer.RequestCount - before, 1, 2);
        }

        [Fact]
        public async Task TokenRequest_ForAMount_NamesBothRepositories()
        {
            var registry = _bed.Token;
            var client = Reg.Client(registry);
            string source = Reg.Repo("auth-mount-src"), target = Reg.Repo("auth-mount-dst");
            byte[] data = Reg.RandomBytes(1234, 5);
            var digest = Digest.Compute(data);
            await client.Blobs.UploadAsync(source, new MemoryStream(data), new BlobUploadOptions { Digest = digest, Monolithic = true });
            Assert.True(await client.Blobs.MountAsync(target, digest, source));
            var record = _bed.Issuer.Requests.Last(r => r.Scopes.Any(s => s.Contains(target)));
            var scopes = record.Scopes.SelectMany(s => s.Split(' ')).ToArray();
            Assert.Contains($"repository:{target}:pull,push", scopes);
            Assert.Contains($"repository:{source}:pull", scopes);
            Assert.Equal(TestBedEnvironment.User, record.User);
            Assert.Equal(_bed.Issuer.Service, record.Service);
        }
    }
}
