using System;
using System.IO;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Typed errors from the real registry: status, error code, and a request URL without secrets.</summary>
    [Collection("registries")]
    public sealed class ErrorTests
    {
        private readonly TestBedFixture _bed;

        public ErrorTests(TestBedFixture bed) => _bed = bed;

        private const string Repo = "core/errors";

        private static readonly string Unknown = "sha256:" + new string('e', 64);

        private void Ensure(RegistryServer registry) => Reg.PushOnce(_bed.Image, registry, Repo, "v1");

        private static void AssertClean(RegistryException e, RegistryServer registry)
        {
            Assert.NotNull(e.RequestUri);
            Assert.StartsWith(registry.BaseUrl + "/v2/", e.RequestUri);
            Assert.DoesNotContain(TestBedEnvironment.Password, e.RequestUri);
            Assert.DoesNotContain(TestBedEnvironment.Password, e.Message);
            Assert.DoesNotContain("@", e.RequestUri!.Substring("http://".Length));
            string basic = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(TestBedEnvironment.User + ":" + TestBedEnvironment.Password));
            Assert.DoesNotContain(basic, e.Message);
            Assert.DoesNotContain(basic, e.ToString());
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task UnknownManifest_IsNotFound_ManifestUnknown(string mode)
        {
            var registry = _bed.Env.Get(mode);
            Ensure(registry);
            var client = Reg.Client(registry);
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.GetAsync(Repo, Unknown));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal(404, e.StatusCode);
            Assert.Equal("MANIFEST_UNKNOWN", e.ErrorCode);
            Assert.Equal("GET", e.Method);
            Assert.Equal($"{registry.BaseUrl}/v2/{Repo}/manifests/{Unknown}", e.RequestUri);
            AssertClean(e, registry);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task UnknownBlob_IsNotFound_BlobUnknown(string mode)
        {
            var registry = _bed.Env.Get(mode);
            Ensure(registry);
            var client = Reg.Client(registry);
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Blobs.OpenReadAsync(Repo, Digest.Parse(Unknown)));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal(404, e.StatusCode);
            Assert.Equal("BLOB_UNKNOWN", e.ErrorCode);
            AssertClean(e, registry);
            // HEAD answers have no body: the code is still given.
            var h = await Assert.ThrowsAsync<RegistryException>(() => client.Blobs.GetDescriptorAsync(Repo, Digest.Parse(Unknown)));
            Assert.Equal("BLOB_UNKNOWN", h.ErrorCode);
            Assert.Equal(404, h.StatusCode);
        }

        [Theory]
        [InlineData("anonymous")]
        [InlineData("token")]
        public async Task UnknownRepository_IsNotFound_NameUnknown(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Tags.ListAsync("core/errors-never-pushed"));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal("NAME_UNKNOWN", e.ErrorCode);
            Assert.Equal(404, e.StatusCode);
            AssertClean(e, registry);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task UploadCommitError_CarriesTheRequest_WithStateRedacted_AndDigestKept(string mode)
        {
            // A monolithic upload under a digest its bytes do not have: the registry answers the PUT to the upload
            // Location (with its _state) with 400 DIGEST_INVALID.
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            string repo = Reg.Repo("errors-upload");
            var claimed = Digest.Compute(new byte[] { 1, 2, 3 });
            var e = await Assert.ThrowsAsync<DigestMismatchException>(() => client.Blobs.UploadAsync(repo,
                new MemoryStream(Reg.RandomBytes(1000, 61)), new BlobUploadOptions { Digest = claimed, Monolithic = true }));
            Assert.Equal(RegistryErrorKind.DigestMismatch, e.Kind);
            Assert.Equal(400, e.StatusCode);
            Assert.Equal("DIGEST_INVALID", e.ErrorCode);
            Assert.Equal("PUT", e.Method);
            AssertClean(e, registry);
            Assert.Contains($"/v2/{repo}/blobs/uploads/", e.RequestUri);
            Assert.Contains("_state=REDACTED", e.RequestUri);
            Assert.True(e.RequestUri!.Contains("digest=" + claimed) || e.RequestUri.Contains("digest=" + Uri.EscapeDataString(claimed.ToString())), e.RequestUri);
            Assert.DoesNotContain("_state=", e.Message.Replace("_state=REDACTED", string.Empty));
        }

        [Fact]
        public async Task TextPlain404_OfAnInvalidRepositoryPath_IsStillATypedNotFound()
        {
            // The client refuses invalid names before sending; to see what the registry answers, send one through the transport.
            var registry = _bed.Anonymous;
            var client = Reg.Client(registry);
            var request = new RegistryRequest(HttpMethod.Get, "v2/Invalid_Name/tags/list", "repository:Invalid_Name:pull") { Idempotent = true };
            using var response = await client.Transport.SendAsync(request, CancellationToken.None);
            Assert.Equal(404, (int)response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
            var e = await ErrorResponse.CreateAsync(response, "Tags of Invalid_Name", CancellationToken.None);
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal(404, e.StatusCode);
            Assert.Null(e.ErrorCode);
            Assert.Contains("404 page not found", e.Message);
            Assert.Equal(registry.BaseUrl + "/v2/Invalid_Name/tags/list", e.RequestUri);
        }

        [Fact]
        public async Task UnreachableRegistry_IsAConnectionError()
        {
            // A loopback port nobody listens on: the https probe and the http request both fail.
            int port;
            using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
            {
                l.Start();
                port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
                l.Stop();
            }
            var options = new RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 1;
            var client = new RegistryClient(RegistryEndpoint.Parse("127.0.0.1:" + port), options);
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.GetAsync("core/x", "v1"));
            Assert.Equal(RegistryErrorKind.Connection, e.Kind);
            Assert.Null(e.StatusCode);
        }
    }
}
