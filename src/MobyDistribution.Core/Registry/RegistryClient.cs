using System;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Transport;

namespace MobyDistribution.Registry
{
    /// <summary>
    /// A client of one registry (the seed's DockerRegistryV2Client): manifests, blobs, tags and the catalog,
    /// over one authenticated, retrying HTTP pipeline. Thread-safe; share one per registry.
    /// </summary>
    public sealed class RegistryClient
    {
        public RegistryClient(RegistryEndpoint endpoint, RegistryClientOptions? options = null)
        {
            Endpoint = endpoint ?? throw new ArgumentNullException(nameof(endpoint));
            Options = options ?? new RegistryClientOptions();
            if (Options.AllowInsecure && !endpoint.AllowInsecure) Endpoint = RegistryEndpoint.Parse(endpoint.ToString(), allowInsecure: true);
            Transport = new RegistryTransport(Endpoint, Options);
            Manifests = new ManifestService(this);
            Blobs = new BlobService(this);
            Tags = new TagService(this);
            Catalog = new CatalogService(this);
            Referrers = new ReferrerService(this);
        }

        /// <summary>
        /// A client for <paramref name="url"/> (host[:port] or URL) with a user name and password, or anonymous when
        /// both are null (the seed's <c>DockerRegistryV2Client.from_api_endpoint</c>).
        /// </summary>
        public static RegistryClient FromEndpoint(string url, string? username = null, string? password = null, bool allowInsecure = false)
        {
            var options = new RegistryClientOptions { AllowInsecure = allowInsecure };
            if (!string.IsNullOrEmpty(username)) options.Credential = RegistryCredential.FromPassword(username!, password ?? string.Empty);
            return new RegistryClient(RegistryEndpoint.Parse(url, allowInsecure), options);
        }

        /// <summary>
        /// The default client (the seed's <c>default_client</c>): the session of <see cref="RegistryConnections.Shared"/>'s
        /// default registry, Docker Hub unless <see cref="SetDefault"/> named another. There is no separate global: this is
        /// <see cref="RegistryConnections.DefaultClient"/>, the same client the cmdlets use for that registry.
        /// </summary>
        public static RegistryClient Default => RegistryConnections.Shared.DefaultClient;

        /// <summary>
        /// Makes <paramref name="client"/> the default client and the shared session of its registry (the seed's
        /// <c>set_default_client</c>; see <see cref="RegistryConnections.SetDefault"/>).
        /// </summary>
        public static void SetDefault(RegistryClient client) => RegistryConnections.Shared.SetDefault(client);

        public RegistryEndpoint Endpoint { get; }

        public RegistryClientOptions Options { get; }

        /// <summary>Manifests (the seed's ManifestRef).</summary>
        public ManifestService Manifests { get; }

        /// <summary>Blobs (the seed's Blob).</summary>
        public BlobService Blobs { get; }

        /// <summary>Tags (the seed's Tags).</summary>
        public TagService Tags { get; }

        /// <summary>The registry's catalog of repositories.</summary>
        public CatalogService Catalog { get; }

        /// <summary>OCI referrers (signatures, SBOMs, attestations) of manifests: the referrers API or the tag schema.</summary>
        public ReferrerService Referrers { get; }

        internal RegistryTransport Transport { get; }

        /// <summary>The scheme in use, once a request has been made.</summary>
        public string? Scheme => Transport.Scheme;

        /// <summary>The request quota (Docker Hub's pull limit) the registry's last answer with RateLimit headers gave, or null.</summary>
        public RateLimitStatus? RateLimit => Transport.RateLimit;

        /// <summary>The authentication the registry asked for (Basic, Bearer), once known.</summary>
        public string? AuthScheme => Transport.AuthScheme;

        /// <summary>
        /// Checks that the registry answers and that the credentials are accepted (docker login's check):
        /// throws <see cref="RegistryException"/> with <see cref="RegistryErrorKind.Unauthorized"/> when they are not.
        /// </summary>
        public Task VerifyAsync(CancellationToken cancellationToken = default) => Transport.VerifyCredentialsAsync(cancellationToken);

        public override string ToString() => Endpoint.ToString();

        /// <summary>Validates a repository name (with <see cref="ImageReference"/>'s grammar) before it goes into a URL.</summary>
        internal static string CheckRepository(string repository)
        {
            var problem = ImageReference.RepositoryProblem(repository);
            if (problem != null) throw new ArgumentException(problem, nameof(repository));
            return repository;
        }

        /// <summary>Validates a tag or digest (with <see cref="ImageReference"/>'s grammar) before it goes into a URL.</summary>
        internal static string CheckReference(string reference)
        {
            var problem = ImageReference.TagOrDigestProblem(reference);
            if (problem != null) throw new ArgumentException(problem, nameof(reference));
            return reference;
        }

        internal static HttpMethod Patch { get; } = new HttpMethod("PATCH");
    }
}
