using System;
using MobyDistribution.Errors;

namespace MobyDistribution.Formats
{
    /// <summary>
    /// An image archive (a <c>docker save</c> tar, an OCI layout, a layer tar) that is malformed, too large, or hostile.
    /// <see cref="RegistryException.Kind"/> says which: <see cref="RegistryErrorKind.Security"/> for an entry that escapes
    /// (absolute path, <c>..</c>, a link pointing outside), <see cref="RegistryErrorKind.LimitExceeded"/> for a size cap,
    /// <see cref="RegistryErrorKind.InvalidRequest"/> for anything else that is wrong with it.
    /// </summary>
    public class ImageArchiveException : RegistryException
    {
        public ImageArchiveException(RegistryErrorKind kind, string message, string? entryName = null, Exception? inner = null)
            : base(kind, message, inner)
        {
            EntryName = entryName;
        }

        /// <summary>The archive entry at fault, as written in the archive, when there is one.</summary>
        public string? EntryName { get; }

        internal static ImageArchiveException Invalid(string message, string? entry = null, Exception? inner = null) =>
            new ImageArchiveException(RegistryErrorKind.InvalidRequest, message, entry, inner);

        internal static ImageArchiveException Unsafe(string message, string entry) =>
            new ImageArchiveException(RegistryErrorKind.Security, message, entry);
    }
}
