using System;
using System.Text.Json;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>Platform strings (<c>os/arch[/variant][:osversion]</c>), containerd's normalisation and index matching.</summary>
    public sealed class PlatformTests
    {
        [Theory]
        [InlineData("linux/arm64/v8", "linux", "arm64", "v8", null)]
        [InlineData("linux/amd64", "linux", "amd64", null, null)]
        [InlineData("Linux/AMD64", "linux", "amd64", null, null)]
        [InlineData("  linux/arm/V7  ", "linux", "arm", "v7", null)]
        [InlineData("windows/amd64:10.0.17763.5576", "windows", "amd64", null, "10.0.17763.5576")]
        [InlineData("linux/ppc64le", "linux", "ppc64le", null, null)]
        [InlineData("linux/x86_64", "linux", "x86_64", null, null)] // kept as written; Matches normalises it
        public void Parse_ReadsOsArchitectureVariantAndVersion(string text, string os, string arch, string? variant, string? osVersion)
        {
            var p = Platform.Parse(text);
            Assert.Equal(os, p.OS);
            Assert.Equal(arch, p.Architecture);
            Assert.Equal(variant, p.Variant);
            Assert.Equal(osVersion, p.OSVersion);
            Assert.Equal(p, Platform.Parse(p.ToString())); // ToString is the parseable form
        }

        [Fact]
        public void ToString_IsTheCanonicalForm()
        {
            Assert.Equal("linux/arm64/v8", Platform.Parse("LINUX/ARM64/V8").ToString());
            Assert.Equal("windows/amd64:10.0.20348.1", new Platform("windows", "amd64", null, "10.0.20348.1").ToString());
        }

        [Theory]
        [InlineData(null)]
        [InlineData("")]
        [InlineData("   ")]
        [InlineData("linux")]
        [InlineData("linux/")]
        [InlineData("/amd64")]
        [InlineData("linux//v8")]
        [InlineData("linux/arm64/v8/extra")]
        [InlineData("linux/amd64:")]
        [InlineData("linux/am d64")]
        [InlineData("linux/amd64;rm")]
        [InlineData("linux\\amd64")]
        public void BadInput_IsRefused(string? text)
        {
            Assert.False(Platform.TryParse(text, out var p));
            Assert.Null(p);
            var e = Assert.Throws<FormatException>(() => Platform.Parse(text!));
            Assert.Contains("os/architecture", e.Message);
        }

        [Theory]
        [InlineData("i386", null, "386", null)]
        [InlineData("x86_64", null, "amd64", null)]
        [InlineData("x86-64", null, "amd64", null)]
        [InlineData("amd64", "v1", "amd64", null)]
        [InlineData("amd64", "v3", "amd64", "v3")]
        [InlineData("aarch64", null, "arm64", null)]
        [InlineData("arm64", "v8", "arm64", null)]
        [InlineData("arm64", "8", "arm64", null)]
        [InlineData("ARM64", "V8", "arm64", null)]
        [InlineData("arm64", "v9", "arm64", "v9")]
        [InlineData("armhf", null, "arm", "v7")]
        [InlineData("armel", null, "arm", "v6")]
        [InlineData("arm", null, "arm", "v7")]
        [InlineData("arm", "7", "arm", "v7")]
        [InlineData("arm", "5", "arm", "v5")]
        [InlineData("arm", "v6", "arm", "v6")]
        [InlineData("riscv64", "", "riscv64", null)]
        public void NormalizeArch_FollowsContainerd(string arch, string? variant, string wantArch, string? wantVariant)
        {
            Assert.Equal((wantArch, wantVariant), Platform.NormalizeArch(arch, variant));
        }

        [Theory]
        [InlineData("linux/arm64", "linux", "arm64", "v8", null, true)]       // arm64 ~ arm64/v8
        [InlineData("linux/arm64/v8", "linux", "arm64", null, null, true)]
        [InlineData("linux/arm64", "linux", "aarch64", null, null, true)]
        [InlineData("linux/amd64", "linux", "x86_64", null, null, true)]
        [InlineData("linux/arm/v7", "linux", "arm", null, null, true)]        // a bare arm image is v7
        [InlineData("linux/arm/v7", "linux", "arm", "v6", null, false)]
        [InlineData("linux/arm", "linux", "arm", "v6", null, true)]           // no variant asked: any
        [InlineData("linux/arm64/v9", "linux", "arm64", "v8", null, false)]
        [InlineData("linux/amd64", "LINUX", "amd64", null, null, true)]
        [InlineData("linux/amd64", "windows", "amd64", null, null, false)]
        [InlineData("linux/amd64", "linux", "arm64", null, null, false)]
        [InlineData("windows/amd64:10.0.17763.5576", "windows", "amd64", null, "10.0.17763.5576", true)]
        [InlineData("windows/amd64:10.0.17763.5576", "windows", "amd64", null, "10.0.20348.2340", false)]
        [InlineData("windows/amd64:10.0.17763.5576", "windows", "amd64", null, null, false)]
        [InlineData("windows/amd64", "windows", "amd64", null, "10.0.20348.2340", true)] // no version asked: any
        public void Matches_NormalisesThenCompares(string wanted, string os, string arch, string? variant, string? osVersion, bool expected)
        {
            Assert.Equal(expected, Platform.Parse(wanted).Matches(new Platform(os, arch, variant, osVersion)));
        }

        [Fact]
        public void Matches_NoCandidate_IsFalse() => Assert.False(Platform.Parse("linux/amd64").Matches(null));

        [Fact]
        public void Equality_IsByCanonicalForm()
        {
            Assert.Equal(new Platform("linux", "arm64", "v8"), Platform.Parse("Linux/Arm64/V8"));
            Assert.Equal(new Platform("linux", "arm64", "v8").GetHashCode(), Platform.Parse("linux/arm64/v8").GetHashCode());
            Assert.NotEqual(Platform.Parse("linux/arm64"), Platform.Parse("linux/arm64/v8")); // equality is exact; Matches is the loose one
            Assert.False(Platform.Parse("linux/amd64").Equals(null));
        }

        [Fact]
        public void Json_UsesTheIndexFieldNames_AndLeavesOutWhatIsUnset()
        {
            Assert.Equal("{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}", JsonSerializer.Serialize(Platform.Parse("linux/arm64/v8")));
            var p = JsonSerializer.Deserialize<Platform>("{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.17763.5576\",\"os.features\":[\"win32k\"]}")!;
            Assert.Equal("windows/amd64:10.0.17763.5576", p.ToString());
            Assert.Equal(new[] { "win32k" }, p.OSFeatures);
        }
    }
}
