using System;
using System.IO;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.IO;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>The streaming pieces the transfers are built on: the atomic file with background flushes, the stall watchdog. They write ~100 MiB to disk and wait on real timers, so they stay out of the fast unit tier.</summary>
    public sealed class StreamingIoTests : IDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "moby-io-" + Guid.NewGuid().ToString("N").Substring(0, 12));

        public StreamingIoTests() => Directory.CreateDirectory(_dir);

        public void Dispose()
        {
            try { Directory.Delete(_dir, recursive: true); }
            catch (IOException) { }
        }

        private static byte[] Pattern(int length, int seed)
        {
            var bytes = new byte[length];
            new Random(seed).NextBytes(bytes);
            return bytes;
        }

        [Fact]
        public async Task AtomicFile_written_past_several_background_flushes_commits_exactly_what_was_written_including_patched_bytes()
        {
            var path = Path.Combine(_dir, "big.bin");
            var piece = Pattern(1024 * 1024 + 17, 1);
            int pieces = (int)(AtomicFile.BackgroundFlushBytes * 3 / piece.Length) + 2;
            using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var file = AtomicFile.Create(path, overwrite: false))
            {
                for (int i = 0; i < pieces; i++)
                {
                    await file.Stream.WriteAsync(piece, 0, piece.Length);
                    expected.AppendData(piece);
                }
                // Like a tar header patched after its data was streamed: seek back, overwrite, come back.
                long end = file.Stream.Position;
                file.Stream.Position = 5;
                await file.Stream.WriteAsync(new byte[] { 1, 2, 3 }, 0, 3);
                file.Stream.Position = end;
                Assert.Equal((long)piece.Length * pieces, file.Stream.Length);
                Assert.False(File.Exists(path));
                file.Commit();
            }

            var written = File.ReadAllBytes(path);
            Assert.Equal((long)piece.Length * pieces, written.Length);
            Assert.Equal(new byte[] { 1, 2, 3 }, written.AsSpan(5, 3).ToArray());
            written[5] = piece[5]; written[6] = piece[6]; written[7] = piece[7];
            Assert.Equal(expected.GetHashAndReset(), SHA256.HashData(written));
            Assert.Single(Directory.GetFiles(_dir)); // no temporary file left beside it
        }

        [Fact]
        public async Task AtomicFile_disposed_without_commit_after_background_flushes_leaves_nothing()
        {
            var path = Path.Combine(_dir, "abandoned.bin");
            var piece = Pattern(4 * 1024 * 1024, 2);
            using (var file = AtomicFile.Create(path, overwrite: false))
            {
                for (long written = 0; written < AtomicFile.BackgroundFlushBytes * 2 + 1; written += piece.Length)
                    await file.Stream.WriteAsync(piece, 0, piece.Length);
            }
            Assert.Empty(Directory.GetFiles(_dir));
        }

        [Fact]
        public async Task StallTimer_fires_only_while_a_read_waits_and_not_between_reads()
        {
            using var stall = new StallTimer(TimeSpan.FromMilliseconds(150));
            using var outer = new CancellationTokenSource();

            // Between reads (the consumer busy) nothing fires, however long it takes.
            var token = stall.Arm(outer.Token);
            stall.Disarm();
            await Task.Delay(400);
            Assert.False(token.IsCancellationRequested);

            // The same source is reused while nothing fired; a read that waits too long is cancelled.
            var again = stall.Arm(outer.Token);
            Assert.Equal(token, again);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.Delay(5000, again));
            stall.Disarm();

            // After it fired, a fresh source; the caller's own cancellation still reaches the read.
            var fresh = stall.Arm(outer.Token);
            Assert.NotEqual(again, fresh);
            Assert.False(fresh.IsCancellationRequested);
            outer.Cancel();
            Assert.True(fresh.IsCancellationRequested);
        }
    }
}
