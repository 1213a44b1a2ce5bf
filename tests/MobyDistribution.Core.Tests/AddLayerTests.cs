using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;
using Sys = System.Formats.Tar;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Add-layer onto a fixture image and onto scratch, inspected with skopeo.</summary>
    [Collection("registries")]
    public sealed class AddLayerTests
    {
        private const string UnknownField = "{\"nested\":[1,2.50,\"<&>\",null],\"flag\":true}";
        private readonly TestBedFixture _bed;

        public AddLayerTests(TestBedFixture bed) => _bed = bed;

        private RegistryServer Registry => _bed.Token;

        private ImageReference Ref(string repository, string tag = "v1") => ImageReference.Parse($"{Registry.HostPort}/{repository}:{tag}");

        /// <summary>A folder with a file, an executable, a subfolder and a symbolic link.</summary>
        private static string MakeContent(Archives.TempDir temp)
        {
            var dir = temp.File("content");
            Directory.CreateDirectory(Path.Combine(dir, "sub"));
            File.WriteAllText(Path.Combine(dir, "b.txt"), "bravo");
            File.WriteAllText(Path.Combine(dir, "sub", "a.txt"), "alpha");
            var script = Path.Combine(dir, "run.sh");
            File.WriteAllText(script, "#!/bin/sh\necho hi\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            File.CreateSymbolicLink(Path.Combine(dir, "link"), "sub/a.txt");
            return dir;
        }

        /// <summary>Pushes the fixture as a Docker schema2 image whose config has a field no spec knows.</summary>
        private async Task<ImageReference> PushBaseWithUnknownFieldAsync(RegistryClient client, string repository)
        {
            var config = JsonNode.Parse(_bed.Image.ReadBlob(_bed.Image.ConfigDigest))!.AsObject();
            config["x-unknown-field"] = JsonNode.Parse(UnknownField);
            var configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
            await Reg.UploadBlobsAsync(client, repository, _bed.Image, _bed.Image.Manifests[0]);
            await client.Blobs.UploadAsync(repository, new MemoryStream(configBytes), new BlobUploadOptions { Digest = Digest.Compute(configBytes), Monolithic = true });
            var manifest = DockerManifestV2.Create(new Descriptor(MediaTypes.DockerContainerConfig, Digest.Compute(configBytes), configBytes.Length),
                _bed.Image.Layers.Select(l => new Descriptor(MediaTypes.DockerLayerGzip, Digest.Parse(l.Digest), l.Size)));
            await client.Manifests.PutAsync(repository, "base", manifest);
            return Ref(repository, "base");
        }

        /// <summary>The last layer of an image, pulled by skopeo, as tar entries in order.</summary>
        private static List<Sys.TarEntry> LastLayer(string reference, string? creds, Archives.TempDir temp, out Dictionary<string, byte[]> data)
        {
            var oci = temp.File("pulled-" + Guid.NewGuid().ToString("N").Substring(0, 6));
            Skopeo.Copy(reference, "oci:" + oci + ":x", creds);
            var (manifest, _, _) = Archives.ReadOciLayout(oci, "x");
            var last = manifest["layers"]!.AsArray().Last()!["digest"]!.GetValue<string>();
            var tar = Archives.Uncompressed(Archives.Blob(oci, last));
            var entries = new List<Sys.TarEntry>();
            data = new Dictionary<string, byte[]>();
            using var reader = new Sys.TarReader(new MemoryStream(tar));
            Sys.TarEntry? e;
            while ((e = reader.GetNextEntry(copyData: true)) != null)
            {
                entries.Add(e);
                if (e.DataStream != null)
                {
                    using var ms = new MemoryStream();
                    e.DataStream.CopyTo(ms);
                    data[e.Name] = ms.ToArray();
                }
            }
            return entries;
        }

        [Fact]
        public async Task AddLayer_Directory_OntoFixture_KeepsUnknownFields_SetsConfig_AndTheLayerReadsBack()
        {
            var client = Reg.Client(Registry);
            var baseRef = await PushBaseWithUnknownFieldAsync(client, "core/addlayer-base");
            using var temp = new Archives.TempDir();
            var content = MakeContent(temp);
            var destination = Ref("core/addlayer-out");
            var options = new ImageLayerOptions
            {
                Labels = new Dictionary<string, string> { ["org.example.added"] = "yes" },
                Environment = new[] { "GREETING=hello world", "PATH=/app:/usr/bin" },
                Command = new[] { "/run.sh" },
                WorkingDirectory = "/app",
            };

            var result = await new ImageLayerAdder(_ => client).AddLayersAsync(baseRef, new[] { content }, destination, options);

            var creds = Registry.Credentials;
            var dest = Registry.ImageReference("core/addlayer-out", "v1");
            Assert.Equal(result.Descriptor.Digest.ToString(), Skopeo.Digest(dest, creds));
            Assert.Equal(MediaTypes.DockerManifestV2, JsonNode.Parse(Skopeo.InspectRaw(dest, creds))!["mediaType"]!.GetValue<string>());
            var configText = Skopeo.InspectConfig(dest, creds);
            var config = JsonNode.Parse(configText)!;
            var diffIds = Archives.DiffIds(Encoding.UTF8.GetBytes(configText));
            Assert.Equal(3, diffIds.Length);
            Assert.Equal(_bed.Image.DiffIds, diffIds.Take(2));
            Assert.Equal(result.AddedDiffIds.Single().ToString(), diffIds[2]);
            Assert.Equal(3, config["history"]!.AsArray().Count);
            Assert.Equal("ADD dir:content in /", config["history"]![2]!["created_by"]!.GetValue<string>());
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(UnknownField), config["x-unknown-field"]));
            Assert.Contains("2.50", configText);
            Assert.Equal("yes", config["config"]!["Labels"]!["org.example.added"]!.GetValue<string>());
            Assert.Equal("moby-testbed-fixture", config["config"]!["Labels"]!["org.opencontainers.image.title"]!.GetValue<string>());
            var env = config["config"]!["Env"]!.AsArray().Select(e => e!.GetValue<string>()).ToArray();
            Assert.Equal(new[] { "PATH=/app:/usr/bin", "GREETING=hello world" }, env);
            Assert.Equal("/run.sh", config["config"]!["Cmd"]![0]!.GetValue<string>());
            Assert.Equal("/app", config["config"]!["WorkingDir"]!.GetValue<string>());

            var entries = LastLayer(dest, creds, temp, out var data);
            Assert.Equal(new[] { "b.txt", "link", "run.sh", "sub/", "sub/a.txt" }, entries.Select(e => e.Name));
            Assert.All(entries, e => Assert.Equal(DateTimeOffset.UnixEpoch, e.ModificationTime));
            Assert.All(entries, e => Assert.Equal(0, e.Uid));
            Assert.All(entries, e => Assert.Equal(0, e.Gid));
            Assert.All(entries.OfType<Sys.PosixTarEntry>(), e => Assert.Equal("", e.UserName));
            var link = entries.Single(e => e.Name == "link");
            Assert.Equal(Sys.TarEntryType.SymbolicLink, link.EntryType);
            Assert.Equal("sub/a.txt", link.LinkName);
            Assert.True(entries.Single(e => e.Name == "run.sh").Mode.HasFlag(UnixFileMode.UserExecute));
            Assert.Equal("alpha", Encoding.UTF8.GetString(data["sub/a.txt"]));
            Assert.Equal("bravo", Encoding.UTF8.GetString(data["b.txt"]));
        }

        [Fact]
        public async Task AddLayer_OntoScratch_MakesAnOciImage_Reproducibly()
        {
            var client = Reg.Client(Registry);
            using var temp = new Archives.TempDir();
            var content = MakeContent(temp);
            var adder = new ImageLayerAdder(_ => client);
            var options = new ImageLayerOptions { Platform = Platform.Parse("linux/arm64"), Entrypoint = new[] { "/run.sh" } };

            var first = await adder.AddLayersAsync(ImageReference.Parse("scratch"), new[] { content }, Ref("core/addlayer-scratch", "one"), options);
            var second = await adder.AddLayersAsync(null, new[] { content }, Ref("core/addlayer-scratch", "two"), options);

            Assert.Equal(first.Descriptor.Digest, second.Descriptor.Digest);
            Assert.Equal(MediaTypes.OciManifest, first.Descriptor.MediaType);
            var creds = Registry.Credentials;
            var dest = Registry.ImageReference("core/addlayer-scratch", "one");
            var raw = JsonNode.Parse(Skopeo.InspectRaw(dest, creds))!;
            Assert.Equal(MediaTypes.OciConfig, raw["config"]!["mediaType"]!.GetValue<string>());
            var config = JsonNode.Parse(Skopeo.Run("--override-arch", "arm64", "inspect", "--tls-verify=false", "--creds=" + creds, "--config", "--raw", dest).StandardOutput)!;
            Assert.Single(config["rootfs"]!["diff_ids"]!.AsArray());
            Assert.Equal("arm64", config["architecture"]!.GetValue<string>());
            Assert.Equal("/run.sh", config["config"]!["Entrypoint"]![0]!.GetValue<string>());
            var entries = LastLayer(dest, creds, temp, out var data);
            Assert.Equal(5, entries.Count);
            Assert.Equal("bravo", Encoding.UTF8.GetString(data["b.txt"]));
        }

        [Fact]
        public async Task AddLayer_FromTarFiles_PlainAndGzip()
        {
            var client = Reg.Client(Registry);
            Reg.PushOnce(_bed.Image, Registry, "core/addlayer-tar-base", "v1");
            using var temp = new Archives.TempDir();
            var plain = temp.File("plain.tar");
            using (var f = File.Create(plain))
            using (var w = new Sys.TarWriter(f, Sys.TarEntryFormat.Pax))
                w.WriteEntry(Archives.File_("etc/plain.conf", "plain"));
            var gz = _bed.Image.BlobPath(_bed.Image.Layers[0].Digest);

            var result = await new ImageLayerAdder(_ => client).AddLayersAsync(Ref("core/addlayer-tar-base"), new[] { plain, gz }, Ref("core/addlayer-tar-out"));

            Assert.Equal(Reg.Sha256File(plain), result.AddedDiffIds[0].ToString());
            Assert.Equal(_bed.Image.Layers[0].Digest, result.AddedLayers[1].Digest.ToString());
            Assert.Equal(_bed.Image.DiffIds[0], result.AddedDiffIds[1].ToString());
            var config = JsonNode.Parse(Skopeo.InspectConfig(Registry.ImageReference("core/addlayer-tar-out", "v1"), Registry.Credentials))!;
            Assert.Equal(4, config["rootfs"]!["diff_ids"]!.AsArray().Count);
            Assert.Equal(MediaTypes.OciManifest, result.Descriptor.MediaType);
        }

        [Fact]
        public async Task AddLayer_PlainFile_LandsAtItsName_OrUnderThePrefix_AndAFolderGoesUnderThePrefixToo()
        {
            var client = Reg.Client(Registry);
            Reg.PushOnce(_bed.Image, Registry, "core/addlayer-file-base", "v1");
            using var temp = new Archives.TempDir();
            // Text that is not a tar: this is the case that failed with "truncated inside a header".
            var file = temp.File("hostname");
            File.WriteAllText(file, "box-1\n");
            var content = MakeContent(temp);
            var adder = new ImageLayerAdder(_ => client);
            var creds = Registry.Credentials;

            await adder.AddLayersAsync(Ref("core/addlayer-file-base"), new[] { file }, Ref("core/addlayer-file-out", "root"));
            var entries = LastLayer(Registry.ImageReference("core/addlayer-file-out", "root"), creds, temp, out var data);
            Assert.Equal(new[] { "hostname" }, entries.Select(e => e.Name));
            Assert.Equal("box-1\n", Encoding.UTF8.GetString(data["hostname"]));
            Assert.Equal(DateTimeOffset.UnixEpoch, entries[0].ModificationTime);
            Assert.Equal(0, entries[0].Uid);
            Assert.Equal("ADD file:hostname in /", JsonNode.Parse(Skopeo.InspectConfig(Registry.ImageReference("core/addlayer-file-out", "root"), creds))!["history"]!.AsArray().Last()!["created_by"]!.GetValue<string>());

            var options = new ImageLayerOptions { Prefix = "/app/etc/" };
            await adder.AddLayersAsync(Ref("core/addlayer-file-base"), new[] { file, content }, Ref("core/addlayer-file-out", "prefix"), options);
            var dest = Registry.ImageReference("core/addlayer-file-out", "prefix");
            var folderLayer = LastLayer(dest, creds, temp, out var folderData);
            Assert.Equal(new[] { "app/", "app/etc/", "app/etc/b.txt", "app/etc/link", "app/etc/run.sh", "app/etc/sub/", "app/etc/sub/a.txt" }, folderLayer.Select(e => e.Name));
            Assert.Equal("alpha", Encoding.UTF8.GetString(folderData["app/etc/sub/a.txt"]));
            var config = JsonNode.Parse(Skopeo.InspectConfig(dest, creds))!;
            var history = config["history"]!.AsArray().Select(h => h!["created_by"]!.GetValue<string>()).TakeLast(2);
            Assert.Equal(new[] { "ADD file:hostname in /app/etc", "ADD dir:content in /app/etc" }, history);
            // The file's layer is the one before.
            var oci = temp.File("pulled-prefix");
            Skopeo.Copy(dest, "oci:" + oci + ":x", creds);
            var (manifest, _, _) = Archives.ReadOciLayout(oci, "x");
            var layers = manifest["layers"]!.AsArray();
            var fileLayer = Archives.ReadTar(new MemoryStream(Archives.Uncompressed(Archives.Blob(oci, layers[layers.Count - 2]!["digest"]!.GetValue<string>()))));
            Assert.Equal(new[] { "app/", "app/etc/", "app/etc/hostname" }, fileLayer.Keys.OrderBy(k => k, StringComparer.Ordinal));
            Assert.Equal(Sys.TarEntryType.Directory, fileLayer["app/etc/"].Type);
            Assert.Equal("box-1\n", Encoding.UTF8.GetString(fileLayer["app/etc/hostname"].Data));
            // umoci, an independent unpacker, lays the image out with the file and the folder's content where the prefix says.
            var bundle = temp.File("bundle");
            var unpack = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("umoci", new[] { "unpack", "--rootless", "--image", oci + ":x", bundle })
            {
                RedirectStandardError = true, RedirectStandardOutput = true,
            })!;
            var stderr = unpack.StandardError.ReadToEnd();
            unpack.StandardOutput.ReadToEnd();
            unpack.WaitForExit();
            Assert.True(unpack.ExitCode == 0, "umoci unpack failed: " + stderr);
            Assert.Equal("box-1\n", File.ReadAllText(Path.Combine(bundle, "rootfs", "app", "etc", "hostname")));
            Assert.Equal("alpha", File.ReadAllText(Path.Combine(bundle, "rootfs", "app", "etc", "sub", "a.txt")));
        }

        [Fact]
        public async Task AddLayer_TellsTarsByContent_AndRefusesATarNameOnOtherContent_PushingNothing()
        {
            var client = Reg.Client(Registry);
            using var temp = new Archives.TempDir();
            // A real tar without a tar name is taken as an archive, not as a file.
            var unnamed = temp.File("rootfs.bin");
            using (var f = File.Create(unnamed))
            using (var w = new Sys.TarWriter(f, Sys.TarEntryFormat.Gnu))
                w.WriteEntry(Archives.File_("etc/os-release", "ID=test"));
            var adder = new ImageLayerAdder(_ => client);
            var result = await adder.AddLayersAsync(null, new[] { unnamed }, Ref("core/addlayer-detect", "tar"));
            Assert.Equal(Reg.Sha256File(unnamed), result.AddedDiffIds[0].ToString());

            var notTar = temp.File("notes.tar");
            File.WriteAllText(notTar, "these are notes, not an archive");
            var e = await Assert.ThrowsAsync<Formats.LayerSourceException>(() => adder.AddLayersAsync(null, new[] { notTar }, Ref("core/addlayer-refused")));
            Assert.Equal(Errors.RegistryErrorKind.InvalidRequest, e.Kind);
            Assert.Equal(notTar, e.SourcePath);
            Assert.Contains("named like a tar archive, but it is not a tar archive", e.Message);
            Assert.Contains("a folder, a tar archive (.tar, .tar.gz, .tgz, .tar.zst), or any other file", e.Message);

            var gzNotTar = temp.File("notes.tgz");
            using (var f = File.Create(gzNotTar))
            using (var gz = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest))
                gz.Write(Encoding.UTF8.GetBytes(new string('x', 2000)));
            e = await Assert.ThrowsAsync<Formats.LayerSourceException>(() => adder.AddLayersAsync(null, new[] { gzNotTar }, Ref("core/addlayer-refused")));
            Assert.Contains("gzip-compressed data that is not a tar archive", e.Message);

            // A prefix says where files go; a tar names its own places.
            await Assert.ThrowsAsync<ArgumentException>(() => adder.AddLayersAsync(null, new[] { unnamed }, Ref("core/addlayer-refused"), new ImageLayerOptions { Prefix = "/app" }));
            await Assert.ThrowsAsync<ArgumentException>(() => adder.AddLayersAsync(null, new[] { temp.File("notes.tar") }, Ref("core/addlayer-refused"), new ImageLayerOptions { Prefix = "/../x" }));
            Assert.True(Archives.HasNoTags(client, "core/addlayer-refused"));
        }

        [Fact]
        public async Task AddLayer_Created_IsTheBasesByDefault_ThenSourceDateEpoch_ThenTheOption_AndTheHistoryFollows()
        {
            var client = Reg.Client(Registry);
            var baseRef = await PushBaseWithUnknownFieldAsync(client, "core/addlayer-created");
            var baseConfig = Encoding.UTF8.GetString(_bed.Image.ReadBlob(_bed.Image.ConfigDigest));
            var baseCreated = JsonNode.Parse(baseConfig)!["created"]!.GetValue<string>();
            Assert.NotEqual("1970-01-01T00:00:00Z", baseCreated);
            using var temp = new Archives.TempDir();
            var content = MakeContent(temp);
            var adder = new ImageLayerAdder(_ => client);
            var creds = Registry.Credentials;

            (string Created, string[] History, string Text) Pushed(string tag)
            {
                var text = Skopeo.InspectConfig(Registry.ImageReference("core/addlayer-created-out", tag), creds);
                var c = JsonNode.Parse(text)!;
                return (c["created"]!.GetValue<string>(), c["history"]!.AsArray().Skip(2).Select(h => h!["created"]!.GetValue<string>()).ToArray(), text);
            }

            await adder.AddLayersAsync(baseRef, new[] { content, content }, Ref("core/addlayer-created-out", "default"), new ImageLayerOptions { SourceDateEpoch = null });
            var byDefault = Pushed("default");
            Assert.Equal(baseCreated, byDefault.Created);
            Assert.Equal(new[] { baseCreated, baseCreated }, byDefault.History);
            Assert.Contains("\"created\":\"" + baseCreated + "\"", byDefault.Text); // the base's bytes, not rewritten

            await adder.AddLayersAsync(baseRef, new[] { content }, Ref("core/addlayer-created-out", "epoch"), new ImageLayerOptions { SourceDateEpoch = "1700000000" });
            var epoch = Pushed("epoch");
            Assert.Equal("2023-11-14T22:13:20Z", epoch.Created);
            Assert.Equal(new[] { "2023-11-14T22:13:20Z" }, epoch.History);

            var chosen = new DateTimeOffset(2025, 2, 3, 4, 5, 6, TimeSpan.FromHours(1));
            await adder.AddLayersAsync(baseRef, new[] { content }, Ref("core/addlayer-created-out", "chosen"),
                new ImageLayerOptions { SourceDateEpoch = "1700000000", Created = chosen, CreatedBy = "COPY app /srv" });
            var picked = Pushed("chosen");
            Assert.Equal("2025-02-03T03:05:06Z", picked.Created);
            Assert.Equal(new[] { "2025-02-03T03:05:06Z" }, picked.History);
            Assert.Equal("COPY app /srv", JsonNode.Parse(picked.Text)!["history"]!.AsArray().Last()!["created_by"]!.GetValue<string>());

            await adder.AddLayersAsync(null, new[] { content }, Ref("core/addlayer-created-out", "scratch"), new ImageLayerOptions { SourceDateEpoch = "" });
            Assert.Equal("1970-01-01T00:00:00Z", Pushed("scratch").Created);

            await Assert.ThrowsAsync<ArgumentException>(() => adder.AddLayersAsync(baseRef, new[] { content }, Ref("core/addlayer-created-out", "bad"), new ImageLayerOptions { SourceDateEpoch = "1.5e9" }));
        }
    }
}
