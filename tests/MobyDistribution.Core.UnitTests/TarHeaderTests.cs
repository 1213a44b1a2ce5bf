using System;
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
    /// <summary>
    /// Tar headers byte by byte: checksums (unsigned and the signed sums of old tars), octal and base-256 numbers, long
    /// names and numbers through pax records, and archives that end inside a header or its metadata.
    /// </summary>
    public sealed class TarHeaderTests
    {
        private const int Block = TarReader.BlockSize;

        /// <summary>A ustar header written by hand (not by the writer under test), with its data padded to a block.</summary>
        private sealed class RawEntry
        {
            public readonly byte[] Header = new byte[Block];
            public byte[] Data = Array.Empty<byte>();

            public RawEntry(string name, char type = '0', long size = 0)
            {
                Text(0, name);
                Octal(100, 8, Convert.ToInt32("644", 8));
                Octal(108, 8, 0);
                Octal(116, 8, 0);
                Octal(124, 12, size);
                Octal(136, 12, 0);
                Header[156] = (byte)type;
                Text(257, "ustar");
                Header[263] = (byte)'0';
                Header[264] = (byte)'0';
            }

            public void Text(int offset, string value) => Encoding.UTF8.GetBytes(value).CopyTo(Header, offset);

            public void Field(int offset, int length, byte[] value)
            {
                Array.Clear(Header, offset, length);
                value.CopyTo(Header, offset);
            }

            public void Octal(int offset, int length, long value) =>
                Field(offset, length, Encoding.ASCII.GetBytes(Convert.ToString(value, 8).PadLeft(length - 1, '0') + "\0"));

            public long UnsignedSum() => Header.Select((b, i) => i >= 148 && i < 156 ? (long)' ' : b).Sum();

            public long SignedSum() => Header.Select((b, i) => i >= 148 && i < 156 ? (long)' ' : (sbyte)b).Sum();

            public RawEntry WithChecksum(long? sum = null)
            {
                var digits = Convert.ToString(sum ?? UnsignedSum(), 8).PadLeft(6, '0');
                Field(148, 8, Encoding.ASCII.GetBytes(digits + "\0 "));
                return this;
            }

            public byte[] Bytes()
            {
                var pad = (Block - Data.Length % Block) % Block;
                return Header.Concat(Data).Concat(new byte[pad]).ToArray();
            }
        }

        private static byte[] Archive(params RawEntry[] entries) => entries.SelectMany(e => e.Bytes()).Concat(new byte[2 * Block]).ToArray();

        private static async Task<byte[]> Write(Func<TarWriter, Task> write)
        {
            var ms = new MemoryStream();
            using (var w = new TarWriter(ms, leaveOpen: true))
            {
                await write(w);
                await w.FinishAsync();
            }
            return ms.ToArray();
        }

        private static async Task<ImageArchiveException> Refused(byte[] tar, TarReaderOptions? options = null) =>
            await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(tar, options));

        // ------------------------------------------------------------------ checksums

        [Fact]
        public async Task Writer_Checksum_IsTheUnsignedSumWithTheFieldAsSpaces_SixDigitsNulSpace()
        {
            var tar = await Write(w => w.WriteFileAsync("f.txt", Encoding.ASCII.GetBytes("abc")));
            var header = tar.Take(Block).ToArray();
            long sum = header.Select((b, i) => i >= 148 && i < 156 ? (long)' ' : b).Sum();
            Assert.Equal(Convert.ToString(sum, 8).PadLeft(6, '0'), Encoding.ASCII.GetString(header, 148, 6));
            Assert.Equal(0, header[154]);
            Assert.Equal((byte)' ', header[155]);
        }

        [Fact]
        public async Task Reader_AcceptsTheSignedChecksumOfOldTars()
        {
            var entry = new RawEntry("f", size: 1) { Data = new byte[] { 7 } };
            entry.Text(265, "é-user"); // bytes over 127: signed and unsigned sums differ
            Assert.NotEqual(entry.UnsignedSum(), entry.SignedSum());
            var read = Assert.Single(await TarTestSupport.ReadAll(Archive(entry.WithChecksum(entry.SignedSum()))));
            Assert.Equal("é-user", read.Entry.UserName);
            Assert.Single(await TarTestSupport.ReadAll(Archive(entry.WithChecksum(entry.UnsignedSum()))));
        }

        [Theory]
        [InlineData(1)]
        [InlineData(-1)]
        [InlineData(256)]
        public async Task Reader_RefusesAWrongChecksum(long off)
        {
            var entry = new RawEntry("f");
            var e = await Refused(Archive(entry.WithChecksum(entry.UnsignedSum() + off)));
            Assert.Equal(RegistryErrorKind.InvalidRequest, e.Kind);
            Assert.Contains("checksum", e.Message);
        }

        [Fact]
        public async Task Reader_RefusesAHeaderWithoutAChecksum()
        {
            var entry = new RawEntry("f"); // checksum field left as NULs: reads as 0
            Assert.Equal(RegistryErrorKind.InvalidRequest, (await Refused(Archive(entry))).Kind);
        }

        // ------------------------------------------------------------------ numbers

        [Theory]
        [InlineData("00000000003\0")]
        [InlineData("00000000003 ")]
        [InlineData("          3 ")]
        [InlineData("3\0\0\0\0\0\0\0\0\0\0\0")]
        [InlineData("\0\0\0\0\0\0\0\0\0\0\03")]
        public async Task Reader_OctalSizes_PaddedWithSpacesOrNuls(string field)
        {
            var entry = new RawEntry("f") { Data = Encoding.ASCII.GetBytes("abc") };
            entry.Field(124, 12, Encoding.ASCII.GetBytes(field));
            var read = Assert.Single(await TarTestSupport.ReadAll(Archive(entry.WithChecksum())));
            Assert.Equal(3, read.Entry.Size);
            Assert.Equal("abc", Encoding.ASCII.GetString(read.Data));
        }

        [Theory]
        [InlineData("00000000008\0")]   // not an octal digit
        [InlineData("0000 0000003")]    // a space inside the number
        [InlineData("0x0000000003")]
        [InlineData("-0000000003\0")]
        public async Task Reader_RefusesSizesThatAreNotOctal(string field)
        {
            var entry = new RawEntry("f");
            entry.Field(124, 12, Encoding.ASCII.GetBytes(field));
            var e = await Refused(Archive(entry.WithChecksum()));
            Assert.Equal(RegistryErrorKind.InvalidRequest, e.Kind);
            Assert.Contains("size", e.Message);
        }

        [Fact]
        public async Task Reader_Base256Numbers_ForSizeAndIds()
        {
            var entry = new RawEntry("f") { Data = Encoding.ASCII.GetBytes("hello") };
            var size = new byte[12];
            size[0] = 0x80;
            size[11] = 5;
            entry.Field(124, 12, size);
            entry.Field(108, 8, new byte[] { 0x80, 0, 0, 0, 0x12, 0x34, 0x56, 0x78 }); // uid 0x12345678, past octal's 07777777
            var read = Assert.Single(await TarTestSupport.ReadAll(Archive(entry.WithChecksum())));
            Assert.Equal(5, read.Entry.Size);
            Assert.Equal("hello", Encoding.ASCII.GetString(read.Data));
            Assert.Equal(0x12345678, read.Entry.UserId);
        }

        [Fact]
        public void ParseNumber_Base256_LargeNegativeAndOverflowing()
        {
            var big = new byte[12];
            big[0] = 0x80;
            big[7] = 0x02; // 2 << 32: a 8 GiB size, past what 11 octal digits hold
            Assert.Equal(8L << 30, TarReader.ParseNumber(big, 0, 12, "size", 0));

            var negative = Enumerable.Repeat((byte)0xFF, 12).ToArray();
            Assert.Contains("negative", Assert.Throws<ImageArchiveException>(() => TarReader.ParseNumber(negative, 0, 12, "size", 0)).Message);

            var overflow = new byte[] { 0x80 }.Concat(Enumerable.Repeat((byte)0xFF, 11)).ToArray();
            Assert.Contains("too large", Assert.Throws<ImageArchiveException>(() => TarReader.ParseNumber(overflow, 0, 12, "size", 0)).Message);

            var octalOverflow = Encoding.ASCII.GetBytes("7777777777777777777777777");
            Assert.Contains("too large", Assert.Throws<ImageArchiveException>(() => TarReader.ParseNumber(octalOverflow, 0, 25, "size", 0)).Message);
        }

        [Fact]
        public async Task Reader_ASizePastTheEndOfASeekableArchive_IsTruncation()
        {
            var entry = new RawEntry("f");
            var size = new byte[12];
            size[0] = 0x80;
            size[7] = 0x01; // 4 GiB claimed by a 2 KiB archive
            entry.Field(124, 12, size);
            var e = await Refused(Archive(entry.WithChecksum()));
            Assert.Equal(RegistryErrorKind.InvalidRequest, e.Kind);
            Assert.Contains("truncated", e.Message);
        }

        // ------------------------------------------------------------------ long names and numbers

        [Fact]
        public async Task Writer_NameOf100Ascii_FitsUstar_101GoesToPax()
        {
            var fits = new string('n', 100);
            var tar = await Write(w => w.WriteFileAsync(fits, new byte[1]));
            Assert.Equal((byte)'0', tar[156]);
            Assert.Equal(fits, Encoding.ASCII.GetString(tar, 0, 100));

            var longer = new string('n', 101);
            tar = await Write(w => w.WriteFileAsync(longer, new byte[1]));
            Assert.Equal((byte)'x', tar[156]);
            Assert.Equal(longer, Assert.Single(await TarTestSupport.ReadAll(tar)).Entry.Name);
            Assert.Equal(longer, Assert.Single(TarTestSupport.SystemRead(new MemoryStream(tar))).Key);
        }

        [Fact]
        public async Task Writer_NonAsciiName_GoesToPax_WithAnAsciiStandIn()
        {
            var tar = await Write(w => w.WriteFileAsync("dir/é.txt", new byte[1]));
            Assert.Equal((byte)'x', tar[156]);
            Assert.Equal("dir/_.txt", Encoding.ASCII.GetString(tar, 2 * Block, 9)); // after the pax header and its one block of records
            Assert.Equal("dir/é.txt", Assert.Single(await TarTestSupport.ReadAll(tar)).Entry.Name);
            Assert.Equal("dir/é.txt", Assert.Single(TarTestSupport.SystemRead(new MemoryStream(tar))).Key);
        }

        // A pax record counts its own length: "NN path=...\n". Where adding the length's digits adds a digit (…99 → 100…)
        // the writer must count one more; both readers check the record ends exactly where its length says.
        [Theory]
        [InlineData(85)]
        [InlineData(88)]
        [InlineData(89)]
        [InlineData(90)]
        [InlineData(91)]
        [InlineData(92)]
        [InlineData(986)]
        [InlineData(987)]
        [InlineData(988)]
        [InlineData(989)]
        [InlineData(990)]
        public async Task Writer_PaxRecordLengths_AcrossDigitBoundaries(int asciiLength)
        {
            var name = "é" + new string('p', asciiLength); // the é forces pax even when short
            var tar = await Write(w => w.WriteFileAsync(name, Encoding.ASCII.GetBytes("x")));
            var ours = Assert.Single(await TarTestSupport.ReadAll(tar));
            Assert.Equal(name, ours.Entry.Name);
            Assert.Equal("x", Encoding.ASCII.GetString(ours.Data));
            Assert.Equal(name, Assert.Single(TarTestSupport.SystemRead(new MemoryStream(tar))).Key);
        }

        [Fact]
        public async Task Writer_LargeIdsAndLongUserNames_GoToPax_AndReadBack()
        {
            var template = new TarEntry { UserId = 3_000_000, GroupId = 70_000_000, UserName = new string('u', 40), GroupName = "staff" };
            var tar = await Write(w => w.WriteFileAsync("f", new byte[2], template));
            var ours = Assert.Single(await TarTestSupport.ReadAll(tar)).Entry;
            Assert.Equal(3_000_000, ours.UserId);
            Assert.Equal(70_000_000, ours.GroupId);
            Assert.Equal(new string('u', 40), ours.UserName);
            Assert.Equal("staff", ours.GroupName);
            var system = Assert.Single(TarTestSupport.SystemRead(new MemoryStream(tar))).Value.Entry;
            Assert.Equal(3_000_000, system.Uid);
            Assert.Equal(70_000_000, system.Gid);
        }

        [Fact]
        public async Task Reader_JoinsTheUstarPrefix()
        {
            var name = new string('d', 120) + "/" + new string('f', 60);
            var tar = TarTestSupport.SystemTar(Sys.TarEntryFormat.Ustar, new Sys.UstarTarEntry(Sys.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(new byte[4]) });
            Assert.NotEqual(0, tar[345]); // System.Formats.Tar split it into prefix and name
            Assert.Equal(name, Assert.Single(await TarTestSupport.ReadAll(tar)).Entry.Name);
        }

        [Fact]
        public async Task Reader_PaxOverridesTheHeader()
        {
            var records = "21 path=pax/name.txt\n" + "10 size=4\n" + "14 mtime=12.5\n";
            var pax = new RawEntry("././@PaxHeader", 'x', Encoding.UTF8.GetByteCount(records)) { Data = Encoding.UTF8.GetBytes(records) };
            var file = new RawEntry("short", size: 99) { Data = Encoding.ASCII.GetBytes("data") };
            var read = Assert.Single(await TarTestSupport.ReadAll(Archive(pax.WithChecksum(), file.WithChecksum())));
            Assert.Equal("pax/name.txt", read.Entry.Name);
            Assert.Equal(4, read.Entry.Size);
            Assert.Equal(12, read.Entry.ModificationTime);
            Assert.Equal("data", Encoding.ASCII.GetString(read.Data));
        }

        [Theory]
        [InlineData("20 path=pax/name.txt\n")]   // length one short
        [InlineData("22 path=pax/name.txt\n")]   // one long: runs past the data
        [InlineData("path=pax/name.txt\n")]      // no length
        [InlineData("9 =nokey\n")]               // no key
        [InlineData("11 size=-4\n")]             // a negative size
        public async Task Reader_RefusesDamagedPaxRecords(string records)
        {
            var pax = new RawEntry("././@PaxHeader", 'x', Encoding.UTF8.GetByteCount(records)) { Data = Encoding.UTF8.GetBytes(records) };
            var file = new RawEntry("f");
            Assert.Equal(RegistryErrorKind.InvalidRequest, (await Refused(Archive(pax.WithChecksum(), file.WithChecksum()))).Kind);
        }

        [Fact]
        public async Task Reader_RefusesAGnuLongNameOverTheLimit()
        {
            var longName = new RawEntry("././@LongLink", 'L', 5000) { Data = Encoding.ASCII.GetBytes(new string('a', 5000)) };
            var file = new RawEntry("f");
            var tar = Archive(longName.WithChecksum(), file.WithChecksum());
            Assert.Equal(new string('a', 5000), Assert.Single(await TarTestSupport.ReadAll(tar)).Entry.Name);
            var e = await Refused(tar, new TarReaderOptions { MaxMetadataSize = 4096 });
            Assert.Equal(RegistryErrorKind.LimitExceeded, e.Kind);
        }

        // ------------------------------------------------------------------ truncation

        [Theory]
        [InlineData(1)]
        [InlineData(300)]
        [InlineData(511)]
        public async Task Reader_ArchiveEndingInsideAHeader_IsTruncated(int length)
        {
            var header = new RawEntry("f").WithChecksum().Bytes().Take(length).ToArray();
            foreach (var stream in new Stream[] { new MemoryStream(header), new TarTestSupport.Unseekable(header) })
            {
                var e = await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(stream));
                Assert.Equal(RegistryErrorKind.InvalidRequest, e.Kind);
                Assert.Contains("truncated inside a header", e.Message);
            }
        }

        [Fact]
        public async Task Reader_ArchiveEndingAfterAnExtendedHeader_IsRefused()
        {
            var records = "21 path=pax/name.txt\n";
            var pax = new RawEntry("././@PaxHeader", 'x', records.Length) { Data = Encoding.ASCII.GetBytes(records) }.WithChecksum();
            var endMarker = Archive(pax);                  // the entry it describes is missing, the end marker follows
            Assert.Contains("extended header", (await Refused(endMarker)).Message);
            var cut = pax.Bytes();                          // no end marker at all
            Assert.Contains("extended header", (await Refused(cut)).Message);
            var inside = pax.Bytes().Take(Block + 10).ToArray(); // ends inside the pax data
            Assert.Contains("truncated", (await Refused(inside)).Message);
        }

        [Fact]
        public async Task Reader_UnseekableArchiveEndingInsideData_IsTruncated()
        {
            var entry = new RawEntry("f", size: 3000) { Data = new byte[3000] };
            var cut = entry.WithChecksum().Bytes().Take(Block + 1000).ToArray();
            var e = await Assert.ThrowsAsync<ImageArchiveException>(() => TarTestSupport.ReadAll(new TarTestSupport.Unseekable(cut)));
            Assert.Contains("truncated", e.Message);
        }
    }
}
