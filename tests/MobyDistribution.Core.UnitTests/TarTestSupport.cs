using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Threading.Tasks;
using MobyDistribution.Formats;
using Sys = System.Formats.Tar;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>Test data and the independent codecs (System.Formats.Tar, the runtime's gzip) the tar tests check against.</summary>
    internal static class TarTestSupport
    {
        /// <summary>A tar made by System.Formats.Tar.</summary>
        public static byte[] SystemTar(Sys.TarEntryFormat format, params Sys.TarEntry[] entries)
        {
            var ms = new MemoryStream();
            using (var w = new Sys.TarWriter(ms, format, leaveOpen: true))
                foreach (var e in entries) w.WriteEntry(e);
            return ms.ToArray();
        }

        /// <summary>Every entry and its data, read by our reader.</summary>
        public static Task<List<(Formats.TarEntry Entry, byte[] Data)>> ReadAll(byte[] tar, TarReaderOptions? options = null) =>
            ReadAll(new MemoryStream(tar), options);

        public static async Task<List<(Formats.TarEntry Entry, byte[] Data)>> ReadAll(Stream tar, TarReaderOptions? options = null)
        {
            var result = new List<(Formats.TarEntry, byte[])>();
            using var reader = new Formats.TarReader(tar, options);
            Formats.TarEntry? e;
            while ((e = await reader.GetNextEntryAsync()) != null)
            {
                using var data = reader.OpenData();
                var ms = new MemoryStream();
                await data.CopyToAsync(ms);
                result.Add((e, ms.ToArray()));
            }
            return result;
        }

        /// <summary>Seeded random bytes.</summary>
        public static byte[] RandomBytes(int length, int seed)
        {
            var data = new byte[length];
            new Random(seed).NextBytes(data);
            return data;
        }

        /// <summary>Every entry as System.Formats.Tar reads it: name → (type, link target, data, entry).</summary>
        public static Dictionary<string, (Sys.TarEntryType Type, string Link, byte[] Data, Sys.TarEntry Entry)> SystemRead(Stream stream)
        {
            var result = new Dictionary<string, (Sys.TarEntryType, string, byte[], Sys.TarEntry)>(StringComparer.Ordinal);
            using var reader = new Sys.TarReader(stream, leaveOpen: true);
            Sys.TarEntry? e;
            while ((e = reader.GetNextEntry()) != null)
            {
                var data = new MemoryStream();
                e.DataStream?.CopyTo(data);
                result[e.Name] = (e.EntryType, e.LinkName, data.ToArray(), e);
            }
            return result;
        }

        public static byte[] Gunzip(byte[] gzip)
        {
            using var gz = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
            var ms = new MemoryStream();
            gz.CopyTo(ms);
            return ms.ToArray();
        }

        /// <summary>A stream that cannot seek, like a pipe or a response body.</summary>
        public sealed class Unseekable : Stream
        {
            private readonly Stream _inner;

            public Unseekable(byte[] data) => _inner = new MemoryStream(data, writable: false);

            public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
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
    }
}
