using System;
using System.Diagnostics.CodeAnalysis;

namespace MobyDistribution
{
    // PLACEHOLDER API SHAPE: the parsing below is being replaced by a full implementation of Docker's grammar.
    /// <summary>A normalized image reference: registry, repository, optional tag and digest.</summary>
    public sealed class ImageReference : IEquatable<ImageReference>
    {
        public const string DockerHubRegistry = "docker.io";
        public const string DockerHubApiHost = "registry-1.docker.io";

        private ImageReference(string registry, string repository, string? tag, Digest? digest)
        {
            Registry = registry; Repository = repository; Tag = tag; Digest = digest;
        }

        public string Registry { get; }
        public string Repository { get; }
        public string? Tag { get; }
        public Digest? Digest { get; }

        public string ApiHost => Registry == DockerHubRegistry ? DockerHubApiHost : Registry;
        public string Name => Registry + "/" + Repository;
        public string Reference => Digest?.ToString() ?? Tag ?? "latest";

        public static ImageReference Parse(string value)
        {
            if (value == null) throw new FormatException("null");
            string? tag = null; Digest? digest = null;
            var at = value.IndexOf('@');
            if (at >= 0) { digest = MobyDistribution.Digest.Parse(value.Substring(at + 1)); value = value.Substring(0, at); }
            var slash = value.LastIndexOf('/');
            var colon = value.LastIndexOf(':');
            if (colon > slash) { tag = value.Substring(colon + 1); value = value.Substring(0, colon); }
            var first = value.IndexOf('/');
            string registry = DockerHubRegistry, repo = value;
            if (first > 0 && (value.Substring(0, first).Contains(".") || value.Substring(0, first).Contains(":") || value.Substring(0, first) == "localhost"))
            { registry = value.Substring(0, first); repo = value.Substring(first + 1); }
            if (registry == DockerHubRegistry && !repo.Contains("/")) repo = "library/" + repo;
            return new ImageReference(registry, repo, tag, digest);
        }

        public static bool TryParse(string? value, [NotNullWhen(true)] out ImageReference? reference)
        {
            try { reference = Parse(value!); return true; } catch (FormatException) { reference = null; return false; }
        }

        public static ImageReference Create(string registry, string repository, string? tag = null, Digest? digest = null)
            => new ImageReference(registry, repository, tag, digest);

        public ImageReference WithTag(string? tag) => new ImageReference(Registry, Repository, tag, null);
        public ImageReference WithDigest(Digest? digest) => new ImageReference(Registry, Repository, Tag, digest);
        public ImageReference WithRepository(string repository) => new ImageReference(Registry, repository, Tag, Digest);
        public ImageReference WithoutReference() => new ImageReference(Registry, Repository, null, null);

        public string FamiliarName => Registry == DockerHubRegistry
            ? (Repository.StartsWith("library/", StringComparison.Ordinal) ? Repository.Substring(8) : Repository)
            : Name;

        public string ToFamiliarString() => FamiliarName + (Tag != null ? ":" + Tag : "") + (Digest != null ? "@" + Digest : "");

        public override string ToString() => Name + (Tag != null ? ":" + Tag : "") + (Digest != null ? "@" + Digest : "");
        public bool Equals(ImageReference? other) => other is not null && other.ToString() == ToString();
        public override bool Equals(object? obj) => obj is ImageReference r && Equals(r);
        public override int GetHashCode() => ToString().GetHashCode();
    }
}
