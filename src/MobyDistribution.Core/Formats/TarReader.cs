using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Formats
{
    /// <summary>Limits and checks of a <see cref="TarReader"/>.</summary>
    public sealed class TarReaderOptions
    {
        /// <summary>Refuse entries whose names escape the archive's root (absolute, <c>..</c>, drive letters, backslashes, NUL).</summary>
        public bool RefuseUnsafeNames { get; set; } = true;

        /// <summary>
        /// Refuse symbolic links that point outside the archive (absolute, or climbing out with <c>..</c>). Off for layer
        /// tars, where an absolute target is a path inside the image's own root file system.
        /// </summary>
        public bool RefuseEscapingLinks { get; set; } = true;

        /// <summary>Refuse device nodes, FIFOs, GNU sparse files and unknown entry types.</summary>
        public bool RefuseSpecialEntries { get; set; } = true;

        /// <summary>The largest GNU long name or pax header block accepted.</summary>
        public int MaxMetadataSize { get; set; } = 1024 * 1024;
    }

    /// <summary>
    /// Reads a tar stream entry by entry: ustar (with its name prefix), GNU long names and long link names (<c>L</c>, <c>K</c>),
    /// pax extended headers (<c>path</c>, <c>linkpath</c>, <c>size</c>, <c>mtime</c>, <c>uid</c>, <c>gid</c>, <c>uname</c>,
    /// <c>gname</c>) and base-256 numbers. Header checksums are verified; by default hostile entries are refused with
    /// <see cref="ImageArchiveException"/> (see <see cref="TarReaderOptions"/>). On a seekable stream, skipped data is
    /// seeked over, not read, and each entry's <see cref="TarEntry.DataOffset"/> allows reading it again later.
    /// </summary>
    public sealed class TarReader : IDisposable
    {
        /// <summary>The tar block size.</summary>
        public const int BlockSize = 512;

        private readonly Stream _stream;
        private readonly bool _leaveOpen;
        private readonly TarReaderOptions _options;
        private readonly long _origin;
        private readonly long? _length;
        private readonly byte[] _block = new byte[BlockSize];
        private long _position;
        private long _remaining;
        private long _padding;
        private bool _finished;

        public TarReader(Stream stream, TarReaderOptions? options = null, bool leaveOpen = false)
        {
            _stream = stream ?? throw new ArgumentNullException(nameof(stream));
            if (!stream.CanRead) throw new ArgumentException("The stream cannot be read.", nameof(stream));
            _leaveOpen = leaveOpen;
            _options = options ?? new TarReaderOptions();
            if (stream.CanSeek)
            {
                _origin = stream.Position;
                _length = stream.Length;
            }
        }

        /// <summary>The entry last returned by <see cref="GetNextEntryAsync"/>.</summary>
        public TarEntry? Current { get; private set; }

        /// <summary>Moves to the next entry, skipping what is left of the current one's data; null at the end of the archive.</summary>
        public async Task<TarEntry?> GetNextEntryAsync(CancellationToken cancellationToken = default)
        {
            if (_finished) return null;
            await SkipAsync(_remaining + _padding, cancellationToken).ConfigureAwait(false);
            _remaining = _padding = 0;
            Current = null;

            string? longName = null, longLink = null;
            Dictionary<string, string>? pax = null;
            long headerOffset = -1;
            while (true)
            {
                long blockOffset = _origin + _position;
                if (!await ReadBlockAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (longName != null || longLink != null || pax != null)
                        throw ImageArchiveException.Invalid("The tar archive ends after an extended header, without the entry it describes.");
                    _finished = true;
                    return null;
                }
                if (IsZeroBlock(_block))
                {
                    if (longName != null || longLink != null || pax != null)
                        throw ImageArchiveException.Invalid("The tar archive ends after an extended header, without the entry it describes.");
                    _finished = true;
                    return null;
                }
                if (headerOffset < 0) headerOffset = blockOffset;
                VerifyChecksum(blockOffset);
                char type = (char)_block[156];
                long size = ParseNumber(_block, 124, 12, "size", blockOffset);
                switch (type)
                {
                    case 'L':
                        longName = CString(await ReadMetadataAsync(size, "GNU long name", cancellationToken).ConfigureAwait(false));
                        continue;
                    case 'K':
                        longLink = CString(await ReadMetadataAsync(size, "GNU long link name", cancellationToken).ConfigureAwait(false));
                        continue;
                    case 'x':
                        pax = ParsePax(await ReadMetadataAsync(size, "pax header", cancellationToken).ConfigureAwait(false), pax);
                        continue;
                    case 'g':
                        // Global pax records: nothing in them changes how image archives are read; skipped.
                        await ReadMetadataAsync(size, "global pax header", cancellationToken).ConfigureAwait(false);
                        continue;
                }

                var entry = new TarEntry
                {
                    HeaderOffset = headerOffset,
                    Mode = (int)(ParseNumber(_block, 100, 8, "mode", blockOffset) & 0xFFF),
                    UserId = ParseNumber(_block, 108, 8, "uid", blockOffset),
                    GroupId = ParseNumber(_block, 116, 8, "gid", blockOffset),
                    ModificationTime = ParseNumber(_block, 136, 12, "mtime", blockOffset),
                    UserName = Field(_block, 265, 32),
                    GroupName = Field(_block, 297, 32),
                };
                string name = Field(_block, 0, 100);
                bool posix = _block[257] == (byte)'u' && _block[262] == 0 && Field(_block, 257, 6) == "ustar";
                if (posix)
                {
                    var prefix = Field(_block, 345, 155);
                    if (prefix.Length > 0) name = prefix + "/" + name;
                }
                entry.Name = longName ?? name;
                entry.LinkName = longLink ?? Field(_block, 157, 100);
                entry.Type = type switch
                {
                    '0' or '\0' or '7' => entry.Name.EndsWith("/", StringComparison.Ordinal) && type != '7' ? TarEntryType.Directory : TarEntryType.RegularFile,
                    '1' => TarEntryType.HardLink,
                    '2' => TarEntryType.SymbolicLink,
                    '3' => TarEntryType.CharacterDevice,
                    '4' => TarEntryType.BlockDevice,
                    '5' => TarEntryType.Directory,
                    '6' => TarEntryType.Fifo,
                    _ => TarEntryType.Other,
                };
                if (type == 'S') entry.IsSparse = true;
                if (pax != null) ApplyPax(entry, pax, ref size, blockOffset);
                entry.Size = size;
                entry.DataOffset = _origin + _position;
                if (_length.HasValue && entry.DataOffset + size > _length.Value)
                    throw ImageArchiveException.Invalid($"The tar archive is truncated: entry '{TarPath.Printable(entry.Name)}' needs {size} bytes of data past the end of the file.", entry.Name);
                Check(entry);
                _remaining = size;
                _padding = Padding(size);
                Current = entry;
                return entry;
            }
        }

        /// <summary>
        /// The current entry's data as a stream (read once, sequentially); reading past <see cref="TarEntry.Size"/> gives 0.
        /// Valid until the next call of <see cref="GetNextEntryAsync"/>.
        /// </summary>
        public Stream OpenData()
        {
            if (Current == null) throw new InvalidOperationException("There is no current entry.");
            return new EntryDataStream(this);
        }

        /// <summary>
        /// Opens an entry of a seekable archive file again, by its <see cref="TarEntry.DataOffset"/>: a read-only stream of
        /// exactly <see cref="TarEntry.Size"/> bytes of its own file handle.
        /// </summary>
        public static Stream OpenEntry(string archivePath, TarEntry entry)
        {
            if (entry.DataOffset < 0) throw new ArgumentException("The entry was not read from a seekable archive.", nameof(entry));
            var file = new FileStream(archivePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return new SliceStream(file, entry.DataOffset, entry.Size);
        }

        public void Dispose()
        {
            if (!_leaveOpen) _stream.Dispose();
        }

        private void Check(TarEntry entry)
        {
            if (_options.RefuseSpecialEntries && (entry.IsSparse || entry.Type == TarEntryType.Other || entry.Type == TarEntryType.CharacterDevice
                || entry.Type == TarEntryType.BlockDevice || entry.Type == TarEntryType.Fifo))
                throw ImageArchiveException.Unsafe($"Archive entry '{TarPath.Printable(entry.Name)}' is a {(entry.IsSparse ? "sparse file" : entry.Type.ToString())}, which has no place here.", entry.Name);
            if (_options.RefuseUnsafeNames) TarPath.Check(entry, allowAbsoluteSymbolicLinks: !_options.RefuseEscapingLinks);
        }

        private async Task<byte[]> ReadMetadataAsync(long size, string what, CancellationToken cancellationToken)
        {
            if (size > _options.MaxMetadataSize)
                throw new ImageArchiveException(RegistryErrorKind.LimitExceeded, $"A {what} of {size} bytes exceeds the limit of {_options.MaxMetadataSize}.");
            var data = new byte[size];
            if (await ReadFullAsync(data, 0, (int)size, cancellationToken).ConfigureAwait(false) != size)
                throw ImageArchiveException.Invalid($"The tar archive is truncated inside a {what}.");
            await SkipAsync(Padding(size), cancellationToken).ConfigureAwait(false);
            return data;
        }

        private static Dictionary<string, string> ParsePax(byte[] data, Dictionary<string, string>? into)
        {
            var records = into ?? new Dictionary<string, string>(StringComparer.Ordinal);
            int pos = 0;
            while (pos < data.Length)
            {
                if (data[pos] == 0) break;
                int space = Array.IndexOf(data, (byte)' ', pos);
                if (space < 0 || space - pos > 10) throw ImageArchiveException.Invalid("A pax header record has no length.");
                if (!int.TryParse(Encoding.ASCII.GetString(data, pos, space - pos), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int length)
                    || length <= space - pos + 1 || pos + length > data.Length || data[pos + length - 1] != (byte)'\n')
                    throw ImageArchiveException.Invalid("A pax header record has an invalid length.");
                var record = Encoding.UTF8.GetString(data, space + 1, pos + length - 1 - (space + 1));
                int eq = record.IndexOf('=');
                if (eq <= 0) throw ImageArchiveException.Invalid("A pax header record has no key.");
                records[record.Substring(0, eq)] = record.Substring(eq + 1);
                pos += length;
            }
            return records;
        }

        private static void ApplyPax(TarEntry entry, Dictionary<string, string> pax, ref long size, long offset)
        {
            foreach (var kv in pax)
            {
                switch (kv.Key)
                {
                    case "path": entry.Name = kv.Value; break;
                    case "linkpath": entry.LinkName = kv.Value; break;
                    case "size": size = PaxNumber(kv.Value, "size", offset); break;
                    case "uid": entry.UserId = PaxNumber(kv.Value, "uid", offset); break;
                    case "gid": entry.GroupId = PaxNumber(kv.Value, "gid", offset); break;
                    case "uname": entry.UserName = kv.Value; break;
                    case "gname": entry.GroupName = kv.Value; break;
                    case "mtime":
                        var dot = kv.Value.IndexOf('.');
                        entry.ModificationTime = PaxNumber(dot >= 0 ? kv.Value.Substring(0, dot) : kv.Value, "mtime", offset, allowNegative: true);
                        break;
                    default:
                        if (kv.Key.StartsWith("GNU.sparse.", StringComparison.Ordinal)) entry.IsSparse = true;
                        break;
                }
            }
        }

        private static long PaxNumber(string value, string field, long offset, bool allowNegative = false)
        {
            if (!long.TryParse(value, allowNegative ? System.Globalization.NumberStyles.AllowLeadingSign : System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out var n) || (!allowNegative && n < 0))
                throw ImageArchiveException.Invalid($"The pax '{field}' record of the header at offset {offset} is not a number.");
            return n;
        }

        private void VerifyChecksum(long offset)
        {
            long stored = ParseNumber(_block, 148, 8, "checksum", offset);
            long unsigned = 0, signed = 0;
            for (int i = 0; i < BlockSize; i++)
            {
                byte b = i >= 148 && i < 156 ? (byte)' ' : _block[i];
                unsigned += b;
                signed += (sbyte)b;
            }
            if (stored != unsigned && stored != signed)
                throw ImageArchiveException.Invalid($"The tar header at offset {offset} has a wrong checksum: this is not a tar archive, or it is damaged.");
        }

        /// <summary>Octal (space/NUL padded) or base-256 (high bit set) numbers of header fields.</summary>
        internal static long ParseNumber(byte[] block, int offset, int length, string field, long headerOffset)
        {
            if ((block[offset] & 0x80) != 0)
            {
                if (block[offset] == 0xFF) throw ImageArchiveException.Invalid($"The tar header at offset {headerOffset} has a negative {field}.");
                long value = block[offset] & 0x7F;
                for (int i = 1; i < length; i++)
                {
                    if (value > (long.MaxValue >> 8)) throw ImageArchiveException.Invalid($"The {field} of the tar header at offset {headerOffset} is too large.");
                    value = (value << 8) | block[offset + i];
                }
                return value;
            }
            long n = 0;
            int pos = offset, end = offset + length;
            while (pos < end && (block[pos] == (byte)' ' || block[pos] == 0)) pos++;
            bool any = false;
            while (pos < end && block[pos] >= (byte)'0' && block[pos] <= (byte)'7')
            {
                if (n > (long.MaxValue >> 3)) throw ImageArchiveException.Invalid($"The {field} of the tar header at offset {headerOffset} is too large.");
                n = (n << 3) | (long)(block[pos] - '0');
                pos++;
                any = true;
            }
            while (pos < end && (block[pos] == (byte)' ' || block[pos] == 0)) pos++;
            if (pos != end) throw ImageArchiveException.Invalid($"The {field} field of the tar header at offset {headerOffset} is not an octal number: this is not a tar archive, or it is damaged.");
            return any ? n : 0;
        }

        private static string Field(byte[] block, int offset, int length)
        {
            int end = Array.IndexOf(block, (byte)0, offset, length);
            int count = (end < 0 ? offset + length : end) - offset;
            return Encoding.UTF8.GetString(block, offset, count);
        }

        private static string CString(byte[] data)
        {
            int end = Array.IndexOf(data, (byte)0);
            return Encoding.UTF8.GetString(data, 0, end < 0 ? data.Length : end);
        }

        private static bool IsZeroBlock(byte[] block)
        {
            foreach (var b in block) if (b != 0) return false;
            return true;
        }

        internal static long Padding(long size) => (BlockSize - (size % BlockSize)) % BlockSize;

        private async Task<bool> ReadBlockAsync(CancellationToken cancellationToken)
        {
            int n = await ReadFullAsync(_block, 0, BlockSize, cancellationToken).ConfigureAwait(false);
            if (n == 0) return false;
            if (n != BlockSize) throw ImageArchiveException.Invalid("The tar archive is truncated inside a header.");
            return true;
        }

        private async Task<int> ReadFullAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            int total = 0;
            while (total < count)
            {
                int n = await _stream.ReadAsync(buffer, offset + total, count - total, cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                total += n;
            }
            _position += total;
            return total;
        }

        private async Task SkipAsync(long count, CancellationToken cancellationToken)
        {
            if (count <= 0) return;
            if (_stream.CanSeek)
            {
                _stream.Seek(count, SeekOrigin.Current);
                _position += count;
                return;
            }
            var buffer = new byte[Math.Min(count, 81920)];
            while (count > 0)
            {
                int n = await ReadFullAsync(buffer, 0, (int)Math.Min(count, buffer.Length), cancellationToken).ConfigureAwait(false);
                if (n == 0) throw ImageArchiveException.Invalid("The tar archive is truncated inside an entry's data.");
                count -= n;
            }
        }

        private sealed class EntryDataStream : Stream
        {
            private readonly TarReader _reader;
            private readonly TarEntry _entry;

            public EntryDataStream(TarReader reader)
            {
                _reader = reader;
                _entry = reader.Current!;
            }

            public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                if (!ReferenceEquals(_reader.Current, _entry)) throw new InvalidOperationException("The reader has moved past this entry.");
                if (_reader._remaining <= 0 || count == 0) return 0;
                int want = (int)Math.Min(count, _reader._remaining);
                int n = await _reader._stream.ReadAsync(buffer, offset, want, cancellationToken).ConfigureAwait(false);
                if (n == 0) throw ImageArchiveException.Invalid($"The tar archive is truncated inside the data of '{TarPath.Printable(_entry.Name)}'.", _entry.Name);
                _reader._position += n;
                _reader._remaining -= n;
                return n;
            }

            public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => _entry.Size;
            public override long Position { get => _entry.Size - _reader._remaining; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }
    }

    /// <summary>A read-only window of a seekable stream, which it owns.</summary>
    internal sealed class SliceStream : Stream
    {
        private readonly Stream _inner;
        private readonly long _start;
        private readonly long _length;
        private long _position;

        public SliceStream(Stream inner, long start, long length)
        {
            _inner = inner;
            _start = start;
            _length = length;
            _inner.Position = start;
        }

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            long left = _length - _position;
            if (left <= 0 || count == 0) return 0;
            if (_inner.Position != _start + _position) _inner.Position = _start + _position;
            int n = await _inner.ReadAsync(buffer, offset, (int)Math.Min(count, left), cancellationToken).ConfigureAwait(false);
            if (n == 0) throw ImageArchiveException.Invalid("The archive file ended early: was it changed while being read?");
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => _length;

        public override long Position
        {
            get => _position;
            set
            {
                if (value < 0 || value > _length) throw new ArgumentOutOfRangeException(nameof(value));
                _position = value;
            }
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            Position = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                _ => _length + offset,
            };
            return _position;
        }

        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
