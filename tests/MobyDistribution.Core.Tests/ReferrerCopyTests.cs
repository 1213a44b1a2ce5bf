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
    }
}
