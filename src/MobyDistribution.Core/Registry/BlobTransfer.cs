using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.Registry
{
    /// <summary>Options of a <see cref="BlobTransfer"/>.</summary>
    public sealed class BlobTransferOptions
    {
        /// <summary>The caller knows the destination lacks the blob (a plan asked already): do not ask again.</summary>
        public bool KnownMissing { get; set; }

        /// <summary>A repository of the destination's registry to mount the blob from, when it may be there.</summary>
        public string? MountFrom { get; set; }
    }

    /// <summary>
    /// The one way a blob moves into a repository, for copy, import, add-layer and sync alike: present? skip; same registry?
    /// mount; otherwise stream it in one PUT and commit. Asking whether it is there and opening the upload session go out
    /// together (with the source's GET, for a copy between registries), so a missing blob costs two round trips. The whole move is retried within the blob's one retry budget
    /// (the bytes opened again each time), and the requests inside it draw from that same budget.
    /// </summary>
    public static class BlobTransfer
    {
        /// <summary>Copies <paramref name="blob"/> from a repository of any registry into <paramref name="repository"/> of <paramref name="destination"/>.</summary>
        public static Task<BlobUploadResult> CopyAsync(RegistryClient source, string sourceRepository, Descriptor blob, RegistryClient destination, string repository,
            BlobTransferOptions? options = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            if (source == null) throw new ArgumentNullException(nameof(source));
            if (blob == null) throw new ArgumentNullException(nameof(blob));
            bool sameRegistry = string.Equals(source.Endpoint.Registry, destination.Endpoint.Registry, StringComparison.OrdinalIgnoreCase);
            long? size = blob.Size >= 0 ? blob.Size : (long?)null;
            var mountFrom = options?.MountFrom ?? (sameRegistry ? sourceRepository : null);
            return MoveAsync(ct => source.Blobs.OpenReadAsync(sourceRepository, blob.Digest, size, ct), blob, destination, repository,
                options?.KnownMissing ?? false, mountFrom, progress, cancellationToken, openEarly: true);
        }

        /// <summary>Pushes bytes that <paramref name="open"/> opens (again for each new start) as <paramref name="blob"/>.</summary>
        public static Task<BlobUploadResult> PushAsync(Func<CancellationToken, Task<Stream>> open, Descriptor blob, RegistryClient destination, string repository,
            BlobTransferOptions? options = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            if (open == null) throw new ArgumentNullException(nameof(open));
            if (blob == null) throw new ArgumentNullException(nameof(blob));
            return MoveAsync(open, blob, destination, repository, options?.KnownMissing ?? false, options?.MountFrom, progress, cancellationToken);
        }

        private static async Task<BlobUploadResult> MoveAsync(Func<CancellationToken, Task<Stream>> open, Descriptor blob, RegistryClient destination, string repository,
            bool knownMissing, string? mountFrom, IProgress<long>? progress, CancellationToken cancellationToken, bool openEarly = false)
        {
            if (destination == null) throw new ArgumentNullException(nameof(destination));
            using var content = UploadContent.FromOpener(open, openEarly);
            return await destination.Blobs.Uploader.UploadAsync(repository, content, new BlobUploadOptions
            {
                Digest = blob.Digest,
                Length = blob.Size >= 0 ? blob.Size : (long?)null,
                Monolithic = true,
                MountFrom = mountFrom,
                SkipExistenceCheck = knownMissing && mountFrom == null,
                MediaType = blob.MediaType,
            }, progress, cancellationToken).ConfigureAwait(false);
        }
    }
}
