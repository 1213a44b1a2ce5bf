namespace MobyDistribution.PowerShell
{
    /// <summary>A repository of a registry's catalog, as Get-RegistryCatalog writes it; pipe it to Get-RegistryTag.</summary>
    public sealed class RegistryRepository
    {
        /// <summary>Makes the entry for <paramref name="repository"/> of <paramref name="registry"/>.</summary>
        public RegistryRepository(string registry, string repository)
        {
            Reference = ImageReference.Create(registry, repository);
            Registry = Reference.Registry;
            Repository = Reference.Repository;
        }

        /// <summary>The registry, e.g. <c>localhost:5000</c>.</summary>
        public string Registry { get; }

        /// <summary>The repository path.</summary>
        public string Repository { get; }

        /// <summary>The fully qualified repository, without tag or digest.</summary>
        public ImageReference Reference { get; }

        /// <inheritdoc />
        public override string ToString() => Reference.ToString();
    }
}
