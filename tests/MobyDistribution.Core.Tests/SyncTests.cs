using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Sync-RegistryRepository's engine (RepositorySync) against the real registries, checked with skopeo and counted through FaultProxy.</summary>
    [Collection("registries")]
    public sealed class SyncTests
    {
        private readonly TestBedFixture _fx;

        public SyncTests(TestBedFixture fx) => _fx = fx;

        private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N").Substring(0, 8);

        /// <summary>A sync whose clients are made per registry (host:port) on first use: one for a registry, one for a proxy.</summary>
        private static RepositorySync Sync(Dictionary<string, RegistryClient>? clients = null)
        {
            clients ??= new Dictionary<string, RegistryClient>();
            return new RepositorySync(r =>
            {
                lock (clients)
                {
                    if (!clients.TryGetValue(r.Registry, out var c))
                    {
                        var options = new RegistryClientOptions { CredentialStore = null };
                        options.Retry.MaxAttempts = 2;
                        options.Retry.BaseDelay = TimeSpan.FromMilliseconds(20);
                        clients[r.Registry] = c = new RegistryClient(RegistryEndpoint.Parse(r.Registry), options);
                    }
                    return c;
                }
            });
        }

        /// <summary>
        /// Tags <paramref name="tags"/> in <paramref name="repository"/>, each a distinct OCI manifest over the same layers
        /// (the shared fixture's), made distinct by a label in its config. Returns tag → manifest digest.
        /// </summary>
        private async Task<Dictionary<string, string>> SeedAsync(RegistryServer server, string repository, IEnumerable<string> tags, string label = "a")
        {
            var client = Reg.Client(server);
            var image = _fx.Image;
            var m = image.Manifests[0];
            foreach (var layer in m.Layers)
            {
                using var stream = File.OpenRead(image.BlobPath(layer.Digest));
                await client.Blobs.UploadAsync(repository, stream, new BlobUploadOptions { Digest = Digest.Parse(layer.Digest), Monolithic = true });
            }
            var layers = m.Layers.Select(l => new Descriptor(l.MediaType, Digest.Parse(l.Digest), l.Size)).ToList();
            var digests = new Dictionary<string, string>();
            foreach (var tag in tags)
            {
                var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"sync.tag\":\"" + tag + "\",\"sync.label\":\"" + label + "\"}},"
                    + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + string.Join(",", m.DiffIds.Select(d => "\"" + d + "\"")) + "]}}");
                var configDigest = Digest.Parse(Reg.Sha256(config));
                using (var stream = new MemoryStream(config))
                    await client.Blobs.UploadAsync(repository, stream, new BlobUploadOptions { Digest = configDigest, Monolithic = true });
                var manifest = OciImageManifest.Create(new Descriptor(MediaTypes.OciConfig, configDigest, config.Length), layers);
                var pushed = await client.Manifests.PutAsync(repository, tag, manifest);
                digests[tag] = pushed.Digest.ToString();
            }
            return digests;
        }

        private static ImageReference Repo(RegistryServer server, string repository) => ImageReference.Create(server.HostPort, repository);
        private static ImageReference Repo(FaultProxy proxy, string repository) => ImageReference.Create(proxy.HostPort, repository);
        private static readonly string[] Tags = Enumerable.Range(1, 12).Select(i => $"t{i:d2}").ToArray();

        [Fact]
        public async Task A_version_range_and_the_newest_N_choose_the_tags_and_prune_the_rest()
        {
            string src = Unique("sync/semver-src"), dst = Unique("sync/semver-dst");
            await SeedAsync(_fx.Anonymous, src, new[] { "v1.9.0", "v2.0.0", "v2.1.0", "v2.2.0", "latest" });
            var sync = Sync();
            var first = await sync.SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst),
                new RepositorySyncOptions { Selector = new TagSelector { SemVer = ">=2 <3", Latest = 2 } });
            Assert.Equal(new[] { "v2.1.0", "v2.2.0" }, first.Select(r => r.Tag).OrderBy(t => t, StringComparer.Ordinal));
            Assert.Equal(new[] { "v2.1.0", "v2.2.0" }, (await Reg.Client(_fx.Anonymous).Tags.ListAsync(dst)).OrderBy(t => t, StringComparer.Ordinal));

            // A wider range later, with -Prune: what the range leaves out (v1.9.0 never came; latest is not a version) stays out.
            var second = await sync.SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst),
                new RepositorySyncOptions { Selector = new TagSelector { SemVer = "^2.0.0" }, Prune = true });
            Assert.Equal(SyncAction.Copied, second.Single(r => r.Tag == "v2.0.0").Action);
            Assert.All(second.Where(r => r.Tag != "v2.0.0"), r => Assert.Equal(SyncAction.Unchanged, r.Action));
            Assert.Equal(new[] { "v2.0.0", "v2.1.0", "v2.2.0" }, (await Reg.Client(_fx.Anonymous).Tags.ListAsync(dst)).OrderBy(t => t, StringComparer.Ordinal));
        }

        [Fact]
        public async Task IncludeReferrers_copies_the_signatures_of_every_tag_and_later_ones_of_unchanged_tags()
        {
            string src = Unique("sync/refs-src"), dst = Unique("sync/refs-dst");
            await SeedAsync(_fx.Anonymous, src, Tags.Take(2));
            var artifacts = new ImageArtifacts(_ => Reg.Client(_fx.Anonymous));
            var dir = Path.Combine(Path.GetTempPath(), "moby-sync-refs-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(dir);
            try
            {
                async Task<Digest> SignAsync(string tag, string text)
                {
                    var file = Path.Combine(dir, tag + "-" + text + ".sig");
                    File.WriteAllText(file, text);
                    var request = new ArtifactPublishRequest { ArtifactType = "application/vnd.example.signature", Subject = ImageReference.Parse($"{_fx.Anonymous.HostPort}/{src}:{tag}") };
                    request.Files.Add(new ArtifactFileSource(file));
                    return (await artifacts.PublishAsync(request)).Descriptor.Digest;
                }
                var first = await SignAsync(Tags[0], "one");
                var options = new RepositorySyncOptions { IncludeReferrers = true };

                // The plan that -WhatIf reads names the referrers that would travel, and changes nothing.
                var shown = await Sync().PlanAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst), new RepositorySyncOptions { IncludeReferrers = true, DetailedPlan = true });
                Assert.Equal(first, shown.Tags.Single(t => t.Tag == Tags[0]).Referrers!.Single().Referrer.Digest);
                Assert.Empty(shown.Tags.Single(t => t.Tag == Tags[1]).Referrers!);
                Assert.DoesNotContain(shown.Tags, t => ReferrerService.IsReferrerTag(t.Tag));

                var results = await Sync().SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst), options);
                Assert.All(results, r => Assert.Equal(SyncAction.Copied, r.Action));
                var discovery = new ReferrerDiscovery(_ => Reg.Client(_fx.Anonymous));
                async Task<IReadOnlyList<Digest>> ReferrersAtDestination(string tag) =>
                    (await discovery.FindAsync(ImageReference.Parse($"{_fx.Anonymous.HostPort}/{dst}:{tag}"), new ReferrerQuery())).Referrers.Select(r => r.Digest).ToList();
                Assert.Equal(new[] { first }, await ReferrersAtDestination(Tags[0]));
                Assert.Equal(first.ToString(), Skopeo.Digest($"docker://{_fx.Anonymous.HostPort}/{dst}@{first}"));

                // A second signature on an image that did not change travels on the next sync.
                var second = await SignAsync(Tags[0], "two");
                results = await Sync().SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst), options);
                Assert.All(results, r => Assert.Equal(SyncAction.Unchanged, r.Action));
                Assert.Equal(new[] { first, second }.OrderBy(d => d.ToString()), (await ReferrersAtDestination(Tags[0])).OrderBy(d => d.ToString()));
                Assert.Empty(await ReferrersAtDestination(Tags[1]));
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        [Fact]
        public async Task A_nearly_spent_pull_quota_at_the_source_makes_the_sync_copy_one_tag_at_a_time()
        {
            string src = Unique("sync/quota-src"), dst = Unique("sync/quota-dst");
            await SeedAsync(_fx.Anonymous, src, Tags.Take(6));
            await Sync().SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst));
            var digests = await SeedAsync(_fx.Anonymous, src, Tags.Take(6), label: "b"); // every tag changed
            using var proxy = FaultProxy.Start(_fx.Anonymous);
            // Docker Hub's headers (a HEAD reports the quota without using it): 10 pulls left, fewer than two per tag at 8 at once.
            proxy.AddRule(FaultRule.RateLimit(limit: 10, windowSeconds: 21600));
            var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var clients = new Dictionary<string, RegistryClient>
            {
                [proxy.HostPort] = new RegistryClient(RegistryEndpoint.Parse(proxy.HostPort), new RegistryClientOptions { CredentialStore = null, Log = lines.Enqueue }),
            };

            var results = await Sync(clients).SyncAsync(Repo(proxy, src), Repo(_fx.Anonymous, dst), new RepositorySyncOptions { ThrottleLimit = 8 });

            Assert.All(results, r => Assert.Equal(SyncAction.Updated, r.Action));
            Assert.Contains(lines, l => l.Contains("pull quota is nearly spent", StringComparison.Ordinal) && l.Contains("one tag at a time", StringComparison.Ordinal));
            foreach (var (tag, digest) in digests)
                Assert.Equal(digest, Skopeo.Digest($"docker://{_fx.Anonymous.HostPort}/{dst}:{tag}"));
        }

        [Fact]
        public async Task First_sync_copies_every_tag_and_a_resync_costs_one_HEAD_per_side_per_tag()
        {
            var src = Unique("sync/src");
            var dst = Unique("sync/dst");
            var digests = await SeedAsync(_fx.Anonymous, src, Tags);
            using var proxy = FaultProxy.Start(_fx.Anonymous);

            var first = await Sync().SyncAsync(Repo(proxy, src), Repo(proxy, dst));
            Assert.Equal(Tags, first.Select(r => r.Tag));
            Assert.All(first, r => Assert.Equal(SyncAction.Copied, r.Action));
            foreach (var tag in Tags)
                Assert.Equal(digests[tag], Skopeo.Digest($"docker://{_fx.Anonymous.HostPort}/{dst}:{tag}"));
            // The first sync knows from the destination's tag list that nothing is there: no HEAD on either side, one GET of
            // each source manifest (by the copy).
            Assert.DoesNotContain(proxy.Log, e => e.Method == "HEAD" && e.Endpoint == "manifest");
            foreach (var tag in Tags)
                Assert.Single(proxy.Log, e => e.Method == "GET" && e.Path == $"/v2/{src}/manifests/{tag}");

            proxy.ClearLog();
            var again = await Sync().SyncAsync(Repo(proxy, src), Repo(proxy, dst));
            Assert.All(again, r => Assert.Equal(SyncAction.Unchanged, r.Action));
            Assert.All(again, r => Assert.Equal(digests[r.Tag], r.Digest!.ToString()));
            Assert.All(again, r => Assert.Equal(0, r.BytesTransferred));
            var log = proxy.Log;
            foreach (var tag in Tags)
            {
                Assert.Single(log, e => e.Method == "HEAD" && e.Path == $"/v2/{src}/manifests/{tag}");
                Assert.Single(log, e => e.Method == "HEAD" && e.Path == $"/v2/{dst}/manifests/{tag}");
            }
            // Nothing else per tag: one tag listing per side (and the client's ping), no manifest GET, no blob request.
            var perTag = log.Where(e => e.Endpoint == "manifest" || e.Endpoint == "blob" || e.Endpoint == "upload").ToList();
            Assert.Equal(2 * Tags.Length, perTag.Count);
            Assert.Equal(2, log.Count(e => e.Endpoint == "tags"));
        }

        [Fact]
        public async Task A_changed_tag_is_updated_and_the_others_stay_unchanged()
        {
            var src = Unique("sync/src");
            var dst = Unique("sync/dst");
            await SeedAsync(_fx.Anonymous, src, Tags.Take(4));
            var sync = Sync();
            await sync.SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst));
            var changed = await SeedAsync(_fx.Anonymous, src, new[] { Tags[1] }, label: "b");

            var again = await sync.SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst));
            Assert.Equal(new[] { SyncAction.Unchanged, SyncAction.Updated, SyncAction.Unchanged, SyncAction.Unchanged }, again.Select(r => r.Action));
            Assert.Equal(changed[Tags[1]], again[1].Digest!.ToString());
            Assert.Equal(changed[Tags[1]], Skopeo.Digest($"docker://{_fx.Anonymous.HostPort}/{dst}:{Tags[1]}"));
            // Only the config is new; the layers were there (mounted or found): a small copy.
            Assert.NotNull(again[1].Copy);
        }

        [Fact]
        public async Task Across_registries_blobs_are_streamed_once_and_every_tag_lands()
        {
            var src = Unique("sync/src");
            var dst = Unique("sync/dst");
            var digests = await SeedAsync(_fx.Anonymous, src, Tags.Take(5));
            var clients = new Dictionary<string, RegistryClient> { [_fx.Basic.HostPort] = Reg.Client(_fx.Basic) };

            var results = await Sync(clients).SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Basic, dst), new RepositorySyncOptions { ThrottleLimit = 2 });
            Assert.All(results, r => Assert.Equal(SyncAction.Copied, r.Action));
            foreach (var r in results)
                Assert.Equal(digests[r.Tag], Skopeo.Digest($"docker://{_fx.Basic.HostPort}/{dst}:{r.Tag}", _fx.Basic.Credentials));
            // Five configs of their own; the shared layers are streamed once, by one tag's copy, while the others wait for them.
            var layerBytes = _fx.Image.Layers.Sum(l => l.Size);
            var configBytes = results.Sum(r => r.Copy!.Plan.Blobs.Where(b => b.MediaType == MediaTypes.OciConfig).Sum(b => b.Size));
            Assert.Equal(layerBytes + configBytes, results.Sum(r => r.BytesTransferred));
        }

        [Fact]
        public async Task Prune_removes_a_destination_tag_missing_from_the_source_and_the_plan_alone_removes_nothing()
        {
            var src = Unique("sync/src");
            var dst = Unique("sync/dst");
            await SeedAsync(_fx.Anonymous, src, Tags.Take(3));
            var sync = Sync();
            await sync.SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst));
            // A tag only the destination has, on a manifest of its own (today's untag deletes the manifest).
            await SeedAsync(_fx.Anonymous, dst, new[] { "old" }, label: "old");
            var options = new RepositorySyncOptions { Prune = true };

            var plan = await sync.PlanAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst), options);
            var prune = Assert.Single(plan.Tags, t => t.Action == SyncAction.Pruned);
            Assert.Equal("old", prune.Tag);
            Assert.Contains("old", Skopeo.ListTags($"docker://{_fx.Anonymous.HostPort}/{dst}"));

            // Declining the removal leaves it.
            var declined = await sync.ExecuteAsync(plan, options, t => t.Action != SyncAction.Pruned);
            Assert.DoesNotContain(declined, r => r.Action == SyncAction.Pruned);
            Assert.Contains("old", Skopeo.ListTags($"docker://{_fx.Anonymous.HostPort}/{dst}"));

            var results = await sync.ExecuteAsync(plan, options);
            Assert.Equal(SyncAction.Pruned, Assert.Single(results, r => r.Tag == "old").Action);
            Assert.Equal(Tags.Take(3).OrderBy(t => t), Skopeo.ListTags($"docker://{_fx.Anonymous.HostPort}/{dst}").OrderBy(t => t));

            // Outside the selection nothing is pruned: with an include filter that leaves the tag out, it would stay.
            await SeedAsync(_fx.Anonymous, dst, new[] { "keep-me" }, label: "keep");
            var filtered = await sync.PlanAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst), new RepositorySyncOptions { Prune = true, TagFilter = t => t.StartsWith("t", StringComparison.Ordinal) });
            Assert.DoesNotContain(filtered.Tags, t => t.Action == SyncAction.Pruned);
        }

        [Fact]
        public async Task A_tag_whose_manifest_always_fails_is_reported_and_the_others_are_copied()
        {
            var src = Unique("sync/src");
            var dst = Unique("sync/dst");
            var digests = await SeedAsync(_fx.Anonymous, src, Tags.Take(6));
            using var proxy = FaultProxy.Start(_fx.Anonymous);
            proxy.AddRule(FaultRule.Status(500, "*", $"^/v2/{src}/manifests/{Tags[2]}$").Always());

            var results = await Sync().SyncAsync(Repo(proxy, src), Repo(proxy, dst), new RepositorySyncOptions { ThrottleLimit = 3 });
            var failed = Assert.Single(results, r => r.Action == SyncAction.Failed);
            Assert.Equal(Tags[2], failed.Tag);
            var error = Assert.IsType<MobyDistribution.Errors.RegistryException>(failed.Error);
            Assert.Equal(MobyDistribution.Errors.RegistryErrorKind.ServerError, error.Kind);
            foreach (var r in results.Where(r => r.Tag != Tags[2]))
            {
                Assert.Equal(SyncAction.Copied, r.Action);
                Assert.Equal(digests[r.Tag], Skopeo.Digest($"docker://{_fx.Anonymous.HostPort}/{dst}:{r.Tag}"));
            }
        }

        [Fact]
        public async Task A_platform_subset_resyncs_as_unchanged()
        {
            var src = Unique("sync/multi");
            var dst = Unique("sync/arm");
            var indexDigest = Skopeo.PushFixture(_fx.Index, _fx.Anonymous, src, "all");
            var options = new RepositorySyncOptions { Platforms = new[] { Platform.Parse("linux/arm64") } };
            var sync = Sync();

            var first = Assert.Single(await sync.SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst), options));
            Assert.Equal(SyncAction.Copied, first.Action);
            Assert.NotEqual(indexDigest, first.Digest!.ToString());
            Assert.Equal(indexDigest, first.Plan.SourceDigest!.ToString());

            var again = Assert.Single(await sync.SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst), options));
            Assert.Equal(SyncAction.Unchanged, again.Action);
            Assert.Equal(first.Digest, again.Digest);
            // Without the subset the same destination is out of date.
            var whole = Assert.Single((await sync.PlanAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst))).Tags);
            Assert.Equal(SyncAction.Updated, whole.Action);
        }

        [Fact]
        public async Task Shards_are_disjoint_and_together_sync_every_tag()
        {
            var src = Unique("sync/src");
            await SeedAsync(_fx.Anonymous, src, Tags);
            var sync = Sync();
            var shares = new List<string[]>();
            for (int i = 1; i <= 3; i++)
            {
                var dst = Unique("sync/shard");
                var results = await sync.SyncAsync(Repo(_fx.Anonymous, src), Repo(_fx.Anonymous, dst), new RepositorySyncOptions { Shard = new SyncShard(i, 3) });
                Assert.All(results, r => Assert.Equal(SyncAction.Copied, r.Action));
                var landed = Skopeo.ListTags($"docker://{_fx.Anonymous.HostPort}/{dst}");
                Assert.Equal(results.Select(r => r.Tag).OrderBy(t => t), landed.OrderBy(t => t));
                shares.Add(landed);
            }
            var all = shares.SelectMany(s => s).ToList();
            Assert.Equal(all.Count, all.Distinct().Count());
            Assert.Equal(Tags, all.OrderBy(t => t, StringComparer.Ordinal));
            Assert.True(shares.Count(s => s.Length > 0) > 1, "every tag fell into one share");
        }

        [Fact]
        public void A_share_is_stable_FNV_1a_of_repository_colon_tag()
        {
            // FNV-1a 64 of "" and "a" (published test vectors), so every process and machine computes the same shares.
            Assert.Equal(0xcbf29ce484222325UL, SyncShard.Hash(""));
            Assert.Equal(0xaf63dc4c8601ec8cUL, SyncShard.Hash("a"));
            var pairs = Enumerable.Range(0, 200).Select(i => $"v{i}").ToList();
            for (int n = 1; n <= 5; n++)
                foreach (var tag in pairs)
                    Assert.Single(Enumerable.Range(1, n), i => new SyncShard(i, n).Contains("team/app", tag));
            Assert.Equal(new SyncShard(2, 8).ToString(), SyncShard.Parse(" 2/8 ").ToString());
            foreach (var bad in new[] { "0/3", "4/3", "3", "1/0", "a/b", "-1/2", "1/2/3", "" })
                Assert.Throws<FormatException>(() => SyncShard.Parse(bad));
        }

        [Fact]
        public void Destinations_map_to_a_repository_a_registry_or_a_prefix()
        {
            var source = ImageReference.Parse("localhost:5000/team/app");
            Assert.Equal("localhost:5001/other", RepositorySync.MapDestination("localhost:5001/other", source, asPrefix: false).ToString());
            Assert.Equal("localhost:5001/team/app", RepositorySync.MapDestination("localhost:5001", source, asPrefix: false).ToString());
            Assert.Equal("localhost:5001/team/app", RepositorySync.MapDestination("localhost:5001/", source, asPrefix: true).ToString());
            Assert.Equal("localhost:5001/mirror/team/app", RepositorySync.MapDestination("localhost:5001/mirror", source, asPrefix: true).ToString());
            Assert.Throws<FormatException>(() => RepositorySync.MapDestination("localhost:5001/other:v1", source, asPrefix: false));
            Assert.Throws<FormatException>(() => RepositorySync.MapDestination(" ", source, asPrefix: false));
        }
    }
}
