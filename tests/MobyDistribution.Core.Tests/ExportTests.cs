using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using MobyDistribution.Formats;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;
using Sys = System.Formats.Tar;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Export to docker archives and OCI layouts, read back by skopeo.</summary>
    [Collection("registries")]
    public sealed class ExportTests
    {
        private readonly TestBedFixture _bed;

        public ExportTests(TestBedFixture bed) => _bed = bed;

        private RegistryServer Registry => _bed.Anonymous;

        private ImageReference Pushed(string repository, string tag = "v1")
        {
            Reg.PushOnce(_bed.Image, Registry, repository, tag);
            return ImageReference.Parse($"{Registry.HostPort}/{repository}:{tag}");
        }

        private ImageExporter Exporter(RegistryClient client) => new ImageExporter(_ => client);

        [Fact]
        public async Task Export_OneImage_IsADockerSaveArchive_ThatSkopeoReads()
        {
            var client = Reg.Client(Registry);
            var reference = Pushed("core/export-one");
            using var temp = new Archives.TempDir();
            var path = temp.File("one.tar");

            var result = await Exporter(client).ExportAsync(reference, path);

            var image = Assert.Single(result.Images);
            Assert.Equal(_bed.Image.ConfigDigest, image.ConfigDigest.ToString());
            Assert.Equal(_bed.Image.DiffIds, image.DiffIds.Select(d => d.ToString()));
            var repoTag = $"{Registry.HostPort}/core/export-one:v1";
            Assert.Equal(repoTag, image.RepoTag);

            var entries = Archives.ReadTar(path);
            var manifest = JsonNode.Parse(entries["manifest.json"].Data)!.AsArray();
            var item = Assert.Single(manifest)!;
            Assert.Equal(_bed.Image.ConfigDigest.Substring(7) + ".json", item["Config"]!.GetValue<string>());
            Assert.Equal(repoTag, Assert.Single(item["RepoTags"]!.AsArray())!.GetValue<string>());
            var layers = item["Layers"]!.AsArray().Select(l => l!.GetValue<string>()).ToArray();
            Assert.Equal(2, layers.Length);
            for (int i = 0; i < layers.Length; i++)
            {
                var id = layers[i].Split('/')[0];
                Assert.Equal("1.0", Encoding.ASCII.GetString(entries[id + "/VERSION"].Data));
                var json = JsonNode.Parse(entries[id + "/json"].Data)!;
                Assert.Equal(id, json["id"]!.GetValue<string>());
                if (i > 0) Assert.Equal(layers[i - 1].Split('/')[0], json["parent"]!.GetValue<string>());
                // layer.tar is uncompressed and hashes to the diff_id.
                Assert.Equal(_bed.Image.DiffIds[i], Reg.Sha256(entries[layers[i]].Data));
            }
            var top = JsonNode.Parse(entries[layers[1].Split('/')[0] + "/json"].Data)!;
            Assert.Equal("moby-testbed-fixture", top["config"]!["Labels"]!["org.opencontainers.image.title"]!.GetValue<string>());
            var repositories = JsonNode.Parse(entries["repositories"].Data)!;
            Assert.Equal(layers[1].Split('/')[0], repositories[$"{Registry.HostPort}/core/export-one"]!["v1"]!.GetValue<string>());

            var (_, config, _) = Archives.SkopeoToOci($"docker-archive:{path}:{repoTag}", temp);
            // Converting to OCI, skopeo re-serializes the config (Go sorts map keys): same content, other bytes.
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(_bed.Image.ReadBlob(_bed.Image.ConfigDigest)), JsonNode.Parse(config)));
            Assert.Equal(_bed.Image.DiffIds, Archives.DiffIds(config));
            Assert.Equal(_bed.Image.ConfigDigest, Archives.SkopeoArchiveConfigDigest(path, repoTag));
        }

        [Fact]
        public async Task Export_TwoImagesSharingLayers_StoresSharedLayersOnce_AndSkopeoReadsBoth()
        {
            var client = Reg.Client(Registry);
            var a = Pushed("core/export-two-a");
            // B = A + one layer: A's layers are B's lower layers, A's top layer becomes a lower layer of B.
            using var temp = new Archives.TempDir();
            Directory.CreateDirectory(temp.File("extra"));
            File.WriteAllText(Path.Combine(temp.File("extra"), "hello.txt"), "hello");
            var b = ImageReference.Parse($"{Registry.HostPort}/core/export-two-b:v2");
            await new ImageLayerAdder(_ => client).AddLayersAsync(a, new[] { temp.File("extra") }, b);

            var path = temp.File("two.tar");
            var result = await Exporter(client).ExportAsync(new[] { a, b }, path);
            Assert.Equal(2, result.Images.Count);

            var entries = Archives.ReadTar(path);
            var layerFiles = entries.Where(e => e.Key.EndsWith("/layer.tar", StringComparison.Ordinal)).ToList();
            Assert.Equal(3, layerFiles.Count(e => e.Value.Type == Sys.TarEntryType.RegularFile));
            Assert.Equal(3, layerFiles.Where(e => e.Value.Type == Sys.TarEntryType.RegularFile).Select(e => Reg.Sha256(e.Value.Data)).Distinct().Count());

            foreach (var (reference, image) in new[] { (a, result.Images[0]), (b, result.Images[1]) })
            {
                var (_, config, _) = Archives.SkopeoToOci($"docker-archive:{path}:{reference.ToFamiliarString()}", temp);
                Assert.Equal(image.ConfigDigest.ToString(), Archives.SkopeoArchiveConfigDigest(path, reference.ToFamiliarString()));
                Assert.Equal(image.DiffIds.Select(d => d.ToString()), Archives.DiffIds(config));
            }
        }

        [Fact]
        public async Task Export_OciLayout_DirectoryAndTar_AreReadBySkopeo()
        {
            var client = Reg.Client(Registry);
            var reference = Pushed("core/export-oci");
            using var temp = new Archives.TempDir();
            var dir = temp.File("layout");
            var result = await Exporter(client).ExportAsync(reference, dir, new ImageExportOptions { Format = ImageExportFormat.OciLayout });

            var manifestDigest = Assert.Single(result.Images).Manifest.Digest.ToString();
            Assert.Equal(_bed.Image.ManifestDigest, manifestDigest);
            var raw = Skopeo.InspectRawBytes($"oci:{dir}:v1");
            Assert.Equal(manifestDigest, Reg.Sha256(raw));
            // Blobs are kept as they are (compressed).
            foreach (var layer in _bed.Image.Layers) Assert.Equal(layer.Digest, Reg.Sha256(Archives.Blob(dir, layer.Digest)));

            var tarPath = temp.File("layout.tar");
            await Exporter(client).ExportAsync(reference, tarPath, new ImageExportOptions { Format = ImageExportFormat.OciLayout });
            var extracted = temp.File("extracted");
            Directory.CreateDirectory(extracted);
            Sys.TarFile.ExtractToDirectory(tarPath, extracted, overwriteFiles: false);
            var (_, config, _) = Archives.ReadOciLayout(extracted, "v1");
            Assert.Equal(_bed.Image.ConfigDigest, Reg.Sha256(config));
            Assert.Equal(manifestDigest, Reg.Sha256(Skopeo.InspectRawBytes($"oci:{extracted}:v1")));
        }

        [Fact]
        public async Task Export_FromIndex_PicksThePlatform()
        {
            var client = Reg.Client(Registry);
            Reg.PushOnce(_bed.Index, Registry, "core/export-index", "multi");
            var reference = ImageReference.Parse($"{Registry.HostPort}/core/export-index:multi");
            using var temp = new Archives.TempDir();
            var arm = _bed.Index.Manifests.Single(m => m.Architecture == "arm64");

            var result = await Exporter(client).ExportAsync(reference, temp.File("arm.tar"), new ImageExportOptions { Platform = Platform.Parse("linux/arm64") });

            var image = Assert.Single(result.Images);
            Assert.Equal(arm.Digest, image.Manifest.Digest.ToString());
            Assert.Equal(arm.ConfigDigest, image.ConfigDigest.ToString());
            Assert.Equal("linux/arm64/v8", image.Platform.ToString());
        }

        [Fact]
        public async Task Export_ExistingPath_IsRefused_AndAFailureLeavesNothing()
        {
            var client = Reg.Client(Registry);
            var reference = Pushed("core/export-refuse");
            using var temp = new Archives.TempDir();
            var path = temp.File("exists.tar");
            File.WriteAllText(path, "keep me");
            await Assert.ThrowsAsync<IOException>(() => Exporter(client).ExportAsync(reference, path));
            Assert.Equal("keep me", File.ReadAllText(path));

            var missing = ImageReference.Parse($"{Registry.HostPort}/core/export-refuse:no-such-tag");
            var other = temp.File("other.tar");
            await Assert.ThrowsAsync<Errors.RegistryException>(() => Exporter(client).ExportAsync(new[] { reference, missing }, other));
            Assert.Equal(new[] { "exists.tar" }, Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName));
        }
        [Fact]
        public async Task Export_Cancelled_MidLayer_LeavesNothing()
        {
            var client = Reg.Client(Registry);
            using var large = FixtureImage.CreateLargeLayer(6 * 1024 * 1024, seed: 77);
            Reg.PushOnce(large, Registry, "core/export-cancel", "big");
            using var temp = new Archives.TempDir();
            var path = temp.File("cancelled.tar");
            using var cts = new System.Threading.CancellationTokenSource();
            var progress = new Inline(p => { if (p.BytesDone > 0 && !p.Completed) cts.Cancel(); });

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                Exporter(client).ExportAsync(ImageReference.Parse($"{Registry.HostPort}/core/export-cancel:big"), path, null, progress, cts.Token));

            Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
        }

        [Fact]
        public async Task Export_ZstdLayer_IsDecompressedIntoTheArchive()
        {
            var client = Reg.Client(Registry);
            var repo = "core/export-zstd";
            var tar = new MemoryStream();
            using (var w = new Sys.TarWriter(tar, Sys.TarEntryFormat.Pax, leaveOpen: true))
                w.WriteEntry(Archives.File_("zstd.txt", new string('z', 10000)));
            var layerTar = tar.ToArray();
            var zstd = new MemoryStream();
            using (var c = new SharpCompress.Compressors.ZStandard.CompressionStream(zstd, 3, 0, leaveOpen: true)) c.Write(layerTar);
            var blob = zstd.ToArray();
            var config = Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{Reg.Sha256(layerTar)}\"]}}}}");
            foreach (var b in new[] { blob, config })
                await client.Blobs.UploadAsync(repo, new MemoryStream(b), new BlobUploadOptions { Digest = Digest.Compute(b), Monolithic = true });
            var manifest = Manifests.OciImageManifest.Create(new Descriptor(MediaTypes.OciConfig, Digest.Compute(config), config.Length),
                new[] { new Descriptor(MediaTypes.OciLayerZstd, Digest.Compute(blob), blob.Length) });
            await client.Manifests.PutAsync(repo, "zstd", manifest);
            using var temp = new Archives.TempDir();
            var path = temp.File("zstd.tar");

            var result = await Exporter(client).ExportAsync(ImageReference.Parse($"{Registry.HostPort}/{repo}:zstd"), path);

            var layer = Assert.Single(JsonNode.Parse(Archives.ReadTar(path)["manifest.json"].Data)![0]!["Layers"]!.AsArray())!.GetValue<string>();
            Assert.Equal(layerTar, Archives.ReadTar(path)[layer].Data);
            Assert.Equal(Reg.Sha256(layerTar), Assert.Single(Assert.Single(result.Images).DiffIds).ToString());
        }

        private sealed class Inline : IProgress<TransferProgress>
        {
            private readonly Action<TransferProgress> _report;
            public Inline(Action<TransferProgress> report) => _report = report;
            public void Report(TransferProgress value) => _report(value);
        }
    }
}
