using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>The manifest and index rewrites of <see cref="ImageConfigEditor"/> and the destination rule, in memory: no registry.</summary>
    public sealed class ImageConfigRewriteTests
    {
        private static readonly ImageConfig Config = ImageConfig.Parse(Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{}}"));

        private static ImageManifest OciManifest(string extra = "", Digest? config = null) => (ImageManifest)Manifest.Parse(Encoding.UTF8.GetBytes(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
            "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + (config ?? Digest.Compute(new byte[] { 1 })) + "\",\"size\":1,\"data\":\"AQ==\",\"annotations\":{\"c\":\"d\"}}," +
            "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + Digest.Compute(new byte[] { 2 }) + "\",\"size\":1}]" + extra + "}"));

        [Fact]
        public void RewriteManifest_PointsTheConfigDescriptorAtTheNewConfig_AndKeepsEveryOtherField()
        {
            var source = OciManifest(",\"annotations\":{\"a\":\"1\"},\"x-unknown\":[1,2.50]");
            var rewritten = ImageConfigEditor.RewriteManifest(source, Config, new Dictionary<string, string> { ["b"] = "2", ["a"] = "3" });
            var json = JsonNode.Parse(rewritten.RawText)!;
            Assert.Equal(Config.Digest.ToString(), json["config"]!["digest"]!.GetValue<string>());
            Assert.Equal(Config.RawBytes.Length, json["config"]!["size"]!.GetValue<long>());
            Assert.Null(json["config"]!["data"]); // the old config's bytes would be wrong
            Assert.Equal("d", json["config"]!["annotations"]!["c"]!.GetValue<string>());
            Assert.Equal("3", rewritten.Annotations!["a"]);
            Assert.Equal("2", rewritten.Annotations!["b"]);
            Assert.Equal("[1,2.50]", json["x-unknown"]!.ToJsonString());
            Assert.Equal(source.Layers.Single().Digest, rewritten.Layers.Single().Digest);
            Assert.Equal(MediaTypes.OciManifest, rewritten.MediaType);
        }

        [Fact]
        public void RewriteManifest_WithNothingToChange_IsTheSameManifest()
        {
            var unchanged = OciManifest(",\"annotations\":{\"a\":\"1\"}", Config.Digest);
            Assert.Same(unchanged, ImageConfigEditor.RewriteManifest(unchanged, Config, new Dictionary<string, string> { ["a"] = "1" }));
            Assert.Same(unchanged, ImageConfigEditor.RewriteManifest(unchanged, Config, null));
            Assert.NotSame(unchanged, ImageConfigEditor.RewriteManifest(unchanged, Config, new Dictionary<string, string> { ["a"] = "2" }));
        }

        [Fact]
        public void RewriteManifest_RefusesAnnotationsOnADockerSchema2Manifest()
        {
            var docker = DockerManifestV2.Create(new Descriptor(MediaTypes.DockerContainerConfig, Digest.Compute(new byte[] { 1 }), 1),
                new[] { new Descriptor(MediaTypes.DockerLayerGzip, Digest.Compute(new byte[] { 2 }), 1) });
            var e = Assert.Throws<ArgumentException>(() => ImageConfigEditor.RewriteManifest(docker, Config, new Dictionary<string, string> { ["a"] = "1" }));
            Assert.Contains("schema2", e.Message);
            Assert.DoesNotContain("-Annotation", e.Message);
            // Without annotations a Docker manifest is rewritten, and stays a Docker manifest.
            Assert.Equal(MediaTypes.DockerManifestV2, ImageConfigEditor.RewriteManifest(docker, Config, null).MediaType);
        }

        [Fact]
        public void RewriteIndex_ReplacesOnlyTheEntriesGiven_KeepingOrderPlatformsAndAnnotations()
        {
            var amd = OciManifest();
            var arm = OciManifest(",\"annotations\":{\"arm\":\"yes\"}");
            var index = (ImageIndex)Manifest.Parse(Encoding.UTF8.GetBytes(
                "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[" +
                $"{{\"mediaType\":\"{MediaTypes.OciManifest}\",\"digest\":\"{amd.Digest}\",\"size\":{amd.Size},\"platform\":{{\"architecture\":\"amd64\",\"os\":\"linux\"}},\"annotations\":{{\"e\":\"1\"}}}}," +
                $"{{\"mediaType\":\"{MediaTypes.OciManifest}\",\"digest\":\"{arm.Digest}\",\"size\":{arm.Size},\"platform\":{{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},\"annotations\":{{\"e\":\"2\"}}}}]," +
                "\"annotations\":{\"top\":\"kept\"}}"));
            var newArm = ImageConfigEditor.RewriteManifest(arm, Config, null);
            var rewritten = ImageConfigEditor.RewriteIndex(index, new Dictionary<Descriptor, ImageManifest> { [index.Manifests[1]] = newArm });
            Assert.Equal(MediaTypes.OciIndex, rewritten.MediaType);
            Assert.Equal(new[] { amd.Digest, newArm.Digest }, rewritten.Manifests.Select(m => m.Digest));
            Assert.Equal(newArm.Size, rewritten.Manifests[1].Size);
            Assert.Equal(new[] { "linux/amd64", "linux/arm64/v8" }, rewritten.Manifests.Select(m => m.Platform!.ToString()));
            Assert.Equal(new[] { "1", "2" }, rewritten.Manifests.Select(m => m.Annotations!["e"]));
            Assert.Equal("kept", rewritten.Annotations!["top"]);
            Assert.Same(index, ImageConfigEditor.RewriteIndex(index, new Dictionary<Descriptor, ImageManifest>()));
        }

        [Theory]
        [InlineData("r.example/app:v1", "r.example/other", "r.example/other:v1")]
        [InlineData("r.example/app:v1", "r.example/other:v2", "r.example/other:v2")]
        [InlineData("r.example/app", "r.example/other", "r.example/other:latest")]
        public void DestinationFor_LendsTheSourcesTag(string source, string destination, string expected)
        {
            Assert.Equal(expected, ImageConfigEditor.DestinationFor(ImageReference.Parse(source), ImageReference.Parse(destination)).ToString());
        }

        [Fact]
        public void DestinationFor_RefusesADigest_AndATaglessDestinationOfADigestSource()
        {
            var digest = "@" + Digest.Compute(new byte[] { 1 });
            Assert.Throws<ArgumentException>(() => ImageConfigEditor.DestinationFor(ImageReference.Parse("r.example/app:v1"), ImageReference.Parse("r.example/app" + digest)));
            Assert.Throws<ArgumentException>(() => ImageConfigEditor.DestinationFor(ImageReference.Parse("r.example/app" + digest), ImageReference.Parse("r.example/other")));
        }

        [Fact]
        public void Changes_RefuseALabelBothSetAndRemoved()
        {
            var changes = new ImageConfigChanges { Labels = new Dictionary<string, string> { ["a"] = "1" }, RemoveLabels = new[] { "a" } };
            Assert.Throws<ArgumentException>(() => changes.Apply(Config));
        }
    }

    /// <summary><see cref="ImageConfigReader"/> and <see cref="ImageConfigEditor"/> against the test bed's registries, checked with skopeo.</summary>
    [Collection("registries")]
    public sealed class ImageConfigOperationsTests
    {
        private readonly TestBedFixture _bed;

        public ImageConfigOperationsTests(TestBedFixture bed) => _bed = bed;

        private RegistryServer Anonymous => _bed.Anonymous;

        private RegistryServer Token => _bed.Token;

        /// <summary>Clients of the anonymous and the token registry, by the reference's registry.</summary>
        private Func<ImageReference, RegistryClient> Clients()
        {
            var anonymous = Reg.Client(Anonymous);
            var token = Reg.Client(Token);
            return r => r.Registry == Token.HostPort ? token : anonymous;
        }

        /// <summary>Replaces the one occurrence of <paramref name="old"/>: the fixture's text must still be what the edit is described by.</summary>
        private static string Replace(string text, string old, string replacement)
        {
            int at = text.IndexOf(old, StringComparison.Ordinal);
            Assert.True(at >= 0 && text.IndexOf(old, at + 1, StringComparison.Ordinal) < 0, $"'{old}' is not once in {text}");
            return text.Substring(0, at) + replacement + text.Substring(at + old.Length);
        }

        private static ImageReference Ref(RegistryServer registry, string repository, string tag) => ImageReference.Parse($"{registry.HostPort}/{repository}:{tag}");

        private ImageReference PushedImage(string repository)
        {
            Reg.PushOnce(_bed.Image, Anonymous, repository, "v1");
            return Ref(Anonymous, repository, "v1");
        }

        private ImageReference PushedIndex(string repository)
        {
            Reg.PushOnce(_bed.Index, Anonymous, repository, "multi");
            return Ref(Anonymous, repository, "multi");
        }

        [Fact]
        public async Task ReadAsync_OfASingleImage_GivesItsExactConfig()
        {
            var reference = PushedImage("core/cfg-read");
            var read = await new ImageConfigReader(Clients()).ReadAsync(reference);
            Assert.Equal(_bed.Image.ReadBlob(_bed.Image.ConfigDigest), read.Config.RawBytes);
            Assert.Equal(_bed.Image.ManifestDigest, read.Manifest.Digest.ToString());
            Assert.Null(read.Index);
            Assert.Equal("linux/amd64", read.Platform.ToString());
        }

        [Fact]
        public async Task ReadAllAsync_OfAnIndex_GivesOneConfigPerImage_InOrder_WithoutAttestations()
        {
            var reference = PushedIndex("core/cfg-index");
            var client = Reg.Client(Anonymous);
            // The index plus an attestation entry (unknown/unknown) that must not count as an image.
            var index = (ImageIndex)await client.Manifests.GetAsync(reference.Repository, reference.Tag!);
            var attestation = index.Manifests[0].WithPlatform(new Platform("unknown", "unknown"));
            var withAttestation = index.WithManifests(index.Manifests.Concat(new[] { attestation }));
            await client.Manifests.PutAsync(reference.Repository, "attested", withAttestation);

            var reads = await new ImageConfigReader(Clients()).ReadAllAsync(reference.WithTag("attested"));
            Assert.Equal(_bed.Index.Manifests.Select(m => m.Platform), reads.Select(r => r.Platform.ToString()));
            Assert.Equal(_bed.Index.Manifests.Select(m => m.ConfigDigest), reads.Select(r => r.Config.Digest.ToString()));
            Assert.Equal(_bed.Index.Manifests.Select(m => m.Digest), reads.Select(r => r.Manifest.Digest.ToString()));
            Assert.All(reads, r => Assert.Equal(withAttestation.Digest, r.Index!.Digest));
        }

        [Fact]
        public async Task ReadAsync_WithAPlatformTheIndexLacks_IsPlatformNotFound()
        {
            var reference = PushedIndex("core/cfg-index");
            var e = await Assert.ThrowsAsync<PlatformNotFoundException>(() => new ImageConfigReader(Clients()).ReadAsync(reference, Platform.Parse("linux/s390x")));
            Assert.Equal("linux/s390x", Assert.Single(e.Wanted).ToString());
            var arm = await new ImageConfigReader(Clients()).ReadAsync(reference, Platform.Parse("linux/arm64"));
            Assert.Equal(_bed.Index.Manifests.Single(m => m.Architecture == "arm64").ConfigDigest, arm.Config.Digest.ToString());
        }

        [Fact]
        public async Task Edit_ChangesExactlyTheFieldsAsked_AndSkopeoReadsTheResult()
        {
            var source = PushedImage("core/cfg-edit-src");
            var destination = ImageReference.Parse($"{Token.HostPort}/{Reg.Repo("cfg-edit")}");
            var editor = new ImageConfigEditor(Clients());
            var changes = new ImageConfigChanges
            {
                Labels = new Dictionary<string, string> { ["org.opencontainers.image.title"] = "edited" },
                Environment = new[] { "MODE=production" },
                User = "1000:1000",
                Created = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
            };
            var plan = await editor.PlanAsync(source, destination, changes);
            Assert.Equal("v1", plan.Destination.Tag);
            // The plan writes nothing.
            Assert.Null(await Reg.Client(Token).Manifests.TryGetDescriptorAsync(destination.Repository, "v1"));

            var pushed = await editor.ExecuteAsync(plan);
            Assert.Equal(destination.WithTag("v1").WithDigest(pushed.Digest), pushed.Source);

            var before = Encoding.UTF8.GetString(_bed.Image.ReadBlob(_bed.Image.ConfigDigest));
            var after = Skopeo.InspectConfig(Token.ImageReference(destination.Repository, "v1"), Token.Credentials);
            var seed = JsonNode.Parse(before)!["config"]!["Labels"]!["moby.testbed.seed"]!.GetValue<string>();
            var expected = Replace(before, "\"created\":\"2024-01-02T03:04:05Z\",\"architecture\"", "\"created\":\"2025-01-02T03:04:05Z\",\"architecture\"");
            expected = Replace(expected, "/sbin:/bin\"]", "/sbin:/bin\",\"MODE=production\"]");
            expected = Replace(expected, "\"Labels\":{\"org.opencontainers.image.title\":\"moby-testbed-fixture\",\"moby.testbed.seed\":\"" + seed + "\"}",
                "\"Labels\":{\"org.opencontainers.image.title\":\"edited\",\"moby.testbed.seed\":\"" + seed + "\"},\"User\":\"1000:1000\"");
            Assert.Equal(expected, after);

            var manifest = JsonNode.Parse(Skopeo.InspectRaw(Token.ImageReference(destination.Repository, "v1"), Token.Credentials))!;
            Assert.Equal(Reg.Sha256(Encoding.UTF8.GetBytes(after)), manifest["config"]!["digest"]!.GetValue<string>());
            Assert.Equal(_bed.Image.Layers.Select(l => l.Digest), manifest["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()));
            Assert.Equal(pushed.Digest.ToString(), Skopeo.Digest(Token.ImageReference(destination.Repository, "v1"), Token.Credentials));
            // Every blob is there and matches its digest: skopeo checks them as it copies.
            using var temp = new Archives.TempDir();
            Skopeo.Copy(Token.ImageReference(destination.Repository, "v1"), "oci:" + temp.File("copy") + ":x", Token.Credentials);
        }

        [Fact]
        public async Task Edit_OfSomePlatformsOfAnIndex_KeepsTheOthersDigests_AndCopiesThemAcrossRegistries()
        {
            var source = PushedIndex("core/cfg-index");
            var destination = ImageReference.Parse($"{Token.HostPort}/{Reg.Repo("cfg-index-edit")}:out");
            var editor = new ImageConfigEditor(Clients());
            var plan = await editor.PlanAsync(source, destination, new ImageConfigChanges
            {
                Labels = new Dictionary<string, string> { ["edited"] = "yes" },
                Annotations = new Dictionary<string, string> { ["org.opencontainers.image.source"] = "https://example.com/app" },
                Platforms = new[] { Platform.Parse("linux/arm64") },
            });
            var pushed = await editor.ExecuteAsync(plan);
            Assert.Equal(MediaTypes.OciIndex, pushed.MediaType);

            var index = JsonNode.Parse(Skopeo.InspectRaw(Token.ImageReference(destination.Repository, "out"), Token.Credentials))!;
            var entries = index["manifests"]!.AsArray();
            var amd = _bed.Index.Manifests.Single(m => m.Architecture == "amd64");
            var arm = _bed.Index.Manifests.Single(m => m.Architecture == "arm64");
            Assert.Equal(_bed.Index.Manifests.Select(m => m.Platform), entries.Select(e => Platform.Parse(
                e!["platform"]!["os"] + "/" + e["platform"]!["architecture"] + (e["platform"]!["variant"] is JsonNode v ? "/" + v : "")).ToString()));
            var newArm = entries.Single(e => e!["platform"]!["architecture"]!.GetValue<string>() == "arm64")!["digest"]!.GetValue<string>();
            Assert.Equal(amd.Digest, entries.Single(e => e!["platform"]!["architecture"]!.GetValue<string>() == "amd64")!["digest"]!.GetValue<string>());
            Assert.NotEqual(arm.Digest, newArm);

            var armManifest = JsonNode.Parse(Skopeo.InspectRaw(Token.ImageReference(destination.Repository, newArm), Token.Credentials))!;
            Assert.Equal("https://example.com/app", armManifest["annotations"]!["org.opencontainers.image.source"]!.GetValue<string>());
            var armConfig = JsonNode.Parse(Skopeo.Run("inspect", "--config", "--raw", "--tls-verify=false", "--creds=" + Token.Credentials,
                Token.ImageReference(destination.Repository, newArm)).StandardOutput)!;
            Assert.Equal("yes", armConfig["config"]!["Labels"]!["edited"]!.GetValue<string>());
            // The untouched image was copied as it is, config included.
            Assert.Equal(amd.ConfigDigest, Reg.Sha256(Encoding.UTF8.GetBytes(Skopeo.InspectConfig(Token.ImageReference(destination.Repository, "out"), Token.Credentials))));
            using var temp = new Archives.TempDir();
            Skopeo.Copy(Token.ImageReference(destination.Repository, "out"), "oci:" + temp.File("all") + ":x", Token.Credentials, null, "--all");
        }

        [Fact]
        public async Task Edit_InTheSourcesRepository_PushesOnlyTheNewConfigAndManifest()
        {
            var repository = Reg.Repo("cfg-inplace");
            Reg.PushOnce(_bed.Image, Anonymous, repository, "v1");
            using var proxy = FaultProxy.Start(Anonymous);
            var options = new Transport.RegistryClientOptions { CredentialStore = null };
            var client = new RegistryClient(Transport.RegistryEndpoint.Parse(proxy.HostPort), options);
            var source = ImageReference.Parse($"{proxy.HostPort}/{repository}:v1");
            var editor = new ImageConfigEditor(_ => client);
            var plan = await editor.PlanAsync(source, source, new ImageConfigChanges { WorkingDirectory = "/srv" });
            Assert.True(plan.SameRepository);
            proxy.ClearLog();
            var pushed = await editor.ExecuteAsync(plan);
            Assert.NotEqual(_bed.Image.ManifestDigest, pushed.Digest.ToString());
            var log = proxy.Log;
            Assert.Contains(log, e => e.Path.Contains(plan.Images[0].Config!.Digest.ToString()) || e.Method == "PUT" && e.Path.Contains("/blobs/uploads/"));
            Assert.Contains(log, e => e.Method == "PUT" && e.Path.EndsWith("/manifests/v1", StringComparison.Ordinal));
            foreach (var layer in _bed.Image.Layers) Assert.DoesNotContain(log, e => e.Path.Contains(layer.Digest));
            Assert.Contains("\"WorkingDir\":\"/srv\"", Skopeo.InspectConfig(Anonymous.ImageReference(repository, "v1")));
        }

        [Fact]
        public async Task Edit_OfADockerSchema2ImageWithAnnotations_IsRefusedBeforeAnythingIsPushed()
        {
            var repository = Reg.Repo("cfg-docker");
            Reg.PushOnce(_bed.Image, Anonymous, repository, "v1", "v2s2");
            var destination = ImageReference.Parse($"{Anonymous.HostPort}/{repository}:annotated");
            var editor = new ImageConfigEditor(Clients());
            await Assert.ThrowsAsync<ArgumentException>(() => editor.PlanAsync(Ref(Anonymous, repository, "v1"), destination,
                new ImageConfigChanges { Annotations = new Dictionary<string, string> { ["a"] = "1" } }));
            Assert.Null(await Reg.Client(Anonymous).Manifests.TryGetDescriptorAsync(repository, "annotated"));
            // Other edits of a Docker image keep it a Docker image.
            var pushed = await editor.ExecuteAsync(await editor.PlanAsync(Ref(Anonymous, repository, "v1"), destination, new ImageConfigChanges { User = "app" }));
            Assert.Equal(MediaTypes.DockerManifestV2, pushed.MediaType);
        }
    }

    /// <summary><see cref="ImageConfigReader"/> against a hostile server: configs too big, not matching their digest, not JSON.</summary>
    public sealed class ImageConfigHostileTests
    {
        private const string Repo = "hostile/cfg";

        /// <summary>A registry serving one image whose config descriptor names <paramref name="config"/> with <paramref name="declaredSize"/>, and serving <paramref name="served"/> as that blob.</summary>
        private static MiniHttpServer Server(byte[] config, long declaredSize, byte[] served, ConcurrentQueue<string> requests) => new MiniHttpServer(request =>
        {
            requests.Enqueue(request.Method + " " + request.Path);
            if (request.Path == "/v2/") return MiniHttpResponse.Json(200, "{}");
            if (request.Path.StartsWith($"/v2/{Repo}/manifests/", StringComparison.Ordinal))
            {
                var body = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
                    $"\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{Digest.Compute(config)}\",\"size\":{declaredSize}}}," +
                    $"\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:{new string('a', 64)}\",\"size\":3}}]}}");
                var manifest = new MiniHttpResponse { Status = 200, Body = body };
                manifest.Headers["Content-Type"] = MediaTypes.OciManifest;
                manifest.Headers["Docker-Content-Digest"] = Digest.Compute(body).ToString();
                return manifest;
            }
            if (request.Path == $"/v2/{Repo}/blobs/{Digest.Compute(config)}")
            {
                var blob = new MiniHttpResponse { Status = 200, Body = served };
                blob.Headers["Content-Type"] = "application/octet-stream";
                return blob;
            }
            return MiniHttpResponse.Json(404, "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"no\"}]}");
        });

        private static ImageConfigReader Reader(MiniHttpServer server)
        {
            var options = new Transport.RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 1;
            var client = new RegistryClient(Transport.RegistryEndpoint.Parse("http://127.0.0.1:" + server.Port), options);
            return new ImageConfigReader(_ => client);
        }

        private static ImageReference Ref(MiniHttpServer server) => ImageReference.Parse($"127.0.0.1:{server.Port}/{Repo}:v1");

        [Fact]
        public async Task AConfigOverTheCap_IsRefusedBeforeItIsRead()
        {
            var config = Encoding.UTF8.GetBytes("{}");
            var requests = new ConcurrentQueue<string>();
            using var server = Server(config, ImageConfigReader.MaxConfigSize + 1, config, requests);
            var e = await Assert.ThrowsAsync<RegistryException>(() => Reader(server).ReadAllAsync(Ref(server)));
            Assert.Equal(RegistryErrorKind.LimitExceeded, e.Kind);
            Assert.DoesNotContain(requests, r => r.Contains("/blobs/"));
        }

        [Fact]
        public async Task AConfigWhoseBytesDoNotMatchItsDigest_IsADigestMismatch()
        {
            var config = Encoding.UTF8.GetBytes("{\"os\":\"linux\"}");
            var forged = Encoding.UTF8.GetBytes("{\"os\":\"linuX\"}");
            using var server = Server(config, config.Length, forged, new ConcurrentQueue<string>());
            var e = await Assert.ThrowsAnyAsync<RegistryException>(() => Reader(server).ReadAsync(Ref(server)));
            Assert.Equal(RegistryErrorKind.DigestMismatch, e.Kind);
        }

        [Fact]
        public async Task AConfigThatIsNotJson_IsAProtocolErrorNamingTheImage()
        {
            var config = Encoding.UTF8.GetBytes("not json");
            using var server = Server(config, config.Length, config, new ConcurrentQueue<string>());
            var e = await Assert.ThrowsAsync<RegistryException>(() => Reader(server).ReadAsync(Ref(server)));
            Assert.Equal(RegistryErrorKind.Protocol, e.Kind);
            Assert.Contains(Repo, e.Message);
        }
    }
}
