using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.Formats
{
    /// <summary>
    /// Writes tar archives deterministically: POSIX ustar headers, with a pax extended header only when a name or link target
    /// does not fit (longer than 100 bytes, or not ASCII) or a number is too large; no atime/ctime, no device numbers,
    /// user and group names as given (empty by default). Two writers given the same entries write the same bytes.
    /// <see cref="WriteStreamedFileAsync"/> writes an entry whose size is unknown until its data ends (a layer being
    /// decompressed): it writes the header with a placeholder, then seeks back and patches size and checksum, so the
    /// output must be seekable for it.
    /// </summary>
    public sealed class TarWriter : IDisposable
    {
        private const long MaxOctal11 = 8589934591L; // 077777777777
        private const long MaxOctal7 = 2097151L;     // 07777777
        private const int CopyBufferSize = 1024 * 1024;
        private static readonly byte[] Zeros = new byte[TarReader.BlockSize];

        private readonly Stream _out;
        private readonly bool _leaveOpen;
        private bool _finished;

        public TarWriter(Stream output, bool leaveOpen = false)
        {
            _out = output ?? throw new ArgumentNullException(nameof(output));
            if (!output.CanWrite) throw new ArgumentException("The stream cannot be written.", nameof(output));
            _leaveOpen = leaveOpen;
        }

        /// <summary>Bytes written so far.</summary>
        public long BytesWritten { get; private set; }

        /// <summary>
        /// Writes an entry and, for a regular file, exactly <see cref="TarEntry.Size"/> bytes of <paramref name="data"/>; throws
        /// <see cref="IOException"/> when the data is shorter or longer (a file that changed while being read).
        /// </summary>
        public async Task WriteEntryAsync(TarEntry entry, Stream? data, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            if (entry == null) throw new ArgumentNullException(nameof(entry));
            ThrowIfFinished();
            long size = entry.Type == TarEntryType.RegularFile ? entry.Size : 0;
            if (size > 0 && data == null) throw new ArgumentNullException(nameof(data), $"Entry '{entry.Name}' has {size} bytes of data and no stream.");
            await WriteHeadersAsync(entry, size, placeholderSize: false, cancellationToken).ConfigureAwait(false);
            if (size > 0)
            {
                long copied = await CopyAsync(data!, size, progress, cancellationToken).ConfigureAwait(false);
                if (copied != size) throw new IOException($"'{entry.Name}' ended after {copied} bytes; {size} were expected (did it change while being read?).");
                var probe = new byte[1];
                if (await data!.ReadAsync(probe, 0, 1, cancellationToken).ConfigureAwait(false) != 0)
                    throw new IOException($"'{entry.Name}' has more than the {size} bytes expected (did it change while being read?).");
                await PadAsync(size, cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Writes a regular file from bytes (mode 0644 and mtime 0 unless <paramref name="template"/> says otherwise).</summary>
        public Task WriteFileAsync(string name, byte[] content, TarEntry? template = null, CancellationToken cancellationToken = default)
        {
            var entry = Clone(template, name, TarEntryType.RegularFile);
            entry.Size = content.Length;
            return WriteEntryAsync(entry, new MemoryStream(content, writable: false), null, cancellationToken);
        }

        /// <summary>Writes a directory entry (mode 0755, mtime 0).</summary>
        public Task WriteDirectoryAsync(string name, CancellationToken cancellationToken = default)
        {
            var entry = Clone(null, name, TarEntryType.Directory);
            entry.Mode = Convert.ToInt32("755", 8);
            return WriteEntryAsync(entry, null, null, cancellationToken);
        }

        /// <summary>Writes a symbolic link (mode 0777, mtime 0).</summary>
        public Task WriteSymbolicLinkAsync(string name, string target, CancellationToken cancellationToken = default)
        {
            var entry = Clone(null, name, TarEntryType.SymbolicLink);
            entry.Mode = Convert.ToInt32("777", 8);
            entry.LinkName = target;
            return WriteEntryAsync(entry, null, null, cancellationToken);
        }

        /// <summary>
        /// Writes a regular file whose size is not known in advance: everything <paramref name="data"/> gives until its end.
        /// Needs a seekable output (the header is patched afterwards). Returns the size written.
        /// </summary>
        public async Task<long> WriteStreamedFileAsync(TarEntry entry, Stream data, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            if (entry == null) throw new ArgumentNullException(nameof(entry));
            if (data == null) throw new ArgumentNullException(nameof(data));
            if (!_out.CanSeek) throw new NotSupportedException("Writing an entry of unknown size needs a seekable output.");
            ThrowIfFinished();
            entry.Type = TarEntryType.RegularFile;
            long headerPosition = await WriteHeadersAsync(entry, 0, placeholderSize: true, cancellationToken).ConfigureAwait(false);
            long size = await CopyAsync(data, long.MaxValue, progress, cancellationToken).ConfigureAwait(false);
            await PadAsync(size, cancellationToken).ConfigureAwait(false);
            long end = _out.Position;
            entry.Size = size;
            var header = BuildHeader(entry, HeaderName(entry), entry.LinkName, size, allowBase256Size: true);
            _out.Position = headerPosition;
            await _out.WriteAsync(header, 0, header.Length, cancellationToken).ConfigureAwait(false);
            _out.Position = end;
            return size;
        }

        /// <summary>Writes the end-of-archive marker (two zero blocks) and flushes. Nothing can be written after it.</summary>
        public async Task FinishAsync(CancellationToken cancellationToken = default)
        {
            if (_finished) return;
            await WriteRawAsync(Zeros, cancellationToken).ConfigureAwait(false);
            await WriteRawAsync(Zeros, cancellationToken).ConfigureAwait(false);
            await _out.FlushAsync(cancellationToken).ConfigureAwait(false);
            _finished = true;
        }

        public void Dispose()
        {
            if (!_leaveOpen) _out.Dispose();
        }

        private void ThrowIfFinished()
        {
            if (_finished) throw new InvalidOperationException("The archive is finished.");
        }

        private static TarEntry Clone(TarEntry? template, string name, TarEntryType type) => new TarEntry
        {
            Name = name,
            Type = type,
            Mode = template?.Mode ?? Convert.ToInt32("644", 8),
            UserId = template?.UserId ?? 0,
            GroupId = template?.GroupId ?? 0,
            UserName = template?.UserName ?? string.Empty,
            GroupName = template?.GroupName ?? string.Empty,
            ModificationTime = template?.ModificationTime ?? 0,
        };

        private static string HeaderName(TarEntry entry) =>
            entry.Type == TarEntryType.Directory && !entry.Name.EndsWith("/", StringComparison.Ordinal) ? entry.Name + "/" : entry.Name;

        /// <summary>Writes the pax header (when needed) and the entry's header; returns the position of the latter.</summary>
        private async Task<long> WriteHeadersAsync(TarEntry entry, long size, bool placeholderSize, CancellationToken cancellationToken)
        {
            var name = HeaderName(entry);
            var link = entry.LinkName ?? string.Empty;
            var pax = new List<KeyValuePair<string, string>>();
            if (!FitsField(name, 100)) pax.Add(new KeyValuePair<string, string>("path", name));
            if (!FitsField(link, 100)) pax.Add(new KeyValuePair<string, string>("linkpath", link));
            if (!placeholderSize && size > MaxOctal11) pax.Add(new KeyValuePair<string, string>("size", size.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (entry.UserId > MaxOctal7) pax.Add(new KeyValuePair<string, string>("uid", entry.UserId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (entry.GroupId > MaxOctal7) pax.Add(new KeyValuePair<string, string>("gid", entry.GroupId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (!FitsField(entry.UserName ?? string.Empty, 32)) pax.Add(new KeyValuePair<string, string>("uname", entry.UserName!));
            if (!FitsField(entry.GroupName ?? string.Empty, 32)) pax.Add(new KeyValuePair<string, string>("gname", entry.GroupName!));
            if (pax.Count > 0)
            {
                var records = PaxRecords(pax);
                var paxEntry = new TarEntry { Name = "././@PaxHeader", Type = TarEntryType.Other, Mode = Convert.ToInt32("644", 8), ModificationTime = entry.ModificationTime };
                var paxHeader = BuildHeader(paxEntry, paxEntry.Name, string.Empty, records.Length, allowBase256Size: false, typeFlag: (byte)'x');
                await WriteRawAsync(paxHeader, cancellationToken).ConfigureAwait(false);
                await WriteRawAsync(records, cancellationToken).ConfigureAwait(false);
                await PadAsync(records.Length, cancellationToken).ConfigureAwait(false);
            }
            long position = _out.CanSeek ? _out.Position : BytesWritten;
            var header = BuildHeader(entry, name, link, placeholderSize ? 0 : Math.Min(size, MaxOctal11), allowBase256Size: false);
            await WriteRawAsync(header, cancellationToken).ConfigureAwait(false);
            return position;
        }

        private static bool FitsField(string value, int length)
        {
            if (value.Length > length) return false;
            foreach (var c in value) if (c == 0 || c > 127) return false;
            return true;
        }

        private static byte[] PaxRecords(IEnumerable<KeyValuePair<string, string>> records)
        {
            using var ms = new MemoryStream();
            foreach (var kv in records)
            {
                int body = Encoding.UTF8.GetByteCount(kv.Key) + Encoding.UTF8.GetByteCount(kv.Value) + 3;
                int length = body + body.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
                if (length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length + body != length) length++;
                var bytes = Encoding.UTF8.GetBytes(length.ToString(System.Globalization.CultureInfo.InvariantCulture) + " " + kv.Key + "=" + kv.Value + "\n");
                ms.Write(bytes, 0, bytes.Length);
            }
            return ms.ToArray();
        }

        private static byte[] BuildHeader(TarEntry entry, string name, string link, long size, bool allowBase256Size, byte typeFlag = 0)
        {
            var h = new byte[TarReader.BlockSize];
            PutString(h, 0, 100, name);
            PutOctal(h, 100, 8, entry.Mode & 0xFFF);
            PutOctal(h, 108, 8, Math.Min(entry.UserId, MaxOctal7));
            PutOctal(h, 116, 8, Math.Min(entry.GroupId, MaxOctal7));
            if (size > MaxOctal11 && allowBase256Size)
            {
                h[124] = 0x80;
                for (int i = 0; i < 8; i++) h[135 - i] = (byte)(size >> (8 * i));
            }
            else
            {
                PutOctal(h, 124, 12, size);
            }
            PutOctal(h, 136, 12, Math.Max(0, Math.Min(entry.ModificationTime, MaxOctal11)));
            h[156] = typeFlag != 0 ? typeFlag : entry.Type switch
            {
                TarEntryType.RegularFile => (byte)'0',
                TarEntryType.HardLink => (byte)'1',
                TarEntryType.SymbolicLink => (byte)'2',
                TarEntryType.CharacterDevice => (byte)'3',
                TarEntryType.BlockDevice => (byte)'4',
                TarEntryType.Directory => (byte)'5',
                TarEntryType.Fifo => (byte)'6',
                _ => throw new ArgumentException($"Entry type {entry.Type} cannot be written."),
            };
            PutString(h, 157, 100, link);
            PutString(h, 257, 6, "ustar");
            h[263] = (byte)'0';
            h[264] = (byte)'0';
            PutString(h, 265, 32, entry.UserName ?? string.Empty);
            PutString(h, 297, 32, entry.GroupName ?? string.Empty);
            PutOctal(h, 329, 8, 0);
            PutOctal(h, 337, 8, 0);
            for (int i = 148; i < 156; i++) h[i] = (byte)' ';
            long sum = 0;
            foreach (var b in h) sum += b;
            var chk = Convert.ToString(sum, 8).PadLeft(6, '0');
            for (int i = 0; i < 6; i++) h[148 + i] = (byte)chk[i];
            h[154] = 0;
            h[155] = (byte)' ';
            return h;
        }

        /// <summary>ASCII only (what does not fit goes into pax records, and the field keeps a truncated ASCII form).</summary>
        private static void PutString(byte[] h, int offset, int length, string value)
        {
            int n = Math.Min(length, value.Length);
            for (int i = 0; i < n; i++)
            {
                char c = value[i];
                h[offset + i] = c > 0 && c < 128 ? (byte)c : (byte)'_';
            }
        }

        private static void PutOctal(byte[] h, int offset, int length, long value)
        {
            var digits = Convert.ToString(value, 8).PadLeft(length - 1, '0');
            if (digits.Length > length - 1) throw new ArgumentOutOfRangeException(nameof(value), $"{value} does not fit a {length}-byte tar field.");
            for (int i = 0; i < length - 1; i++) h[offset + i] = (byte)digits[i];
            h[offset + length - 1] = 0;
        }

        private async Task<long> CopyAsync(Stream data, long max, IProgress<long>? progress, CancellationToken cancellationToken)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            long total = 0;
            try
            {
                while (total < max)
                {
                    int n = await data.ReadAsync(buffer, 0, (int)Math.Min(CopyBufferSize, max - total), cancellationToken).ConfigureAwait(false);
                    if (n == 0) break;
                    await _out.WriteAsync(buffer, 0, n, cancellationToken).ConfigureAwait(false);
                    BytesWritten += n;
                    total += n;
                    progress?.Report(total);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            return total;
        }

        private Task PadAsync(long size, CancellationToken cancellationToken)
        {
            long pad = TarReader.Padding(size);
            if (pad == 0) return Task.CompletedTask;
            BytesWritten += pad;
            return _out.WriteAsync(Zeros, 0, (int)pad, cancellationToken);
        }

        private async Task WriteRawAsync(byte[] bytes, CancellationToken cancellationToken)
        {
            await _out.WriteAsync(bytes, 0, bytes.Length, cancellationToken).ConfigureAwait(false);
            BytesWritten += bytes.Length;
        }
    }
}
