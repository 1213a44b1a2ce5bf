using System;
using System.IO;
using System.Runtime.InteropServices;

namespace MobyDistribution.IO
{
    /// <summary>
    /// Paths beyond Windows' MAX_PATH (260 characters, 248 for a folder) for .NET Framework, which does not lift that limit
    /// itself: such a path is given to the file APIs as <c>\\?\C:\...</c> (or <c>\\?\UNC\server\share\...</c>). A no-op
    /// on .NET (Core), which adds the prefix itself, and off Windows. Only paths over the limit get it, so a process whose
    /// legacy path handling refuses the prefix is no worse off than without it. An OCI layout's blob paths
    /// (<c>blobs/sha256/</c> and 64 hex digits) and the temporary names beside them pass the limit in a folder a hundred
    /// and fifty characters deep.
    /// </summary>
    internal static class LongPath
    {
        /// <summary>Below this length a path needs no prefix (MAX_PATH less the 12 characters Windows keeps for a folder's 8.3 file name).</summary>
        internal const int Limit = 248;

        private static readonly bool Needed =
            RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            && RuntimeInformation.FrameworkDescription.StartsWith(".NET Framework", StringComparison.OrdinalIgnoreCase);

        /// <summary>The form of an absolute path to hand to the file APIs.</summary>
        public static string For(string fullPath) => Needed ? WithPrefix(fullPath) : fullPath;

        /// <summary>
        /// The <c>\\?\</c> form of an absolute Windows path of <see cref="Limit"/> characters or more; others as they are.
        /// The prefix turns off Windows' own normalization, so separators are made backslashes here (the path is full already:
        /// no <c>.</c> or <c>..</c> left).
        /// </summary>
        internal static string WithPrefix(string fullPath)
        {
            if (fullPath.Length < Limit) return fullPath;
            if (fullPath.StartsWith(@"\\?\", StringComparison.Ordinal) || fullPath.StartsWith(@"\\.\", StringComparison.Ordinal)) return fullPath;
            var path = fullPath.Replace('/', '\\');
            if (path.StartsWith(@"\\", StringComparison.Ordinal)) return @"\\?\UNC\" + path.Substring(2);
            if (path.Length >= 3 && char.IsLetter(path[0]) && path[1] == ':' && path[2] == '\\') return @"\\?\" + path;
            return fullPath; // relative, or drive-relative: not a path the prefix can be put on
        }
    }
}
