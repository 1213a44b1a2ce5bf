using System;
using MobyDistribution.Registry;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// One reference grammar, one Docker Hub table and one default client: what the registry client checks before a
    /// request is what <see cref="ImageReference"/> parses, and every part of Core names Docker Hub the same way.
    /// </summary>
    public sealed class ReferenceGrammarTests
    {
        private const string Sha256F = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

        [Theory]
        [InlineData("app", true)]
        [InlineData("team/app", true)]
        [InlineData("a.b_c__d---e/f", true)]
        [InlineData("App", false)]
        [InlineData("a..b", false)]
        [InlineData("a___b", false)]
        [InlineData("/app", false)]
        [InlineData("app/", false)]
        [InlineData("a//b", false)]
        [InlineData("-app", false)]
        [InlineData("app\n", false)]
        [InlineData("ăpp", false)]
        [InlineData("", false)]
        public void TheClient_RefusesExactlyTheRepositoriesTheGrammarRefuses(string repository, bool valid)
        {
            Assert.Equal(valid, ImageReference.IsValidRepository(repository));
            if (valid) Assert.Equal(repository, RegistryClient.CheckRepository(repository));
            else Assert.Throws<ArgumentException>(() => RegistryClient.CheckRepository(repository));
            Assert.Equal(valid, ImageReference.TryParse("localhost:5000/" + repository, out _));
        }

        [Fact]
        public void TheClient_SaysWhatTheGrammarSays()
        {
            var e = Assert.Throws<ArgumentException>(() => RegistryClient.CheckRepository("team/App"));
            Assert.Contains("repository name must be lowercase", e.Message);
            e = Assert.Throws<ArgumentException>(() => RegistryClient.CheckRepository(new string('a', 256)));
            Assert.Contains("must not be longer than 255 characters", e.Message);
            e = Assert.Throws<ArgumentException>(() => RegistryClient.CheckReference("-v1"));
            Assert.Contains("must start with a letter, digit or '_'", e.Message);
        }

        [Theory]
        [InlineData("v1", true)]
        [InlineData("_v1.0-rc", true)]
        [InlineData(Sha256F, true)]
        [InlineData("-v1", false)]
        [InlineData(".v1", false)]
        [InlineData("v1\n", false)]
        [InlineData("vé", false)]
        [InlineData("sha256:abc", false)]
        [InlineData("sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", false)]
        [InlineData("", false)]
        public void TheClient_TakesTheTagsAndDigestsTheGrammarTakes(string reference, bool valid)
        {
            bool isDigest = reference.Contains(':');
            if (!isDigest) Assert.Equal(valid, ImageReference.IsValidTag(reference));
            if (valid) Assert.Equal(reference, RegistryClient.CheckReference(reference));
            else Assert.Throws<ArgumentException>(() => RegistryClient.CheckReference(reference));
            Assert.Equal(valid, ImageReference.TryParse("localhost:5000/app" + (isDigest ? "@" : ":") + reference, out _));
        }

        [Fact]
        public void TagLength_IsTheGrammarsLimit()
        {
            Assert.True(ImageReference.IsValidTag(new string('a', ImageReference.MaxTagLength)));
            Assert.False(ImageReference.IsValidTag(new string('a', ImageReference.MaxTagLength + 1)));
            Assert.Throws<ArgumentException>(() => RegistryClient.CheckReference(new string('a', ImageReference.MaxTagLength + 1)));
        }

        [Theory]
        [InlineData("docker.io")]
        [InlineData("index.docker.io")]
        [InlineData("registry-1.docker.io")]
        [InlineData("Registry-1.Docker.IO")]
        public void DockerHubAliases_AreOneRegistry_ForEndpointsAndCredentials(string alias)
        {
            Assert.True(DockerHub.IsAlias(alias));
            var endpoint = RegistryEndpoint.Parse(alias);
            Assert.Equal(DockerHub.Registry, endpoint.Registry);
            Assert.Equal(DockerHub.ApiHost, endpoint.Host);
            Assert.Equal(DockerHub.Registry, DockerConfigCredentialStore.NormalizeKey("https://" + alias + "/v1/"));
        }

        [Theory]
        [InlineData("docker.io:443")]
        [InlineData("hub.docker.com")]
        [InlineData("docker.io.example.com")]
        public void OtherNames_AreNotDockerHub(string host)
        {
            Assert.False(DockerHub.IsAlias(host));
            Assert.Equal(host, RegistryEndpoint.Parse(host).Registry);
            Assert.Equal(host, ImageReference.Parse(host + "/app").Registry);
        }

        [Fact]
        public void References_FoldOnlyTheLegacyName_AsDockersGrammarDoes_ButTheirApiHostIsDockerHubs()
        {
            Assert.Equal("docker.io/library/app", ImageReference.Parse("index.docker.io/app").ToString());
            var spelled = ImageReference.Parse("Index.docker.io/app");
            Assert.Equal("Index.docker.io", spelled.Registry);
            // The registry it talks to is Docker Hub's all the same, as its session is.
            Assert.Equal(DockerHub.ApiHost, spelled.ApiHost);
            Assert.Equal(DockerHub.Registry, RegistryEndpoint.For(spelled).Registry);
        }
    }

    /// <summary>The seed's default client is the shared session store's default session, not a global of its own.</summary>
    public sealed class DefaultClientTests
    {
        [Fact]
        public void TheDefaultClient_IsDockerHubsSession_UntilSetDefaultNamesAnother()
        {
            var connections = new RegistryConnections();
            connections.Defaults.CredentialStore = null;
            Assert.Equal(DockerHub.Registry, connections.DefaultRegistry);
            var hub = connections.DefaultClient;
            Assert.Equal(DockerHub.Registry, hub.Endpoint.Registry);
            Assert.Same(hub, connections.GetClient("index.docker.io"));

            var mine = RegistryClient.FromEndpoint("registry.example:5000", "user", "secret");
            var session = connections.SetDefault(mine);
            Assert.Equal("registry.example:5000", connections.DefaultRegistry);
            Assert.Same(mine, connections.DefaultClient);
            Assert.Same(mine, connections.GetClient(ImageReference.Parse("registry.example:5000/app")));
            Assert.True(session.IsConnected);
            Assert.Same(session, connections.Find("registry.example:5000"));

            // Disconnecting forgets the session; the default registry stays and gets a fresh session on first use.
            Assert.True(connections.Disconnect("registry.example:5000"));
            var fresh = connections.DefaultClient;
            Assert.NotSame(mine, fresh);
            Assert.Equal("registry.example:5000", fresh.Endpoint.Registry);
        }

        [Fact]
        public void RegistryClientDefault_IsTheSharedConnectionsDefault()
        {
            var before = RegistryConnections.Shared.DefaultClient;
            try
            {
                Assert.Same(before, RegistryClient.Default);
                var mine = RegistryClient.FromEndpoint("default-client.example:5000");
                RegistryClient.SetDefault(mine);
                Assert.Same(mine, RegistryConnections.Shared.DefaultClient);
                Assert.Same(mine, RegistryConnections.Shared.GetClient("default-client.example:5000"));
                Assert.Same(mine, RegistryClient.Default);
            }
            finally
            {
                RegistryConnections.Shared.Disconnect("default-client.example:5000");
                RegistryConnections.Shared.SetDefault(before);
            }
        }
    }
}
