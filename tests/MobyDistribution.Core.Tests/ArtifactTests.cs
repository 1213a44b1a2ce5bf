using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Publishing OCI artifacts (attach with a subject, standalone with a tag) and reading them back, against the real registry
    /// (no referrers API: the tag-schema index is kept) and through the proxy that has the API; checked with skopeo.
    /// </summary>
    [Collection("registries")]
    public sealed class ArtifactTests : IDisposable
    {
        private const string Sbom = "application/spdx+json";
        private readonly TestBedFixture _bed;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "moby-artifacts-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public ArtifactTests(TestBedFixture bed)
        {
            _bed = bed;
            Directory.CreateDirectory(_dir);
        }

        public void Dispose() => Directory.Delete(_dir, recursive: true);

        private string WriteFile(string name, string text)
        {
            var folder = Path.Combine(_dir, Guid.NewGuid().ToString("N").Substring(0, 6));
            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, name);
            File.WriteAllText(path, text);
            return path;
        }

        [Theory]
        [InlineData("../evil")]
        [InlineData("/etc/passwd")]
        [InlineData("a/b")]
        [InlineData("a\\b")]
        [InlineData("..")]
        [InlineData(".")]
        [InlineData("C:evil")]
        [InlineData("CON.txt")]
        [InlineData("trailing.")]
        [InlineData("nul\0byte")]
        [InlineData("")]
        public void TitleProblem_RefusesWhatIsNotAPlainFileName(string title)
        {
            Assert.NotNull(ImageArtifacts.TitleProblem(title));
        }

        [Fact]
        public void TitleProblem_AcceptsPlainFileNames()
        {
            Assert.Null(ImageArtifacts.TitleProblem("sbom.spdx.json"));
            Assert.Null(ImageArtifacts.TitleProblem("..hidden-ish"));
            Assert.Equal("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", ImageArtifacts.EmptyConfigDescriptor.Digest.ToString());
        }

        [Fact]
        public async Task Attach_WithoutApi_PushesTheArtifactByDigest_AndKeepsTheTagSchemaIndex()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("art-attach");
            var image = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 11, "v1");
            // An entry someone else put there: kept.
            var other = await HandWritten.PushArtifactAsync(registry.BaseUrl, repo, "application/vnd.example.other", MediaTypes.OciManifest, image.Digest, image.Size, "other");
            await HandWritten.PushIndexAsync(registry.BaseUrl, repo, HandWritten.TagSchemaTag(image.Digest), HandWritten.Descriptor(MediaTypes.OciManifest, other.Digest, other.Size, "application/vnd.example.other"));

            var artifacts = new ImageArtifacts(_ => Reg.Client(registry));
            var request = new ArtifactPublishRequest { ArtifactType = Sbom, Subject = ImageReference.Parse($"{registry.HostPort}/{repo}:v1"), Annotations = new Dictionary<string, string> { ["org.example.kind"] = "sbom" } };
            request.Files.Add(new ArtifactFileSource(WriteFile("sbom.spdx.json", "{\"spdxVersion\":\"SPDX-2.3\"}"), "application/spdx+json"));
            request.Files.Add(new ArtifactFileSource(WriteFile("notes.txt", "notes")));
            var published = await artifacts.PublishAsync(request);

            Assert.NotNull(published.TagSchemaIndex);
            Assert.Equal(Sbom, published.Descriptor.ArtifactType);
            // skopeo reads the manifest by digest: our JSON as the OCI artifact guidance has it.
            var raw = Skopeo.InspectRaw($"docker://{registry.HostPort}/{repo}@{published.Descriptor.Digest}");
            using (var doc = JsonDocument.Parse(raw))
            {
                var root = doc.RootElement;
                Assert.Equal(Sbom, root.GetProperty("artifactType").GetString());
                Assert.Equal(MediaTypes.OciEmpty, root.GetProperty("config").GetProperty("mediaType").GetString());
                Assert.Equal(HandWritten.EmptyConfigDigest, root.GetProperty("config").GetProperty("digest").GetString());
                Assert.Equal(image.Digest, root.GetProperty("subject").GetProperty("digest").GetString());
                var layers = root.GetProperty("layers").EnumerateArray().ToList();
                Assert.Equal("sbom.spdx.json", layers[0].GetProperty("annotations").GetProperty(ImageArtifacts.TitleAnnotation).GetString());
                Assert.Equal("application/spdx+json", layers[0].GetProperty("mediaType").GetString());
                Assert.Equal(ImageArtifacts.DefaultFileMediaType, layers[1].GetProperty("mediaType").GetString());
                Assert.Equal("sbom", root.GetProperty("annotations").GetProperty("org.example.kind").GetString());
            }
            // The index under sha256-<hex>, read by skopeo: both entries, ours with its artifactType.
            var index = Skopeo.InspectRaw($"docker://{registry.HostPort}/{repo}:{HandWritten.TagSchemaTag(image.Digest)}");
            using (var doc = JsonDocument.Parse(index))
            {
                var entries = doc.RootElement.GetProperty("manifests").EnumerateArray().ToList();
                Assert.Equal(new[] { other.Digest, published.Descriptor.Digest.ToString() }, entries.Select(e => e.GetProperty("digest").GetString()));
                Assert.Equal(Sbom, entries[1].GetProperty("artifactType").GetString());
            }
            // Untagged but for the tag-schema tag: pushed by digest.
            Assert.DoesNotContain(Skopeo.ListTags($"docker://{registry.HostPort}/{repo}"), t => t == "latest");

            var found = await new ReferrerDiscovery(_ => Reg.Client(registry)).FindAsync(request.Subject!, new ReferrerQuery { ArtifactType = Sbom });
            Assert.Equal(published.Descriptor.Digest, Assert.Single(found.Referrers).Digest);

            // Read back: the files with their titles.
            var contents = await artifacts.ReadAsync(published.Descriptor.Source!);
            Assert.Equal(new[] { "sbom.spdx.json", "notes.txt" }, contents.Files.Select(f => f.Title));
        }

        [Fact]
        public async Task Attach_WithApi_LeavesTheTagSchemaAlone()
        {
            var registry = _bed.Anonymous;
            using var proxy = FaultProxy.StartWithReferrersApi(registry);
            var repo = Reg.Repo("art-api");
            var image = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 12, "v1");
            var artifacts = new ImageArtifacts(_ => HandWritten.Client(proxy.HostPort));
            var request = new ArtifactPublishRequest { ArtifactType = Sbom, Subject = ImageReference.Parse($"{proxy.HostPort}/{repo}:v1") };
            request.Files.Add(new ArtifactFileSource(WriteFile("sbom.json", "{}sbom")));
            var published = await artifacts.PublishAsync(request);

            Assert.Null(published.TagSchemaIndex);
            Assert.Null(await Reg.Client(registry).Manifests.TryGetDescriptorAsync(repo, HandWritten.TagSchemaTag(image.Digest)));
            var found = await new ReferrerDiscovery(_ => HandWritten.Client(proxy.HostPort)).FindAsync(request.Subject!);
            var referrer = Assert.Single(found.Referrers);
            Assert.Equal(ReferrerKind.Referrer, referrer.Kind);
            Assert.Equal(published.Descriptor.Digest, referrer.Digest);
        }

        [Fact]
        public async Task Standalone_IsPushedUnderItsTag_WithoutSubject()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("art-standalone");
            var artifacts = new ImageArtifacts(_ => Reg.Client(registry));
            var request = new ArtifactPublishRequest { ArtifactType = "application/vnd.example.config", Destination = ImageReference.Parse($"{registry.HostPort}/{repo}:cfg") };
            request.Files.Add(new ArtifactFileSource(WriteFile("app.yaml", "a: 1"), "application/yaml"));
            var published = await artifacts.PublishAsync(request);
            Assert.Null(published.Subject);
            Assert.Null(published.Manifest.Subject);
            Assert.Equal(published.Descriptor.Digest.ToString(), Skopeo.Digest($"docker://{registry.HostPort}/{repo}:cfg"));
        }

        [Fact]
        public async Task Publish_RefusesBadRequests_BeforePushingAnything()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("art-bad");
            var artifacts = new ImageArtifacts(_ => Reg.Client(registry));
            var a = WriteFile("same.txt", "a");
            var b = WriteFile("same.txt", "b");
            var twice = new ArtifactPublishRequest { ArtifactType = Sbom, Destination = ImageReference.Parse($"{registry.HostPort}/{repo}:x") };
            twice.Files.Add(new ArtifactFileSource(a));
            twice.Files.Add(new ArtifactFileSource(b));
            await Assert.ThrowsAsync<ArgumentException>(() => artifacts.PublishAsync(twice));

            var elsewhere = new ArtifactPublishRequest
            {
                ArtifactType = Sbom, Subject = ImageReference.Parse($"{registry.HostPort}/{repo}:v1"), Destination = ImageReference.Parse($"{registry.HostPort}/{repo}-other:x"),
            };
            elsewhere.Files.Add(new ArtifactFileSource(a));
            await Assert.ThrowsAsync<ArgumentException>(() => artifacts.PublishAsync(elsewhere));

            var missingSubject = new ArtifactPublishRequest { ArtifactType = Sbom, Subject = ImageReference.Parse($"{registry.HostPort}/{repo}:nope") };
            missingSubject.Files.Add(new ArtifactFileSource(a));
            var e = await Assert.ThrowsAsync<RegistryException>(() => artifacts.PublishAsync(missingSubject));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            // Nothing reached the registry: the repository was never made.
            var tags = await Assert.ThrowsAsync<RegistryException>(() => Reg.Client(registry).Tags.ListAsync(repo));
            Assert.Equal(RegistryErrorKind.NotFound, tags.Kind);
        }

        [Fact]
        public async Task TagSchema_TagHoldingSomethingElse_IsNotOverwritten()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("art-occupied");
            var image = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 13, "v1");
            var squatter = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 14, HandWritten.TagSchemaTag(image.Digest));
            var artifacts = new ImageArtifacts(_ => Reg.Client(registry));
            var request = new ArtifactPublishRequest { ArtifactType = Sbom, Subject = ImageReference.Parse($"{registry.HostPort}/{repo}:v1") };
            request.Files.Add(new ArtifactFileSource(WriteFile("sbom.json", "x")));
            var e = await Assert.ThrowsAsync<RegistryException>(() => artifacts.PublishAsync(request));
            Assert.Equal(RegistryErrorKind.InvalidRequest, e.Kind);
            Assert.Equal(squatter.Digest, Skopeo.Digest($"docker://{registry.HostPort}/{repo}:{HandWritten.TagSchemaTag(image.Digest)}"));
        }

        [Fact]
        public async Task TagSchema_ConcurrentAttaches_AllSurvive()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("art-race");
            var image = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 15, "v1");
            var subject = ImageReference.Parse($"{registry.HostPort}/{repo}:v1");
            const int writers = 6;
            var paths = Enumerable.Range(0, writers).Select(i => WriteFile($"sig-{i}.txt", "signature " + i)).ToList();
            // One client each, as separate processes would have.
            var results = await Task.WhenAll(paths.Select(path => Task.Run(async () =>
            {
                var request = new ArtifactPublishRequest { ArtifactType = "application/vnd.example.signature", Subject = subject };
                request.Files.Add(new ArtifactFileSource(path));
                return await new ImageArtifacts(_ => Reg.Client(registry)).PublishAsync(request);
            })));

            var index = await Reg.Client(registry).Referrers.TryGetTagSchemaIndexAsync(repo, Digest.Parse(image.Digest));
            Assert.Equal(results.Select(r => r.Descriptor.Digest).OrderBy(d => d.ToString()), index!.Manifests.Select(m => m.Digest).OrderBy(d => d.ToString()));
        }

        [Fact]
        public async Task TagSchema_AWriteLostToAStaleWriter_IsMergedAgain()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("art-lost");
            var image = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 16, "v1");
            var intruder = await HandWritten.PushArtifactAsync(registry.BaseUrl, repo, "application/vnd.example.other", MediaTypes.OciManifest, image.Digest, image.Size, "intruder");
            var log = new ConcurrentQueue<string>();
            var client = Reg.Client(registry, log: log.Enqueue);
            client.Referrers.TagSchemaSettleDelay = TimeSpan.FromSeconds(3);
            var request = new ArtifactPublishRequest { ArtifactType = Sbom, Subject = ImageReference.Parse($"{registry.HostPort}/{repo}:v1") };
            request.Files.Add(new ArtifactFileSource(WriteFile("sbom.json", "lost")));
            var publishing = new ImageArtifacts(_ => client).PublishAsync(request);

            // Once our index is written, a writer that read the tag before it overwrites it with an index lacking our entry.
            var watcher = Reg.Client(registry);
            OciImageIndex? seen = null;
            for (int i = 0; i < 400 && (seen == null || seen.Manifests.Count == 0) && !publishing.IsCompleted; i++)
            {
                seen = await watcher.Referrers.TryGetTagSchemaIndexAsync(repo, Digest.Parse(image.Digest));
                if (seen == null) await Task.Delay(5);
            }
            Assert.NotNull(seen);
            Assert.False(publishing.IsCompleted);
            await HandWritten.PushIndexAsync(registry.BaseUrl, repo, HandWritten.TagSchemaTag(image.Digest),
                HandWritten.Descriptor(MediaTypes.OciManifest, intruder.Digest, intruder.Size, "application/vnd.example.other"));

            var published = await publishing;
            var index = await watcher.Referrers.TryGetTagSchemaIndexAsync(repo, Digest.Parse(image.Digest));
            Assert.Equal(new[] { intruder.Digest, published.Descriptor.Digest.ToString() }, index!.Manifests.Select(m => m.Digest.ToString()));
            Assert.Contains(log, line => line.Contains("concurrent update"));
        }

        [Fact]
        public async Task Read_RefusesHostileTitles()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("art-hostile");
            var blob = await HandWritten.PutBlobAsync(registry.BaseUrl, repo, Encoding.UTF8.GetBytes("pwned"));
            await HandWritten.PutBlobAsync(registry.BaseUrl, repo, Encoding.UTF8.GetBytes("{}"));
            var json = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"artifactType\":\"x/y\"," +
                $"\"config\":{{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"{HandWritten.EmptyConfigDigest}\",\"size\":2}}," +
                $"\"layers\":[{{\"mediaType\":\"text/plain\",\"digest\":\"{blob}\",\"size\":5,\"annotations\":{{\"org.opencontainers.image.title\":\"../../evil.sh\"}}}}]}}";
            await HandWritten.PutManifestAsync(registry.BaseUrl, repo, json, "evil");
            var artifacts = new ImageArtifacts(_ => Reg.Client(registry));
            await Assert.ThrowsAsync<InvalidDataException>(() => artifacts.ReadAsync(ImageReference.Parse($"{registry.HostPort}/{repo}:evil")));
        }
    }
}
