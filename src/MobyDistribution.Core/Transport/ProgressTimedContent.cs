using System;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// Wraps a request body so the response timeout measures silence, not size: every piece written to the connection
    /// calls <c>progress</c> (which re-arms the timeout), and so does the end of the body, from which the registry has the
    /// full timeout to answer. A multi-gigabyte upload on a slow link therefore never times out while it is moving.
    /// </summary>
    internal sealed class ProgressTimedContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly Action _progress;

        public ProgressTimedContent(HttpContent inner, Action progress)
        {
            _inner = inner;
            _progress = progress;
            foreach (var header in inner.Headers) Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var relay = new NotifyingWriteStream(stream, _progress);
            await _inner.CopyToAsync(relay).ConfigureAwait(false);
            await relay.FlushAsync().ConfigureAwait(false);
            _progress();
        }

        protected override bool TryComputeLength(out long length)
        {
            var known = _inner.Headers.ContentLength;
            length = known ?? 0;
            return known.HasValue;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }

        private sealed class NotifyingWriteStream : Stream
        {
            private readonly Stream _inner;
            private readonly Action _progress;

            public NotifyingWriteStream(Stream inner, Action progress)
            {
                _inner = inner;
                _progress = progress;
            }

            public override void Write(byte[] buffer, int offset, int count)
            {
                _inner.Write(buffer, offset, count);
                _progress();
            }

            public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                await _inner.WriteAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
                _progress();
            }

            public override void Flush() => _inner.Flush();
            public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);
            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
        }
    }
}
