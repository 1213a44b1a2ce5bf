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
            RegistryRequest request;
            if (credential != null && credential.HasIdentityToken)
            {
                var form = new List<KeyValuePair<string, string>>
                {
                    new KeyValuePair<string, string>("grant_type", "refresh_token"),
                    new KeyValuePair<string, string>("refresh_token", credential.IdentityToken!),
                    new KeyValuePair<string, string>("client_id", "mobydistribution"),
                    new KeyValuePair<string, string>("access_type", "offline"),
                };
                if (challenge.Service != null) form.Add(new KeyValuePair<string, string>("service", challenge.Service));
                if (scopes.Count > 0) form.Add(new KeyValuePair<string, string>("scope", string.Join(" ", scopes)));
                request = new RegistryRequest(HttpMethod.Post, realm)
                {
                    Content = () => new FormUrlEncodedContent(form),
                    Headers = h => h.Accept.ParseAdd("application/json"),
                };
            }
            else
            {
                var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query.Substring(1) : string.Empty);
                if (challenge.Service != null) Append(query, "service", challenge.Service);
                foreach (var s in scopes) Append(query, "scope", s);
                var url = new UriBuilder(realm) { Query = query.ToString() }.Uri;
                var basic = BasicAuthentication.Header(credential);
                request = new RegistryRequest(HttpMethod.Get, url)
                {
                    Headers = h =>
                    {
                        h.Authorization = basic;
                        h.Accept.ParseAdd("application/json");
                    },
                };
            }
            request.Idempotent = true; // a token request changes nothing: it may be sent again
            request.Anonymous = true;
            request.FollowRedirects = false; // its credentials are for the realm only
            request.Description = "Token request";
            var description = request.Method + " " + Redaction.Url(request.Url);
            using var response = await _send(request, cancellationToken).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status == 401 || status == 403)
            {
                var who = credential == null ? "anonymous access" : $"the credentials of '{credential.Username ?? "<identity token>"}' ({credential.Source})";
                throw new RegistryException(RegistryErrorKind.Unauthorized,
                    $"The token service of {_endpoint.Host} refused {who}: {status} [{description}].",
                    status, request.Method.Method, Redaction.Url(realm), null);
            }
            if (status < 200 || status > 299)
                throw await ErrorResponse.CreateAsync(response, $"Token request to {Redaction.Url(realm)} failed", cancellationToken).ConfigureAwait(false);
            var body = await HttpContentReader.ReadCappedAsync(response.Content, MaxTokenResponseBytes, truncate: false, cancellationToken).ConfigureAwait(false);
            string? token = null;
            int expiresIn = 60;
            DateTimeOffset issuedAt = DateTimeOffset.UtcNow;
            try
            {
                using var doc = JsonDocument.Parse(body);
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new JsonException("not an object");
                if (root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String) token = t.GetString();
                if (string.IsNullOrEmpty(token) && root.TryGetProperty("access_token", out var at) && at.ValueKind == JsonValueKind.String) token = at.GetString();
                if (root.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var seconds) && seconds > 0) expiresIn = seconds;
                if (root.TryGetProperty("issued_at", out var ia) && ia.ValueKind == JsonValueKind.String &&
                    DateTimeOffset.TryParse(ia.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed) &&
                    Math.Abs((parsed - DateTimeOffset.UtcNow).TotalMinutes) < 10)
                    issuedAt = parsed; // only trusted when the clocks roughly agree
            }
            catch (JsonException)
            {
                throw new RegistryException(RegistryErrorKind.Protocol, $"The token service answered with something that is not JSON [{description}].");
            }
            if (string.IsNullOrEmpty(token))
                throw new RegistryException(RegistryErrorKind.Protocol, $"The token service answered without a token [{description}].");
            var lifetime = TimeSpan.FromSeconds(expiresIn);
            var margin = TimeSpan.FromSeconds(Math.Min(30, expiresIn / 4.0));
            var expires = issuedAt + lifetime;
            _log($"Got a token for {(scopes.Count == 0 ? "no scope" : string.Join(" ", scopes))}, valid {expiresIn} s.");
            return new Entry(token!, scopes, expires, expires - margin);
        }

        private static void Append(StringBuilder query, string key, string value)
        {
            if (query.Length > 0) query.Append('&');
            query.Append(key).Append('=').Append(Uri.EscapeDataString(value));
        }
    }
}
