using System;
using System.IO;
using System.Threading.Tasks;
using MobyDistribution.IO;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>The hashing read stream the transfers pass bytes through: counting only, or counting and hashing.</summary>
    public sealed class HashingReadStreamTests
    {
        private static byte[] Pattern(int length, int seed)
        {
            var bytes = new byte[length];
            new Random(seed).NextBytes(bytes);
            return bytes;
        }

        [Fact]
        public async Task HashingReadStream_that_only_counts_reports_bytes_and_has_no_digest()
        {
            var data = Pattern(300_000, 3);
            long reported = 0;
            using var counting = new HashingReadStream(new MemoryStream(data), "sha256", new ProgressSink(n => reported = n), hash: false);
            var sink = new MemoryStream();
            await counting.CopyToAsync(sink);
            Assert.Equal(data.Length, counting.BytesRead);
            Assert.Equal(data.Length, reported);
            Assert.False(counting.Hashes);
            Assert.Throws<InvalidOperationException>(() => counting.Finish());

            using var hashing = new HashingReadStream(new MemoryStream(data), "sha256", null);
            await hashing.CopyToAsync(Stream.Null);
            Assert.True(hashing.Hashes);
            Assert.Equal(Digest.Compute(data), hashing.Finish());
        }

        private sealed class ProgressSink : IProgress<long>
        {
            private readonly Action<long> _report;

            public ProgressSink(Action<long> report) => _report = report;

            public void Report(long value) => _report(value);
        }
    }
}
