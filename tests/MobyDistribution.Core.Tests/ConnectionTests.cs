using System;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Endpoints (scheme discovery on loopback) and RegistryConnections (sessions) against the real registries.</summary>
    [Collection("registries")]
    public sealed class ConnectionTests
    {
        private readonly TestBedFixture _bed;

        public ConnectionTests(TestBedFixture bed) => _bed = bed;

        [Theory]
        [InlineData("127.0.0.1:{0}")]
        [InlineData("localhost:{0}")]
        [InlineData("http://127.0.0.1:{0}")]
        [InlineData("http://localhost:{0}/v2/")]
        public async Task Loopback_FallsBackToHttp_OrUsesTheNamedScheme(string format)
        {
            var registry = _bed.Anonymous;
            var endpoint = RegistryEndpoint.Parse(string.Format(format, registry.Port));
            Assert.True(endpoint.IsLoopback);
            Assert.True(endpoint.MayUseHttp);
            var client = new RegistryClient(endpoint, new RegistryClientOptions { CredentialStore = null });
            await client.VerifyAsync();
            Assert.Equal("http", client.Scheme);
        }

        [Fact]
        public async Task ExplicitHttps_AgainstAPlainHttpRegistry_IsNotDowngraded()
        {
            var options = new RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 1;
            var client = new RegistryClient(RegistryEndpoint.Parse("https://" + _bed.Anonymous.HostPort), options);
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.VerifyAsync());
            Assert.Equal(RegistryErrorKind.Connection, e.Kind);
            Assert.StartsWith("https://", e.RequestUri);
        }

        [Fact]
        public void RemoteHost_WithoutScheme_NeverUsesHttp_UnlessMarkedInsecure()
        {
            var remote = RegistryEndpoint.Parse("registry.example:5000");
            Assert.False(remote.IsLoopback);
            Assert.False(remote.MayUseHttp);
            Assert.True(RegistryEndpoint.Parse("registry.example:5000", allowInsecure: true).MayUseHttp);
            Assert.Equal("registry-1.docker.io", RegistryEndpoint.Parse("index.docker.io").Host);
            Assert.Equal("docker.io", RegistryEndpoint.Parse("https://registry-1.docker.io").Registry);
            Assert.Throws<FormatException>(() => RegistryEndpoint.Parse("https://user:pass@registry.example"));
            Assert.Throws<FormatException>(() => RegistryEndpoint.Parse("https://registry.example/some/path"));
            Assert.Throws<FormatException>(() => RegistryEndpoint.Parse("ftp://registry.example"));
        }

        [Fact]
        public async Task Connect_WithRightCredentials_KeepsASession_WithoutItsSecret()
        {
            var connections = new RegistryConnections();
            connections.Defaults.CredentialStore = null;
            var registry = _bed.Basic;
            var options = new RegistryClientOptions { CredentialStore = null, Credential = Reg.CredentialFor(registry) };
            var session = await connections.ConnectAsync(registry.HostPort, options);
            Assert.True(session.IsConnected);
            Assert.Equal(registry.HostPort, session.Registry);
            Assert.Equal(TestBedEnvironment.User, session.UserName);
            Assert.Equal("caller", session.CredentialSource);
            Assert.Equal("Basic", session.AuthScheme);
            Assert.Equal("http", session.Scheme);
            Assert.DoesNotContain(TestBedEnvironment.Password, session.ToString());

            Assert.Same(session, connections.Find(registry.HostPort));
            Assert.Single(connections.Sessions);
            // The connected client is the one handed out, credentials included.
            var client = connections.GetClient(registry.HostPort);
            Reg.PushOnce(_bed.Image, registry, "core/connect-pull", "v1");
            var manifest = await client.Manifests.GetAsync("core/connect-pull", "v1");
            Assert.Equal(_bed.Image.ManifestDigest, manifest.Digest.ToString());
            Assert.Same(client, connections.GetClient(ImageReference.Parse(registry.HostPort + "/core/connect-pull:v1")));

            Assert.True(connections.Disconnect(registry.HostPort));
            Assert.False(connections.Disconnect(registry.HostPort));
            Assert.Null(connections.Find(registry.HostPort));
        }

        [Theory]
        [InlineData("basic")]
        [InlineData("token")]
        public async Task Connect_WithWrongCredentials_Throws_AndKeepsNoSession(string mode)
        {
            var connections = new RegistryConnections();
            var registry = _bed.Env.Get(mode);
            var options = new RegistryClientOptions { CredentialStore = null, Credential = RegistryCredential.FromPassword(TestBedEnvironment.User, "wrong") };
            var e = await Assert.ThrowsAsync<RegistryException>(() => connections.ConnectAsync(registry.HostPort, options));
            Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
            Assert.Null(connections.Find(registry.HostPort));
            Assert.Empty(connections.Sessions);
        }

        [Fact]
        public async Task GetClient_OnFirstUse_MakesAnUnconnectedSession()
        {
            var connections = new RegistryConnections();
            connections.Defaults.CredentialStore = null;
            var registry = _bed.Anonymous;
            var client = connections.GetClient(registry.HostPort);
            await client.VerifyAsync();
            var session = Assert.Single(connections.Sessions);
            Assert.False(session.IsConnected);
            Assert.Null(session.UserName);
            Assert.Equal("anonymous", session.CredentialSource);
            Assert.Same(client, connections.GetClient(registry.HostPort));
        }
    }
}
