using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// What must never happen, checked through <see cref="FaultProxy"/> in front of real registries: credentials sent to
    /// another host, an https → http downgrade, credentials sent to a plain-http token realm, secrets in logs or errors.
    /// </summary>
    public sealed class SecurityTests : IClassFixture<FaultBed>
    {
        private const string BlobGet = "/blobs/sha256:";
        private readonly FaultBed _bed;

        public SecurityTests(FaultBed bed) => _bed = bed;

        [Theory]
        [InlineData("basic")]
        [InlineData("token")]
        public async Task Security_blob_GET_redirected_to_another_host_works_and_sends_it_no_Authorization(string mode)
        {
            var registry = _bed.Get(mode);
            var repo = FaultNames.Repo("redirect-" + mode);
            _bed.Push(_bed.Large, registry, repo);
            var layer = SkopeoView.Layers(registry, repo).Single();
            using var s = new Scenario(registry);
            s.Proxy.AddRule(FaultRule.Redirect("GET", BlobGet));
            var dir = FaultNames.TempDir();
            var path = Path.Combine(dir, "layer.tgz");

            await s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), path, _bed.Large.Layers[0].Size);

            Assert.Equal(layer, Reg.Sha256File(path));
            var atRegistry = s.Requests("GET", BlobGet).Last();
            Assert.Equal(307, atRegistry.Status);
            Assert.Equal(mode == "basic" ? "Basic" : "Bearer", atRegistry.AuthorizationScheme); // the registry did get credentials …
            var atTarget = s.Proxy.RedirectTarget.Log;
            Assert.NotEmpty(atTarget);
            Assert.All(atTarget, e => Assert.Equal(200, e.Status));
            Assert.False(s.Proxy.RedirectTarget.AuthorizationSeen, "Authorization reached the redirect target"); // … the other host none
            s.AssertNoLeaks(); // the presigned X-Amz-Signature / X-Amz-Credential values included
            Directory.Delete(dir, true);
        }

        [Fact]
        public async Task Security_redirect_from_https_to_http_is_refused_and_nothing_is_written()
        {
            var repo = FaultNames.Repo("downgrade");
            _bed.Push(_bed.Large, _bed.Basic, repo);
            var layer = SkopeoView.Layers(_bed.Basic, repo).Single();
            using var s = new Scenario(_bed.Basic, new FaultProxyOptions { Tls = true });
            Assert.StartsWith("https://", s.Proxy.BaseUrl);

            // Over TLS (self-signed, check skipped for this registry only) the registry works …
            var content = await s.Client.Manifests.GetContentAsync(repo, "v1");
            Assert.Equal(SkopeoView.Digest(_bed.Basic, repo), content.Digest.ToString());
            Assert.Equal("https", s.Client.Scheme);

            // … but a blob GET redirected to plain http is refused.
            s.Proxy.AddRule(FaultRule.Redirect("GET", BlobGet));
            var dir = FaultNames.TempDir();
            var e = await s.Fails<RegistryException>(() =>
                s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), Path.Combine(dir, "layer.tgz")));

            Assert.Equal(RegistryErrorKind.Security, e.Kind);
            Assert.Contains("https to http", e.Message);
            Assert.Equal(307, s.Requests("GET", BlobGet).Single().Status); // refused once, not retried
            Assert.Empty(s.Proxy.RedirectTarget.Log);
            Assert.Empty(Directory.GetFileSystemEntries(dir));
            s.AssertNoLeaks();
            Directory.Delete(dir, true);
        }

        // Traffic in tests goes to loopback only, so a registry that is not loopback is never contacted: the realm rule
        // is checked on the endpoint as the transport applies it before any credential is sent.
        [Theory]
        [InlineData("registry.test", "http://auth.test/token", false, false)]
        [InlineData("registry.test", "http://auth.test/token", true, true)]
        [InlineData("https://registry.test", "http://127.0.0.1:9/token", false, false)]
        [InlineData("registry.test", "https://auth.test/token", false, true)]
        [InlineData("127.0.0.1:5000", "http://127.0.0.1:5001/token", false, true)]
        [InlineData("localhost:5000", "http://localhost:5001/token", false, true)]
        [InlineData("http://registry.test", "http://auth.test/token", false, true)]
        public void Security_http_token_realm_is_refused_for_a_registry_that_is_not_loopback(string registry, string realm, bool insecure, bool allowed)
        {
            var endpoint = RegistryEndpoint.Parse(registry, insecure);
            if (allowed)
            {
                Assert.Equal(new Uri(realm), TokenRealm.Check(realm, endpoint));
                return;
            }
            var e = Assert.Throws<RegistryException>(() => TokenRealm.Check(realm, endpoint));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
            Assert.Contains("plain http", e.Message);
        }

        [Theory]
        [InlineData("https://user:pass@auth.test/token")]
        [InlineData("ftp://auth.test/token")]
        [InlineData("/token")]
        public void Security_unusable_token_realms_are_refused(string realm)
        {
            var e = Assert.Throws<RegistryException>(() => TokenRealm.Check(realm, RegistryEndpoint.Parse("registry.test")));
            Assert.DoesNotContain("pass", e.Message);
        }

        [Theory]
        [InlineData("basic")]
        [InlineData("token")]
        public async Task Security_no_password_token_state_or_signature_in_logs_or_errors_across_the_faults(string mode)
        {
            var registry = _bed.Get(mode);
            var repo = FaultNames.Repo("leak-" + mode);
            _bed.Push(_bed.Large, registry, repo);
            var layer = SkopeoView.Layers(registry, repo).Single();
            using var s = new Scenario(registry, configure: o => o.Retry.MaxAttempts = 3);
            var verbose = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var dir = FaultNames.TempDir();
            using (RegistryLog.BeginScope(verbose.Enqueue))
            {
                // Retries that end in an error: 503s, then 429 beyond the budget.
                var rule = s.Proxy.AddRule(FaultRule.Status(503, "GET", "/manifests/").Always());
                await s.Fails<RegistryException>(() => s.Client.Manifests.GetContentAsync(repo, "v1"));
                s.Proxy.ClearRules();
                s.Proxy.AddRule(FaultRule.TooManyRequests(1, "GET", "/manifests/", times: 5));
                await s.Fails<RegistryException>(() => s.Client.Manifests.GetContentAsync(repo, "v1"));
                s.Proxy.ClearRules();

                // A download dropped and resumed, one redirected to a presigned URL, one with flipped bytes.
                s.Proxy.AddRule(FaultRule.ResetAfter(100_000, "GET", BlobGet));
                await s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), Path.Combine(dir, "a"));
                s.Proxy.ClearRules();
                s.Proxy.AddRule(FaultRule.Redirect("GET", BlobGet));
                await s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), Path.Combine(dir, "b"));
                s.Proxy.ClearRules();
                s.Proxy.AddRule(FaultRule.FlipBytes(10, "GET", BlobGet).Always());
                await s.Fails<DigestMismatchException>(() => s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), Path.Combine(dir, "c")));
                s.Proxy.ClearRules();

                // Chunked uploads (each Location carries _state): one PATCH reset, one PATCH answer lost, one PUT answered 500.
                var data = Reg.RandomBytes(200_000, 77);
                s.Proxy.AddRule(FaultRule.ResetRequest(10_000, "PATCH", "/blobs/uploads/", occurrence: 2));
                await s.Client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { ChunkSize = 64 * 1024 });
                s.Proxy.ClearRules();
                s.Proxy.AddRule(FaultRule.DropResponse("PATCH", "/blobs/uploads/", occurrence: 2));
                await s.Client.Blobs.UploadAsync(repo, new MemoryStream(Reg.RandomBytes(200_000, 78)), new BlobUploadOptions { ChunkSize = 64 * 1024 });
                s.Proxy.ClearRules();
                s.Proxy.AddRule(FaultRule.Status(500, "PUT", "/blobs/uploads/").Always());
                await s.Fails<RegistryException>(() => s.Client.Blobs.UploadAsync(repo, new NonSeekable(Reg.RandomBytes(100_000, 79)), new BlobUploadOptions { ChunkSize = 64 * 1024 }));
                s.Proxy.ClearRules();
                // A bad upload refused by the registry: the wrong digest for the bytes.
                await s.Fails<DigestMismatchException>(() => s.Client.Blobs.UploadAsync(repo, new MemoryStream(data),
                    new BlobUploadOptions { Digest = Digest.Parse(Reg.Sha256(new byte[] { 1 })), Monolithic = true, SkipExistenceCheck = true }));
            }

            var secrets = s.Secrets;
            Assert.Contains(FaultBed.Password, secrets);
            if (mode == "token") Assert.Contains(secrets, x => x.Length > 100 && x.Count(c => c == '.') == 2); // the JWTs
            Assert.True(s.Proxy.RedirectTarget.Log.Length > 0);
            Assert.True(s.Proxy.Log.Count(e => e.HasQuery && e.Path.Contains("/blobs/uploads/")) >= 6, "uploads with _state in their URLs");
            Assert.NotEmpty(verbose);
            foreach (var line in verbose) s.Lines.Enqueue(line);
            s.AssertNoLeaks();

            // And every scenario of this run so far (the other fault and security tests) kept its secrets too.
            foreach (var other in Scenario.Created) other.AssertNoLeaks();
            Directory.Delete(dir, true);
        }

        /// <summary>A stream that cannot seek, so a failed upload cannot be started again.</summary>
        private sealed class NonSeekable : MemoryStream
        {
            public NonSeekable(byte[] data) : base(data) { }
            public override bool CanSeek => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => base.Position; set => throw new NotSupportedException(); }
        }
    }
}
