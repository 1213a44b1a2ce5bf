using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Pushing each manifest kind with Core (blobs first, with Core), checked with skopeo; deleting manifests.</summary>
    [Collection("registries")]
    public sealed class ManifestPushTests
    {
        private readonly TestBedFixture _bed;

        public ManifestPushTests(TestBedFixture bed) => _bed = bed;

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Push_OciManifest_DigestEqualsSkopeosView(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var image = _bed.Image;
            var client = Reg.Client(registry);
            string repo = Reg.Repo("push-oci");
            await Reg.UploadBlobsAsync(client, repo, image, image.Manifests[0]);

            var manifest = Manifest.Parse(image.ReadBlob(image.ManifestDigest));
            var pushed = await client.Manifests.PutAsync(repo, "v1", manifest);
            Assert.Equal(image.ManifestDigest, pushed.Digest.ToString());
            Assert.Equal(MediaTypes.OciManifest, pushed.MediaType);
            Assert.Equal(manifest.Size, pushed.Size);

            string reference = registry.ImageReference(repo, "v1");
            byte[] raw = Skopeo.InspectRawBytes(reference, registry.Credentials);
            Assert.Equal(image.ReadBlob(image.ManifestDigest), raw);
            Assert.Equal(image.ConfigDigest, Reg.Sha256(Encoding.UTF8.GetBytes(Skopeo.InspectConfig(reference, registry.Credentials))));

            // Under its digest as well (no tag).
            var byDigest = await client.Manifests.PutAsync(repo, image.ManifestDigest, manifest);
            Assert.Equal(pushed.Digest, byDigest.Digest);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Push_DockerSchema2_MadeWithCreate_DigestEqualsSkopeosView(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var image = _bed.Image;
            var client = Reg.Client(registry);
            string repo = Reg.Repo("push-v2s2");
            await Reg.UploadBlobsAsync(client, repo, image, image.Manifests[0]);

            var manifest = Reg.Schema2For(image.Manifests[0]);
            var pushed = await client.Manifests.PutAsync(repo, "v1", manifest);
            Assert.Equal(manifest.Digest, pushed.Digest);
            Assert.Equal(MediaTypes.DockerManifestV2, pushed.MediaType);

            string reference = registry.ImageReference(repo, "v1");
            Assert.Equal(manifest.Digest.ToString(), Skopeo.Digest(reference, registry.Credentials));
            using var doc = System.Text.Json.JsonDocument.Parse(Skopeo.InspectRawBytes(reference, registry.Credentials));
            Assert.Equal(MediaTypes.DockerManifestV2, doc.RootElement.GetProperty("mediaType").GetString());

            var back = Assert.IsType<DockerManifestV2>(await client.Manifests.GetAsync(repo, "v1"));
            Assert.Equal(manifest.GetRawBytes(), back.GetRawBytes());
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Push_OciIndex_WithItsTwoManifests_DigestEqualsSkopeosView(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var index = _bed.Index;
            var client = Reg.Client(registry);
            string repo = Reg.Repo("push-index");
            foreach (var m in index.Manifests)
            {
                await Reg.UploadBlobsAsync(client, repo, index, m);
                var child = await client.Manifests.PutAsync(repo, m.Digest, index.ReadBlob(m.Digest), m.MediaType);
                Assert.Equal(m.Digest, child.Digest.ToString());
            }
            var top = Manifest.Parse(index.ReadBlob(index.IndexDigest!));
            Assert.IsType<OciImageIndex>(top);
            var pushed = await client.Manifests.PutAsync(repo, "multi", top);
            Assert.Equal(index.IndexDigest, pushed.Digest.ToString());
            Assert.Equal(MediaTypes.OciIndex, pushed.MediaType);

            string reference = registry.ImageReference(repo, "multi");
            Assert.Equal(index.IndexDigest, Skopeo.Digest(reference, registry.Credentials));
            foreach (var m in index.Manifests)
                Assert.Equal(m.Digest, Skopeo.Digest(registry.ImageReference(repo, m.Digest), registry.Credentials));
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Push_DockerManifestList_OfSchema2Images_DigestEqualsSkopeosView(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var index = _bed.Index;
            var client = Reg.Client(registry);
            string repo = Reg.Repo("push-list");
            var entries = new List<Descriptor>();
            foreach (var m in index.Manifests)
            {
                await Reg.UploadBlobsAsync(client, repo, index, m);
                var image = Reg.Schema2For(m);
                var d = (await client.Manifests.PutAsync(repo, image.Digest.ToString(), image)).WithPlatform(new Platform(m.Os, m.Architecture, m.Variant));
                entries.Add(d);
            }
            var list = ImageIndex.Create(MediaTypes.DockerManifestList, entries);
            Assert.IsType<DockerManifestList>(list);
            var pushed = await client.Manifests.PutAsync(repo, "list", list);
            Assert.Equal(list.Digest, pushed.Digest);
            Assert.Equal(MediaTypes.DockerManifestList, pushed.MediaType);

            string reference = registry.ImageReference(repo, "list");
            byte[] raw = Skopeo.InspectRawBytes(reference, registry.Credentials);
            Assert.Equal(list.Digest.ToString(), Reg.Sha256(raw));
            Assert.Equal(list.GetRawBytes(), raw);

            var back = Assert.IsType<DockerManifestList>(await client.Manifests.GetAsync(repo, "list"));
            Assert.Equal(entries[1].Digest, back.FindPlatform(Platform.Parse("linux/arm64/v8"))!.Digest);
            Assert.Equal(entries[0].Digest, back.FindPlatform(Platform.Parse("linux/amd64"))!.Digest);
            // skopeo resolves the list to linux/amd64 and reads its config.
            Assert.Equal(index.Manifests[0].ConfigDigest,
                Reg.Sha256(Encoding.UTF8.GetBytes(Skopeo.InspectConfig(reference, registry.Credentials))));
        }

        [Fact]
        public async Task Put_UnderADigestThatIsNotTheBytes_ThrowsBeforeSending()
        {
            var log = new ConcurrentQueue<string>();
            var client = Reg.Client(_bed.Basic, log: log.Enqueue);
            var manifest = Manifest.Parse(_bed.Image.ReadBlob(_bed.Image.ManifestDigest));
            string other = _bed.Image.ConfigDigest;
            var e = await Assert.ThrowsAsync<DigestMismatchException>(() => client.Manifests.PutAsync(Reg.Repo("push-pinned"), other, manifest));
            Assert.Equal(other, e.Expected?.ToString());
            Assert.Equal(manifest.Digest, e.Actual);
            Assert.Empty(log); // not a single request
        }

        [Fact]
        public async Task Put_ReferringToMissingBlobs_IsInvalidRequest_ManifestBlobUnknown()
        {
            var client = Reg.Client(_bed.Anonymous);
            var manifest = Manifest.Parse(_bed.Image.ReadBlob(_bed.Image.ManifestDigest));
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.PutAsync(Reg.Repo("push-noblobs"), "v1", manifest));
            Assert.Equal(RegistryErrorKind.InvalidRequest, e.Kind);
            Assert.Equal(400, e.StatusCode);
            Assert.Equal("MANIFEST_BLOB_UNKNOWN", e.ErrorCode);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Delete_ByDigest_ByTag_AndUnknownDigestIsNotFound(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var image = _bed.Image;
            var client = Reg.Client(registry);
            string repo = Reg.Repo("delete");
            await Reg.UploadBlobsAsync(client, repo, image, image.Manifests[0]);
            var oci = Manifest.Parse(image.ReadBlob(image.ManifestDigest));
            var schema2 = Reg.Schema2For(image.Manifests[0]);
            await client.Manifests.PutAsync(repo, "oci", oci);
            await client.Manifests.PutAsync(repo, "docker", schema2);
            await client.Manifests.PutAsync(repo, "docker-too", schema2);

            // By digest.
            var deleted = await client.Manifests.DeleteAsync(repo, oci.Digest.ToString());
            Assert.Equal(oci.Digest, deleted);
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, oci.Digest.ToString()));
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, "oci"));

            // By tag: resolved to the digest, which takes every tag on it.
            var byTag = await client.Manifests.DeleteAsync(repo, "docker");
            Assert.Equal(schema2.Digest, byTag);
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, "docker"));
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, "docker-too"));
            Assert.Empty(await client.Tags.ListAsync(repo));

            // Unknown digest.
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.DeleteAsync(repo, oci.Digest.ToString()));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal(404, e.StatusCode);
            Assert.Equal("MANIFEST_UNKNOWN", e.ErrorCode);
            Assert.Equal("DELETE", e.Method);

            // Unknown tag.
            var t = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.DeleteAsync(repo, "no-such-tag"));
            Assert.Equal(RegistryErrorKind.NotFound, t.Kind);

            // The blobs stay.
            Assert.True(await client.Blobs.ExistsAsync(repo, Digest.Parse(image.ConfigDigest)));
        }
    }
}
