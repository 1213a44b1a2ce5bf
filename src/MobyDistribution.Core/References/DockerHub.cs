using System;
using System.Linq;

namespace MobyDistribution
{
    /// <summary>
    /// Docker Hub's names, in one table: references, endpoints and Docker's credential store all fold its aliases
    /// through here, so <c>index.docker.io/x</c>, <c>registry-1.docker.io/x</c> and <c>docker.io/x</c> are one registry
    /// with one session and one set of credentials.
    /// </summary>
    public static class DockerHub
    {
        /// <summary>The canonical name of Docker Hub in references and sessions.</summary>
        public const string Registry = "docker.io";

        /// <summary>The host that actually serves Docker Hub's registry API.</summary>
        public const string ApiHost = "registry-1.docker.io";

        /// <summary>The legacy name of Docker Hub ("the Docker Index").</summary>
        public const string LegacyRegistry = "index.docker.io";

        /// <summary>The key <c>docker login</c> stores Docker Hub's credentials under in config.json, and asks credential helpers about.</summary>
        public const string LegacyConfigKey = "https://index.docker.io/v1/";

        /// <summary>The namespace of Docker Hub's official images, added to single-component Docker Hub repositories.</summary>
        public const string OfficialRepositoryPrefix = "library/";

        private static readonly string[] Aliases = { Registry, LegacyRegistry, ApiHost };

        /// <summary>Whether <paramref name="host"/> (<c>host</c>, no port) is one of Docker Hub's names; case is ignored, as in DNS.</summary>
        public static bool IsAlias(string? host) => host != null && Aliases.Contains(host, StringComparer.OrdinalIgnoreCase);

        /// <summary><see cref="Registry"/> for any of Docker Hub's names, else <paramref name="host"/> unchanged.</summary>
        public static string Canonicalize(string host) => IsAlias(host) ? Registry : host;

        /// <summary>The host to send API requests to for a (canonical) registry name.</summary>
        public static string ApiHostOf(string registry) => IsAlias(registry) ? ApiHost : registry;

        /// <summary>
        /// Whether the domain of a reference is the one Docker's reference grammar folds into <see cref="Registry"/>: exactly
        /// <c>index.docker.io</c>, as <c>ParseNormalizedNamed</c> does. A reference keeps any other spelling (<c>Index.docker.io</c>,
        /// <c>registry-1.docker.io</c>) as written; its session is still Docker Hub's (see <see cref="IsAlias"/>).
        /// </summary>
        internal static bool IsLegacyReferenceDomain(string domain) => string.Equals(domain, LegacyRegistry, StringComparison.Ordinal);

        /// <summary>A Docker Hub repository with its <c>library/</c> prefix when it has a single component (<c>ubuntu</c> → <c>library/ubuntu</c>).</summary>
        internal static string QualifyRepository(string repository) =>
            repository.Length > 0 && repository.IndexOf('/') < 0 ? OfficialRepositoryPrefix + repository : repository;
    }
}
