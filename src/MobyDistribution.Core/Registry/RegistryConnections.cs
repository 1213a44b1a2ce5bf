using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Transport;

namespace MobyDistribution.Registry
{
    /// <summary>What is known of a connected registry; never holds a readable secret.</summary>
    public sealed class RegistrySession
    {
        internal RegistrySession(RegistryClient client, bool connected)
        {
            Client = client;
            IsConnected = connected;
            ConnectedAt = DateTimeOffset.Now;
        }

        internal RegistryClient Client { get; }

        /// <summary>The registry name (<c>docker.io</c>, <c>localhost:5000</c>).</summary>
        public string Registry => Client.Endpoint.Registry;

        /// <summary>The API host.</summary>
        public string Host => Client.Endpoint.Host;

        /// <summary>http or https once known; the scheme asked for otherwise.</summary>
        public string? Scheme => Client.Scheme ?? Client.Endpoint.ExplicitScheme;

        /// <summary>The user name, when credentials were given.</summary>
        public string? UserName => Client.Options.Credential?.DisplayName;

        /// <summary>"caller", the docker config file, a credential helper, or "anonymous".</summary>
        public string CredentialSource => Client.Options.Credential?.Source ?? (Client.Options.CredentialStore != null ? "docker config or anonymous" : "anonymous");

        /// <summary>Basic or Bearer, once the registry has said.</summary>
        public string? AuthScheme => Client.AuthScheme;

        /// <summary>The request quota the registry last reported (Docker Hub's pull limit), or null when none was seen.</summary>
        public RateLimitStatus? RateLimit => Client.RateLimit;

        public bool AllowInsecure => Client.Endpoint.AllowInsecure;

        public bool SkipCertificateCheck => Client.Options.SkipCertificateCheck;

        public string? CertificateAuthority => Client.Options.CertificateAuthorityPath;

        /// <summary>True for a session made with Connect-Registry; false for one made on first use.</summary>
        public bool IsConnected { get; }

        public DateTimeOffset ConnectedAt { get; }

        public override string ToString() => Registry + (UserName != null ? " as " + UserName : string.Empty);
    }

    /// <summary>
    /// The registries a process talks to: one <see cref="RegistryClient"/> per registry, made on first use (credentials
    /// from Docker's config or anonymous) or by <see cref="ConnectAsync"/> with the caller's credentials and TLS options.
    /// </summary>
    public sealed class RegistryConnections
    {
        private readonly ConcurrentDictionary<string, RegistrySession> _sessions = new ConcurrentDictionary<string, RegistrySession>(StringComparer.OrdinalIgnoreCase);

        /// <summary>The process-wide instance the PowerShell module uses.</summary>
        public static RegistryConnections Shared { get; } = new RegistryConnections();

        private string _defaultRegistry = DockerHub.Registry;

        /// <summary>
        /// The registry of the default client (the seed's <c>default_client</c>): Docker Hub unless <see cref="SetDefault"/>
        /// named another.
        /// </summary>
        public string DefaultRegistry => Volatile.Read(ref _defaultRegistry);

        /// <summary>
        /// The default client: the session of <see cref="DefaultRegistry"/>, made on first use like any other (credentials
        /// from Docker's config, else anonymous). <see cref="Registry.RegistryClient.Default"/> is this, of <see cref="Shared"/>.
        /// </summary>
        public RegistryClient DefaultClient => GetClient(DefaultRegistry);

        /// <summary>
        /// Makes <paramref name="client"/> the session of its registry (replacing any earlier one, as <see cref="ConnectAsync"/>
        /// does, without checking credentials) and that registry the default (the seed's <c>set_default_client</c>).
        /// </summary>
        public RegistrySession SetDefault(RegistryClient client)
        {
            if (client == null) throw new ArgumentNullException(nameof(client));
            var session = new RegistrySession(client, connected: true);
            _sessions[client.Endpoint.Registry] = session;
            Volatile.Write(ref _defaultRegistry, client.Endpoint.Registry);
            return session;
        }

        /// <summary>Options every new client starts from (retry budget, timeouts, chunk size).</summary>
        public RegistryClientOptions Defaults { get; } = new RegistryClientOptions();

        /// <summary>
        /// Connects to a registry with the given options (credentials, TLS, insecure), checking the credentials
        /// against it first; replaces any earlier session of that registry. Throws when they are refused.
        /// </summary>
        public async Task<RegistrySession> ConnectAsync(string registry, RegistryClientOptions options, bool verify = true, CancellationToken cancellationToken = default)
        {
            var endpoint = RegistryEndpoint.Parse(registry, options.AllowInsecure);
            var client = new RegistryClient(endpoint, options);
            if (verify) await client.VerifyAsync(cancellationToken).ConfigureAwait(false);
            var session = new RegistrySession(client, connected: true);
            _sessions[endpoint.Registry] = session;
            return session;
        }

        /// <summary>Forgets a registry's session (and its tokens). True when there was one.</summary>
        public bool Disconnect(string registry)
        {
            var name = RegistryEndpoint.Parse(registry).Registry;
            return _sessions.TryRemove(name, out _);
        }

        /// <summary>The sessions, connected ones and those made on first use.</summary>
        public IReadOnlyList<RegistrySession> Sessions => _sessions.Values.OrderBy(s => s.Registry, StringComparer.OrdinalIgnoreCase).ToList();

        /// <summary>The session of a registry, or null.</summary>
        public RegistrySession? Find(string registry)
        {
            var name = RegistryEndpoint.Parse(registry).Registry;
            return _sessions.TryGetValue(name, out var s) ? s : null;
        }

        /// <summary>The client of a registry: its connected session, else a new one with the default options.</summary>
        public RegistryClient GetClient(string registry)
        {
            var endpoint = RegistryEndpoint.Parse(registry);
            return _sessions.GetOrAdd(endpoint.Registry, _ => new RegistrySession(new RegistryClient(endpoint, Defaults.Clone()), connected: false)).Client;
        }

        /// <summary>The client for an image reference's registry.</summary>
        public RegistryClient GetClient(ImageReference reference) => GetClient(reference.Registry);
    }
}
