using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell
{
    /// <summary>A blob Publish-ImageBlob put into a repository, and how it got there.</summary>
    public sealed class PublishedBlob
    {
        /// <summary>Makes the record of an upload of <paramref name="path"/>.</summary>
        public PublishedBlob(BlobUploadResult result, string path)
        {
            Descriptor = result.Descriptor;
            Outcome = result.Outcome;
            Path = path;
        }

        /// <summary>Uploaded (bytes sent), Mounted (from another repository) or Existed (nothing sent).</summary>
        public BlobUploadOutcome Outcome { get; }

        /// <summary>The blob's digest.</summary>
        public Digest Digest => Descriptor.Digest;

        /// <summary>The blob's size in bytes.</summary>
        public long Size => Descriptor.Size;

        /// <summary>The media type given to the upload.</summary>
        public string MediaType => Descriptor.MediaType;

        /// <summary>Where the blob now is: registry/repository@digest.</summary>
        public ImageReference? Source => Descriptor.Source;

        /// <summary>The local file that was published.</summary>
        public string Path { get; }

        /// <summary>The blob's descriptor, ready for a manifest's layers or config.</summary>
        public Descriptor Descriptor { get; }

        /// <summary>The descriptor, so that a published blob binds wherever a descriptor is expected.</summary>
        public static implicit operator Descriptor(PublishedBlob blob) => blob.Descriptor;

        /// <inheritdoc />
        public override string ToString() => Descriptor.ToString();
    }
}
