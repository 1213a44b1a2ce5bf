using System;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// The HTTP pipeline of one registry, composed of one layer per file:
    /// <see cref="SchemeProbe"/> (which scheme) → <see cref="Authenticator"/> (a 401 answered once, through
    /// <see cref="BasicAuthentication"/> or <see cref="BearerTokens"/>, whose realms <see cref="TokenRealm"/> checks) →
    /// <see cref="RetryLayer"/> (decided by <see cref="RetryRules"/> within the <see cref="RetryBudget"/>) →
    /// <see cref="RedirectLayer"/> (Authorization only to the registry's host; the wire).
    /// </summary>
    internal sealed class RegistryTransport
    {
        private readonly RegistryEndpoint _endpoint;
        private readonly RegistryClientOptions _options;
        private readonly SchemeProbe _probe;
        private readonly Authenticator _auth;
        private readonly RetryLayer _retry;
        private volatile bool _openPing;
        private volatile RateLimitStatus? _rateLimit;

        public RegistryTransport(RegistryEndpoint endpoint, RegistryClientOptions options)
        {
            _endpoint = endpoint;
            _options = options;
            var http = HttpClientProvider.Get(options.SkipCertificateCheck, options.CertificateAuthorityPath);
            var redirects = new RedirectLayer(http, options, uri => _probe!.Known ?? _endpoint.BaseUri(uri.Scheme),
                (message, request, freshAfter, ct) => _auth!.AuthorizeAsync(message, request, freshAfter, ct), Log,
                response => _rateLimit = RateLimitStatus.Observe(response, _rateLimit));
            _retry = new RetryLayer(redirects.SendAsync, options, Log);
            var tokens = new BearerTokens(endpoint, (request, ct) => _retry.SendAsync(request, request.Url!, null, ct), Log);
            _auth = new Authenticator(endpoint, options, Log, tokens);
            _probe = new SchemeProbe(endpoint, http, options.UserAgent, Log, _auth.LearnChallenge);
        }

        public RegistryEndpoint Endpoint => _endpoint;

        public RegistryClientOptions Options => _options;

        /// <summary>The scheme in use once known (after the first request).</summary>
        public string? Scheme => _probe.Known?.Scheme;

        /// <summary>The request quota the registry's last answer with rate limit headers gave, or null.</summary>
        public RateLimitStatus? RateLimit => _rateLimit;

        /// <summary>The authentication scheme the registry asked for, once known.</summary>
        public string? AuthScheme => _auth.Challenge?.Scheme;

        internal void Log(string message)
        {
            _options.Log?.Invoke(message);
            RegistryLog.Write(message);
        }

        public Task<Uri> GetBaseUriAsync(CancellationToken cancellationToken) => _probe.GetBaseUriAsync(cancellationToken);

        /// <summary>Sends a request with authentication, redirects and retries; returns the final response, successful or not.</summary>
        public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
        {
            var baseUri = await GetBaseUriAsync(cancellationToken).ConfigureAwait(false);
            var uri = request.Url ?? new Uri(baseUri, request.Path);
            // A body that can be sent only once must not meet a 401 first: learn the challenge before it.
            if (!request.ContentReplayable && _auth.Challenge == null && !_openPing) await PrimeAuthAsync(cancellationToken).ConfigureAwait(false);
            return await _auth.SendAsync(request, freshAfter => _retry.SendAsync(request, uri, freshAfter, cancellationToken), cancellationToken).ConfigureAwait(false);
        }

        /// <summary>A GET of /v2/ so the registry's challenge is known before a body that can only be sent once.</summary>
        public async Task<HttpResponseMessage> PingAsync(CancellationToken cancellationToken)
        {
            var request = new RegistryRequest(HttpMethod.Get, "v2/") { Idempotent = true, Description = "ping" };
            return await SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        private async Task PrimeAuthAsync(CancellationToken cancellationToken)
        {
            using var response = await PingAsync(cancellationToken).ConfigureAwait(false);
            // /v2/ answered without a challenge: asking again before every upload would only learn the same (one round trip per blob).
            if (response.IsSuccessStatusCode) _openPing = true;
        }

        /// <summary>Checks that the credentials are accepted: a ping, then (for token auth) a token with no scope.</summary>
        public async Task VerifyCredentialsAsync(CancellationToken cancellationToken)
        {
            using var response = await PingAsync(cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode) return;
            var challenge = _auth.Challenge;
            if (response.StatusCode == HttpStatusCode.Unauthorized && challenge != null && challenge.IsBearer)
            {
                var credential = await _auth.GetCredentialAsync(cancellationToken).ConfigureAwait(false);
                await _auth.Tokens.GetAsync(Array.Empty<string>(), challenge, credential, long.MaxValue, cancellationToken).ConfigureAwait(false);
                return;
            }
            throw await ErrorResponse.CreateAsync(response, $"Signing in to {_endpoint.Host} failed", cancellationToken).ConfigureAwait(false);
        }
    }
}
