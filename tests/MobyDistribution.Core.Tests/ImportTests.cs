using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Formats;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;
using Sys = System.Formats.Tar;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Import of docker archives (written by skopeo and by the exporter) into the test bed's registries.</summary>
    [Collection("registries")]
    public sealed class ImportTests
    {
        private readonly TestBedFixture _bed;

        public ImportTests(TestBedFixture bed) => _bed = bed;

        private RegistryServer Registry => _bed.Basic;

        private string RepositoryStorage(string repository) =>
            Path.Combine(Registry.StorageDirectory, "docker", "registry", "v2", "repositories", repository);

        private ImageReference Ref(string repository, string tag = "v1") => ImageReference.Parse($"{Registry.HostPort}/{repository}:{tag}");

        /// <summary>A docker archive written by skopeo from the fixture (layers uncompressed, named by diff_id).</summary>
        private string SkopeoArchive(Archives.TempDir temp, string repoTag)
        {
            var path = temp.File("skopeo-" + Guid.NewGuid().ToString("N").Substring(0, 6) + ".tar");
            Skopeo.Copy(_bed.Image.OciReference, $"docker-archive:{path}:{repoTag}");
            return path;
        }

        [Fact]
        public async Task Import_SkopeoArchive_ToDestination_KeepsConfig_AndIsReproducible()
        {
            var client = Reg.Client(Registry);
            using var temp = new Archives.TempDir();
            var archive = SkopeoArchive(temp, "example.com/some/name:tag");
            var importer = new ImageImporter(_ => client);

            var first = Assert.Single(await importer.ImportAsync(archive, Ref("core/import-skopeo-a")));
            var second = Assert.Single(await importer.ImportAsync(archive, Ref("core/import-skopeo-b")));

            Assert.Equal(_bed.Image.ConfigDigest, first.ConfigDigest.ToString());
            Assert.Equal(first.Manifest.Digest, second.Manifest.Digest);
            var creds = Registry.Credentials;
            var config = Skopeo.InspectConfig(Registry.ImageReference("core/import-skopeo-a", "v1"), creds);
            Assert.Equal(_bed.Image.ConfigDigest, Reg.Sha256(Encoding.UTF8.GetBytes(config)));
            var raw = JsonNode.Parse(Skopeo.InspectRaw(Registry.ImageReference("core/import-skopeo-a", "v1"), creds))!;
            Assert.Equal(MediaTypes.DockerManifestV2, raw["mediaType"]!.GetValue<string>());
            Assert.Equal(MediaTypes.DockerContainerConfig, raw["config"]!["mediaType"]!.GetValue<string>());
            Assert.All(raw["layers"]!.AsArray(), l => Assert.Equal(MediaTypes.DockerLayerGzip, l!["mediaType"]!.GetValue<string>()));

            // The layers pushed decompress to the diff_ids (skopeo checks blob digests as it copies).
            var oci = temp.File("pulled");
            Skopeo.Copy(Registry.ImageReference("core/import-skopeo-a", "v1"), "oci:" + oci + ":x", creds);
            var (manifest, _, _) = Archives.ReadOciLayout(oci, "x");
            var layers = manifest["layers"]!.AsArray().Select(l => Archives.Blob(oci, l!["digest"]!.GetValue<string>())).ToList();
            Assert.Equal(_bed.Image.DiffIds, layers.Select(l => Reg.Sha256(Archives.Uncompressed(l))));
        }

        [Fact]
        public async Task Import_WithoutDestination_UsesRepoTags()
        {
            var client = Reg.Client(Registry);
            using var temp = new Archives.TempDir();
            var tag = $"{Registry.HostPort}/core/import-repotags:from-tar";
            var archive = SkopeoArchive(temp, tag);

            var image = Assert.Single(await new ImageImporter(_ => client).ImportAsync(archive));

            Assert.Equal(Ref("core/import-repotags", "from-tar").WithDigest(image.Manifest.Digest), image.Reference);
            Assert.Equal(image.Manifest.Digest.ToString(), Skopeo.Digest(Registry.ImageReference("core/import-repotags", "from-tar"), Registry.Credentials));
            // The storage path the hostile-archive test checks for absence is where a pushed repository lives.
            Assert.True(Directory.Exists(RepositoryStorage("core/import-repotags")));
        }

        [Fact]
        public async Task Import_ExporterArchive_RoundTripKeepsConfigDigest()
        {
            var client = Reg.Client(Registry);
            Reg.PushOnce(_bed.Image, Registry, "core/import-roundtrip-src", "v1");
            using var temp = new Archives.TempDir();
            var archive = temp.File("exported.tar");
            await new ImageExporter(_ => client).ExportAsync(Ref("core/import-roundtrip-src"), archive);

            var image = Assert.Single(await new ImageImporter(_ => client).ImportAsync(archive, Ref("core/import-roundtrip-dst")));

            Assert.Equal(_bed.Image.ConfigDigest, image.ConfigDigest.ToString());
            Assert.Equal(_bed.Image.ConfigDigest, Reg.Sha256(Encoding.UTF8.GetBytes(Skopeo.InspectConfig(Registry.ImageReference("core/import-roundtrip-dst", "v1"), Registry.Credentials))));
        }

        public static TheoryData<string> Hostile => new() { "dotdot", "absolute", "symlink", "manifest-path", "layer-count", "diff-id" };

        [Theory]
        [MemberData(nameof(Hostile))]
        public async Task Import_HostileOrInconsistentArchive_IsRefused_AndNothingIsPushed(string kind)
        {
            var client = Reg.Client(Registry);
            using var temp = new Archives.TempDir();
            var good = SkopeoArchive(temp, "example.com/evil:tag");
            var names = Archives.EntryNames(good);
            var manifestText = Encoding.UTF8.GetString(Archives.ReadTar(good)["manifest.json"].Data);
            var firstLayer = JsonNode.Parse(manifestText)![0]!["Layers"]![0]!.GetValue<string>();
            var evil = temp.File("evil.tar");
            switch (kind)
            {
                case "dotdot":
                    Archives.Rewrite(good, evil, extra: new[] { Archives.File_("../evil", "x") });
                    break;
                case "absolute":
                    Archives.Rewrite(good, evil, extra: new[] { Archives.File_("/etc/evil", "x") });
                    break;
                case "symlink":
                    Archives.Rewrite(good, evil, (name, data) => name == firstLayer ? null : data,
                        new[] { new Sys.PaxTarEntry(Sys.TarEntryType.SymbolicLink, firstLayer) { LinkName = "../../../etc/passwd" } });
                    break;
                case "manifest-path":
                    Archives.Rewrite(good, evil, (name, data) => name == "manifest.json" ? Encoding.UTF8.GetBytes(manifestText.Replace(firstLayer, "../" + firstLayer)) : data);
                    break;
                case "layer-count":
                    Archives.Rewrite(good, evil, (name, data) => name == "manifest.json" ? Encoding.UTF8.GetBytes(manifestText.Replace("\"" + firstLayer + "\",", "")) : data);
                    break;
                case "diff-id":
                    Archives.Rewrite(good, evil, (name, data) => name == firstLayer ? data.Concat(new byte[512]).ToArray() : data);
                    break;
            }
            Assert.NotEmpty(names);
            var repo = "core/import-evil-" + kind;

            var e = await Assert.ThrowsAnyAsync<RegistryException>(() => new ImageImporter(_ => client).ImportAsync(evil, Ref(repo)));

            Assert.Equal(kind switch
            {
                "layer-count" => RegistryErrorKind.InvalidRequest,
                "diff-id" => RegistryErrorKind.DigestMismatch,
                _ => RegistryErrorKind.Security,
            }, e.Kind);
            Assert.True(Archives.HasNoTags(client, repo));
            Assert.False(Directory.Exists(RepositoryStorage(repo)));
        }

        [Fact]
        public async Task Reader_ReadsDocker25LayoutArchives()
        {
            // Docker 25+ writes manifest.json pointing into blobs/sha256 of an OCI layout in the same tar.
            using var temp = new Archives.TempDir();
            var path = temp.File("docker25.tar");
            var config = _bed.Image.ReadBlob(_bed.Image.ConfigDigest);
            using (var f = File.Create(path))
            using (var w = new Sys.TarWriter(f, Sys.TarEntryFormat.Pax))
            {
                w.WriteEntry(Archives.File_("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
                w.WriteEntry(new Sys.PaxTarEntry(Sys.TarEntryType.RegularFile, "blobs/sha256/" + _bed.Image.ConfigDigest.Substring(7)) { DataStream = new MemoryStream(config) });
                foreach (var l in _bed.Image.Layers)
                    w.WriteEntry(new Sys.PaxTarEntry(Sys.TarEntryType.RegularFile, "blobs/sha256/" + l.DiffId.Substring(7)) { DataStream = new MemoryStream(Archives.Uncompressed(_bed.Image.ReadBlob(l.Digest))) });
                w.WriteEntry(Archives.File_("index.json", "{\"schemaVersion\":2,\"manifests\":[]}"));
                var layers = string.Join(",", _bed.Image.Layers.Select(l => $"\"blobs/sha256/{l.DiffId.Substring(7)}\""));
                w.WriteEntry(Archives.File_("manifest.json", $"[{{\"Config\":\"blobs/sha256/{_bed.Image.ConfigDigest.Substring(7)}\",\"RepoTags\":[\"app:v25\"],\"Layers\":[{layers}]}}]"));
            }
            var reader = await DockerArchiveReader.OpenAsync(path);
            Assert.True(reader.HasOciLayout);
            var image = Assert.Single(reader.Images);
            Assert.Equal(_bed.Image.ConfigDigest, image.ConfigDigest.ToString());
            Assert.Equal(new[] { "app:v25" }, image.RepoTags);
            Assert.Equal(_bed.Image.DiffIds, image.Layers.Select(l => l.DiffId.ToString()));
        }
    }
}
