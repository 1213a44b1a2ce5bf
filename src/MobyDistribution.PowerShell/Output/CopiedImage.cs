using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell
{
    /// <summary>An image Copy-RegistryImage put at its destination, and what the copy moved.</summary>
    public sealed class CopiedImage
    {
        /// <summary>Makes the record of a finished copy.</summary>
        public CopiedImage(ImageCopyResult result)
        {
            Descriptor = result.Descriptor;
            Source = result.Plan.Source;
            Transferred = result.TransferredCount;
            Mounted = result.MountedCount;
            Skipped = result.SkippedCount;
            BytesTransferred = result.BytesTransferred;
            DigestChanged = result.Plan.DigestChanges;
        }

        /// <summary>The destination, pinned to the digest pushed: registry/repository:tag@digest.</summary>
        public ImageReference? Reference => Descriptor.Source;

        /// <summary>The destination manifest's digest (equal to the source's unless a platform subset was copied).</summary>
        public Digest Digest => Descriptor.Digest;

        public string MediaType => Descriptor.MediaType;

        /// <summary>The destination manifest's size in bytes.</summary>
        public long Size => Descriptor.Size;

        /// <summary>Where the image was copied from.</summary>
        public ImageReference Source { get; }

        /// <summary>Blobs streamed from the source.</summary>
        public int Transferred { get; }

        /// <summary>Blobs mounted from the source repository (same registry).</summary>
        public int Mounted { get; }

        /// <summary>Blobs the destination had already (or foreign layers left where they are).</summary>
        public int Skipped { get; }

        public long BytesTransferred { get; }

        /// <summary>True when a platform subset made a new index with a digest of its own.</summary>
        public bool DigestChanged { get; }

        /// <summary>The destination manifest's descriptor.</summary>
        public Descriptor Descriptor { get; }

        /// <summary>The descriptor, so a copy binds wherever a descriptor is expected.</summary>
        public static implicit operator Descriptor(CopiedImage image) => image.Descriptor;

        /// <inheritdoc />
        public override string ToString() => Reference?.ToString() ?? Descriptor.ToString();
    }
}
