using System;
using System.Net.Http;
using System.Text.RegularExpressions;
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
        private static RegistryClient? _default;

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

        /// <summary>The default client: anonymous Docker Hub unless replaced with <see cref="SetDefault"/>.</summary>
        public static RegistryClient Default
        {
            get
            {
                var d = Volatile.Read(ref _default);
                if (d != null) return d;
                Interlocked.CompareExchange(ref _default, new RegistryClient(RegistryEndpoint.Parse(ImageReference.DockerHubRegistry),
                    new RegistryClientOptions { CredentialStore = null }), null);
                return _default!;
            }
        }

        /// <summary>Replaces the default client (the seed's <c>set_default_client</c>).</summary>
        public static void SetDefault(RegistryClient client) => Volatile.Write(ref _default, client ?? throw new ArgumentNullException(nameof(client)));

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

        internal RegistryTransport Transport { get; }

        /// <summary>The scheme in use, once a request has been made.</summary>
        public string? Scheme => Transport.Scheme;

        /// <summary>The authentication the registry asked for (Basic, Bearer), once known.</summary>
        public string? AuthScheme => Transport.AuthScheme;

        /// <summary>
        /// Checks that the registry answers and that the credentials are accepted (docker login's check):
        /// throws <see cref="RegistryException"/> with <see cref="RegistryErrorKind.Unauthorized"/> when they are not.
        /// </summary>
        public Task VerifyAsync(CancellationToken cancellationToken = default) => Transport.VerifyCredentialsAsync(cancellationToken);

        public override string ToString() => Endpoint.ToString();

        private static readonly Regex RepositoryPattern = new Regex(
            @"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*\z", RegexOptions.Compiled | RegexOptions.CultureInvariant);

        // ASCII only, as in the distribution grammar: .NET's \w would also let Unicode letters and digits through.
        // \z, not $: $ also matches before a final newline.
        private static readonly Regex TagPattern = new Regex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z", RegexOptions.Compiled | RegexOptions.CultureInvariant);

        /// <summary>Validates a repository name before it goes into a URL.</summary>
        internal static string CheckRepository(string repository)
        {
            if (string.IsNullOrEmpty(repository) || repository.Length > 255 || !RepositoryPattern.IsMatch(repository))
                throw new ArgumentException($"'{repository}' is not a valid repository name (lowercase components separated by '/').", nameof(repository));
            return repository;
        }

        /// <summary>Validates a tag or digest before it goes into a URL.</summary>
        internal static string CheckReference(string reference)
        {
            if (string.IsNullOrEmpty(reference)) throw new ArgumentException("A tag or digest is required.", nameof(reference));
            if (reference.IndexOf(':') >= 0)
            {
                if (!Digest.TryParse(reference, out _)) throw new ArgumentException($"'{reference}' is not a valid digest.", nameof(reference));
                return reference;
            }
            if (!TagPattern.IsMatch(reference)) throw new ArgumentException($"'{reference}' is not a valid tag.", nameof(reference));
            return reference;
        }

        internal static HttpMethod Patch { get; } = new HttpMethod("PATCH");
    }
}
