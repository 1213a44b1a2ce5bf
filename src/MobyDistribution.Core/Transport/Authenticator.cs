using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// What the registry asked for (its last challenge) and who this client is (its credential), and so which of the Basic
    /// and Bearer layers a request goes through. A 401 is answered once: with new credentials for Basic, or a new token
    /// (never the refused one) for Bearer.
    /// </summary>
    internal sealed class Authenticator
    {
        private readonly RegistryEndpoint _endpoint;
        private readonly RegistryClientOptions _options;
        private readonly Action<string> _log;
        private readonly SemaphoreSlim _credentialLock = new SemaphoreSlim(1, 1);
        private AuthChallenge? _challenge;
        private bool _credentialResolved;
        private RegistryCredential? _credential;

        public Authenticator(RegistryEndpoint endpoint, RegistryClientOptions options, Action<string> log, BearerTokens tokens)
        {
            _endpoint = endpoint;
            _options = options;
            _log = log;
            Tokens = tokens;
        }

        public BearerTokens Tokens { get; }

        /// <summary>The registry's challenge, once one was seen.</summary>
        public AuthChallenge? Challenge => _challenge;

        /// <summary>Remembers the challenge of a 401: Bearer preferred, else Basic.</summary>
        public void LearnChallenge(HttpResponseMessage response)
        {
            if (response.StatusCode != HttpStatusCode.Unauthorized) return;
            var challenges = AuthChallenge.Parse(response.Headers.WwwAuthenticate.Select(h => h.ToString()));
            var chosen = challenges.FirstOrDefault(c => c.IsBearer) ?? challenges.FirstOrDefault(c => c.IsBasic);
            if (chosen == null) return;
            // Keep realm and service of a known Bearer challenge that names none; remember the scopes asked for (insufficient_scope).
            _challenge = _challenge != null && chosen.IsBearer && _challenge.IsBearer && chosen.Realm == null ? _challenge : chosen;
        }

        /// <summary>The credential: the caller's, else Docker's config (asked once), else none (anonymous).</summary>
        public async Task<RegistryCredential?> GetCredentialAsync(CancellationToken cancellationToken)
        {
            if (_credentialResolved) return _credential;
            await _credentialLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_credentialResolved) return _credential;
                var credential = _options.Credential;
                if (credential == null && _options.CredentialStore != null)
                {
                    try { credential = await _options.CredentialStore.GetAsync(_endpoint.Registry, cancellationToken).ConfigureAwait(false); }
                    catch (Exception e) when (e is InvalidDataException || e is InvalidOperationException || e is TimeoutException)
                    {
                        _log($"{RegistryLog.WarningPrefix}Docker credentials for {_endpoint.Registry} could not be read: {e.Message} Going on anonymously.");
                    }
                    if (credential != null) _log($"Using credentials of '{credential.DisplayName}' from {credential.Source}.");
                }
                _credential = credential;
                _credentialResolved = true;
                return credential;
            }
            finally
            {
                _credentialLock.Release();
            }
        }

        /// <summary>Adds the Authorization the registry asked for to a message bound for its own host.</summary>
        public async Task AuthorizeAsync(HttpRequestMessage message, RegistryRequest request, long? freshAfter, CancellationToken cancellationToken)
        {
            var challenge = _challenge;
            if (challenge == null || request.Anonymous) return;
            var credential = await GetCredentialAsync(cancellationToken).ConfigureAwait(false);
            if (challenge.IsBasic)
            {
                var basic = BasicAuthentication.Header(credential);
                if (basic != null) message.Headers.Authorization = basic;
                request.SentBasic = basic != null;
                return;
            }
            if (challenge.IsBearer)
            {
                var token = await Tokens.GetAsync(request.Scopes, challenge, credential, freshAfter, cancellationToken).ConfigureAwait(false);
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
                request.TokenGeneration = token.Generation;
            }
        }

        /// <summary>
        /// Sends through <paramref name="send"/> (the retry layer) and answers one 401 with new credentials or a new token.
        /// </summary>
        public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, Func<long?, Task<HttpResponseMessage>> send, CancellationToken cancellationToken)
        {
            bool reauthenticated = false;
            long? freshAfter = null;
            while (true)
            {
                // Tokens fetched after this point (by a concurrent request that met the same 401) are fresh enough to reuse.
                long generation = Tokens.Generation;
                var response = await send(freshAfter).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.Unauthorized || reauthenticated || !request.ContentReplayable || request.Anonymous) return response;
                LearnChallenge(response);
                var challenge = _challenge;
                if (challenge == null) return response;
                if (challenge.IsBasic)
                {
                    // Credentials go only where Basic was asked for; without any there is nothing to try again with.
                    var credential = await GetCredentialAsync(cancellationToken).ConfigureAwait(false);
                    // A request refused while the challenge was being learned by another one (sent without them) tries again.
                    if (credential == null || !credential.HasPassword || request.SentBasic) return response;
                }
                else if (!challenge.IsBearer)
                {
                    return response;
                }
                reauthenticated = true;
                // Never reuse the token that was just refused.
                freshAfter = Math.Max(generation, request.TokenGeneration);
                response.Dispose();
            }
        }
    }
}
