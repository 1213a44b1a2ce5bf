using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.IO
{
    /// <summary>
    /// The base of the forward-only, read-only wrappers the formats and operations pass blobs through: everything but
    /// reading is refused. A subclass supplies <see cref="ReadAsync(byte[], int, int, CancellationToken)"/>.
    /// </summary>
    internal abstract class ReadOnlyStream : Stream
    {
        public abstract override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Reads through to a stream it does not own: disposing the wrapper leaves the inner stream open.</summary>
    internal sealed class NonClosingStream : ReadOnlyStream
    {
        private readonly Stream _inner;

        public NonClosingStream(Stream inner) => _inner = inner;

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
    }
}
