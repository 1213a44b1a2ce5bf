using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.IO
{
    /// <summary>
    /// A read-only pass-through stream that hashes and counts what is read, and reports progress.
    /// Disposing it leaves the inner stream open (it belongs to the caller) and the hash readable.
    /// </summary>
    internal sealed class HashingReadStream : Stream
    {
        private readonly Stream _inner;
        private readonly string _algorithm;
        private readonly IProgress<long>? _progress;
        private DigestHasher _hasher;
        private Digest? _result;

        public HashingReadStream(Stream inner, string algorithm, IProgress<long>? progress)
        {
            _inner = inner;
            _algorithm = algorithm;
            _progress = progress;
            _hasher = new DigestHasher(algorithm);
        }

        /// <summary>Bytes read so far.</summary>
        public long BytesRead { get; private set; }

        /// <summary>Starts hashing again (after the inner stream was rewound for a resend).</summary>
        public void Reset()
        {
            _hasher.Dispose();
            _hasher = new DigestHasher(_algorithm);
            _result = null;
            BytesRead = 0;
            _progress?.Report(0);
        }

        /// <summary>The digest of what was read (computed once).</summary>
        public Digest Finish()
        {
            if (_result == null)
            {
                _result = _hasher.Finish();
                _hasher.Dispose();
            }
            return _result;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = _inner.Read(buffer, offset, count);
            Observe(buffer, offset, n);
            return n;
        }

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            int n = await _inner.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            Observe(buffer, offset, n);
            return n;
        }

        private void Observe(byte[] buffer, int offset, int n)
        {
            if (n <= 0) return;
            _hasher.Append(buffer, offset, n);
            BytesRead += n;
            _progress?.Report(BytesRead);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
