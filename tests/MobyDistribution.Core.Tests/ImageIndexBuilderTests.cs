using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
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
    /// <summary>New-ImageIndex's engine against the real registries; skopeo checks what was pushed.</summary>
    [Collection("registries")]
    public sealed class ImageIndexBuilderTests
    {
        private readonly TestBedFixture _fx;
        private readonly Dictionary<string, RegistryClient> _clients;

        public ImageIndexBuilderTests(TestBedFixture fx)
        {
            _fx = fx;
            _clients = fx.Env.All.ToDictionary(s => s.HostPort, s => Reg.Client(s));
        }

        private ImageIndexBuilder Builder => new ImageIndexBuilder(r => _clients[r.Registry]);

        private RegistryServer Server(ImageReference r) => _fx.Env.All.Single(s => s.HostPort == r.Registry);

        private static ImageReference Ref(RegistryServer server, string repository, string? tag = "v1") =>
            ImageReference.Create(server.HostPort, repository, tag);

        /// <summary>Pushes one platform's image of the shared index fixture as a single image (OCI as built, or Docker schema2).</summary>
        private async Task<(ImageReference Reference, Digest Digest)> PushChildAsync(RegistryServer server, int platform, bool docker = false)
        {
            var m = _fx.Index.Manifests[platform];
            var client = _clients[server.HostPort];
            var repo = Reg.Repo("index-child");
            await Reg.UploadBlobsAsync(client, repo, _fx.Index, m);
            Manifest manifest = docker ? Reg.Schema2For(m) : Manifest.Parse(_fx.Index.ReadBlob(m.Digest));
            var pushed = await client.Manifests.PutAsync(repo, "v1", manifest);
            return (Ref(server, repo), pushed.Digest);
        }

        /// <summary>Pushes an image of no layers whose config says <paramref name="platform"/>: any platform, without a fixture for it.</summary>
        private async Task<(ImageReference Reference, Digest Digest)> PushScratchAsync(RegistryServer server, Platform platform, string? repo = null)
        {
            var client = _clients[server.HostPort];
            repo ??= Reg.Repo("index-scratch");
            var config = ImageConfig.Create(platform).RawBytes;
            using (var stream = new MemoryStream(config))
                await client.Blobs.UploadAsync(repo, stream, new BlobUploadOptions { Digest = Digest.Compute(config), Monolithic = true });
            var manifest = OciImageManifest.Create(new Descriptor(MediaTypes.OciConfig, Digest.Compute(config), config.Length), Array.Empty<Descriptor>());
            var pushed = await client.Manifests.PutAsync(repo, "v1", manifest);
            return (Ref(server, repo), pushed.Digest);
        }

        private static string Docker(ImageReference r) => "docker://" + r;

        /// <summary>The index as skopeo reads it: media type and (digest, platform) per entry.</summary>
        private static (string MediaType, List<(string Digest, string Platform)> Entries) SkopeoIndex(ImageReference r, string? creds)
        {
            using var doc = JsonDocument.Parse(Skopeo.InspectRawBytes(Docker(r), creds));
            var entries = doc.RootElement.GetProperty("manifests").EnumerateArray().Select(e =>
            {
                var p = e.GetProperty("platform");
                var platform = p.GetProperty("os").GetString() + "/" + p.GetProperty("architecture").GetString()
                    + (p.TryGetProperty("variant", out var v) ? "/" + v.GetString() : string.Empty);
                return (e.GetProperty("digest").GetString()!, platform);
            }).ToList();
            return (doc.RootElement.GetProperty("mediaType").GetString()!, entries);
        }

        /// <summary>skopeo copies the whole index into an OCI layout, verifying every child and blob it reads.</summary>
        private static void SkopeoCopiesAll(ImageReference r, string? creds)
        {
            var dir = Path.Combine(Path.GetTempPath(), "moby-index-" + Guid.NewGuid().ToString("N"));
            try
            {
                Skopeo.Copy(Docker(r), "oci:" + dir + ":copy", creds, null, "--all");
                Assert.True(File.Exists(Path.Combine(dir, "index.json")));
            }
            finally
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            }
        }

        [Fact]
        public async Task Oci_images_from_two_registries_become_an_oci_index_in_a_third_that_skopeo_verifies()
        {
            var amd64 = await PushChildAsync(_fx.Anonymous, 0);
            var arm64 = await PushChildAsync(_fx.Basic, 1);
            var destination = Ref(_fx.Token, Reg.Repo("index-dst"), "multi");

            var plan = await Builder.PlanAsync(new[] { amd64.Reference, arm64.Reference }, destination);
            Assert.Equal(MediaTypes.OciIndex, plan.Index.MediaType);
            Assert.Equal(new[] { "linux/amd64", "linux/arm64/v8" }, plan.Entries.Select(e => e.Platform!.ToString()));
            Assert.All(plan.Entries, e => Assert.NotNull(e.Copy));
            Assert.Contains(plan.Notes, n => n.Contains("OCI media type"));

            var result = await Builder.ExecuteAsync(plan);
            var index = Assert.IsType<OciImageIndex>(result.Index);
            Assert.Equal(destination.WithoutReference().WithDigest(index.Digest), index.Reference);
            Assert.True(result.BytesTransferred > 0);

            var creds = _fx.Token.Credentials;
            var (mediaType, entries) = SkopeoIndex(destination, creds);
            Assert.Equal(MediaTypes.OciIndex, mediaType);
            Assert.Equal(new[] { (amd64.Digest.ToString(), "linux/amd64"), (arm64.Digest.ToString(), "linux/arm64/v8") }, entries);
            Assert.Equal(index.Digest.ToString(), Skopeo.Digest(Docker(destination), creds));
            SkopeoCopiesAll(destination, creds);
            // skopeo picks the arm64 child by the platform the index gives it.
            var config = Skopeo.Run(new[] { "--override-os", "linux", "--override-arch", "arm64", "inspect", "--retry-times", "0", "--tls-verify=false",
                "--creds=" + creds, "--config", "--raw", Docker(destination) }).StandardOutputBytes;
            Assert.Equal(_fx.Index.Manifests[1].ConfigDigest, Reg.Sha256(config));
        }

        [Fact]
        public async Task Docker_schema2_children_make_a_docker_manifest_list_by_default()
        {
            var amd64 = await PushChildAsync(_fx.Anonymous, 0, docker: true);
            var arm64 = await PushChildAsync(_fx.Anonymous, 1, docker: true);
            var destination = Ref(_fx.Anonymous, Reg.Repo("index-dst"), "list");

            var result = await Builder.BuildAsync(new[] { amd64.Reference, arm64.Reference }, destination);
            Assert.IsType<DockerManifestList>(result.Index);
            // Within one registry the blobs are mounted, not sent.
            Assert.Equal(0, result.BytesTransferred);
            var (mediaType, entries) = SkopeoIndex(destination, null);
            Assert.Equal(MediaTypes.DockerManifestList, mediaType);
            Assert.Equal(new[] { amd64.Digest.ToString(), arm64.Digest.ToString() }, entries.Select(e => e.Digest));
            SkopeoCopiesAll(destination, null);
        }

        [Fact]
        public async Task Mixed_children_make_an_oci_index_and_the_plan_says_why()
        {
            var docker = await PushChildAsync(_fx.Anonymous, 0, docker: true);
            var oci = await PushChildAsync(_fx.Anonymous, 1);
            var destination = Ref(_fx.Anonymous, Reg.Repo("index-dst"), "mixed");

            var plan = await Builder.PlanAsync(new[] { docker.Reference, oci.Reference }, destination);
            Assert.Equal(MediaTypes.OciIndex, plan.Index.MediaType);
            Assert.Contains(plan.Notes, n => n.Contains("mix Docker and OCI"));
            Assert.Equal(new[] { MediaTypes.DockerManifestV2, MediaTypes.OciManifest }, plan.Index.Manifests.Select(m => m.MediaType));
            await Builder.ExecuteAsync(plan);
            SkopeoCopiesAll(destination, null);
        }

        [Fact]
        public async Task Oci_media_type_asked_for_over_docker_children_is_an_oci_index()
        {
            var amd64 = await PushChildAsync(_fx.Anonymous, 0, docker: true);
            var destination = Ref(_fx.Anonymous, Reg.Repo("index-dst"), "oci");
            var plan = await Builder.PlanAsync(new[] { amd64.Reference }, destination, new ImageIndexOptions { MediaType = MediaTypes.OciIndex });
            Assert.Equal(MediaTypes.OciIndex, plan.Index.MediaType);
            Assert.Empty(plan.Warnings);
        }

        [Fact]
        public async Task Docker_list_asked_for_over_oci_children_is_pushed_with_a_warning_and_skopeo_reads_it()
        {
            var amd64 = await PushChildAsync(_fx.Anonymous, 0);
            var arm64 = await PushChildAsync(_fx.Anonymous, 1);
            var destination = Ref(_fx.Anonymous, Reg.Repo("index-dst"), "list");

            var plan = await Builder.PlanAsync(new[] { amd64.Reference, arm64.Reference }, destination,
                new ImageIndexOptions { MediaType = MediaTypes.DockerManifestList });
            var warning = Assert.Single(plan.Warnings);
            Assert.Contains(amd64.Reference.ToString(), warning);
            var result = await Builder.ExecuteAsync(plan);
            Assert.IsType<DockerManifestList>(result.Index);
            // The evidence the warning (not a refusal) rests on: distribution 2.8 stores it and skopeo copies every child.
            Assert.Equal(MediaTypes.DockerManifestList, SkopeoIndex(destination, null).MediaType);
            SkopeoCopiesAll(destination, null);
        }

        [Fact]
        public async Task An_index_input_is_flattened_with_its_platforms_and_a_digest_given_twice_is_listed_once()
        {
            var repo = Reg.Repo("index-flat");
            Reg.PushOnce(_fx.Index, _fx.Anonymous, repo, "v1");
            var input = Ref(_fx.Anonymous, repo);
            var original = (ImageIndex)await _clients[_fx.Anonymous.HostPort].Manifests.GetAsync(repo, "v1");
            var s390x = await PushScratchAsync(_fx.Basic, new Platform("linux", "s390x"));
            var amd64ByDigest = input.WithDigest(original.Manifests[0].Digest);
            // Into the index's own repository: its children are there already, only the s390x image is copied.
            var destination = Ref(_fx.Anonymous, repo, "flat");

            var plan = await Builder.PlanAsync(new[] { input, s390x.Reference, amd64ByDigest }, destination);
            Assert.Equal(3, plan.Entries.Count);
            Assert.Equal(new[] { true, true, false }, plan.Entries.Select(e => e.FromIndex));
            Assert.Equal(new[] { true, true, false }, plan.Entries.Select(e => e.Present));
            Assert.Contains(plan.Notes, n => n.Contains("listed once"));
            var result = await Builder.ExecuteAsync(plan);

            var (_, entries) = SkopeoIndex(destination, null);
            Assert.Equal(new[]
            {
                (original.Manifests[0].Digest.ToString(), "linux/amd64"),
                (original.Manifests[1].Digest.ToString(), "linux/arm64/v8"),
                (s390x.Digest.ToString(), "linux/s390x"),
            }, entries);
            // The entries of the input index are taken as they are.
            Assert.Equal(JsonSerializer.Serialize(original.Manifests[1]), JsonSerializer.Serialize(result.Index.Manifests[1]));
            SkopeoCopiesAll(destination, null);
        }

        [Fact]
        public async Task Attestations_of_two_flattened_indexes_do_not_collide_as_platforms()
        {
            // Two indexes as buildx writes them: an image and its attestation manifest, listed as unknown/unknown.
            var inputs = new List<ImageReference>();
            var expected = new List<Digest>();
            foreach (var platform in new[] { 0, 1 })
            {
                var child = await PushChildAsync(_fx.Anonymous, platform);
                var repo = child.Reference.Repository;
                // Its config differs per index, so the two attestation manifests are two digests.
                var attestation = await PushScratchAsync(_fx.Anonymous, new Platform("unknown", "unknown", null, "statement-" + platform), repo);
                var client = _clients[_fx.Anonymous.HostPort];
                var image = await client.Manifests.GetDescriptorAsync(repo, child.Digest.ToString());
                var statement = await client.Manifests.GetDescriptorAsync(repo, attestation.Digest.ToString());
                var m = _fx.Index.Manifests[platform];
                var index = ImageIndex.Create(MediaTypes.OciIndex, new[]
                {
                    image.WithPlatform(new Platform(m.Os, m.Architecture, m.Variant)),
                    new Descriptor(statement.MediaType, statement.Digest, statement.Size)
                    {
                        Platform = new Platform("unknown", "unknown"),
                        Annotations = new Dictionary<string, string>
                        {
                            ["vnd.docker.reference.digest"] = child.Digest.ToString(),
                            ["vnd.docker.reference.type"] = "attestation-manifest",
                        },
                    },
                });
                await client.Manifests.PutAsync(repo, "multi", index);
                inputs.Add(Ref(_fx.Anonymous, repo, "multi"));
                expected.Add(child.Digest);
                expected.Add(attestation.Digest);
            }
            var destination = Ref(_fx.Basic, Reg.Repo("index-dst"), "multi");

            var result = await Builder.BuildAsync(inputs, destination);
            Assert.Equal(expected, result.Index.Manifests.Select(e => e.Digest));
            Assert.Equal(2, result.Index.Manifests.Count(e => e.Platform!.OS == "unknown"));
            Assert.Equal("attestation-manifest", result.Index.Manifests[3].Annotations!["vnd.docker.reference.type"]);
            SkopeoCopiesAll(destination, _fx.Basic.Credentials);
        }

        [Fact]
        public async Task A_child_that_cannot_be_copied_leaves_no_index_at_the_destination()
        {
            var amd64 = await PushChildAsync(_fx.Anonymous, 0);
            var arm64 = await PushChildAsync(_fx.Anonymous, 1);
            // The arm64 image's layer is gone from its repository: its config (and so its platform) is still readable,
            // but its copy to another registry fails with BLOB_UNKNOWN.
            await _clients[_fx.Anonymous.HostPort].Blobs.DeleteAsync(arm64.Reference.Repository, Digest.Parse(_fx.Index.Manifests[1].Layers[0].Digest));
            var destination = Ref(_fx.Basic, Reg.Repo("index-dst"), "multi");

            var plan = await Builder.PlanAsync(new[] { amd64.Reference, arm64.Reference }, destination, new ImageIndexOptions { CheckDestination = false });
            await Assert.ThrowsAsync<RegistryException>(() => Builder.ExecuteAsync(plan));
            var dst = _clients[_fx.Basic.HostPort];
            Assert.Null(await dst.Manifests.TryGetDescriptorAsync(destination.Repository, "multi"));
            Assert.Null(await dst.Manifests.TryGetDescriptorAsync(destination.Repository, plan.Index.Digest.ToString()));
        }

        [Theory]
        [InlineData("linux/amd64")]
        [InlineData("linux/arm64")] // the fixture's is linux/arm64/v8: the same platform to a puller
        public async Task Two_images_for_one_platform_are_refused_naming_both_and_nothing_is_pushed(string platform)
        {
            var fromFixture = await PushChildAsync(_fx.Anonymous, platform == "linux/amd64" ? 0 : 1);
            var scratch = await PushScratchAsync(_fx.Basic, Platform.Parse(platform));
            var destination = Ref(_fx.Token, Reg.Repo("index-dup"), "multi");

            var e = await Assert.ThrowsAsync<DuplicatePlatformException>(() => Builder.BuildAsync(new[] { fromFixture.Reference, scratch.Reference }, destination));
            Assert.Contains(fromFixture.Reference.ToString(), e.Message);
            Assert.Contains(scratch.Reference.ToString(), e.Message);
            Assert.Equal(fromFixture.Digest, e.FirstDigest);
            Assert.Equal(scratch.Digest, e.SecondDigest);
            var dst = _clients[_fx.Token.HostPort];
            Assert.Null(await dst.Manifests.TryGetDescriptorAsync(destination.Repository, fromFixture.Digest.ToString()));
            Assert.Null(await dst.Manifests.TryGetDescriptorAsync(destination.Repository, "multi"));
        }

        [Fact]
        public async Task Windows_images_differing_in_os_version_are_two_platforms()
        {
            var repo = Reg.Repo("index-win");
            var ltsc2019 = await PushScratchAsync(_fx.Anonymous, Platform.Parse("windows/amd64:10.0.17763.5576"), repo);
            var ltsc2022 = await PushScratchAsync(_fx.Anonymous, Platform.Parse("windows/amd64:10.0.20348.2340"), Reg.Repo("index-win"));
            var plan = await Builder.PlanAsync(new[] { ltsc2019.Reference, ltsc2022.Reference }, Ref(_fx.Anonymous, repo, "multi"));
            Assert.Equal(new[] { "10.0.17763.5576", "10.0.20348.2340" }, plan.Index.Manifests.Select(m => m.Platform!.OSVersion));
            Assert.True(plan.Entries[0].Present);
            Assert.False(plan.Entries[1].Present);
        }

        [Fact]
        public async Task A_destination_digest_that_is_not_the_index_is_refused_before_anything_is_copied()
        {
            var amd64 = await PushChildAsync(_fx.Anonymous, 0);
            var destination = ImageReference.Create(_fx.Anonymous.HostPort, Reg.Repo("index-dst"), null, Digest.Compute(new byte[] { 1 }));
            var e = await Assert.ThrowsAsync<RegistryException>(() => Builder.BuildAsync(new[] { amd64.Reference }, destination));
            Assert.Equal(RegistryErrorKind.InvalidRequest, e.Kind);
            Assert.Null(await _clients[_fx.Anonymous.HostPort].Manifests.TryGetDescriptorAsync(destination.Repository, amd64.Digest.ToString()));
        }

        [Fact]
        public async Task An_artifact_that_is_not_an_image_is_refused()
        {
            var client = _clients[_fx.Anonymous.HostPort];
            var repo = Reg.Repo("index-artifact");
            var empty = System.Text.Encoding.UTF8.GetBytes("{}");
            using (var stream = new MemoryStream(empty))
                await client.Blobs.UploadAsync(repo, stream, new BlobUploadOptions { Digest = Digest.Compute(empty), Monolithic = true });
            await client.Manifests.PutAsync(repo, "v1", OciImageManifest.Create(new Descriptor(MediaTypes.OciEmpty, Digest.Compute(empty), empty.Length), Array.Empty<Descriptor>()));
            var e = await Assert.ThrowsAsync<RegistryException>(() => Builder.PlanAsync(new[] { Ref(_fx.Anonymous, repo) }, Ref(_fx.Anonymous, repo, "multi")));
            Assert.Equal(RegistryErrorKind.Unsupported, e.Kind);
            Assert.Contains(MediaTypes.OciEmpty, e.Message);
        }
    }
}
