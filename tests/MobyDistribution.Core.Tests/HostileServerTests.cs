using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// A server that lies (MiniHttpServer, a real socket): a Content-Type that contradicts the body, a challenge that names
    /// thousands of scopes, error bodies that go on and on.
    /// </summary>
    public sealed class HostileServerTests
    {
        private const string Repo = "hostile/app";
        private static readonly string LayerHex = new string('a', 64);

        private static RegistryClient Client(MiniHttpServer server)
        {
            var options = new RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 1;
            return new RegistryClient(RegistryEndpoint.Parse("http://127.0.0.1:" + server.Port), options);
        }

        /// <summary>A registry without auth answering the manifest of hostile/app:v1 (and by any digest) with these bytes and headers.</summary>
        private static MiniHttpServer ManifestServer(byte[] body, string contentType, string? headerDigest) => new MiniHttpServer(request =>
        {
            if (request.Path == "/v2/") return MiniHttpResponse.Json(200, "{}");
            if (!request.Path.StartsWith($"/v2/{Repo}/manifests/", StringComparison.Ordinal))
                return MiniHttpResponse.Json(404, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"no\"}]}");
            var response = new MiniHttpResponse { Status = 200, Body = body };
            response.Headers["Content-Type"] = contentType;
            if (headerDigest != null) response.Headers["Docker-Content-Digest"] = headerDigest;
            return response;
        });

        private static byte[] OciManifest(bool withMediaType) => Encoding.UTF8.GetBytes(
            "{\"schemaVersion\":2," + (withMediaType ? "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," : string.Empty)
            + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:" + new string('c', 64) + "\",\"size\":2},"
            + "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:" + LayerHex + "\",\"size\":3}]}");

        /// <summary>
        /// A signed schema1 manifest as docker's libtrust lays it out: the payload, then "signatures" spliced in before its last
        /// "\n}", the protected header naming where (formatLength) and what was cut (formatTail). The registry's digest is the
        /// payload's. The signature itself is not checked by anyone (registries stopped doing so), so it is a placeholder.
        /// </summary>
        private static (byte[] Signed, string PayloadDigest) SignedSchema1()
        {
            var payload = "{\n   \"schemaVersion\": 1,\n   \"name\": \"" + Repo + "\",\n   \"tag\": \"v1\",\n   \"architecture\": \"amd64\",\n"
                + "   \"fsLayers\": [\n      {\n         \"blobSum\": \"sha256:" + LayerHex + "\"\n      }\n   ],\n"
                + "   \"history\": [\n      {\n         \"v1Compatibility\": \"{\\\"id\\\":\\\"x\\\"}\"\n      }\n   ]\n}";
            int formatLength = payload.LastIndexOf("\n}", StringComparison.Ordinal);
            var protectedHeader = Base64Url("{\"formatLength\":" + formatLength + ",\"formatTail\":\"" + Base64Url(payload.Substring(formatLength)) + "\",\"time\":\"2016-01-01T00:00:00Z\"}");
            var signed = payload.Substring(0, formatLength)
                + ",\n   \"signatures\": [\n      {\n         \"header\": {\"alg\": \"ES256\"},\n         \"signature\": \"c2ln\",\n         \"protected\": \"" + protectedHeader + "\"\n      }\n   ]\n}";
            return (Encoding.UTF8.GetBytes(signed), Digest.Compute(Encoding.UTF8.GetBytes(payload)).ToString());
        }

        private static string Base64Url(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        [Theory]
        [InlineData(true)]
        [InlineData(false)]
        public async Task A_Content_Type_that_claims_schema1_for_another_body_does_not_skip_the_digest_check(bool bodyNamesItsType)
        {
            var body = OciManifest(bodyNamesItsType);
            var wrong = "sha256:" + new string('0', 64);
            using var server = ManifestServer(body, MediaTypes.DockerManifestV1Signed, wrong);
            var client = Client(server);
            var e = await Assert.ThrowsAsync<DigestMismatchException>(() => client.Manifests.GetAsync(Repo, "v1"));
            Assert.Equal(wrong, e.Expected?.ToString());
            Assert.Equal(Digest.Compute(body), e.Actual);
            await Assert.ThrowsAsync<DigestMismatchException>(() => client.Manifests.GetContentAsync(Repo, "v1"));
        }

        [Fact]
        public async Task A_Content_Type_that_hides_a_schema1_body_cannot_pass_the_raw_digest_for_it()
        {
            // The lie the other way: a signed schema1 body called OCI, with the digest of its bytes (which a registry never names).
            var (signed, payloadDigest) = SignedSchema1();
            using var server = ManifestServer(signed, MediaTypes.OciManifest, Digest.Compute(signed).ToString());
            var e = await Assert.ThrowsAsync<DigestMismatchException>(() => Client(server).Manifests.GetContentAsync(Repo, "v1"));
            Assert.Equal(payloadDigest, e.Actual?.ToString());
        }

        [Fact]
        public async Task A_signed_schema1_manifest_is_read_and_known_by_its_payload_digest_by_tag_and_by_digest()
        {
            var (signed, payloadDigest) = SignedSchema1();
            Assert.NotEqual(Digest.Compute(signed).ToString(), payloadDigest);
            using var server = ManifestServer(signed, MediaTypes.DockerManifestV1Signed, payloadDigest);
            var client = Client(server);
            var manifest = Assert.IsType<DockerManifestV1>(await client.Manifests.GetAsync(Repo, "v1"));
            Assert.True(manifest.IsSigned);
            Assert.Equal(payloadDigest, manifest.Digest.ToString());
            Assert.Equal("sha256:" + LayerHex, Assert.Single(manifest.FsLayers).ToString());
            Assert.Equal(payloadDigest, (await client.Manifests.GetAsync(Repo, payloadDigest)).Digest.ToString());
            var content = await client.Manifests.GetContentAsync(Repo, "v1");
            Assert.Equal(payloadDigest, content.Digest.ToString());
            Assert.Equal(signed, content.Bytes);
        }

        [Fact]
        public async Task A_signed_schema1_manifest_with_a_wrong_digest_is_refused_by_GetContentAsync_too()
        {
            var (signed, _) = SignedSchema1();
            var wrong = "sha256:" + new string('1', 64);
            using var server = ManifestServer(signed, MediaTypes.DockerManifestV1Signed, wrong);
            var client = Client(server);
            await Assert.ThrowsAsync<DigestMismatchException>(() => client.Manifests.GetContentAsync(Repo, "v1"));
            await Assert.ThrowsAsync<DigestMismatchException>(() => client.Manifests.GetAsync(Repo, "v1"));
        }

        [Fact]
        public async Task An_honest_OCI_manifest_still_reads_from_the_same_server()
        {
            var body = OciManifest(true);
            using var server = ManifestServer(body, MediaTypes.OciManifest, Digest.Compute(body).ToString());
            var manifest = Assert.IsType<OciImageManifest>(await Client(server).Manifests.GetAsync(Repo, "v1"));
            Assert.Equal(Digest.Compute(body), manifest.Digest);
        }

        /// <summary>
        /// A registry whose challenge names 2,300 scopes (insufficient_scope) and its own token service: it records the token
        /// requests, and grants a token or refuses with a long error.
        /// </summary>
        private sealed class ScopeFloodServer : IDisposable
        {
            public const int FloodScopes = 2300;
            private readonly MiniHttpServer _server;

            public ScopeFloodServer(bool grant)
            {
                var flood = string.Join(" ", Enumerable.Range(0, FloodScopes).Select(i => $"repository:n{i}:pull"));
                _server = new MiniHttpServer(request =>
                {
                    var realm = $"http://127.0.0.1:{Port}/token";
                    if (request.Path == "/token")
                    {
                        TokenRequests.Enqueue(request.Target);
                        if (!grant)
                            return MiniHttpResponse.Json(400, "{\"errors\":[" + string.Join(",", Enumerable.Range(0, 20).Select(i =>
                                "{\"code\":\"DENIED\",\"message\":\"" + new string('m', 2000) + "\",\"detail\":\"" + new string('d', 2000) + "\"}")) + "]}");
                        return MiniHttpResponse.Json(200, "{\"token\":\"granted\",\"expires_in\":300}");
                    }
                    if (request.Headers.TryGetValue("Authorization", out var auth) && auth == "Bearer granted")
                    {
                        var body = OciManifest(true);
                        var ok = new MiniHttpResponse { Status = 200, Body = body };
                        ok.Headers["Content-Type"] = MediaTypes.OciManifest;
                        ok.Headers["Docker-Content-Digest"] = Digest.Compute(body).ToString();
                        return ok;
                    }
                    var refused = MiniHttpResponse.Json(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}");
                    refused.Headers["WWW-Authenticate"] = $"Bearer realm=\"{realm}\",service=\"flood\",scope=\"{flood}\",error=\"insufficient_scope\"";
                    return refused;
                });
            }

            public int Port => _server.Port;
            public ConcurrentQueue<string> TokenRequests { get; } = new ConcurrentQueue<string>();
            public void Dispose() => _server.Dispose();
        }

        [Fact]
        public async Task A_challenge_that_floods_scopes_gets_a_short_token_request_with_the_requests_own_scope_first()
        {
            using var server = new ScopeFloodServer(grant: true);
            var options = new RegistryClientOptions { CredentialStore = null };
            var log = new ConcurrentQueue<string>();
            options.Log = log.Enqueue;
            var client = new RegistryClient(RegistryEndpoint.Parse("http://127.0.0.1:" + server.Port), options);
            Assert.IsType<OciImageManifest>(await client.Manifests.GetAsync(Repo, "v1"));
            var target = Assert.Single(server.TokenRequests);
            Assert.True(target.Length < 8 * 1024, $"the token request is {target.Length} characters");
            var scopes = MiniHttpRequest.ParseForm(target.Substring(target.IndexOf('?') + 1)).Where(kv => kv.Key == "scope").Select(kv => kv.Value).ToList();
            Assert.Contains($"repository:{Repo}:pull", scopes);
            Assert.Equal(Scopes.MaxChallengeScopes + 1, scopes.Count);
            Assert.Contains(log, l => l.Contains($"ignored the other {ScopeFloodServer.FloodScopes - Scopes.MaxChallengeScopes}", StringComparison.Ordinal));
        }

        [Fact]
        public async Task A_refused_token_request_after_a_scope_flood_gives_a_short_error()
        {
            using var server = new ScopeFloodServer(grant: false);
            var options = new RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 1;
            var client = new RegistryClient(RegistryEndpoint.Parse("http://127.0.0.1:" + server.Port), options);
            var e = await Assert.ThrowsAnyAsync<RegistryException>(() => client.Manifests.GetAsync(Repo, "v1"));
            Assert.True(e.Message.Length < 2000, $"the message is {e.Message.Length} characters: {e.Message}");
            Assert.Contains("DENIED", e.Message);
            Assert.Contains("/token", e.Message);
            Assert.True(e.RequestUri == null || e.RequestUri.Length < 500);
        }

        [Fact]
        public async Task A_page_long_reason_phrase_and_a_dozen_page_long_errors_give_a_short_message()
        {
            using var server = new MiniHttpServer(request =>
            {
                if (request.Path == "/v2/") return MiniHttpResponse.Json(200, "{}");
                var r = MiniHttpResponse.Json(400, "{\"errors\":[" + string.Join(",", Enumerable.Range(0, 12).Select(i =>
                    "{\"code\":\"MANIFEST_INVALID\",\"message\":\"" + new string('m', 2000) + "\",\"detail\":\"" + new string('d', 2000) + "\"}")) + "]}");
                r.Reason = new string('r', 30000);
                return r;
            });
            var e = await Assert.ThrowsAsync<RegistryException>(() => Client(server).Manifests.GetAsync(Repo, "v1"));
            Assert.True(e.Message.Length < 2000, $"the message is {e.Message.Length} characters: {e.Message}");
            Assert.Contains("400", e.Message);
            Assert.Contains("MANIFEST_INVALID", e.Message);
            Assert.Equal(12, e.Errors.Count);
        }

        [Theory]
        [InlineData("manifest")]
        [InlineData("layer")]
        public async Task A_manifest_with_a_page_long_media_type_is_refused_with_a_short_message(string where)
        {
            var longType = "application/" + new string('x', 200_000);
            var body = Encoding.UTF8.GetBytes(where == "manifest"
                ? "{\"schemaVersion\":2,\"mediaType\":\"" + longType + "\"}"
                : Encoding.UTF8.GetString(OciManifest(true)).Replace("application/vnd.oci.image.layer.v1.tar+gzip", longType));
            using var server = ManifestServer(body, MediaTypes.OciManifest, Digest.Compute(body).ToString());
            var e = await Assert.ThrowsAsync<RegistryException>(() => Client(server).Manifests.GetAsync(Repo, "v1"));
            Assert.Equal(RegistryErrorKind.Protocol, e.Kind);
            Assert.True(e.Message.Length < 2000, $"the message is {e.Message.Length} characters");
        }
    }
}
