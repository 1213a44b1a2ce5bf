using MobyDistribution.Registry;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>Which tags stand for referrers (the tag schema and cosign's tags) rather than for images.</summary>
    public sealed class ReferrerTagTests
    {
        private const string Hex = "e1391180cda778fdf7b6dd3a1969e7db287893a757ec27ccf169a01134d561e4";

        [Theory]
        [InlineData("sha256-" + Hex, true)]
        [InlineData("sha256-" + Hex + ".sig", true)]
        [InlineData("sha256-" + Hex + ".att", true)]
        [InlineData("sha256-" + Hex + ".sbom", true)]
        [InlineData("sha512-" + Hex, true)]
        [InlineData("sha256-" + Hex + ".txt", false)]
        [InlineData("sha256-abc", false)]
        [InlineData("v1.2.3", false)]
        [InlineData("latest", false)]
        [InlineData("SHA256-" + Hex, false)]
        public void A_referrer_tag_is_the_schema_s_or_cosign_s(string tag, bool referrer) =>
            Assert.Equal(referrer, ReferrerService.IsReferrerTag(tag));
    }
}
