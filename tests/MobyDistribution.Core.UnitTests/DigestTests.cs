using System;
using System.IO;
using System.Text;
using System.Text.Json;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>Digest parsing (what is safe in a URL or file name), computing and comparing.</summary>
    public sealed class DigestTests
    {
        private const string EmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        private const string AbcSha512 =
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

        [Fact]
        public void Parse_Sha256AndSha512()
        {
            var d = Digest.Parse("sha256:" + EmptySha256);
            Assert.Equal("sha256", d.Algorithm);
            Assert.Equal(EmptySha256, d.Hex);
            Assert.Equal("sha256:" + EmptySha256, d.ToString());
            Assert.Equal("e3b0c44298fc", d.Short);
            Assert.Equal("sha512", Digest.Parse("sha512:" + AbcSha512).Algorithm);
        }

        [Theory]
        [InlineData("", "empty")]
        [InlineData(EmptySha256, "expected 'sha256:")]                       // no algorithm
        [InlineData(":" + EmptySha256, "expected 'sha256:")]
        [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e", "not supported")]
        [InlineData("SHA256:" + EmptySha256, "not supported")]               // algorithms are lowercase
        [InlineData("sha256:" + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", "has 63")]
        [InlineData("sha256:" + EmptySha256 + "5", "has 65")]
        [InlineData("sha512:" + EmptySha256, "128 hex digits")]
        [InlineData("sha256:" + "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "lowercase")]
        [InlineData("sha256:" + "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "lowercase")]
        [InlineData("sha256:" + "../../../../etc/passwd/../../../../../../../../../../../../../aa", "lowercase")]
        [InlineData("sha256:" + EmptySha256 + " ", "has 65")]
        [InlineData("sha256:sha256:" + EmptySha256, "has 71")]
        public void Parse_RefusesWhatIsNotADigest_NamingTheProblem(string text, string problem)
        {
            Assert.False(Digest.TryParse(text, out var d));
            Assert.Null(d);
            var e = Assert.Throws<FormatException>(() => Digest.Parse(text));
            Assert.Contains(problem, e.Message);
        }

        [Fact]
        public void Parse_Null_IsRefused()
        {
            Assert.False(Digest.TryParse(null, out _));
            Assert.Throws<FormatException>(() => Digest.Parse(null!));
        }

        [Fact]
        public void Parse_HostileLongInput_IsShortenedInTheMessage()
        {
            var hostile = "sha256:" + new string('x', 10_000);
            var e = Assert.Throws<FormatException>(() => Digest.Parse(hostile));
            Assert.True(e.Message.Length < 300, e.Message);
            var algorithm = Assert.Throws<FormatException>(() => Digest.Parse(new string('a', 5000) + ":00"));
            Assert.True(algorithm.Message.Length < 300, algorithm.Message);
        }

        [Fact]
        public void Compute_KnownValues()
        {
            Assert.Equal("sha256:" + EmptySha256, Digest.Compute(Array.Empty<byte>()).ToString());
            var abc = Encoding.ASCII.GetBytes("xabcx");
            Assert.Equal(Digest.Compute(Encoding.ASCII.GetBytes("abc")), Digest.Compute(abc, 1, 3));
            Assert.Equal("sha512:" + AbcSha512, Digest.Compute(new MemoryStream(Encoding.ASCII.GetBytes("abc")), "sha512").ToString());
        }

        [Fact]
        public void Hasher_CountsFinishesAndResets()
        {
            var data = new byte[200_000];
            new Random(5).NextBytes(data);
            using var hasher = new DigestHasher();
            hasher.Append(data, 0, 70_000);
            hasher.Append(data, 70_000, data.Length - 70_000);
            Assert.Equal(data.Length, hasher.Length);
            Assert.Equal(Digest.Compute(data), hasher.Finish());
            Assert.Equal(0, hasher.Length);
            Assert.Equal("sha256:" + EmptySha256, hasher.Finish().ToString()); // reset: nothing appended since
            Assert.Throws<ArgumentException>(() => new DigestHasher("md5"));
        }

        [Fact]
        public void Equality_WithDigestsAndStrings()
        {
            var a = Digest.Parse("sha256:" + EmptySha256);
            var b = Digest.Compute(Array.Empty<byte>());
            Assert.True(a == b);
            Assert.False(a != b);
            Assert.Equal(a.GetHashCode(), b.GetHashCode());
            Assert.True(a.Equals((object)("sha256:" + EmptySha256)));
            Assert.False(a == null);
            Assert.True((Digest?)null == null);
            Assert.NotEqual(a, Digest.Compute(new byte[1]));
            string s = a;
            Assert.Equal("sha256:" + EmptySha256, s);
        }

        private sealed class Holder
        {
            public Digest? Digest { get; set; }
        }

        [Fact]
        public void Json_ReadsAndWritesTheStringForm_AndRefusesABadOne()
        {
            Assert.Equal("{\"Digest\":\"sha256:" + EmptySha256 + "\"}", JsonSerializer.Serialize(new Holder { Digest = Digest.Compute(Array.Empty<byte>()) }));
            Assert.Equal(Digest.Compute(Array.Empty<byte>()), JsonSerializer.Deserialize<Holder>("{\"Digest\":\"sha256:" + EmptySha256 + "\"}")!.Digest);
            Assert.Null(JsonSerializer.Deserialize<Holder>("{\"Digest\":null}")!.Digest);
            var e = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Holder>("{\"Digest\":\"sha256:nope\"}"));
            Assert.IsType<FormatException>(e.InnerException);
        }
    }
}
