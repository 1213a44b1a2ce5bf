using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>TagSelector against the real registry: -Latest by the configs' created time, read from each tag's image.</summary>
    [Collection("registries")]
    public sealed class TagSelectionTests
    {
        private readonly TestBedFixture _bed;

        public TagSelectionTests(TestBedFixture bed) => _bed = bed;

        [Fact]
        public async Task Latest_WhenTagsAreNotAllVersions_GoesByEachConfigsCreated()
        {
            var log = new ConcurrentQueue<string>();
            var client = Reg.Client(_bed.Anonymous, log: log.Enqueue);
            var repo = Reg.Repo("select-created");
            var image = _bed.Image;
            var fixture = image.Manifests[0];
            await Reg.UploadBlobsAsync(client, repo, image, fixture);
            var baseConfig = ImageConfig.Parse(image.ReadBlob(fixture.ConfigDigest));

            async Task PushAsync(string tag, DateTimeOffset? created)
            {
                // Without a created time: a config with only what the spec requires.
                var bytes = created.HasValue ? baseConfig.WithCreated(created.Value).RawBytes
                    : Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" +
                        string.Join(",", fixture.Layers.Select(l => "\"" + l.DiffId + "\"")) + "]}}");
                await client.Blobs.UploadAsync(repo, new MemoryStream(bytes), new BlobUploadOptions { Digest = Digest.Compute(bytes), Monolithic = true });
                var layers = string.Join(",", fixture.Layers.Select(l => $"{{\"mediaType\":\"{l.MediaType}\",\"digest\":\"{l.Digest}\",\"size\":{l.Size}}}"));
                var manifest = $"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciManifest}\",\"config\":{{\"mediaType\":\"{MediaTypes.OciConfig}\",\"digest\":\"{Digest.Compute(bytes)}\",\"size\":{bytes.Length}}},\"layers\":[{layers}]}}";
                await client.Manifests.PutAsync(repo, tag, Encoding.UTF8.GetBytes(manifest), MediaTypes.OciManifest);
            }

            await PushAsync("nightly", DateTimeOffset.Parse("2026-03-01T00:00:00Z"));
            await PushAsync("main", DateTimeOffset.Parse("2026-05-01T00:00:00Z"));
            await PushAsync("v1", DateTimeOffset.Parse("2026-04-01T00:00:00Z"));
            await PushAsync("undated", null);
            var tags = await client.Tags.ListAsync(repo);

            var two = await new TagSelector { Latest = 2 }.SelectAsync(client, repo, tags);
            Assert.Equal(new[] { "main", "v1" }, two);
            // Every config was read (4 manifests, 4 config blobs).
            Assert.Equal(4, log.Count(l => l.StartsWith("GET ", StringComparison.Ordinal) && l.Contains("/blobs/sha256:") && l.Contains("-> 200")));

            var all = await new TagSelector { Latest = 10, Exclude = new[] { "nightly" } }.SelectAsync(client, repo, tags);
            Assert.Equal(new[] { "main", "v1", "undated" }, all);

            // All versions: no config is read.
            log.Clear();
            Assert.Equal(new[] { "v1" }, await new TagSelector { Latest = 1, SemVer = "*" }.SelectAsync(client, repo, tags));
            Assert.DoesNotContain(log, l => l.Contains("/blobs/"));
        }
    }
}
