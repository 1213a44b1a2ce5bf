using System;
using System.IO;
using System.Security.Authentication;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.IO;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>
    /// What Windows PowerShell 5.1 (.NET Framework) needs of the read watchdog and the HTTP handler, decided without a
    /// network: a response stream there ignores the token its ReadAsync is given, and TLS 1.2 may be off by default.
    /// </summary>
    public sealed class StallTimerTests
    {
        private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

        [Fact]
        public async Task A_stalled_read_of_a_stream_that_ignores_cancellation_ends_with_TimeoutException_and_closes_it()
        {
            using var body = new DeafStream();
            using var stall = new StallTimer(TimeSpan.FromMilliseconds(100));
            var read = stall.ReadAsync(body, new byte[16], 0, 16, CancellationToken.None);
            var finished = await Task.WhenAny(read, Task.Delay(Guard));
            Assert.Same(read, finished); // without closing the stream the read would wait for ever
            await Assert.ThrowsAsync<TimeoutException>(() => read);
            Assert.True(body.Disposed);
        }

        [Fact]
        public async Task A_cancelled_read_of_such_a_stream_ends_as_cancelled_not_as_a_stall()
        {
            using var body = new DeafStream();
            using var stall = new StallTimer(TimeSpan.FromMinutes(10));
            using var cts = new CancellationTokenSource();
            var read = stall.ReadAsync(body, new byte[16], 0, 16, cts.Token);
            cts.Cancel();
            var finished = await Task.WhenAny(read, Task.Delay(Guard));
            Assert.Same(read, finished);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        }

        [Fact]
        public async Task Reads_that_get_data_keep_the_stream_open_and_reuse_the_timer()
        {
            var data = new byte[100_000];
            new Random(5).NextBytes(data);
            using var body = new MemoryStream(data);
            using var stall = new StallTimer(TimeSpan.FromSeconds(30));
            var copy = new MemoryStream();
            var buffer = new byte[4096];
            int n;
            while ((n = await stall.ReadAsync(body, buffer, 0, buffer.Length, CancellationToken.None)) > 0) copy.Write(buffer, 0, n);
            Assert.Equal(data, copy.ToArray());
            Assert.True(body.CanRead);
        }

        [Fact]
        public async Task VerifyingReadStream_names_the_blob_when_its_source_stalls()
        {
            var digest = Digest.Parse("sha256:" + new string('a', 64));
            using var verifying = new VerifyingReadStream(new DeafStream(), null, digest, 10, "app@" + digest.Short) { StallTimeout = TimeSpan.FromMilliseconds(100) };
            var read = verifying.ReadAsync(new byte[16], 0, 16, CancellationToken.None);
            Assert.Same(read, await Task.WhenAny(read, Task.Delay(Guard)));
            var e = await Assert.ThrowsAsync<TimeoutException>(() => read);
            Assert.Contains("app@", e.Message);
            Assert.Contains("after 0 bytes", e.Message);
        }

        [Theory]
        [InlineData(192, 4, 0, 3072 | 192)]                   // a process allowing TLS 1.0 only, on an old Windows: TLS 1.0 kept, 1.2 added
        [InlineData(48 | 192, 10, 19045, 3072 | 192)]         // SSL 3 is never offered; Windows 10 22H2 has no TLS 1.3 client by default
        [InlineData(0, 10, 22631, 3072 | 12288)]              // SystemDefault on Windows 11: TLS 1.2 and 1.3
        [InlineData(768 | 3072, 10, 20348, 768 | 3072 | 12288)] // Server 2022, a process that enabled TLS 1.1
        public void Framework_handlers_offer_TLS_1_2_and_1_3_where_Windows_has_it(int process, int major, int build, int expected)
        {
            var os = new OperatingSystem(PlatformID.Win32NT, new Version(major, 0, build, 0));
            Assert.Equal((SslProtocols)expected, HttpClientProvider.FrameworkSslProtocols(process, os));
        }

        [Fact]
        public void Mono_on_Linux_is_offered_TLS_1_2_without_1_3()
        {
            var os = new OperatingSystem(PlatformID.Unix, new Version(6, 1, 30000, 0));
            Assert.Equal(SslProtocols.Tls12, HttpClientProvider.FrameworkSslProtocols(0, os));
        }

        /// <summary>Like a .NET Framework response stream: ReadAsync waits for data that never comes and ignores its token; only Dispose ends it.</summary>
        private sealed class DeafStream : Stream
        {
            private readonly TaskCompletionSource<int> _closed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

            public bool Disposed { get; private set; }

            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _closed.Task;

            protected override void Dispose(bool disposing)
            {
                Disposed = true;
                _closed.TrySetException(new ObjectDisposedException(nameof(DeafStream)));
                base.Dispose(disposing);
            }

            public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
            public override bool CanRead => !Disposed;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }
    }
}
