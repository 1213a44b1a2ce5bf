using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using MobyDistribution.Operations;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Copies that carry referrers: buildx attestations of a platform subset; checked with skopeo.</summary>
    [Collection("registries")]
    public sealed class ReferrerCopyTests
    {
        private readonly TestBedFixture _bed;

        public ReferrerCopyTests(TestBedFixture bed) => _bed = bed;

        private static string Entry(string digest, int size, string platform, string? attests = null) =>
            HandWritten.Descriptor(MediaTypes.OciManifest, digest, size, extra:
                $"\"platform\":{{\"architecture\":\"{platform.Split('/')[1]}\",\"os\":\"{platform.Split('/')[0]}\"}}" +
                (attests == null ? "" : $",\"annotations\":{{\"vnd.docker.reference.type\":\"attestation-manifest\",\"vnd.docker.reference.digest\":\"{attests}\"}}"));

        [Fact]
        public async Task PlatformSubset_KeepsTheChosenImagesAttestation_AndDropsTheOthers()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("copy-attest");
            var url = registry.BaseUrl;
            var amd64 = await HandWritten.PushImageAsync(url, repo, 21);
            var arm64 = await HandWritten.PushImageAsync(url, repo, 22);
            var amd64Att = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.example.att", MediaTypes.OciManifest, amd64.Digest, amd64.Size, "amd64-att", subjectFieldOverride: "");
            var arm64Att = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.example.att", MediaTypes.OciManifest, arm64.Digest, arm64.Size, "arm64-att", subjectFieldOverride: "");
            await HandWritten.PushIndexAsync(url, repo, "multi",
                Entry(amd64.Digest, amd64.Size, "linux/amd64"), Entry(arm64.Digest, arm64.Size, "linux/arm64"),
                Entry(amd64Att.Digest, amd64Att.Size, "unknown/unknown", amd64.Digest), Entry(arm64Att.Digest, arm64Att.Size, "unknown/unknown", arm64.Digest));

            var copier = new ImageCopier(_ => Reg.Client(registry));
            var destination = Reg.Repo("copy-attest-dst");
            await copier.CopyAsync(ImageReference.Parse($"{registry.HostPort}/{repo}:multi"), ImageReference.Parse($"{registry.HostPort}/{destination}:amd64"),
                new ImageCopyOptions { Platforms = new[] { Platform.Parse("linux/amd64") } });

            using var doc = JsonDocument.Parse(Skopeo.InspectRaw($"docker://{registry.HostPort}/{destination}:amd64"));
            var digests = doc.RootElement.GetProperty("manifests").EnumerateArray().Select(e => e.GetProperty("digest").GetString()).ToList();
            Assert.Equal(new[] { amd64.Digest, amd64Att.Digest }, digests);
            // The attestation manifest itself is there, byte for byte.
            Assert.Equal(amd64Att.Digest, Skopeo.Digest($"docker://{registry.HostPort}/{destination}@{amd64Att.Digest}"));
            var found = await new ReferrerDiscovery(_ => Reg.Client(registry)).FindAsync(ImageReference.Parse($"{registry.HostPort}/{destination}:amd64"));
            Assert.Equal(amd64.Digest, Assert.Single(found.Referrers).Subject.Digest.ToString());
        }
        private static string[] IndexDigests(string reference)
        {
            using var doc = JsonDocument.Parse(Skopeo.InspectRaw(reference));
            return doc.RootElement.GetProperty("manifests").EnumerateArray().Select(e => e.GetProperty("digest").GetString()!).OrderBy(d => d).ToArray();
        }

        [Fact]
        public async Task IncludeReferrers_CopiesTheGraph_ForTheIndexAndItsImages_AndKeepsTheTagSchemaAtTheDestination()
        {
            var registry = _bed.Anonymous;
            var url = registry.BaseUrl;
            var repo = Reg.Repo("copy-ref");
            var amd64 = await HandWritten.PushImageAsync(url, repo, 31);
            var arm64 = await HandWritten.PushImageAsync(url, repo, 32);
            var indexJson = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[" +
                Entry(amd64.Digest, amd64.Size, "linux/amd64") + "," + Entry(arm64.Digest, arm64.Size, "linux/arm64") + "]}";
            var index = await HandWritten.PutManifestAsync(url, repo, indexJson, "v1");
            // A signature on the index, one on the amd64 image, an SBOM on the amd64 image signed in turn, a cosign .sig on the index.
            var indexSig = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.example.signature", MediaTypes.OciIndex, index.Digest, index.Size, "index-sig");
            var amdSig = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.example.signature", MediaTypes.OciManifest, amd64.Digest, amd64.Size, "amd-sig");
            var sbom = await HandWritten.PushArtifactAsync(url, repo, "application/spdx+json", MediaTypes.OciManifest, amd64.Digest, amd64.Size, "sbom");
            var sbomSig = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.example.signature", MediaTypes.OciManifest, sbom.Digest, sbom.Size, "sbom-sig");
            var cosign = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.dev.cosign.artifact.sig.v1+json", MediaTypes.OciManifest, index.Digest, index.Size,
                "cosign", tag: HandWritten.TagSchemaTag(index.Digest) + ".sig", subjectFieldOverride: "");
            await HandWritten.PushIndexAsync(url, repo, HandWritten.TagSchemaTag(index.Digest), HandWritten.Descriptor(MediaTypes.OciManifest, indexSig.Digest, indexSig.Size, "application/vnd.example.signature"));
            await HandWritten.PushIndexAsync(url, repo, HandWritten.TagSchemaTag(amd64.Digest),
                HandWritten.Descriptor(MediaTypes.OciManifest, amdSig.Digest, amdSig.Size, "application/vnd.example.signature"),
                HandWritten.Descriptor(MediaTypes.OciManifest, sbom.Digest, sbom.Size, "application/spdx+json"));
            await HandWritten.PushIndexAsync(url, repo, HandWritten.TagSchemaTag(sbom.Digest), HandWritten.Descriptor(MediaTypes.OciManifest, sbomSig.Digest, sbomSig.Size, "application/vnd.example.signature"));

            var clients = (System.Func<ImageReference, Registry.RegistryClient>)(_ => Reg.Client(registry));
            var copier = new ImageCopier(clients);
            var destination = Reg.Repo("copy-ref-dst");
            var plan = await copier.PlanAsync(ImageReference.Parse($"{registry.HostPort}/{repo}:v1"), ImageReference.Parse($"{registry.HostPort}/{destination}"));
            var referrers = new ReferrerCopier(clients);
            var steps = await referrers.PlanAsync(plan);
            Assert.Equal(new[] { indexSig.Digest, amdSig.Digest, sbom.Digest, sbomSig.Digest, cosign.Digest }.OrderBy(d => d), steps.Select(s => s.Referrer.Digest.ToString()).OrderBy(d => d));
            await copier.ExecuteAsync(plan);
            var copied = await referrers.CopyAsync(steps);
            Assert.Equal(5, copied.Count);

            // Every referrer at the destination under its own digest, read by skopeo; the cosign tag kept its name.
            foreach (var d in new[] { indexSig.Digest, amdSig.Digest, sbom.Digest, sbomSig.Digest, cosign.Digest })
                Assert.Equal(d, Skopeo.Digest($"docker://{registry.HostPort}/{destination}@{d}"));
            Assert.Equal(cosign.Digest, Skopeo.Digest($"docker://{registry.HostPort}/{destination}:{HandWritten.TagSchemaTag(index.Digest)}.sig"));
            // The destination has no API either: tag-schema indexes that list them.
            Assert.Equal(new[] { indexSig.Digest }, IndexDigests($"docker://{registry.HostPort}/{destination}:{HandWritten.TagSchemaTag(index.Digest)}"));
            Assert.Equal(new[] { amdSig.Digest, sbom.Digest }.OrderBy(d => d), IndexDigests($"docker://{registry.HostPort}/{destination}:{HandWritten.TagSchemaTag(amd64.Digest)}"));
            Assert.Equal(new[] { sbomSig.Digest }, IndexDigests($"docker://{registry.HostPort}/{destination}:{HandWritten.TagSchemaTag(sbom.Digest)}"));
        }

        [Fact]
        public async Task IncludeReferrers_FromARegistryWithTheApi_BuildsTheTagSchemaWhereThereIsNone()
        {
            var registry = _bed.Anonymous;
            using var proxy = FaultProxy.StartWithReferrersApi(registry);
            var url = registry.BaseUrl;
            var repo = Reg.Repo("copy-api");
            var image = await HandWritten.PushImageAsync(url, repo, 41, "v1");
            // Pushed by digest, no tag-schema index: only the API knows them.
            var sbom = await HandWritten.PushArtifactAsync(url, repo, "application/spdx+json", MediaTypes.OciManifest, image.Digest, image.Size, "sbom");
            var sig = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.example.signature", MediaTypes.OciManifest, sbom.Digest, sbom.Size, "sig");

            // The proxy and the registry are two registries as far as the client knows: a copy between registries.
            var clients = (System.Func<ImageReference, Registry.RegistryClient>)(r => r.Registry == proxy.HostPort ? HandWritten.Client(proxy.HostPort) : Reg.Client(registry));
            var copier = new ImageCopier(clients);
            var destination = Reg.Repo("copy-api-dst");
            var plan = await copier.PlanAsync(ImageReference.Parse($"{proxy.HostPort}/{repo}:v1"), ImageReference.Parse($"{registry.HostPort}/{destination}:v1"));
            var referrers = new ReferrerCopier(clients);
            var steps = await referrers.PlanAsync(plan);
            Assert.All(steps, s => Assert.Equal(ReferrerKind.Referrer, s.Referrer.Kind));
            await copier.ExecuteAsync(plan);
            await referrers.CopyAsync(steps);

            Assert.Equal(new[] { sbom.Digest }, IndexDigests($"docker://{registry.HostPort}/{destination}:{HandWritten.TagSchemaTag(image.Digest)}"));
            Assert.Equal(new[] { sig.Digest }, IndexDigests($"docker://{registry.HostPort}/{destination}:{HandWritten.TagSchemaTag(sbom.Digest)}"));
            var found = await new ReferrerDiscovery(clients).FindAsync(ImageReference.Parse($"{registry.HostPort}/{destination}:v1"), new ReferrerQuery { Recurse = true });
            Assert.Equal(new[] { sbom.Digest, sig.Digest }, found.Referrers.Select(r => r.Digest.ToString()));
        }
    }
}
