using System;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Tag lists (sorted, paged), the catalog, unknown repositories.</summary>
    [Collection("registries")]
    public sealed class TagAndCatalogTests
    {
        private readonly TestBedFixture _bed;

        public TagAndCatalogTests(TestBedFixture bed) => _bed = bed;

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Tags_ThirtyTags_PagedBySeven_AllReturnedSorted(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var image = _bed.Image;
            var client = Reg.Client(registry);
            string repo = Reg.Repo("tags");
            await Reg.UploadBlobsAsync(client, repo, image, image.Manifests[0]);
            var manifest = Manifest.Parse(image.ReadBlob(image.ManifestDigest));

            // Names whose order differs between push order, ordinal sort and number order.
            var tags = Enumerable.Range(0, 30).Select(i => i % 3 == 0 ? $"v{i}" : i % 3 == 1 ? $"T-{30 - i}" : $"rc_{i}.{i % 7}").ToArray();
            var rng = new Random(7);
            foreach (var tag in tags.OrderBy(_ => rng.Next()))
                await client.Manifests.PutAsync(repo, tag, manifest);

            var expected = tags.OrderBy(t => t, StringComparer.Ordinal).ToArray();
            var paged = await client.Tags.ListAsync(repo, pageSize: 7);
            Assert.Equal(expected, paged);
            var whole = await client.Tags.ListAsync(repo);
            Assert.Equal(expected, whole);

            var skopeoTags = Skopeo.ListTags(registry.ImageReference(repo, "v0"), registry.Credentials);
            Assert.Equal(expected, skopeoTags.OrderBy(t => t, StringComparer.Ordinal));

            var d = await client.Tags.GetAsync(repo, "T-2");
            Assert.Equal(image.ManifestDigest, d.Digest.ToString());
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Catalog_Paged_HoldsTheRepositories_Sorted(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            string a = Reg.Repo("catalog-a"), b = Reg.Repo("catalog-b"), c = Reg.Repo("catalog-c");
            foreach (var repo in new[] { c, a, b })
                await client.Blobs.UploadAsync(repo, new System.IO.MemoryStream(Reg.RandomBytes(64, repo.Length)),
                    new Registry.BlobUploadOptions { Monolithic = true });

            var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var paging = Reg.Client(registry, log: log.Enqueue);
            var paged = await paging.Catalog.ListAsync(pageSize: 2);
            Assert.Contains(a, paged);
            Assert.Contains(b, paged);
            Assert.Contains(c, paged);
            Assert.Equal(paged.OrderBy(r => r, StringComparer.Ordinal), paged);
            Assert.Equal(paged.Count, paged.Distinct().Count());
            // It really went page by page (2.8 sends a relative Link header).
            Assert.True(log.Count(l => l.StartsWith("GET ", StringComparison.Ordinal) && l.Contains("/v2/_catalog") && l.Contains("-> 200")) >= 2);

            var whole = await client.Catalog.ListAsync();
            Assert.Equal(paged, whole);
            Assert.Equal(whole, await client.Catalog.ListAsync(pageSize: 1000));
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Tags_OfUnknownRepository_IsNotFound_NameUnknown(string mode)
        {
            var client = Reg.Client(_bed.Env.Get(mode));
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Tags.ListAsync(Reg.Repo("never-pushed")));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal(404, e.StatusCode);
            Assert.Equal("NAME_UNKNOWN", e.ErrorCode);
        }

        [Fact]
        public async Task InvalidNamesAndTags_AreRefusedBeforeAnyRequest()
        {
            var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var client = Reg.Client(_bed.Anonymous, log: log.Enqueue);
            await Assert.ThrowsAsync<ArgumentException>(() => client.Tags.ListAsync("Upper/Case"));
            await Assert.ThrowsAsync<ArgumentException>(() => client.Manifests.GetAsync("core/ok", "bad tag"));
            await Assert.ThrowsAsync<ArgumentException>(() => client.Manifests.GetAsync("core/ok", "-dash"));
            await Assert.ThrowsAsync<ArgumentException>(() => client.Manifests.GetAsync("core/ok", "sha256:abc"));
            // Tags are ASCII: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. A registry answers a non-ASCII one with a bare 404 page.
            await Assert.ThrowsAsync<ArgumentException>(() => client.Manifests.GetAsync("core/ok", "über"));
            await Assert.ThrowsAsync<ArgumentException>(() => client.Manifests.GetAsync("core/ok", "v\u0661"));
            await Assert.ThrowsAsync<ArgumentException>(() => client.Manifests.GetAsync("core/ok", new string('a', 129)));
            // A trailing newline is not part of a name ($ in .NET would match before it).
            await Assert.ThrowsAsync<ArgumentException>(() => client.Manifests.GetAsync("core/ok", "v1\n"));
            await Assert.ThrowsAsync<ArgumentException>(() => client.Tags.ListAsync("core/ok\n"));
            Assert.Empty(log);
        }
    }
}
