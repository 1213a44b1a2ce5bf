using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// What Sync-RegistryRepository did with one tag (PowerShell type name <c>MobyDistribution.SyncResult</c>). It binds by
    /// property name: to Copy-RegistryImage by <see cref="Source"/>, to Remove-RegistryTag by <see cref="Reference"/> (the
    /// destination tag).
    /// </summary>
    public sealed class SyncResult
    {
        /// <summary>The type name the module's views and scripts know a sync result by.</summary>
        public const string TypeName = "MobyDistribution.SyncResult";

        /// <summary>Makes the record of one tag of a sync.</summary>
        public SyncResult(TagSyncResult result)
        {
            Source = result.Source;
            Destination = result.Destination;
            Tag = result.Tag;
            Action = result.Action;
            Digest = result.Digest;
            BytesTransferred = result.BytesTransferred;
            SourceDigest = result.Plan.SourceDigest ?? result.Copy?.Plan.SourceDescriptor.Digest;
        }

        /// <summary>The source image, registry/repository:tag.</summary>
        public ImageReference Source { get; }

        /// <summary>The destination, registry/repository:tag.</summary>
        public ImageReference Destination { get; }

        /// <summary>The destination tag (the same as <see cref="Destination"/>), so that a result pipes to Remove-RegistryTag.</summary>
        public ImageReference Reference => Destination;

        /// <summary>The tag, the same on both sides.</summary>
        public string Tag { get; }

        /// <summary>Copied, Updated, Unchanged, Pruned or Failed.</summary>
        public SyncAction Action { get; }

        /// <summary>The manifest the destination tag points at now (for Pruned: the one it pointed at; none for Failed).</summary>
        public Digest? Digest { get; }

        /// <summary>The manifest the source tag points at (differs from <see cref="Digest"/> when a platform subset was copied).</summary>
        public Digest? SourceDigest { get; }

        /// <summary>Blob bytes streamed from the source for this tag; mounted and skipped blobs cost none.</summary>
        public long BytesTransferred { get; }

        /// <inheritdoc />
        public override string ToString() => $"{Action} {Destination}";
    }
}
