using System;
using System.IO;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.IO
{
    /// <summary>
    /// A blob's body as a stream: hashes and counts what passes, never reads past the expected size, and at the end
    /// throws <see cref="DigestMismatchException"/> when size or digest differ, so a consumer (an upload) fails
    /// before it can commit bad content.
    /// </summary>
    internal sealed class VerifyingReadStream : Stream
    {
        private readonly Stream _inner;
        private readonly IDisposable? _owner;
        private readonly Digest _expected;
        private readonly long? _expectedSize;
        private readonly string _what;
        private readonly DigestHasher _hasher;
        private long _read;
        private bool _verified;
        private StallTimer? _stall;

        public VerifyingReadStream(Stream inner, IDisposable? owner, Digest expected, long? expectedSize, string what)
        {
            _inner = inner;
            _owner = owner;
            _expected = expected;
            _expectedSize = expectedSize;
            _what = what;
            _hasher = new DigestHasher(expected.Algorithm);
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

        /// <summary>How long one read may wait for data before it fails with <see cref="TimeoutException"/> (a stalled source counts as dropped).</summary>
        public TimeSpan? StallTimeout
        {
            get => _stall?.Timeout;
            set
            {
                _stall?.Dispose();
                _stall = value.HasValue ? new StallTimer(value.Value) : null;
            }
        }

        /// <summary>The digest this stream checks its content against.</summary>
        public Digest Expected => _expected;

        /// <summary>
        /// True when reading this stream to its end checks the content against <paramref name="digest"/> (and fails before the
        /// end otherwise), so a consumer need not hash the same bytes a second time.
        /// </summary>
        public bool Verifies(Digest digest) => _expected == digest;

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            if (_verified) return 0;
            if (_expectedSize.HasValue)
            {
                // Ask for one byte more than is left, so that an over-long body is noticed without reading it all.
                long left = _expectedSize.Value - _read;
                count = (int)Math.Min(count, left + 1);
            }
            int n = count == 0 ? 0 : await ReadInnerAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            if (n > 0)
            {
                if (_expectedSize.HasValue && _read + n > _expectedSize.Value)
                    throw new DigestMismatchException($"Blob {_what} is longer than the {_expectedSize} bytes its descriptor says.", _expected, null);
                _hasher.Append(buffer, offset, n);
                _read += n;
                return n;
            }
            Verify();
            return 0;
        }

        private async Task<int> ReadInnerAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            var stall = _stall;
            if (stall == null) return await _inner.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            try
            {
                return await stall.ReadAsync(_inner, buffer, offset, count, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"Blob {_what}: no data for {stall.Timeout.TotalSeconds:0.#} s after {_read} bytes.", e);
            }
        }

        private void Verify()
        {
            if (_verified) return;
            if (_expectedSize.HasValue && _read != _expectedSize.Value)
                throw new DigestMismatchException($"Blob {_what} ended after {_read} bytes; its descriptor says {_expectedSize}.", _expected, null);
            var actual = _hasher.Finish();
            if (actual != _expected)
                throw new DigestMismatchException($"Blob {_what} does not match its digest: the bytes hash to {actual}.", _expected, actual);
            _verified = true;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _expectedSize ?? throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hasher.Dispose();
                _stall?.Dispose();
                _inner.Dispose();
                _owner?.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
