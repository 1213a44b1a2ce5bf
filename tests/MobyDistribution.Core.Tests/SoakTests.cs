using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// A soak through proxies that break 10% of all requests at random on both sides (503, 429, resets before and during
    /// answers, cut bodies, answers dropped after the registry acted), with a budget of 10 retries: copies, downloads,
    /// uploads and exports go on, and nothing wrong or partial lands (skopeo verifies every image copied).
    /// </summary>
    public sealed class SoakTests : IClassFixture<FaultBed>
    {
        private readonly FaultBed _bed;

        public SoakTests(FaultBed bed) => _bed = bed;

        [Fact]
        public async Task Operations_through_proxies_breaking_a_tenth_of_all_requests_succeed_and_land_nothing_wrong()
        {
            void Budget(RegistryClientOptions o)
            {
                o.Retry.MaxAttempts = 11;
                o.Retry.BaseDelay = TimeSpan.FromMilliseconds(10);
                o.Retry.MaxDelay = TimeSpan.FromMilliseconds(200);
            }
            using var source = new Scenario(_bed.Anonymous, configure: Budget);
            using var destination = new Scenario(_bed.Basic, configure: Budget);
            var repos = Enumerable.Range(0, 6).Select(i => FaultNames.Repo("soak" + i)).ToArray();
            foreach (var repo in repos) _bed.Push(_bed.Layers, _bed.Anonymous, repo);
            source.Proxy.BreakAtRandom(0.10, seed: 4242);
            destination.Proxy.BreakAtRandom(0.10, seed: 4243);
            var copier = new ImageCopier(r => r.Registry == source.Proxy.HostPort ? source.Client : destination.Client);
            var exporter = new ImageExporter(r => source.Client);
            var dir = FaultNames.TempDir();
            var outcomes = new List<(string What, Exception? Error)>();
            try
            {
                async Task Run(string what, Func<Task> operation)
                {
                    try { await operation(); outcomes.Add((what, null)); }
                    catch (Exception e) { outcomes.Add((what, e)); destination.ErrorTexts.Enqueue(e.ToString()); }
                }

                foreach (var repo in repos)
                    await Run("copy " + repo, () => copier.CopyAsync(source.Ref(repo), ImageReference.Create(destination.Proxy.HostPort, repo, "soak")));
                foreach (var (layer, i) in _bed.Layers.Layers.Take(4).Select((l, i) => (l, i)))
                    await Run("download " + i, () => source.Client.Blobs.DownloadToFileAsync(repos[0], Digest.Parse(layer.Digest), Path.Combine(dir, "blob" + i), layer.Size));
                for (int i = 0; i < 3; i++)
                {
                    var data = Reg.RandomBytes(200 * 1024 + i, seed: 900 + i);
                    await Run("upload " + i, async () =>
                    {
                        var result = await destination.Client.Blobs.UploadAsync(repos[i], new MemoryStream(data),
                            new BlobUploadOptions { Digest = Digest.Compute(data), ChunkSize = 64 * 1024 });
                        var back = new MemoryStream();
                        await destination.Client.Blobs.DownloadAsync(repos[i], result.Descriptor.Digest, back);
                        Assert.Equal(data, back.ToArray());
                    });
                }
                for (int i = 0; i < 2; i++)
                    await Run("export " + i, () => exporter.ExportAsync(source.Ref(repos[i]), Path.Combine(dir, $"image{i}.tar")));

                var failed = outcomes.Where(o => o.Error != null).ToList();
                // The anchor: skopeo --retry-times 10 through such proxies copies 9 of 15; the target is at least 38 of 40.
                Assert.True(failed.Count <= 1, string.Join("\n", failed.Select(f => f.What + ": " + f.Error!.Message)));
                foreach (var (what, error) in outcomes.Where(o => o.What.StartsWith("copy ", StringComparison.Ordinal) && o.Error == null))
                    Assert.Equal(_bed.Layers.Digest, SkopeoView.PullVerified(_bed.Basic, what.Substring(5), "soak"));
                // Nothing partial: every file is either whole or absent, and no temporary file is left.
                Assert.DoesNotContain(Directory.GetFiles(dir), f => f.EndsWith(".partial", StringComparison.Ordinal) || Path.GetFileName(f).StartsWith(".", StringComparison.Ordinal));
                foreach (var (layer, i) in _bed.Layers.Layers.Take(4).Select((l, i) => (l, i)))
                    if (File.Exists(Path.Combine(dir, "blob" + i))) Assert.Equal(layer.Digest, Reg.Sha256File(Path.Combine(dir, "blob" + i)));
                Assert.True(source.Proxy.Log.Count(e => e.Fault != null) + destination.Proxy.Log.Count(e => e.Fault != null) >= 5, "the proxies broke too few requests to prove anything");
                source.AssertNoLeaks();
                destination.AssertNoLeaks();
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }
    }
}
