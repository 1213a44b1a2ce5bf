using System;
using System.Collections.Generic;
using System.IO;
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

        [Theory]
        [InlineData(Sys.TarEntryFormat.Pax)]
        [InlineData(Sys.TarEntryFormat.Gnu)]
        public async Task Reader_ReadsLongNamesAndLinks_OfPaxAndGnu(Sys.TarEntryFormat format)
        {
            var tar = TarTestSupport.SystemTar(format,
                format == Sys.TarEntryFormat.Pax
                    ? new Sys.PaxTarEntry(Sys.TarEntryType.RegularFile, LongName) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes("hello")) }
                    : new Sys.GnuTarEntry(Sys.TarEntryType.RegularFile, LongName) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes("hello")) },
                format == Sys.TarEntryFormat.Pax
                    ? new Sys.PaxTarEntry(Sys.TarEntryType.SymbolicLink, "dir/link") { LinkName = "/" + new string('c', 150) }
                    : new Sys.GnuTarEntry(Sys.TarEntryType.SymbolicLink, "dir/link") { LinkName = "/" + new string('c', 150) });
            var entries = await TarTestSupport.ReadAll(tar, new TarReaderOptions { RefuseEscapingLinks = false });
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
                long size = await w.WriteStreamedFileAsync(streamed, new MemoryStream(TarTestSupport.RandomBytes(70_000, 3)));
                Assert.Equal(70_000, size);
                await w.FinishAsync();
            }
            ms.Position = 0;
            var read = TarTestSupport.SystemRead(ms);
            Assert.Equal(Sys.TarEntryType.Directory, read["dir/"].Type);
            Assert.Equal("content", Encoding.UTF8.GetString(read[LongName].Data));
            Assert.Equal(LongLink, read["dir/link"].Link);
            Assert.Equal(TarTestSupport.RandomBytes(70_000, 3), read["dir/streamed.bin"].Data);
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
            var tar = TarTestSupport.SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(new byte[3]) });
            var e = await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(tar));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
        }

        [Theory]
        [InlineData("dir/link", "../../etc/passwd")]
        [InlineData("link", "/etc/passwd")]
        [InlineData("a/b/link", "../../../x")]
        public async Task Reader_RefusesSymbolicLinksPointingOutside(string name, string target)
        {
            var tar = TarTestSupport.SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.SymbolicLink, name) { LinkName = target });
            var e = await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(tar));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
        }

        [Fact]
        public async Task Reader_AcceptsLinksInside_AndRefusesDevicesAndHardLinksOutside()
        {
            var ok = TarTestSupport.SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.SymbolicLink, "a/b/link") { LinkName = "../c/layer.tar" });
            Assert.Single(await TarTestSupport.ReadAll(ok));
            var hard = TarTestSupport.SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.HardLink, "h") { LinkName = "../../x" });
            Assert.Equal(RegistryErrorKind.Security, (await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(hard))).Kind);
            var device = TarTestSupport.SystemTar(Sys.TarEntryFormat.Pax, new Sys.PaxTarEntry(Sys.TarEntryType.CharacterDevice, "dev/null"));
            Assert.Equal(RegistryErrorKind.Security, (await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(device))).Kind);
        }

        [Fact]
        public async Task Reader_RefusesDamagedHeaders()
        {
            var tar = TarTestSupport.SystemTar(Sys.TarEntryFormat.Ustar, new Sys.UstarTarEntry(Sys.TarEntryType.RegularFile, "f") { DataStream = new MemoryStream(new byte[3]) });
            tar[10] ^= 0x55;
            Assert.Equal(RegistryErrorKind.InvalidRequest, (await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(tar))).Kind);
            var truncated = TarTestSupport.SystemTar(Sys.TarEntryFormat.Ustar, new Sys.UstarTarEntry(Sys.TarEntryType.RegularFile, "f") { DataStream = new MemoryStream(new byte[3000]) })
                .Take(1024).ToArray();
            await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(truncated));
        }

        [Fact]
        public async Task Gzip_IsDeterministic_WithAFixedHeader()
        {
            var data = TarTestSupport.RandomBytes(300_000, 9).Concat(new byte[300_000]).ToArray();
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
            Assert.Equal(data, TarTestSupport.Gunzip(a));
        }
    }
}
