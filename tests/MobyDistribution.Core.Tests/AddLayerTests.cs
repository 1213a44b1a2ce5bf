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
            Assert.Contains("content", config["history"]![2]!["created_by"]!.GetValue<string>());
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
    }
}
