using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>One request to a registry, described so that it can be sent again (retry, re-authentication).</summary>
    internal sealed class RegistryRequest
    {
        public RegistryRequest(HttpMethod method, string path, params string[] scopes)
        {
            Method = method;
            Path = path;
            Scopes = scopes;
        }

        public RegistryRequest(HttpMethod method, Uri url, params string[] scopes)
        {
            Method = method;
            Url = url;
            Scopes = scopes;
        }

        public HttpMethod Method { get; }

        /// <summary>A path below the registry root, e.g. <c>v2/app/manifests/v1</c> (query allowed).</summary>
        public string? Path { get; }

        /// <summary>An absolute URL (an upload Location), used instead of <see cref="Path"/>.</summary>
        public Uri? Url { get; }

        /// <summary>Token scopes the request needs.</summary>
        public IReadOnlyList<string> Scopes { get; }

        /// <summary>Makes the body; called once per attempt. Null for no body.</summary>
        public Func<HttpContent>? Content { get; set; }

        /// <summary>True when the body can be made again: a non-replayable body is sent once, never retried.</summary>
        public bool ContentReplayable { get; set; } = true;

        /// <summary>True when sending the request twice does no harm (GET, HEAD, and upload steps that can be repeated).</summary>
        public bool Idempotent { get; set; }

        /// <summary>Sets request headers (Accept, Range, Content-Range …).</summary>
        public Action<HttpRequestHeaders>? Headers { get; set; }

        public bool FollowRedirects { get; set; } = true;

        /// <summary>The generation of the bearer token last sent with this request (0 for none).</summary>
        internal long TokenGeneration { get; set; }

        /// <summary>A short description for messages: "GET manifest app:v1".</summary>
        public string? Description { get; set; }
    }

    /// <summary>
    /// The HTTP pipeline of one registry: scheme discovery, authentication (Basic, Bearer tokens with a cache),
    /// redirects that keep Authorization on the registry's host, and retries with backoff.
    /// </summary>
    internal sealed class RegistryTransport
    {
        private const int MaxRedirects = 10;
        private const int MaxTokenResponseBytes = 1024 * 1024;

        private readonly RegistryEndpoint _endpoint;
        private readonly RegistryClientOptions _options;
        private readonly HttpClient _http;
        private readonly SemaphoreSlim _setupLock = new SemaphoreSlim(1, 1);
        private readonly SemaphoreSlim _tokenLock = new SemaphoreSlim(1, 1);
        private readonly List<TokenEntry> _tokens = new List<TokenEntry>();
        private Uri? _baseUri;
        private long _tokenGeneration;
        private AuthChallenge? _challenge;
        private volatile bool _openPing;
        private bool _credentialResolved;
        private RegistryCredential? _credential;

        public RegistryTransport(RegistryEndpoint endpoint, RegistryClientOptions options)
        {
            _endpoint = endpoint;
            _options = options;
            _http = HttpClientProvider.Get(options.SkipCertificateCheck, options.CertificateAuthorityPath);
        }

        public RegistryEndpoint Endpoint => _endpoint;

        public RegistryClientOptions Options => _options;

        /// <summary>The retry budget in force: the client's, unless a <see cref="RetryScope"/> overrides it for this operation.</summary>
        internal RetryPolicy Retry => RetryScope.Resolve(_options.Retry);

        // Why a retried request finally failed ("gave up after 3 attempts … (answers: 503, 503, 503)"), for the error message.
        private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<HttpResponseMessage, string> RetryNotes =
            new System.Runtime.CompilerServices.ConditionalWeakTable<HttpResponseMessage, string>();

        /// <summary>The retry history of a response the transport gave up on, or null when it was not retried.</summary>
        internal static string? RetryNote(HttpResponseMessage response) => RetryNotes.TryGetValue(response, out var note) ? note : null;

        /// <summary>The scheme in use once known (after the first request).</summary>
        public string? Scheme => _baseUri?.Scheme;

        /// <summary>The authentication scheme the registry asked for, once known.</summary>
        public string? AuthScheme => _challenge?.Scheme;

        internal void Log(string message)
        {
            _options.Log?.Invoke(message);
            RegistryLog.Write(message);
        }

        public async Task<Uri> GetBaseUriAsync(CancellationToken cancellationToken)
        {
            if (_baseUri != null) return _baseUri;
            await _setupLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_baseUri != null) return _baseUri;
                if (_endpoint.ExplicitScheme != null) return _baseUri = _endpoint.BaseUri(_endpoint.ExplicitScheme);
                var https = _endpoint.BaseUri("https");
                if (!_endpoint.MayUseHttp) return _baseUri = https;
                // Loopback or insecure without a scheme: https when it speaks TLS, else http (as docker does).
                var probe = new Uri(https, "v2/");
                HttpClientProvider.CertificateFailures.TryRemove(probe.Authority, out _);
                try
                {
                    using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    cts.CancelAfter(TimeSpan.FromSeconds(15));
                    using var response = await _http.SendAsync(NewMessage(HttpMethod.Get, probe), HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
                    Log($"GET {Redaction.Url(probe)} -> {(int)response.StatusCode} (scheme probe)");
                    LearnChallenge(response);
                    return _baseUri = https;
                }
                catch (HttpRequestException e) when (!cancellationToken.IsCancellationRequested)
                {
                    if (HttpClientProvider.CertificateFailures.TryGetValue(probe.Authority, out var why))
                        throw new RegistryException(RegistryErrorKind.Security,
                            $"The TLS certificate of {_endpoint.Host} is not trusted ({why}). Name its CA with -CertificateAuthority, or skip the check with -SkipCertificateCheck.", e);
                    var http = _endpoint.BaseUri("http");
                    Log($"{_endpoint.Host} does not speak TLS; using http ({(_endpoint.IsLoopback ? "loopback" : "marked insecure")}).");
                    if (IsSocketFailure(e)) return http; // nothing answered: decide again next time
                    return _baseUri = http;
                }
            }
            finally
            {
                _setupLock.Release();
            }
        }

        private static bool IsSocketFailure(Exception e)
        {
            for (var x = e; x != null; x = x.InnerException) if (x is SocketException) return true;
            return false;
        }

        private async Task<RegistryCredential?> GetCredentialAsync(CancellationToken cancellationToken)
        {
            if (_credentialResolved) return _credential;
            _credential = _options.Credential;
            if (_credential == null && _options.CredentialStore != null)
            {
                try { _credential = await _options.CredentialStore.GetAsync(_endpoint.Registry, cancellationToken).ConfigureAwait(false); }
                catch (Exception e) when (e is InvalidDataException || e is InvalidOperationException || e is TimeoutException)
                {
                    Log($"Docker credentials for {_endpoint.Registry} could not be read: {e.Message} Going on anonymously.");
                }
                if (_credential != null) Log($"Using credentials of '{_credential.Username ?? "<identity token>"}' from {_credential.Source}.");
            }
            _credentialResolved = true;
            return _credential;
        }

        /// <summary>Sends a request with authentication, redirects and retries; returns the final response, successful or not.</summary>
        public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
        {
            var baseUri = await GetBaseUriAsync(cancellationToken).ConfigureAwait(false);
            var uri = request.Url ?? new Uri(baseUri, request.Path);
            if (!request.ContentReplayable && _challenge == null && !_openPing) await PrimeAuthAsync(cancellationToken).ConfigureAwait(false);
            bool reauthenticated = false;
            long? freshAfter = null;
            while (true)
            {
                // Tokens fetched after this point (by a concurrent request that met the same 401) are fresh enough to reuse.
                long generation = Interlocked.Read(ref _tokenGeneration);
                var response = await SendWithRetriesAsync(request, uri, freshAfter, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.Unauthorized || reauthenticated || !request.ContentReplayable) return response;
                var before = _challenge;
                LearnChallenge(response);
                var challenge = _challenge;
                if (challenge == null) return response;
                var credential = await GetCredentialAsync(cancellationToken).ConfigureAwait(false);
                if (challenge.IsBasic)
                {
                    // Credentials go only where Basic was asked for; without any there is nothing to try again with.
                    if (credential == null || !credential.HasPassword || (before != null && before.IsBasic)) return response;
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

        private void LearnChallenge(HttpResponseMessage response)
        {
            if (response.StatusCode != HttpStatusCode.Unauthorized) return;
            var challenges = AuthChallenge.Parse(response.Headers.WwwAuthenticate.Select(h => h.ToString()));
            var chosen = challenges.FirstOrDefault(c => c.IsBearer) ?? challenges.FirstOrDefault(c => c.IsBasic);
            if (chosen == null) return;
            if (_challenge != null && chosen.IsBearer && _challenge.IsBearer)
            {
                // Keep realm and service; remember the scopes asked for (insufficient_scope) for the next token.
                _challenge = chosen.Realm == null ? _challenge : chosen;
            }
            else
            {
                _challenge = chosen;
            }
        }

        private async Task<HttpResponseMessage> SendWithRetriesAsync(RegistryRequest request, Uri uri, long? freshAfter, CancellationToken cancellationToken)
        {
            var policy = Retry;
            var started = Stopwatch.StartNew();
            bool canRetry = request.Idempotent && request.ContentReplayable;
            int attempt = 0;
            var reasons = new List<string>();
            while (true)
            {
                attempt++;
                HttpResponseMessage response;
                try
                {
                    response = await SendFollowingRedirectsAsync(request, uri, freshAfter, cancellationToken).ConfigureAwait(false);
                    freshAfter = null;
                }
                catch (HttpRequestException e) when (Inner<RegistryException>(e) is RegistryException fromBody)
                {
                    // The request body (a verifying stream) refused its content: that is the error, not the connection.
                    throw fromBody;
                }
                catch (Exception e) when (IsTransient(e, cancellationToken))
                {
                    var reason = DescribeTransient(e);
                    reasons.Add(reason);
                    if (canRetry && attempt < policy.MaxAttempts && started.Elapsed < policy.MaxElapsed)
                    {
                        var delay = policy.DelayFor(attempt, null);
                        Log($"{request.Method} {Redaction.Url(uri)} failed ({reason}); retry {attempt} of {policy.MaxAttempts - 1} in {delay.TotalSeconds:0.#} s.");
                        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    var kind = e is OperationCanceledException || e is TimeoutException ? RegistryErrorKind.Timeout : RegistryErrorKind.Connection;
                    throw new RegistryException(kind,
                        $"{request.Description ?? request.Method.Method}: {reason} [{request.Method} {Redaction.Url(uri)}]"
                        + (attempt > 1 ? $"; gave up after {attempt} attempts in {started.Elapsed.TotalSeconds:0.#} s ({string.Join(", ", reasons)})." : "."),
                        null, request.Method.Method, Redaction.Url(uri), null, e);
                }

                int status = (int)response.StatusCode;
                if (IsRetryableStatus(status) && canRetry)
                {
                    reasons.Add(status.ToString());
                    var retryAfter = RetryAfter(response);
                    string budget = $"the budget is {policy.MaxAttempts} attempts in {policy.MaxElapsed.TotalSeconds:0.#} s";
                    if (attempt < policy.MaxAttempts && started.Elapsed < policy.MaxElapsed)
                    {
                        var delay = policy.DelayFor(attempt, retryAfter);
                        if (started.Elapsed + delay > policy.MaxElapsed)
                            budget = $"waiting {delay.TotalSeconds:0.#} s more would exceed the budget of {policy.MaxElapsed.TotalSeconds:0.#} s";
                        else
                        {
                            var why = status == 429 ? "rate limited (TOOMANYREQUESTS)" : $"answered {status}";
                            Log($"{request.Method} {Redaction.Url(uri)} {why}; waiting {delay.TotalSeconds:0.#} s{(retryAfter.HasValue ? " as Retry-After asks" : string.Empty)}, retry {attempt} of {policy.MaxAttempts - 1}.");
                            response.Dispose();
                            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                            continue;
                        }
                    }
                    var note = $"gave up after {attempt} attempt{(attempt == 1 ? "" : "s")} in {started.Elapsed.TotalSeconds:0.#} s (answers: {string.Join(", ", reasons)}; {budget})";
                    Log($"{request.Method} {Redaction.Url(uri)}: {note}.");
                    RetryNotes.Remove(response);
                    RetryNotes.Add(response, note);
                }
                return response;
            }
        }

        internal static T? Inner<T>(Exception e) where T : Exception
        {
            for (var x = e.InnerException; x != null; x = x.InnerException) if (x is T t) return t;
            return null;
        }

        internal static bool IsRetryableStatus(int status) =>
            status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;

        private static TimeSpan? RetryAfter(HttpResponseMessage response)
        {
            var ra = response.Headers.RetryAfter;
            if (ra == null) return null;
            if (ra.Delta.HasValue) return ra.Delta.Value;
            if (ra.Date.HasValue) return ra.Date.Value - DateTimeOffset.UtcNow;
            return null;
        }

        internal static bool IsTransient(Exception e, CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested) return false;
            if (e is RegistryException) return false;
            return e is HttpRequestException || e is IOException || e is OperationCanceledException || e is TimeoutException || e is SocketException;
        }

        private static string DescribeTransient(Exception e)
        {
            if (e is TimeoutException && !string.IsNullOrEmpty(e.Message)) return Redaction.Text(e.Message).TrimEnd('.'); // "No response within 20 s", "no data for 1 s …"
            if (e is OperationCanceledException || e is TimeoutException) return "no response in time";
            var inner = e;
            while (inner.InnerException != null) inner = inner.InnerException;
            return Redaction.Text(inner == e ? e.Message : e.Message + " " + inner.Message);
        }

        private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(RegistryRequest request, Uri uri, long? freshAfter, CancellationToken cancellationToken)
        {
            var current = uri;
            var method = request.Method;
            bool withBody = request.Content != null;
            // The registry's origin; not settled yet when the scheme probe found nothing listening (decided again next time).
            var origin = _baseUri ?? _endpoint.BaseUri(uri.Scheme);
            bool sameOrigin = SameOrigin(current, origin);
            for (int hop = 0; ; hop++)
            {
                using var message = NewMessage(method, current);
                request.Headers?.Invoke(message.Headers);
                if (sameOrigin) await AuthorizeAsync(message, request, freshAfter, cancellationToken).ConfigureAwait(false);
                var timer = Stopwatch.StartNew();
                HttpResponseMessage response;
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    // The timeout measures silence: re-armed by every piece of a body sent, then given whole to the answer.
                    var responseTimeout = _options.ResponseTimeout;
                    if (withBody) message.Content = new ProgressTimedContent(request.Content!(), () => ReArm(timeout, responseTimeout));
                    timeout.CancelAfter(responseTimeout);
                    try
                    {
                        response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw new TimeoutException(withBody
                            ? $"Nothing sent or received for {responseTimeout.TotalSeconds:0} s."
                            : $"No response within {responseTimeout.TotalSeconds:0} s.");
                    }
                }
                Log($"{method} {Redaction.Url(current)} -> {(int)response.StatusCode} ({timer.ElapsedMilliseconds} ms)");
                foreach (var warning in response.Headers.Warning)
                    if (warning.Code == 299) Log($"Registry warning: {Redaction.Text(warning.Text)}");

                int status = (int)response.StatusCode;
                bool isRedirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
                if (!isRedirect || !request.FollowRedirects || response.Headers.Location == null) return response;
                if (hop >= MaxRedirects)
                {
                    response.Dispose();
                    throw new RegistryException(RegistryErrorKind.Protocol, $"More than {MaxRedirects} redirects from {Redaction.Url(uri)}.");
                }
                var next = response.Headers.Location.IsAbsoluteUri ? response.Headers.Location : new Uri(current, response.Headers.Location);
                response.Dispose();
                if (next.Scheme != "https" && next.Scheme != "http")
                    throw new RegistryException(RegistryErrorKind.Security, $"Refusing a redirect to '{next.Scheme}:' from {Redaction.Url(current)}.");
                if (current.Scheme == "https" && next.Scheme == "http")
                    throw new RegistryException(RegistryErrorKind.Security, $"Refusing a redirect from https to http ({Redaction.Url(current)} -> {Redaction.Url(next)}).");
                if (status == 303 || ((status == 301 || status == 302) && method != HttpMethod.Get && method != HttpMethod.Head))
                {
                    method = HttpMethod.Get;
                    withBody = false;
                }
                else if (withBody && !request.ContentReplayable)
                {
                    throw new RegistryException(RegistryErrorKind.Protocol, $"The registry redirected an upload whose body cannot be sent twice ({Redaction.Url(current)}).");
                }
                // Once away from the registry's host, credentials stay behind, even if a later hop comes back.
                sameOrigin = sameOrigin && SameOrigin(next, origin);
                current = next;
            }
        }

        private static void ReArm(CancellationTokenSource timeout, TimeSpan after)
        {
            try { timeout.CancelAfter(after); }
            catch (ObjectDisposedException) { } // the answer came before the body was all sent
        }

        internal static bool SameOrigin(Uri a, Uri b) =>
            string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase)
            && a.Port == b.Port;

        private HttpRequestMessage NewMessage(HttpMethod method, Uri uri)
        {
            var message = new HttpRequestMessage(method, uri);
            message.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
            return message;
        }

        private async Task AuthorizeAsync(HttpRequestMessage message, RegistryRequest request, long? freshAfter, CancellationToken cancellationToken)
        {
            var challenge = _challenge;
            if (challenge == null) return;
            if (challenge.IsBasic)
            {
                var credential = await GetCredentialAsync(cancellationToken).ConfigureAwait(false);
                if (credential != null && credential.HasPassword)
                    message.Headers.Authorization = new AuthenticationHeaderValue("Basic", BasicValue(credential));
                return;
            }
            if (challenge.IsBearer)
            {
                var token = await GetTokenAsync(request.Scopes, challenge, freshAfter, cancellationToken).ConfigureAwait(false);
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
                request.TokenGeneration = token.Generation;
            }
        }

        private static string BasicValue(RegistryCredential credential) =>
            Convert.ToBase64String(Encoding.UTF8.GetBytes((credential.Username ?? string.Empty) + ":" + (credential.Password ?? string.Empty)));

        private sealed class TokenEntry
        {
            public TokenEntry(string token, IReadOnlyList<string> scopes, DateTimeOffset expires, DateTimeOffset renewAfter)
            {
                Generation = Interlocked.Increment(ref _generations);
                Token = token;
                Scopes = scopes;
                Expires = expires;
                RenewAfter = renewAfter;
            }

            private static long _generations;

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
        private async Task<TokenEntry> GetTokenAsync(IReadOnlyList<string> requestScopes, AuthChallenge challenge, long? freshAfter, CancellationToken cancellationToken)
        {
            bool force = freshAfter.HasValue;
            // An insufficient_scope challenge names what the registry wants: ask for it along with ours, once.
            var wanted = Scopes.ForToken(requestScopes, challenge, force, Log);
            await _tokenLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var now = DateTimeOffset.UtcNow;
                _tokens.RemoveAll(t => t.Expires <= now);
                var cached = _tokens.FirstOrDefault(t => t.RenewAfter > now && (!force || t.Generation > freshAfter!.Value) && Scopes.Covers(t.Scopes, wanted));
                if (cached != null) return cached;
                var entry = await FetchTokenAsync(challenge, wanted, cancellationToken).ConfigureAwait(false);
                Interlocked.Exchange(ref _tokenGeneration, entry.Generation);
                _tokens.RemoveAll(t => Scopes.Covers(entry.Scopes, t.Scopes));
                _tokens.Add(entry);
                if (_tokens.Count > 64) _tokens.RemoveAt(0);
                return entry;
            }
            finally
            {
                _tokenLock.Release();
            }
        }

        /// <summary>
        /// The token realm a registry named, if credentials may go there: an absolute http(s) URL without user info,
        /// and https unless the registry itself is loopback or marked insecure.
        /// </summary>
        internal static Uri CheckRealm(string? realmText, RegistryEndpoint endpoint)
        {
            if (string.IsNullOrEmpty(realmText) || !Uri.TryCreate(realmText, UriKind.Absolute, out var realm) || (realm.Scheme != "https" && realm.Scheme != "http"))
                throw new RegistryException(RegistryErrorKind.Protocol, $"{endpoint.Host} asked for a bearer token without a usable realm ('{Redaction.Url(realmText)}').");
            if (realm.Scheme == "http" && !endpoint.MayUseHttp)
                throw new RegistryException(RegistryErrorKind.Security,
                    $"Refusing to send credentials to the token realm {Redaction.Url(realm)} over plain http; {endpoint.Host} is neither loopback nor marked insecure.");
            if (!string.IsNullOrEmpty(realm.UserInfo))
                throw new RegistryException(RegistryErrorKind.Security, $"The token realm of {endpoint.Host} carries user info; refusing it.");
            return realm;
        }

        private async Task<TokenEntry> FetchTokenAsync(AuthChallenge challenge, IReadOnlyList<string> scopes, CancellationToken cancellationToken)
        {
            var realm = CheckRealm(challenge.Realm, _endpoint);

            var credential = await GetCredentialAsync(cancellationToken).ConfigureAwait(false);
            HttpResponseMessage response;
            var request = new RegistryRequest(HttpMethod.Get, realm) { Idempotent = true, Description = "token request" };
            string description;
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
                description = "POST " + Redaction.Url(realm);
                response = await SendTokenRequestAsync(HttpMethod.Post, realm, () => new FormUrlEncodedContent(form), null, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query.Substring(1) : string.Empty);
                if (challenge.Service != null) Append(query, "service", challenge.Service);
                foreach (var s in scopes) Append(query, "scope", s);
                var url = new UriBuilder(realm) { Query = query.ToString() }.Uri;
                description = "GET " + Redaction.Url(url);
                var auth = credential != null && credential.HasPassword ? new AuthenticationHeaderValue("Basic", BasicValue(credential)) : null;
                response = await SendTokenRequestAsync(HttpMethod.Get, url, null, auth, cancellationToken).ConfigureAwait(false);
            }
            using (response)
            {
                int status = (int)response.StatusCode;
                if (status == 401 || status == 403)
                {
                    var who = credential == null ? "anonymous access" : $"the credentials of '{credential.Username ?? "<identity token>"}' ({credential.Source})";
                    throw new RegistryException(RegistryErrorKind.Unauthorized,
                        $"The token service of {_endpoint.Host} refused {who}: {status} [{description}]. Check the credentials (Connect-Registry, or docker login).",
                        status, request.Method.Method, Redaction.Url(realm), null);
                }
                if (status < 200 || status > 299)
                {
                    var error = await ErrorResponse.CreateAsync(response, $"Token request to {Redaction.Url(realm)} failed", cancellationToken).ConfigureAwait(false);
                    throw error;
                }
                var body = await HttpContentReader.ReadCappedAsync(response.Content, MaxTokenResponseBytes, truncate: false, cancellationToken).ConfigureAwait(false);
                string? token = null;
                int expiresIn = 60;
                DateTimeOffset issuedAt = DateTimeOffset.UtcNow;
                try
                {
                    using var doc = JsonDocument.Parse(body);
                    var root = doc.RootElement;
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
                Log($"Got a token for {(scopes.Count == 0 ? "no scope" : string.Join(" ", scopes))}, valid {expiresIn} s.");
                return new TokenEntry(token!, scopes, expires, expires - margin);
            }
        }

        private async Task<HttpResponseMessage> SendTokenRequestAsync(HttpMethod method, Uri url, Func<HttpContent>? content, AuthenticationHeaderValue? auth, CancellationToken cancellationToken)
        {
            var policy = Retry;
            var started = Stopwatch.StartNew();
            for (int attempt = 1; ; attempt++)
            {
                using var message = NewMessage(method, url);
                if (content != null) message.Content = content();
                message.Headers.Authorization = auth;
                message.Headers.Accept.ParseAdd("application/json");
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(_options.ResponseTimeout);
                    var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                    Log($"{method} {Redaction.Url(url)} -> {(int)response.StatusCode} (token)");
                    if (IsRetryableStatus((int)response.StatusCode) && attempt < policy.MaxAttempts && started.Elapsed < policy.MaxElapsed)
                    {
                        var delay = policy.DelayFor(attempt, RetryAfter(response));
                        response.Dispose();
                        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    return response;
                }
                catch (Exception e) when (IsTransient(e, cancellationToken) && attempt < policy.MaxAttempts && started.Elapsed < policy.MaxElapsed)
                {
                    Log($"Token request failed ({DescribeTransient(e)}); retrying.");
                    await Task.Delay(policy.DelayFor(attempt, null), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsTransient(e, cancellationToken))
                {
                    throw new RegistryException(RegistryErrorKind.Connection, $"The token service {Redaction.Url(url)} could not be reached: {DescribeTransient(e)}", e);
                }
            }
        }

        private static void Append(StringBuilder query, string key, string value)
        {
            if (query.Length > 0) query.Append('&');
            query.Append(key).Append('=').Append(Uri.EscapeDataString(value));
        }

        /// <summary>Checks that the credentials are accepted: a ping, then (for token auth) a token with no scope.</summary>
        public async Task VerifyCredentialsAsync(CancellationToken cancellationToken)
        {
            using var response = await PingAsync(cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode) return;
            if (response.StatusCode == HttpStatusCode.Unauthorized && _challenge != null && _challenge.IsBearer)
            {
                await GetTokenAsync(Array.Empty<string>(), _challenge, long.MaxValue, cancellationToken).ConfigureAwait(false);
                return;
            }
            throw await ErrorResponse.CreateAsync(response, $"Signing in to {_endpoint.Host} failed", cancellationToken).ConfigureAwait(false);
        }
    }
}
