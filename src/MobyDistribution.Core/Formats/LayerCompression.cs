using System;
using System.IO;
using System.IO.Compression;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

using MobyDistribution.IO;

namespace MobyDistribution.Formats
{
    /// <summary>How a layer blob is compressed.</summary>
    public enum LayerCompressionKind
    {
        /// <summary>A plain tar.</summary>
        None,
        Gzip,
        Zstd,
    }

    /// <summary>
    /// Compression of layer blobs: recognizing it, undoing it (gzip with the runtime's zlib, zstd with SharpCompress's decoder),
    /// and gzip-compressing deterministically.
    /// </summary>
    public static class LayerCompression
    {
        /// <summary>The fixed gzip header written by <see cref="CreateGzipStream"/>: no name, no time stamp, XFL 0, OS 255 (unknown).</summary>
        private static readonly byte[] FixedHeaderTail = { 0, 0, 0, 0, 0, 0xFF };

        /// <summary>The kind a layer media type names; null for media types that are not layers this client knows.</summary>
        public static LayerCompressionKind? FromMediaType(string? mediaType)
        {
            if (mediaType == null) return null;
            if (MediaTypes.IsGzipLayer(mediaType)) return LayerCompressionKind.Gzip;
            if (MediaTypes.IsZstdLayer(mediaType)) return LayerCompressionKind.Zstd;
            if (mediaType == MediaTypes.OciLayerTar || mediaType == "application/vnd.oci.image.layer.nondistributable.v1.tar"
                || mediaType == "application/vnd.docker.image.rootfs.diff.tar") return LayerCompressionKind.None;
            return null;
        }

        /// <summary>The kind of compression from a blob's first bytes (gzip 1f 8b, zstd 28 b5 2f fd); None otherwise.</summary>
        public static LayerCompressionKind Detect(byte[] head, int count)
        {
            if (count >= 2 && head[0] == 0x1F && head[1] == 0x8B) return LayerCompressionKind.Gzip;
            if (count >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD) return LayerCompressionKind.Zstd;
            return LayerCompressionKind.None;
        }

        /// <summary>Reads up to 4 bytes of <paramref name="stream"/> to detect its compression and returns a stream that still starts at its beginning.</summary>
        public static async Task<(LayerCompressionKind Kind, Stream Stream)> DetectAsync(Stream stream, CancellationToken cancellationToken = default)
        {
            var head = new byte[4];
            int count = 0;
            while (count < head.Length)
            {
                int n = await stream.ReadAsync(head, count, head.Length - count, cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                count += n;
            }
            return (Detect(head, count), new PrefixedStream(head, count, stream));
        }

        /// <summary>A stream of the uncompressed bytes of <paramref name="compressed"/>, which it owns.</summary>
        public static Stream Decompress(Stream compressed, LayerCompressionKind kind)
        {
            switch (kind)
            {
                case LayerCompressionKind.None: return compressed;
                case LayerCompressionKind.Gzip: return new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: false);
                case LayerCompressionKind.Zstd: return new SharpCompress.Compressors.ZStandard.DecompressionStream(compressed);
                default: throw new ArgumentOutOfRangeException(nameof(kind));
            }
        }

        /// <summary>
        /// A gzip compressor writing into <paramref name="output"/> (left open) with a fixed level (zlib 6, <see cref="CompressionLevel.Optimal"/>)
        /// and a fixed header (no name, mtime 0, OS "unknown", as Go's gzip writes it), so the same input gives the same bytes on every
        /// run and OS of a given runtime. Deflate output itself comes from the runtime's zlib: different runtimes (.NET Framework,
        /// .NET 8, .NET 9+ with zlib-ng) may compress differently.
        /// </summary>
        public static Stream CreateGzipStream(Stream output) =>
            new GZipStream(new GzipHeaderNormalizer(output), CompressionLevel.Optimal, leaveOpen: false);

        /// <summary>Rewrites MTIME, XFL and OS of the gzip header passing through, and leaves the inner stream open.</summary>
        private sealed class GzipHeaderNormalizer : Stream
        {
            private readonly Stream _inner;
            private long _written;

            public GzipHeaderNormalizer(Stream inner) => _inner = inner;

            public override void Write(byte[] buffer, int offset, int count)
            {
                Fix(buffer, offset, count, out var copy);
                _inner.Write(copy ?? buffer, copy != null ? 0 : offset, count);
                _written += count;
            }

            public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                Fix(buffer, offset, count, out var copy);
                await _inner.WriteAsync(copy ?? buffer, copy != null ? 0 : offset, count, cancellationToken).ConfigureAwait(false);
                _written += count;
            }

            private void Fix(byte[] buffer, int offset, int count, out byte[]? copy)
            {
                copy = null;
                if (_written >= 10) return;
                copy = new byte[count];
                Buffer.BlockCopy(buffer, offset, copy, 0, count);
                for (int i = 0; i < count && _written + i < 10; i++)
                {
                    long at = _written + i;
                    if (at == 3 && copy[i] != 0)
                        throw new RegistryException(RegistryErrorKind.Protocol, "The runtime's gzip writer set header flags; the compressed layer would not be reproducible.");
                    if (at >= 4) copy[i] = FixedHeaderTail[at - 4];
                }
            }

            public override void Flush() => _inner.Flush();
            public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);
            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => _written; set => throw new NotSupportedException(); }
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
        }

        /// <summary>Gives back bytes already read, then the rest of the inner stream (which it owns).</summary>
        private sealed class PrefixedStream : ReadOnlyStream
        {
            private readonly byte[] _prefix;
            private readonly int _count;
            private readonly Stream _inner;
            private int _used;

            public PrefixedStream(byte[] prefix, int count, Stream inner)
            {
                _prefix = prefix;
                _count = count;
                _inner = inner;
            }

            public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                if (_used < _count)
                {
                    int n = Math.Min(count, _count - _used);
                    Buffer.BlockCopy(_prefix, _used, buffer, offset, n);
                    _used += n;
                    return n;
                }
                return await _inner.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            }


            protected override void Dispose(bool disposing)
            {
                if (disposing) _inner.Dispose();
                base.Dispose(disposing);
            }
        }
    }

    /// <summary>A write-only sink that hashes and counts what passes, forwarding it to an optional inner stream (left open).</summary>
    internal sealed class HashingWriteStream : Stream
    {
        private readonly Stream? _inner;
        private readonly DigestHasher _hasher = new DigestHasher("sha256");
        private readonly IProgress<long>? _progress;
        private Digest? _digest;

        public HashingWriteStream(Stream? inner, IProgress<long>? progress = null)
        {
            _inner = inner;
            _progress = progress;
        }

        public long BytesWritten { get; private set; }

        public Digest Finish() => _digest ??= _hasher.Finish();

        public override void Write(byte[] buffer, int offset, int count)
        {
            _hasher.Append(buffer, offset, count);
            _inner?.Write(buffer, offset, count);
            BytesWritten += count;
            _progress?.Report(BytesWritten);
        }

        public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            _hasher.Append(buffer, offset, count);
            if (_inner != null) await _inner.WriteAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            BytesWritten += count;
            _progress?.Report(BytesWritten);
        }

        public override void Flush() => _inner?.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => _inner?.FlushAsync(cancellationToken) ?? Task.CompletedTask;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => BytesWritten;
        public override long Position { get => BytesWritten; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _hasher.Dispose();
            base.Dispose(disposing);
        }
    }
}

namespace MobyDistribution.Formats
{
    /// <summary>Opening layers uncompressed, and compressing them for reading.</summary>
    public static class LayerStreams
    {
        private const int DecompressorInputBuffer = 256 * 1024;

        /// <summary>
        /// The uncompressed content of a layer blob (gzip, zstd or plain tar, recognized by its first bytes). The returned stream
        /// owns <paramref name="blob"/>; when the uncompressed content ends it reads <paramref name="blob"/> to its end, so that a
        /// verifying source (a registry blob stream) checks its digest and size before the last byte is handed on.
        /// </summary>
        public static async Task<Stream> OpenUncompressedAsync(Stream blob, CancellationToken cancellationToken = default)
        {
            var (kind, stream) = await LayerCompression.DetectAsync(blob, cancellationToken).ConfigureAwait(false);
            if (kind == LayerCompressionKind.None) return stream;
            // The decompressors pull their input 8 KiB at a time; a buffer in front turns ~10^5 reads per gigabyte through
            // the verifying, counting and stall-watching streams of a registry blob into a few thousand.
            return new DrainingStream(LayerCompression.Decompress(new BufferedStream(stream, DecompressorInputBuffer), kind), stream);
        }

        /// <summary>
        /// A readable stream of the deterministic gzip compression (<see cref="LayerCompression.CreateGzipStream"/>) of
        /// <paramref name="source"/>, which it owns. The source is fed to the compressor in fixed 64 KiB pieces, so two reads of
        /// the same source give the same bytes.
        /// </summary>
        public static Stream CompressForReading(Stream source) => new CompressingReadStream(source);

        private sealed class DrainingStream : ReadOnlyStream
        {
            private readonly Stream _content;
            private readonly Stream _source;
            private bool _drained;

            public DrainingStream(Stream content, Stream source)
            {
                _content = content;
                _source = source;
            }

            public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                if (_drained) return 0;
                int n = await _content.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
                if (n > 0 || count == 0) return n;
                var scratch = new byte[81920];
                while (await _source.ReadAsync(scratch, 0, scratch.Length, cancellationToken).ConfigureAwait(false) > 0) { }
                _drained = true;
                return 0;
            }


            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    _content.Dispose();
                    _source.Dispose();
                }
                base.Dispose(disposing);
            }
        }

        private sealed class CompressingReadStream : ReadOnlyStream
        {
            private const int Piece = 64 * 1024;
            private readonly Stream _source;
            private readonly MemoryStream _pending = new MemoryStream();
            private readonly Stream _gzip;
            private readonly byte[] _input = new byte[Piece];
            private int _pendingRead;
            private bool _done;

            public CompressingReadStream(Stream source)
            {
                _source = source;
                _gzip = LayerCompression.CreateGzipStream(_pending);
            }

            public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                while (_pending.Length - _pendingRead == 0)
                {
                    if (_done) return 0;
                    _pending.SetLength(0);
                    _pendingRead = 0;
                    int filled = 0;
                    while (filled < Piece)
                    {
                        int n = await _source.ReadAsync(_input, filled, Piece - filled, cancellationToken).ConfigureAwait(false);
                        if (n == 0) break;
                        filled += n;
                    }
                    if (filled > 0) _gzip.Write(_input, 0, filled);
                    if (filled < Piece)
                    {
                        _gzip.Dispose();
                        _done = true;
                    }
                }
                int available = (int)(_pending.Length - _pendingRead);
                int take = Math.Min(available, count);
                Buffer.BlockCopy(_pending.GetBuffer(), _pendingRead, buffer, offset, take);
                _pendingRead += take;
                return take;
            }


            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    if (!_done) _gzip.Dispose();
                    _source.Dispose();
                }
                base.Dispose(disposing);
            }
        }
    }
}
