using System;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Pulling manifests pushed by skopeo (the independent reference client), by tag and by digest.</summary>
    [Collection("registries")]
    public sealed class ManifestPullTests
    {
        private readonly TestBedFixture _bed;

        public ManifestPullTests(TestBedFixture bed) => _bed = bed;

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task OciManifest_ByTagAndDigest_MatchesSkopeo(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var image = _bed.Image;
            const string repo = "core/pull-oci";
            Reg.PushOnce(image, registry, repo, "v1");
            byte[] skopeoRaw = Skopeo.InspectRawBytes(registry.ImageReference(repo, "v1"), registry.Credentials);
            var client = Reg.Client(registry);

            var byTag = Assert.IsType<OciImageManifest>(await client.Manifests.GetAsync(repo, "v1"));
            Assert.Equal("http", client.Scheme);
            Assert.Equal(image.ManifestDigest, byTag.Digest.ToString());
            Assert.Equal(Reg.Sha256(skopeoRaw), byTag.Digest.ToString());
            Assert.Equal(skopeoRaw, byTag.GetRawBytes());
            Assert.Equal(image.ConfigDigest, byTag.Config.Digest.ToString());
            Assert.Equal(image.Layers.Select(l => l.Digest), byTag.Layers.Select(l => l.Digest.ToString()));
            Assert.Equal(image.Layers.Select(l => l.Size), byTag.Layers.Select(l => l.Size));
            Assert.Equal(image.ManifestDigest, byTag.Reference?.Digest?.ToString());

            var byDigest = await client.Manifests.GetAsync(repo, image.ManifestDigest);
            Assert.Equal(skopeoRaw, byDigest.GetRawBytes());

            var content = await client.Manifests.GetContentAsync(repo, "v1");
            Assert.Equal(skopeoRaw, content.Bytes);
            Assert.Equal(MediaTypes.OciManifest, content.MediaType);
            Assert.Equal(image.ManifestDigest, content.Digest.ToString());

            var head = await client.Manifests.GetDescriptorAsync(repo, "v1");
            Assert.Equal(content.MediaType, head.MediaType);
            Assert.Equal(content.Digest, head.Digest);
            Assert.Equal(content.Bytes.Length, head.Size);
            var headByDigest = await client.Manifests.TryGetDescriptorAsync(repo, image.ManifestDigest);
            Assert.NotNull(headByDigest);
            Assert.Equal(content.Digest, headByDigest!.Digest);
            Assert.Equal(content.Bytes.Length, headByDigest.Size);
            var viaTags = await client.Tags.GetAsync(repo, "v1");
            Assert.Equal(content.Digest, viaTags.Digest);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task DockerSchema2_ByTagAndDigest_MatchesSkopeo(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var image = _bed.Image;
            const string repo = "core/pull-v2s2";
            string digest = Reg.PushOnce(image, registry, repo, "v1", "v2s2");
            byte[] skopeoRaw = Skopeo.InspectRawBytes(registry.ImageReference(repo, "v1"), registry.Credentials);
            var client = Reg.Client(registry);

            var manifest = Assert.IsType<DockerManifestV2>(await client.Manifests.GetAsync(repo, "v1"));
            Assert.Equal(digest, manifest.Digest.ToString());
            Assert.Equal(skopeoRaw, manifest.GetRawBytes());
            Assert.Equal(MediaTypes.DockerManifestV2, manifest.MediaType);
            Assert.Equal(image.Layers.Select(l => l.Digest), manifest.Layers.Select(l => l.Digest.ToString()));

            var byDigest = Assert.IsType<DockerManifestV2>(await client.Manifests.GetAsync(repo, digest));
            Assert.Equal(skopeoRaw, byDigest.GetRawBytes());

            var content = await client.Manifests.GetContentAsync(repo, digest);
            Assert.Equal(skopeoRaw, content.Bytes);
            Assert.Equal(MediaTypes.DockerManifestV2, content.MediaType);

            var head = await client.Manifests.GetDescriptorAsync(repo, "v1");
            Assert.Equal(MediaTypes.DockerManifestV2, head.MediaType);
            Assert.Equal(digest, head.Digest.ToString());
            Assert.Equal(skopeoRaw.Length, head.Size);

            // The config blob skopeo wrote is the one the manifest names, and it verifies.
            var config = await client.Blobs.GetDescriptorAsync(repo, manifest.Config.Digest);
            Assert.Equal(manifest.Config.Size, config.Size);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task OciIndex_TwoPlatforms_FindPlatform_AndDigestsMatchSkopeo(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var index = _bed.Index;
            const string repo = "core/pull-index";
            Reg.PushOnce(index, registry, repo, "multi");
            byte[] skopeoRaw = Skopeo.InspectRawBytes(registry.ImageReference(repo, "multi"), registry.Credentials);
            var client = Reg.Client(registry);

            var manifest = Assert.IsType<OciImageIndex>(await client.Manifests.GetAsync(repo, "multi"));
            Assert.Equal(Reg.Sha256(skopeoRaw), manifest.Digest.ToString());
            Assert.Equal(index.IndexDigest, manifest.Digest.ToString());
            Assert.Equal(skopeoRaw, manifest.GetRawBytes());
            Assert.Equal(2, manifest.Manifests.Count);
            Assert.Equal(new[] { "linux/amd64", "linux/arm64/v8" }, manifest.Platforms.Select(p => p.ToString()));

            var arm = manifest.FindPlatform(Platform.Parse("linux/arm64/v8"));
            var amd = manifest.FindPlatform(Platform.Parse("linux/amd64"));
            Assert.NotNull(arm);
            Assert.NotNull(amd);
            Assert.Equal(index.Manifests[1].Digest, arm!.Digest.ToString());
            Assert.Equal(index.Manifests[0].Digest, amd!.Digest.ToString());
            // arm64 without a variant is arm64/v8.
            Assert.Equal(arm.Digest, manifest.FindPlatform(Platform.Parse("linux/arm64"))!.Digest);
            Assert.Null(manifest.FindPlatform(Platform.Parse("linux/s390x")));

            foreach (var chosen in new[] { amd, arm })
            {
                string skopeoDigest = Skopeo.Digest(registry.ImageReference(repo, chosen.Digest.ToString()), registry.Credentials);
                Assert.Equal(skopeoDigest, chosen.Digest.ToString());
                var child = Assert.IsType<OciImageManifest>(await client.Manifests.GetAsync(repo, chosen.Digest.ToString()));
                Assert.Equal(chosen.Digest, child.Digest);
                Assert.Equal(chosen.Size, child.Size);
                var fixture = index.Manifests.Single(m => m.Digest == chosen.Digest.ToString());
                Assert.Equal(fixture.ConfigDigest, child.Config.Digest.ToString());
            }

            var head = await client.Manifests.GetDescriptorAsync(repo, "multi");
            Assert.Equal(MediaTypes.OciIndex, head.MediaType);
            Assert.Equal(manifest.Digest, head.Digest);
            Assert.Equal(manifest.Size, head.Size);
        }

        [Fact]
        public async Task FromEndpoint_WithUrlAndPassword_Pulls()
        {
            var registry = _bed.Basic;
            const string repo = "core/pull-oci";
            Reg.PushOnce(_bed.Image, registry, repo, "v1");
            // An explicit http:// URL with the user's password: no probe, Basic auth.
            var client = RegistryClient.FromEndpoint(registry.BaseUrl, registry.Username, registry.Password);
            var manifest = await client.Manifests.GetAsync(repo, "v1");
            Assert.Equal(_bed.Image.ManifestDigest, manifest.Digest.ToString());
            Assert.Equal("http", client.Scheme);
            Assert.Equal("Basic", client.AuthScheme);
        }

        [Fact]
        public async Task UnknownTag_TryGetDescriptor_IsNull_AndGetThrowsManifestUnknown()
        {
            var client = Reg.Client(_bed.Anonymous);
            const string repo = "core/pull-oci";
            Reg.PushOnce(_bed.Image, _bed.Anonymous, repo, "v1");
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, "no-such-tag"));
            var e = await Assert.ThrowsAsync<Errors.RegistryException>(() => client.Manifests.GetAsync(repo, "no-such-tag"));
            Assert.Equal(Errors.RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal("MANIFEST_UNKNOWN", e.ErrorCode);
        }
    }
}
