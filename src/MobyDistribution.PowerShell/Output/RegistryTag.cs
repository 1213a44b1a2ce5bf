namespace MobyDistribution.PowerShell
{
    /// <summary>A tag of a repository, as Get-RegistryTag writes it.</summary>
    /// <remarks>
    /// <see cref="Digest"/>, <see cref="MediaType"/> and <see cref="Size"/> are filled in when the tag was asked for
    /// by name (one HEAD request per tag); a plain listing leaves them empty.
    /// </remarks>
    public sealed class RegistryTag
    {
        /// <summary>Makes a tag of <paramref name="repository"/> (a reference without tag or digest).</summary>
        public RegistryTag(ImageReference repository, string tag, Descriptor? descriptor = null)
        {
            Registry = repository.Registry;
            Repository = repository.Repository;
            Tag = tag;
            Reference = repository.WithDigest(null).WithTag(tag);
            Digest = descriptor?.Digest;
            MediaType = descriptor?.MediaType;
            Size = descriptor?.Size;
        }

        /// <summary>The registry, e.g. <c>localhost:5000</c>.</summary>
        public string Registry { get; }

        /// <summary>The repository path, e.g. <c>library/alpine</c>.</summary>
        public string Repository { get; }

        /// <summary>The tag.</summary>
        public string Tag { get; }

        /// <summary>The fully qualified reference with the tag: what to pass to Get-ImageManifest.</summary>
        public ImageReference Reference { get; }

        /// <summary>The digest of the manifest the tag points at, when known.</summary>
        public Digest? Digest { get; }

        /// <summary>The media type of that manifest, when known.</summary>
        public string? MediaType { get; }

        /// <summary>The size of that manifest in bytes, when known.</summary>
        public long? Size { get; }

        /// <summary>The type name a tag without manifest information is written with, so that its views show only the names.</summary>
        internal const string ListedTypeName = "MobyDistribution.PowerShell.RegistryTag#Listed";

        /// <summary>What a cmdlet writes: the tag itself, or for a plain listing the tag under <see cref="ListedTypeName"/>.</summary>
        internal object ToOutput()
        {
            if (Digest != null) return this;
            var wrapped = new System.Management.Automation.PSObject(this);
            wrapped.TypeNames.Insert(0, ListedTypeName);
            return wrapped;
        }

        /// <inheritdoc />
        public override string ToString() => Reference.ToString();
    }
}
