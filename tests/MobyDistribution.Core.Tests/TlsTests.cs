using System;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>A registry serving https with a certificate from a throwaway CA.</summary>
    public sealed class TlsRegistryFixture : IDisposable
    {
        public TlsRegistryFixture()
        {
            Server = RegistryServer.Start(new RegistryOptions { Tls = true });
            Image = FixtureImage.Create(layerCount: 1, seed: 77);
            Digest = Skopeo.PushFixture(Image, Server, "tls/app", "v1");
        }

        public RegistryServer Server { get; }
        public FixtureImage Image { get; }
        public string Digest { get; }

        public void Dispose()
        {
            Image.Dispose();
            Server.Dispose();
        }
    }

    /// <summary>TLS verification: on by default, a CA bundle per registry, an explicit skip, never a silent downgrade.</summary>
    public sealed class TlsTests : IClassFixture<TlsRegistryFixture>
    {
        private readonly TlsRegistryFixture _fx;

        public TlsTests(TlsRegistryFixture fx) => _fx = fx;

        private RegistryClient Client(string address, Action<RegistryClientOptions>? configure = null)
        {
            var options = new RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 1;
            configure?.Invoke(options);
            return new RegistryClient(RegistryEndpoint.Parse(address), options);
        }

        [Fact]
        public async Task An_untrusted_certificate_is_refused_and_never_downgraded_to_http()
        {
            var client = Client(_fx.Server.HostPort);
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Tags.ListAsync("tls/app"));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
            Assert.Contains("not trusted", e.Message);
            Assert.DoesNotContain("-CertificateAuthority", e.Message); // Core names no parameter; the module adds the hint
            Assert.NotEqual("http", client.Scheme);
        }

        [Fact]
        public async Task An_untrusted_certificate_is_refused_with_an_explicit_https_scheme()
        {
            var client = Client("https://" + _fx.Server.HostPort);
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.GetAsync("tls/app", "v1"));
            Assert.Equal(RegistryErrorKind.Connection, e.Kind);
        }

        [Fact]
        public async Task A_certificate_authority_file_makes_the_registry_trusted()
        {
            var client = Client(_fx.Server.HostPort, o => o.CertificateAuthorityPath = _fx.Server.CertificateAuthorityPath);
            var manifest = await client.Manifests.GetAsync("tls/app", "v1");
            Assert.Equal(_fx.Digest, manifest.Digest.ToString());
            Assert.Equal("https", client.Scheme);
        }

        [Fact]
        public async Task Skipping_the_certificate_check_is_explicit_and_works()
        {
            var client = Client("https://localhost:" + _fx.Server.Port, o => o.SkipCertificateCheck = true);
            var tags = await client.Tags.ListAsync("tls/app");
            Assert.Equal(new[] { "v1" }, tags);
        }

        [Fact]
        public async Task A_blob_downloads_over_tls_verified()
        {
            var client = Client(_fx.Server.HostPort, o => o.CertificateAuthorityPath = _fx.Server.CertificateAuthorityPath);
            var layer = _fx.Image.Layers[0];
            using var buffer = new System.IO.MemoryStream();
            var d = await client.Blobs.DownloadAsync("tls/app", MobyDistribution.Digest.Parse(layer.Digest), buffer, layer.Size);
            Assert.Equal(layer.Size, buffer.Length);
            Assert.Equal(layer.Digest, d.Digest.ToString());
        }
    }
}
