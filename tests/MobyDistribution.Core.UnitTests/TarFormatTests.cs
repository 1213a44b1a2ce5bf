using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Formats;
using Xunit;
using Sys = System.Formats.Tar;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>The tar codec against an independent one (System.Formats.Tar), and its refusals of hostile entries.</summary>
    public sealed class TarFormatTests
    {
        private static readonly string LongName = "dir/" + new string('a', 150) + "/file-é.txt";
        private static readonly string LongLink = "../" + new string('b', 150) + "/target";

        private static byte[] SystemTar(Sys.TarEntryFormat format, params Sys.TarEntry[] entries)
        {
            var ms = new MemoryStream();
            using (var w = new Sys.TarWriter(ms, format, leaveOpen: true))
                foreach (var e in entries) w.WriteEntry(e);
            return ms.ToArray();
        }

        private static byte[] RandomBytes(int length, int seed)
        {
            var data = new byte[length];
            new Random(seed).NextBytes(data);
            return data;
        }

        /// <summary>Every entry as System.Formats.Tar reads it: name → (entry, data).</summary>
        private static Dictionary<string, (Sys.TarEntryType Type, string Link, byte[] Data, Sys.TarEntry Entry)> SystemRead(Stream stream)
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

        private static byte[] Gunzip(byte[] gzip)
        {
            using var gz = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
            var ms = new MemoryStream();
            gz.CopyTo(ms);
            return ms.ToArray();
        }

        private static async Task<List<(Formats.TarEntry Entry, byte[] Data)>> ReadAll(byte[] tar, TarReaderOptions? options = null)
        {
            var result = new List<(Formats.TarEntry, byte[])>();
            using var reader = new Formats.TarReader(new MemoryStream(tar), options);
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

        [Theory]
        [InlineData(Sys.TarEntryFormat.Pax)]
        [InlineData(Sys.TarEntryFormat.Gnu)]
        public async Task Reader_ReadsLongNamesAndLinks_OfPaxAndGnu(Sys.TarEntryFormat format)
        {
            var tar = SystemTar(format,
                format == Sys.TarEntryFormat.Pax
                    ? new Sys.PaxTarEntry(Sys.TarEntryType.RegularFile, LongName) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes("hello")) }
                    : new Sys.GnuTarEntry(Sys.TarEntryType.RegularFile, LongName) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes("hello")) },
                format == Sys.TarEntryFormat.Pax
                    ? new Sys.PaxTarEntry(Sys.TarEntryType.SymbolicLink, "dir/link") { LinkName = "/" + new string('c', 150) }
                    : new Sys.GnuTarEntry(Sys.TarEntryType.SymbolicLink, "dir/link") { LinkName = "/" + new string('c', 150) });
            var entries = await ReadAll(tar, new TarReaderOptions { RefuseEscapingLinks = false });
            Assert.Equal(2, entries.Count);
            Assert.Equal(LongName, entries[0].Entry.Name);
            Assert.Equal("hello", Encoding.UTF8.GetString(entries[0].Data));
            Assert.Equal(Formats.TarEntryType.SymbolicLink, entries[1].Entry.Type);
            Assert.Equal("/" + new string('c', 150), entries[1].Entry.LinkName);
        }

        [Fact]
        public async Task Writer_Output_IsReadBySystemTar_WithLongNamesLinksAndPatchedSizes()
        {
            var ms = new MemoryStream();
            using (var w = new Formats.TarWriter(ms, leaveOpen: true))
            {
                await w.WriteDirectoryAsync("dir");
                await w.WriteFileAsync(LongName, Encoding.UTF8.GetBytes("content"));
                await w.WriteSymbolicLinkAsync("dir/link", LongLink);
                var streamed = new Formats.TarEntry { Name = "dir/streamed.bin" };
                long size = await w.WriteStreamedFileAsync(streamed, new MemoryStream(RandomBytes(70_000, 3)));
                Assert.Equal(70_000, size);
                await w.FinishAsync();
            }
            ms.Position = 0;
            var read = SystemRead(ms);
            Assert.Equal(Sys.TarEntryType.Directory, read["dir/"].Type);
            Assert.Equal("content", Encoding.UTF8.GetString(read[LongName].Data));
            Assert.Equal(LongLink, read["dir/link"].Link);
            Assert.Equal(RandomBytes(70_000, 3), read["dir/streamed.bin"].Data);
            Assert.All(read.Values, e => Assert.Equal(0, e.Entry.Uid));
            Assert.All(read.Values, e => Assert.Equal(DateTimeOffset.UnixEpoch, e.Entry.ModificationTime));
        }

        [Fact]
        public async Task Writer_IsDeterministic()
        {
            async Task<byte[]> Write()
            {
                var ms = new MemoryStream();
                using var w = new Formats.TarWriter(ms, leaveOpen: true);
                await w.WriteFileAsync(LongName, Encoding.UTF8.GetBytes("x"));
                await w.WriteStreamedFileAsync(new Formats.TarEntry { Name = "s" }, new MemoryStream(new byte[1234]));
                await w.FinishAsync();
                return ms.ToArray();
            }
            Assert.Equal(await Write(), await Write());
        }

        [Theory]
        [InlineData("../evil")]
        [InlineData("/abs/path")]
        [InlineData("a/../../b")]
        [InlineData("C:/windows")]
        [InlineData("a\\..\\..\\b")]
        public async Task Reader_RefusesEscapingNames(string name)
        {
            var tar = SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(new byte[3]) });
            var e = await Assert.ThrowsAsync<ImageArchiveException>(() => ReadAll(tar));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
        }

        [Theory]
        [InlineData("dir/link", "../../etc/passwd")]
        [InlineData("link", "/etc/passwd")]
        [InlineData("a/b/link", "../../../x")]
        public async Task Reader_RefusesSymbolicLinksPointingOutside(string name, string target)
        {
            var tar = SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.SymbolicLink, name) { LinkName = target });
            var e = await Assert.ThrowsAsync<ImageArchiveException>(() => ReadAll(tar));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
        }

        [Fact]
        public async Task Reader_AcceptsLinksInside_AndRefusesDevicesAndHardLinksOutside()
        {
            var ok = SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.SymbolicLink, "a/b/link") { LinkName = "../c/layer.tar" });
            Assert.Single(await ReadAll(ok));
            var hard = SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.HardLink, "h") { LinkName = "../../x" });
            Assert.Equal(RegistryErrorKind.Security, (await Assert.ThrowsAsync<ImageArchiveException>(() => ReadAll(hard))).Kind);
            var device = SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.CharacterDevice, "dev/null"));
            Assert.Equal(RegistryErrorKind.Security, (await Assert.ThrowsAsync<ImageArchiveException>(() => ReadAll(device))).Kind);
        }

        [Fact]
        public async Task Reader_RefusesDamagedHeaders()
        {
            var tar = SystemTar(Sys.TarEntryFormat.Ustar, new Sys.UstarTarEntry(Sys.TarEntryType.RegularFile, "f") { DataStream = new MemoryStream(new byte[3]) });
            tar[10] ^= 0x55;
            Assert.Equal(RegistryErrorKind.InvalidRequest, (await Assert.ThrowsAsync<ImageArchiveException>(() => ReadAll(tar))).Kind);
            var truncated = SystemTar(Sys.TarEntryFormat.Ustar, new Sys.UstarTarEntry(Sys.TarEntryType.RegularFile, "f") { DataStream = new MemoryStream(new byte[3000]) })
                .Take(1024).ToArray();
            await Assert.ThrowsAsync<ImageArchiveException>(() => ReadAll(truncated));
        }

        [Fact]
        public async Task Gzip_IsDeterministic_WithAFixedHeader()
        {
            var data = RandomBytes(300_000, 9).Concat(new byte[300_000]).ToArray();
            async Task<byte[]> Compress()
            {
                using var c = LayerStreams.CompressForReading(new MemoryStream(data));
                var ms = new MemoryStream();
                await c.CopyToAsync(ms);
                return ms.ToArray();
            }
            var a = await Compress();
            Assert.Equal(a, await Compress());
            Assert.Equal(new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff }, a.Take(10).ToArray());
            Assert.Equal(data, Gunzip(a));
        }
    }
}
