using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// The Bearer layer and its token cache: where a token gets fetched. One token per set of scopes, reused until shortly
    /// before it expires; requests refused together (a 401 while a new token was on its way) share one new token.
    /// Token requests are sent through the retry layer, so they draw from the budget of the request that needs them.
    /// Tokens come from distribution's GET (anonymous or Basic), from the OAuth2 refresh grant (an identity token, or ACR's
    /// null-GUID user whose password is a refresh token), or from an Entra ID access token exchanged for a refresh token first.
    /// </summary>
    internal sealed class BearerTokens
    {
        private const int MaxTokenResponseBytes = 1024 * 1024;
        private const int MaxCachedTokens = 64;

        private readonly RegistryEndpoint _endpoint;
        private readonly Func<RegistryRequest, CancellationToken, Task<HttpResponseMessage>> _send;
        private readonly Action<string> _log;
        private readonly SemaphoreSlim _lock = new SemaphoreSlim(1, 1);
        private readonly List<Entry> _tokens = new List<Entry>();
        private long _generation;
        // The refresh token an Entra ID access token was exchanged for, and whose credential it belongs to: for this session only.
        private string? _exchangedRefreshToken;
        private string? _exchangedFor;
        // The token service said it has no OAuth2 POST: ask it with GET from now on.
        private bool _postRefused;

        /// <param name="send">Sends a token request through the retry layer, without the registry's credentials.</param>
        public BearerTokens(RegistryEndpoint endpoint, Func<RegistryRequest, CancellationToken, Task<HttpResponseMessage>> send, Action<string> log)
        {
            _endpoint = endpoint;
            _send = send;
            _log = log;
        }

        /// <summary>The generation of the newest token (0 before the first).</summary>
        public long Generation => Interlocked.Read(ref _generation);

        internal sealed class Entry
        {
            private static long _generations;

            public Entry(string token, IReadOnlyList<string> scopes, DateTimeOffset expires, DateTimeOffset renewAfter)
            {
                Generation = Interlocked.Increment(ref _generations);
                Token = token;
                Scopes = scopes;
                Expires = expires;
                RenewAfter = renewAfter;
            }

            /// <summary>Increases with every token fetched, process-wide.</summary>
            public long Generation { get; }
            public string Token { get; }
            public IReadOnlyList<string> Scopes { get; }
            public DateTimeOffset Expires { get; }
            public DateTimeOffset RenewAfter { get; }
        }

        /// <summary>
        /// A token covering the scopes: a cached one, or a new one. With <paramref name="freshAfter"/> (the request was refused),
        /// only a token fetched after that generation is reused, so concurrent requests refused together fetch one token, not one each.
        /// </summary>
        public async Task<Entry> GetAsync(IReadOnlyList<string> requestScopes, AuthChallenge challenge, RegistryCredential? credential, long? freshAfter,
            CancellationToken cancellationToken)
        {
            bool force = freshAfter.HasValue;
            // An insufficient_scope challenge names what the registry wants: ask for it along with ours, once (capped).
            var wanted = Scopes.ForToken(requestScopes, challenge, force, _log);
            await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var now = DateTimeOffset.UtcNow;
                _tokens.RemoveAll(t => t.Expires <= now);
                var cached = _tokens.FirstOrDefault(t => t.RenewAfter > now && (!force || t.Generation > freshAfter!.Value) && Scopes.Covers(t.Scopes, wanted));
                if (cached != null) return cached;
                var entry = await FetchAsync(challenge, wanted, credential, cancellationToken).ConfigureAwait(false);
                Interlocked.Exchange(ref _generation, entry.Generation);
                _tokens.RemoveAll(t => Scopes.Covers(entry.Scopes, t.Scopes));
                _tokens.Add(entry);
                if (_tokens.Count > MaxCachedTokens) _tokens.RemoveAt(0);
                return entry;
            }
            finally
            {
                _lock.Release();
            }
        }

        private async Task<Entry> FetchAsync(AuthChallenge challenge, IReadOnlyList<string> scopes, RegistryCredential? credential, CancellationToken cancellationToken)
        {
            var realm = TokenRealm.Check(challenge.Realm, _endpoint);
            if (credential != null && credential.HasAccessToken)
            {
                bool exchangedNow = false;
                if (_exchangedRefreshToken == null || _exchangedFor != credential.CacheKey)
                {
                    _exchangedRefreshToken = await ExchangeAsync(realm, challenge, credential, cancellationToken).ConfigureAwait(false);
                    _exchangedFor = credential.CacheKey;
                    exchangedNow = true;
                }
                try
                {
                    return await RefreshGrantAsync(realm, challenge, scopes, credential, _exchangedRefreshToken, cancellationToken).ConfigureAwait(false);
                }
                catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unauthorized && !exchangedNow)
                {
                    // The refresh token of an earlier exchange has lapsed (ACR's live for hours, a session may live longer): exchange again, once.
                    _log($"The refresh token from the access token exchange was refused; exchanging the access token again.");
                    _exchangedRefreshToken = null;
                    _exchangedRefreshToken = await ExchangeAsync(realm, challenge, credential, cancellationToken).ConfigureAwait(false);
                    return await RefreshGrantAsync(realm, challenge, scopes, credential, _exchangedRefreshToken, cancellationToken).ConfigureAwait(false);
                }
            }
            var refreshToken = credential?.RefreshToken;
            if (refreshToken != null) return await RefreshGrantAsync(realm, challenge, scopes, credential!, refreshToken, cancellationToken).ConfigureAwait(false);
            return await GetTokenAsync(realm, challenge, scopes, credential, BasicAuthentication.Header(credential), cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Trades an Entra ID access token for a refresh token: <c>POST /oauth2/exchange</c> on the realm's host
        /// (Azure Container Registry's endpoint; there the realm is the registry itself).
        /// </summary>
        private async Task<string> ExchangeAsync(Uri realm, AuthChallenge challenge, RegistryCredential credential, CancellationToken cancellationToken)
        {
            var url = new Uri(new Uri(realm.GetLeftPart(UriPartial.Authority)), "/oauth2/exchange");
            var form = new List<KeyValuePair<string, string>> { new KeyValuePair<string, string>("grant_type", "access_token") };
            if (challenge.Service != null) form.Add(new KeyValuePair<string, string>("service", challenge.Service));
            if (credential.Tenant != null) form.Add(new KeyValuePair<string, string>("tenant", credential.Tenant));
            form.Add(new KeyValuePair<string, string>("access_token", credential.AccessToken!));
            var request = Post(url, form, "Access token exchange");
            var description = request.Method + " " + Redaction.Url(url);
            using var response = await _send(request, cancellationToken).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status == 401 || status == 403)
                throw new RegistryException(RegistryErrorKind.Unauthorized,
                    $"The token service of {_endpoint.Host} refused the access token ({credential.Source}{(credential.Tenant != null ? ", tenant " + credential.Tenant : string.Empty)}): {status} [{description}]. " +
                    "It may have expired, or be for another tenant or audience (ACR wants one for https://management.azure.com or https://containerregistry.azure.net).",
                    status, request.Method.Method, Redaction.Url(url), null);
            if (status < 200 || status > 299)
                throw await ErrorResponse.CreateAsync(response, $"The access token exchange at {Redaction.Url(url)} failed", cancellationToken).ConfigureAwait(false);
            using var doc = await ReadJsonAsync(response, description, cancellationToken).ConfigureAwait(false);
            string? refreshToken = doc.RootElement.TryGetProperty("refresh_token", out var rt) && rt.ValueKind == JsonValueKind.String ? rt.GetString() : null;
            if (string.IsNullOrEmpty(refreshToken))
                throw new RegistryException(RegistryErrorKind.Protocol, $"The token service answered the access token exchange without a refresh token [{description}].");
            _log($"Exchanged the access token for a refresh token at {Redaction.Url(url)}.");
            return refreshToken!;
        }

        /// <summary>
        /// The OAuth2 refresh grant (<c>POST</c> to the realm, as docker and ACR do). A token service that refuses the POST
        /// (400, 401, 404, 405: distribution's token spec lets a server lack it) is asked with a GET and the refresh token as
        /// a Basic password instead, and only with GET from then on when it said the POST is not there.
        /// </summary>
        private async Task<Entry> RefreshGrantAsync(Uri realm, AuthChallenge challenge, IReadOnlyList<string> scopes, RegistryCredential credential, string refreshToken,
            CancellationToken cancellationToken)
        {
            if (!_postRefused)
            {
                var form = new List<KeyValuePair<string, string>>
                {
                    new KeyValuePair<string, string>("grant_type", "refresh_token"),
                    new KeyValuePair<string, string>("refresh_token", refreshToken),
                    new KeyValuePair<string, string>("client_id", "mobydistribution"),
                    new KeyValuePair<string, string>("access_type", "offline"),
                };
                if (challenge.Service != null) form.Add(new KeyValuePair<string, string>("service", challenge.Service));
                if (scopes.Count > 0) form.Add(new KeyValuePair<string, string>("scope", string.Join(" ", scopes)));
                var request = Post(realm, form, "Token request");
                using (var response = await _send(request, cancellationToken).ConfigureAwait(false))
                {
                    int status = (int)response.StatusCode;
                    if (status != 400 && status != 401 && status != 404 && status != 405)
                        return await ReadTokenAsync(response, request, realm, scopes, credential, cancellationToken).ConfigureAwait(false);
                    _log($"The token service at {Redaction.Url(realm)} answered the OAuth2 refresh grant with {status}; asking with GET instead.");
                    // A 401 is about this token, not about POST: the next request may try POST again.
                    if (status != 401) _postRefused = true;
                }
            }
            // ACR takes a refresh token as the password of its null-GUID user; a user name given with the token is kept.
            var basic = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes((credential.Username ?? RegistryCredential.RefreshTokenUserName) + ":" + refreshToken)));
            return await GetTokenAsync(realm, challenge, scopes, credential, basic, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>distribution's token GET: service and scopes in the query, the credentials (if any) as Basic.</summary>
        private async Task<Entry> GetTokenAsync(Uri realm, AuthChallenge challenge, IReadOnlyList<string> scopes, RegistryCredential? credential,
            AuthenticationHeaderValue? basic, CancellationToken cancellationToken)
        {
            var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query.Substring(1) : string.Empty);
            if (challenge.Service != null) Append(query, "service", challenge.Service);
            foreach (var s in scopes) Append(query, "scope", s);
            var url = new UriBuilder(realm) { Query = query.ToString() }.Uri;
            var request = new RegistryRequest(HttpMethod.Get, url)
            {
                Headers = h =>
                {
                    h.Authorization = basic;
                    h.Accept.ParseAdd("application/json");
                },
            };
            MarkTokenRequest(request, "Token request");
            using var response = await _send(request, cancellationToken).ConfigureAwait(false);
            return await ReadTokenAsync(response, request, realm, scopes, credential, cancellationToken).ConfigureAwait(false);
        }

        private static RegistryRequest Post(Uri url, List<KeyValuePair<string, string>> form, string description)
        {
            var request = new RegistryRequest(HttpMethod.Post, url)
            {
                Content = () => new FormUrlEncodedContent(form),
                Headers = h => h.Accept.ParseAdd("application/json"),
            };
            MarkTokenRequest(request, description);
            return request;
        }

        private static void MarkTokenRequest(RegistryRequest request, string description)
        {
            request.Idempotent = true; // a token request changes nothing that matters: it may be sent again
            request.Anonymous = true;
            request.FollowRedirects = false; // its credentials are for the realm only
            request.Description = description;
        }

        private async Task<Entry> ReadTokenAsync(HttpResponseMessage response, RegistryRequest request, Uri realm, IReadOnlyList<string> scopes, RegistryCredential? credential,
            CancellationToken cancellationToken)
        {
            var description = request.Method + " " + Redaction.Url(request.Url);
            int status = (int)response.StatusCode;
            if (status == 401 || status == 403)
            {
                var who = credential == null ? "anonymous access"
                    : credential.Username != null ? $"the credentials of '{credential.Username}' ({credential.Source})"
                    : $"the {(credential.HasAccessToken ? "refresh token from the access token exchange" : "identity token")} ({credential.Source})";
                throw new RegistryException(RegistryErrorKind.Unauthorized,
                    $"The token service of {_endpoint.Host} refused {who}: {status} [{description}].",
                    status, request.Method.Method, Redaction.Url(realm), null);
            }
            if (status < 200 || status > 299)
                throw await ErrorResponse.CreateAsync(response, $"Token request to {Redaction.Url(realm)} failed", cancellationToken).ConfigureAwait(false);
            string? token = null;
            int expiresIn = 60;
            DateTimeOffset issuedAt = DateTimeOffset.UtcNow;
            using (var doc = await ReadJsonAsync(response, description, cancellationToken).ConfigureAwait(false))
            {
                var root = doc.RootElement;
                if (root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String) token = t.GetString();
                if (string.IsNullOrEmpty(token) && root.TryGetProperty("access_token", out var at) && at.ValueKind == JsonValueKind.String) token = at.GetString();
                if (root.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var seconds) && seconds > 0) expiresIn = seconds;
                if (root.TryGetProperty("issued_at", out var ia) && ia.ValueKind == JsonValueKind.String &&
                    DateTimeOffset.TryParse(ia.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed) &&
                    Math.Abs((parsed - DateTimeOffset.UtcNow).TotalMinutes) < 10)
                    issuedAt = parsed; // only trusted when the clocks roughly agree
            }
            if (string.IsNullOrEmpty(token))
                throw new RegistryException(RegistryErrorKind.Protocol, $"The token service answered without a token [{description}].");
            var lifetime = TimeSpan.FromSeconds(expiresIn);
            // Renewed with a third of its life left (at most 30 s): a request that takes the token just before that still
            // reaches the registry with time to spare, also when it waits behind others on a busy link.
            var margin = TimeSpan.FromSeconds(Math.Min(30, expiresIn / 3.0));
            var expires = issuedAt + lifetime;
            _log($"Got a token for {(scopes.Count == 0 ? "no scope" : string.Join(" ", scopes))}, valid {expiresIn} s.");
            return new Entry(token!, scopes, expires, expires - margin);
        }

        /// <summary>A token service's answer as a JSON object (capped in size).</summary>
        private static async Task<JsonDocument> ReadJsonAsync(HttpResponseMessage response, string description, CancellationToken cancellationToken)
        {
            var body = await HttpContentReader.ReadCappedAsync(response.Content, MaxTokenResponseBytes, truncate: false, cancellationToken).ConfigureAwait(false);
            JsonDocument? doc = null;
            try
            {
                doc = JsonDocument.Parse(body);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("not an object");
                return doc;
            }
            catch (JsonException)
            {
                doc?.Dispose();
                throw new RegistryException(RegistryErrorKind.Protocol, $"The token service answered with something that is not JSON [{description}].");
            }
        }

        private static void Append(StringBuilder query, string key, string value)
        {
            if (query.Length > 0) query.Append('&');
            query.Append(key).Append('=').Append(Uri.EscapeDataString(value));
        }
    }
}
