using System;
using System.IO;
using System.Threading.Tasks;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// A slow link is not a dead one: the response timeout counts silence, so an upload that takes longer than the timeout
    /// to send, but keeps moving, succeeds (a registry that answers nothing still times out: see the stall tests in FaultTests).
    /// </summary>
    [Collection("registries")]
    public sealed class SlowLinkTests
    {
        private readonly TestBedFixture _bed;

        public SlowLinkTests(TestBedFixture bed) => _bed = bed;

        private static RegistryClient Client(FaultProxy proxy, TimeSpan responseTimeout)
        {
            var options = new RegistryClientOptions { CredentialStore = null, ResponseTimeout = responseTimeout };
            options.Retry.MaxAttempts = 1;
            return new RegistryClient(RegistryEndpoint.Parse(proxy.HostPort), options);
        }

        [Fact]
        public async Task A_monolithic_upload_longer_than_the_response_timeout_succeeds_while_it_moves()
        {
            using var proxy = FaultProxy.Start(_bed.Anonymous);
            // 40 MiB at 2 MiB/s take about 20 s to send, three times the 6 s timeout; the socket buffers that absorb the end of
            // the body (a few MiB on loopback) drain well within it.
            proxy.BandwidthLimit = 2 * 1024 * 1024;
            var client = Client(proxy, TimeSpan.FromSeconds(6));
            var data = Reg.RandomBytes(40 * 1024 * 1024, 11);
            var digest = Digest.Compute(data);
            var repo = Reg.Repo("slow-upload");

            var started = DateTime.UtcNow;
            var result = await client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { Digest = digest, Monolithic = true, SkipExistenceCheck = true });

            Assert.True(DateTime.UtcNow - started > TimeSpan.FromSeconds(12), "the link was not slow enough to prove anything");
            Assert.Equal(BlobUploadOutcome.Uploaded, result.Outcome);
            using var back = new MemoryStream();
            await Reg.Client(_bed.Anonymous).Blobs.DownloadAsync(repo, digest, back, data.Length);
            Assert.Equal(data, back.ToArray());
        }
    }
}
