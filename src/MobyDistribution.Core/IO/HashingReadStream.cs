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
        private DigestHasher? _hasher;
        private Digest? _result;

        /// <param name="inner">The stream read.</param>
        /// <param name="algorithm">The digest algorithm.</param>
        /// <param name="progress">Receives the bytes read so far.</param>
        /// <param name="hash">False to only count, when the inner stream verifies the digest itself (no second pass of SHA-256).</param>
        public HashingReadStream(Stream inner, string algorithm, IProgress<long>? progress, bool hash = true)
        {
            _inner = inner;
            _algorithm = algorithm;
            _progress = progress;
            _hasher = hash ? new DigestHasher(algorithm) : null;
        }

        /// <summary>Bytes read so far.</summary>
        public long BytesRead { get; private set; }

        /// <summary>Starts hashing again (after the inner stream was rewound for a resend).</summary>
        public void Reset()
        {
            if (_hasher != null)
            {
                _hasher.Dispose();
                _hasher = new DigestHasher(_algorithm);
            }
            _result = null;
            BytesRead = 0;
            _progress?.Report(0);
        }

        /// <summary>False when the stream only counts (the inner stream verifies the digest itself).</summary>
        public bool Hashes => _hasher != null || _result != null;

        /// <summary>The digest of what was read (computed once). Not available when the stream only counts.</summary>
        public Digest Finish()
        {
            if (_result == null)
            {
                if (_hasher == null) throw new InvalidOperationException("This stream counts without hashing.");
                _result = _hasher.Finish();
                _hasher.Dispose();
                _hasher = null;
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
            _hasher?.Append(buffer, offset, n);
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
