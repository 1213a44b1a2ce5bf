using System.IO;
using MobyDistribution.IO;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>The \\?\ form that .NET Framework needs for paths over MAX_PATH (the decision alone; it is applied only there).</summary>
    public sealed class LongPathTests
    {
        private static readonly string Deep = string.Join(@"\", System.Linq.Enumerable.Repeat("folder-name-of-thirty-chars-xx", 9));

        [Fact]
        public void A_long_drive_path_gets_the_prefix_and_backslashes()
        {
            var path = @"C:\" + Deep.Replace('\\', '/') + @"\blobs\sha256\abc";
            Assert.True(path.Length >= LongPath.Limit);
            Assert.Equal(@"\\?\C:\" + Deep + @"\blobs\sha256\abc", LongPath.WithPrefix(path));
        }

        [Fact]
        public void A_long_UNC_path_gets_the_UNC_prefix()
        {
            var path = @"\\server\share\" + Deep;
            Assert.Equal(@"\\?\UNC\server\share\" + Deep, LongPath.WithPrefix(path));
        }

        [Theory]
        [InlineData(@"C:\short\path.json")]          // under the limit: as it is, so legacy path handling never sees a prefix it refuses
        [InlineData(@"\\?\C:\already\prefixed")]
        [InlineData(@"\\.\pipe\name")]
        public void Other_paths_are_left_as_they_are(string path) => Assert.Equal(path, LongPath.WithPrefix(path));

        [Fact]
        public void Long_prefixed_or_relative_paths_are_left_as_they_are()
        {
            Assert.Equal(@"\\?\C:\" + Deep, LongPath.WithPrefix(@"\\?\C:\" + Deep));
            Assert.Equal(Deep, LongPath.WithPrefix(Deep));
        }

        [Fact]
        public void Off_NET_Framework_on_Windows_nothing_changes()
        {
            var path = Path.Combine(Path.GetTempPath(), Deep.Replace('\\', Path.DirectorySeparatorChar));
            Assert.Equal(path, LongPath.For(path));
        }
    }
}
