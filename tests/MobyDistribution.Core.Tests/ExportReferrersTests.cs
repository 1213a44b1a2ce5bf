using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
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
    /// <summary>
    /// Export to an OCI layout with the referrers (signatures, SBOMs, cosign tags) kept in it, against the real registry (no
    /// referrers API: the tag schema), read back from the layout's files and by skopeo.
    /// </summary>
    [Collection("registries")]
    public sealed class ExportReferrersTests : IDisposable
    {
        private const string Signature = "application/vnd.example.signature";
        private const string Sbom = "application/spdx+json";
        private readonly TestBedFixture _bed;
        private readonly Archives.TempDir _temp = new Archives.TempDir();

        public ExportReferrersTests(TestBedFixture bed) => _bed = bed;

        public void Dispose() => _temp.Dispose();

        private RegistryServer Registry => _bed.Anonymous;

        private ImageExporter Exporter(RegistryClient client) => new ImageExporter(_ => client);

        private async Task<Descriptor> AttachAsync(RegistryClient client, ImageReference subject, string artifactType, string content, ImageReference? destination = null)
        {
            var folder = _temp.File(Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(folder);
            var file = Path.Combine(folder, "payload.json");
            File.WriteAllText(file, content);
            var request = new ArtifactPublishRequest
            {
                ArtifactType = artifactType,
                Subject = destination == null ? subject : null,
                Destination = destination,
                Annotations = new Dictionary<string, string> { ["org.example.note"] = content },
            };
            request.Files.Add(new ArtifactFileSource(file, "application/json"));
            return (await new ImageArtifacts(_ => client).PublishAsync(request)).Descriptor;
        }

        /// <summary>An image with a signature, an SBOM with a signature on it, and a cosign .sig tag.</summary>
        private async Task<(ImageReference Image, Descriptor Signature, Descriptor Sbom, Descriptor SbomSignature, Descriptor Cosign)> SignedImageAsync(RegistryClient client, string repository)
        {
            Reg.PushOnce(_bed.Image, Registry, repository, "v1");
            var image = ImageReference.Parse($"{Registry.HostPort}/{repository}:v1");
            var signature = await AttachAsync(client, image, Signature, "{\"sig\":\"image\"}");
            var sbom = await AttachAsync(client, image, Sbom, "{\"spdxVersion\":\"SPDX-2.3\"}");
            var sbomSignature = await AttachAsync(client, sbom.Source!, Signature, "{\"sig\":\"sbom\"}");
            var cosignTag = _bed.Image.ManifestDigest.Replace(':', '-') + ".sig";
            var cosign = await AttachAsync(client, image, "application/vnd.dev.cosign.artifact.sig.v1+json", "{\"cosign\":1}",
                ImageReference.Parse($"{Registry.HostPort}/{repository}:{cosignTag}"));
            return (image, signature, sbom, sbomSignature, cosign);
        }

        private static JsonArray IndexManifests(string dir) =>
            JsonNode.Parse(File.ReadAllBytes(Path.Combine(dir, "index.json")))!["manifests"]!.AsArray();

        /// <summary>The manifest's bytes are in blobs/ under its digest, and so is every blob it names.</summary>
        private static void AssertStored(string dir, Descriptor manifest)
        {
            var raw = Archives.Blob(dir, manifest.Digest.ToString());
            Assert.Equal(manifest.Digest.ToString(), Reg.Sha256(raw));
            Assert.Equal(manifest.Size, raw.Length);
            var json = JsonNode.Parse(raw)!;
            foreach (var blob in new[] { json["config"]! }.Concat(json["layers"]!.AsArray().Select(l => l!)))
            {
                var digest = blob["digest"]!.GetValue<string>();
                var bytes = Archives.Blob(dir, digest);
                Assert.Equal(digest, Reg.Sha256(bytes));
                Assert.Equal(blob["size"]!.GetValue<long>(), bytes.Length);
            }
        }

        /// <summary>
        /// skopeo 1.9 names a manifest of a layout only by <c>org.opencontainers.image.ref.name</c> (<c>oci:DIR@DIGEST</c> came in
        /// 1.12), or takes the only one: a view of the layout whose index.json holds just the referrer's entry, as the export
        /// wrote it, over the same blobs, is copied by skopeo (which checks every blob's digest) and read back byte for byte.
        /// </summary>
        private void SkopeoCopiesByDigest(string dir, Digest digest)
        {
            var entry = IndexManifests(dir).Single(e => e!["digest"]!.GetValue<string>() == digest.ToString())!;
            var view = _temp.File("view-" + digest.Short);
            Directory.CreateDirectory(view);
            File.Copy(Path.Combine(dir, "oci-layout"), Path.Combine(view, "oci-layout"));
            Directory.CreateSymbolicLink(Path.Combine(view, "blobs"), Path.Combine(dir, "blobs"));
            File.WriteAllText(Path.Combine(view, "index.json"), new JsonObject
            {
                ["schemaVersion"] = 2,
                ["mediaType"] = MediaTypes.OciIndex,
                ["manifests"] = new JsonArray(entry.DeepClone()),
            }.ToJsonString());
            var copied = _temp.File("copied-" + digest.Short);
            Skopeo.Run("copy", $"oci:{view}", $"oci:{copied}:referrer");
            Assert.Equal(digest.ToString(), Reg.Sha256(Skopeo.InspectRawBytes($"oci:{copied}:referrer")));
        }

        [Fact]
        public async Task Export_IncludeReferrers_KeepsTheGraphInTheLayout_ListedInIndexJson_AndSkopeoReadsThem()
        {
            var client = Reg.Client(Registry);
            var repository = Reg.Repo("export-referrers");
            var (image, signature, sbom, sbomSignature, cosign) = await SignedImageAsync(client, repository);
            var dir = _temp.File("layout");

            var result = await Exporter(client).ExportAsync(image, dir, new ImageExportOptions { Format = ImageExportFormat.OciLayout, IncludeReferrers = true });

            var expected = new[] { signature, sbom, sbomSignature, cosign };
            Assert.Equal(expected.Select(d => d.Digest).OrderBy(d => d.ToString()), result.Referrers.Select(r => r.Digest).OrderBy(d => d.ToString()));
            // A subject comes before its referrers.
            Assert.True(result.Referrers.ToList().FindIndex(r => r.Digest == sbom.Digest) < result.Referrers.ToList().FindIndex(r => r.Digest == sbomSignature.Digest));
            AssertStored(dir, Assert.Single(result.Images).Manifest);
            foreach (var d in expected) AssertStored(dir, d);

            var entries = IndexManifests(dir);
            Assert.Equal(5, entries.Count);
            Assert.Equal(_bed.Image.ManifestDigest, entries[0]!["digest"]!.GetValue<string>());
            foreach (var d in expected)
            {
                var entry = entries.Single(e => e!["digest"]!.GetValue<string>() == d.Digest.ToString())!;
                Assert.Equal(MediaTypes.OciManifest, entry["mediaType"]!.GetValue<string>());
                Assert.Equal(d.Size, entry["size"]!.GetValue<long>());
                Assert.Equal(d.ArtifactType, entry["artifactType"]!.GetValue<string>());
                var annotations = entry["annotations"]!.AsObject();
                Assert.Equal(d.Annotations!["org.example.note"], annotations["org.example.note"]!.GetValue<string>());
                // Only the cosign tag has a name: it is found by that name, the others by their subject.
                if (d == cosign)
                    Assert.Equal(_bed.Image.ManifestDigest.Replace(':', '-') + ".sig", annotations[OciLayoutWriter.RefNameAnnotation]!.GetValue<string>());
                else
                    Assert.False(annotations.ContainsKey(OciLayoutWriter.RefNameAnnotation));
            }

            // skopeo reads the image by its name (more manifests in index.json do not confuse it), the cosign tag by its name,
            // and the referrers by digest.
            Assert.Equal(_bed.Image.ManifestDigest, Reg.Sha256(Skopeo.InspectRawBytes($"oci:{dir}:v1")));
            Assert.Equal(cosign.Digest.ToString(), Reg.Sha256(Skopeo.InspectRawBytes($"oci:{dir}:{_bed.Image.ManifestDigest.Replace(':', '-')}.sig")));
            foreach (var d in expected) SkopeoCopiesByDigest(dir, d.Digest);
        }

        [Fact]
        public async Task Export_FromIndex_IncludeReferrers_TakesThePlatformImagesSignature_NotTheIndexs()
        {
            var client = Reg.Client(Registry);
            var repository = Reg.Repo("export-referrers-index");
            Reg.PushOnce(_bed.Index, Registry, repository, "multi");
            var index = ImageReference.Parse($"{Registry.HostPort}/{repository}:multi");
            var arm = _bed.Index.Manifests.Single(m => m.Architecture == "arm64");
            var armSignature = await AttachAsync(client, index.WithDigest(Digest.Parse(arm.Digest)), Signature, "{\"sig\":\"arm64\"}");
            var indexSignature = await AttachAsync(client, index, Signature, "{\"sig\":\"index\"}");
            var tar = _temp.File("arm.tar");

            var result = await Exporter(client).ExportAsync(index, tar,
                new ImageExportOptions { Format = ImageExportFormat.OciLayout, Platform = Platform.Parse("linux/arm64"), IncludeReferrers = true });

            // The index is not written (only its arm64 image), so its own signature has no subject in the layout and stays behind.
            Assert.Equal(armSignature.Digest, Assert.Single(result.Referrers).Digest);
            var extracted = _temp.File("extracted");
            Directory.CreateDirectory(extracted);
            Sys.TarFile.ExtractToDirectory(tar, extracted, overwriteFiles: false);
            AssertStored(extracted, armSignature);
            Assert.False(File.Exists(Path.Combine(extracted, "blobs", "sha256", indexSignature.Digest.Hex)));
            var entries = IndexManifests(extracted);
            Assert.Equal(new[] { arm.Digest, armSignature.Digest.ToString() }, entries.Select(e => e!["digest"]!.GetValue<string>()));
            SkopeoCopiesByDigest(extracted, armSignature.Digest);
        }

        [Fact]
        public async Task Export_IncludeReferrers_ThroughTheReferrersApi_WritesTheSameGraph()
        {
            var client = Reg.Client(Registry);
            var repository = Reg.Repo("export-referrers-api");
            var (_, signature, sbom, sbomSignature, cosign) = await SignedImageAsync(client, repository);
            using var proxy = FaultProxy.StartWithReferrersApi(Registry);
            var dir = _temp.File("layout");

            var result = await Exporter(HandWritten.Client(proxy.HostPort)).ExportAsync(ImageReference.Parse($"{proxy.HostPort}/{repository}:v1"), dir,
                new ImageExportOptions { Format = ImageExportFormat.OciLayout, IncludeReferrers = true });

            Assert.Contains(result.Referrers, r => r.Kind == ReferrerKind.Referrer);
            var expected = new[] { signature, sbom, sbomSignature, cosign };
            Assert.Equal(expected.Select(d => d.Digest.ToString()).OrderBy(d => d), result.Referrers.Select(r => r.Digest.ToString()).OrderBy(d => d));
            foreach (var d in expected) AssertStored(dir, d);
            Assert.Equal(new[] { _bed.Image.ManifestDigest }.Concat(result.Referrers.Select(r => r.Digest.ToString())),
                IndexManifests(dir).Select(e => e!["digest"]!.GetValue<string>()));
        }

        [Fact]
        public async Task Export_WithoutTheSwitch_WritesNoReferrer()
        {
            var client = Reg.Client(Registry);
            var repository = Reg.Repo("export-no-referrers");
            var (image, signature, sbom, sbomSignature, cosign) = await SignedImageAsync(client, repository);
            var dir = _temp.File("layout");

            var result = await Exporter(client).ExportAsync(image, dir, new ImageExportOptions { Format = ImageExportFormat.OciLayout });

            Assert.Empty(result.Referrers);
            var entry = Assert.Single(IndexManifests(dir))!;
            Assert.Equal(_bed.Image.ManifestDigest, entry["digest"]!.GetValue<string>());
            var blobs = Directory.GetFiles(Path.Combine(dir, "blobs", "sha256")).Select(f => "sha256:" + Path.GetFileName(f)).OrderBy(d => d);
            var imageBlobs = new[] { _bed.Image.ManifestDigest, _bed.Image.ConfigDigest }.Concat(_bed.Image.Layers.Select(l => l.Digest)).OrderBy(d => d);
            Assert.Equal(imageBlobs, blobs);
            // The layout is what it was before referrers existed: same index.json as an export of the same image, unsigned.
            var plain = Reg.Repo("export-no-referrers-plain");
            Reg.PushOnce(_bed.Image, Registry, plain, "v1");
            var plainDir = _temp.File("plain");
            await Exporter(client).ExportAsync(ImageReference.Parse($"{Registry.HostPort}/{plain}:v1"), plainDir, new ImageExportOptions { Format = ImageExportFormat.OciLayout });
            Assert.Equal(File.ReadAllText(Path.Combine(plainDir, "index.json")).Replace(plain, repository), File.ReadAllText(Path.Combine(dir, "index.json")));
        }

        [Fact]
        public async Task Export_DockerArchive_IncludeReferrers_IsRefused_BeforeAnythingIsWritten()
        {
            var client = Reg.Client(Registry);
            var image = ImageReference.Parse($"{Registry.HostPort}/{Reg.Repo("export-referrers-docker")}:v1");
            var path = _temp.File("app.tar");

            await Assert.ThrowsAsync<ArgumentException>(() => Exporter(client).ExportAsync(image, path, new ImageExportOptions { IncludeReferrers = true }));

            Assert.False(File.Exists(path));
            Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
        }

        [Fact]
        public async Task Export_AReferrerThatFailsToDownload_FailsTheExport_AndLeavesNothing()
        {
            var client = Reg.Client(Registry);
            var repository = Reg.Repo("export-referrers-fail");
            var (_, _, sbom, _, _) = await SignedImageAsync(client, repository);
            var sbomManifest = (Manifests.ImageManifest)await client.Manifests.GetAsync(repository, sbom.Digest.ToString());
            var payload = sbomManifest.Layers[0].Digest.ToString();
            using var proxy = FaultProxy.Start(Registry);
            var rule = FaultRule.Status(404, "GET", "/blobs/" + payload).Always();
            proxy.AddRule(rule);
            var proxied = HandWritten.Client(proxy.HostPort);
            var image = ImageReference.Parse($"{proxy.HostPort}/{repository}:v1");

            foreach (var path in new[] { _temp.File("layout"), _temp.File("layout.tar") })
            {
                await Assert.ThrowsAnyAsync<Errors.RegistryException>(() =>
                    Exporter(proxied).ExportAsync(image, path, new ImageExportOptions { Format = ImageExportFormat.OciLayout, IncludeReferrers = true }));
            }
            // Neither the layout nor its temporary folder or file is left (the rest are the payloads pushed above).
            Assert.DoesNotContain(Directory.GetFileSystemEntries(_temp.Path), e => Path.GetFileName(e).Contains("layout", StringComparison.Ordinal));
            Assert.True(rule.Applied > 0);
        }
    }
}
