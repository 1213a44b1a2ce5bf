using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace MobyDistribution.TestBed
{
    /// <summary>One entry of a token's <c>access</c> claim: type (repository, registry), name, actions.</summary>
    public sealed class TokenAccess
    {
        public string Type { get; set; } = "repository";
        public string Name { get; set; } = "";
        public string[] Actions { get; set; } = Array.Empty<string>();

        public TokenAccess() { }

        public TokenAccess(string type, string name, params string[] actions)
        {
            Type = type; Name = name; Actions = actions ?? Array.Empty<string>();
        }

        /// <summary>Parses a scope such as <c>repository:team/app:pull,push</c> (the name may itself hold colons).</summary>
        public static TokenAccess Parse(string scope)
        {
            int first = scope.IndexOf(':');
            int last = scope.LastIndexOf(':');
            if (first < 0 || last == first) throw new FormatException($"Not a scope: '{scope}'.");
            string actions = scope.Substring(last + 1);
            return new TokenAccess(scope.Substring(0, first), scope.Substring(first + 1, last - first - 1),
                actions.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }

        public override string ToString() => $"{Type}:{Name}:{string.Join(",", Actions)}";
    }

    /// <summary>What the token issuer saw and answered, for assertions.</summary>
    public sealed class TokenRequestRecord
    {
        public DateTimeOffset Time { get; init; }
        public string Method { get; init; } = "GET";
        /// <summary>The path asked for: <c>/token</c>, <c>/oauth2/token</c> or <c>/oauth2/exchange</c>.</summary>
        public string Path { get; init; } = "/token";
        /// <summary>The form's <c>grant_type</c> (POST), or null for a GET.</summary>
        public string? GrantType { get; init; }
        /// <summary>The <c>tenant</c> sent with an access token exchange.</summary>
        public string? Tenant { get; init; }
        /// <summary>The authenticated user, or null for an anonymous request (or a request whose credentials were refused).</summary>
        public string? User { get; init; }
        /// <summary>The user name that was presented, even when its password was wrong.</summary>
        public string? PresentedUser { get; init; }
        public string? Service { get; init; }
        public string? Account { get; init; }
        public string[] Scopes { get; init; } = Array.Empty<string>();
        public TokenAccess[] Granted { get; init; } = Array.Empty<TokenAccess>();
        public int StatusCode { get; init; }
        public override string ToString() =>
            $"{Time:HH:mm:ss.fff} {Method} {Path} grant={GrantType ?? "-"} user={User ?? "-"} status={StatusCode} scopes=[{string.Join(" ", Scopes)}] granted=[{string.Join(" ", Granted.Select(g => g.ToString()))}]";
    }

    /// <summary>
    /// A bearer token server for distribution's token auth. It serves <c>GET /token?service=S&amp;scope=...</c>
    /// (and the OAuth2 password and refresh-token grants on <c>POST /token</c>) on a free loopback port, checks Basic
    /// credentials, and signs ES256 JWTs whose header names the key by <c>x5c</c> (a self-signed P-256 certificate, written
    /// as PEM to <see cref="CertificatePath"/> for the registry's <c>rootcertbundle</c>).
    /// Azure Container Registry's endpoints (Azure/acr docs/AAD-OAuth.md) are served too: <c>POST /oauth2/exchange</c>
    /// trades an "Entra ID" access token given to <see cref="AddAccessToken"/> for a refresh token, <c>/oauth2/token</c>
    /// is the same as <c>/token</c>, and a refresh token is taken as the password of the user
    /// <c>00000000-0000-0000-0000-000000000000</c> on the GET.
    /// </summary>
    public sealed class TokenIssuer : IDisposable
    {
        private readonly ECDsa _key;
        private readonly X509Certificate2 _certificate;
        private readonly MiniHttpServer _server;
        private readonly string _directory;
        private readonly ConcurrentDictionary<string, string> _users = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, bool> _pullOnly = new(StringComparer.Ordinal);
        private readonly List<TokenRequestRecord> _requests = new();
        private readonly ConcurrentDictionary<string, (string User, string? Tenant)> _accessTokens = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, string> _refreshTokens = new(StringComparer.Ordinal);
        private readonly ConcurrentQueue<string> _refreshTokensIssued = new();
        private bool _disposed;

        public TokenIssuer() : this("moby-testbed-registry", "moby-testbed-issuer") { }

        /// <summary>Same as the constructor: the issuer listens as soon as it exists.</summary>
        public static TokenIssuer Start() => new TokenIssuer();

        public TokenIssuer(string service, string issuer)
        {
            Service = service;
            Issuer = issuer;
            _directory = Util.CreateTempDirectory("moby-testbed-issuer");
            _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=" + issuer, _key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(
                X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
            _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
            CertificatePem = _certificate.ExportCertificatePem();
            CertificatePath = Path.Combine(_directory, "token-root.pem");
            File.WriteAllText(CertificatePath, CertificatePem + "\n");
            _server = new MiniHttpServer(Handle);
        }

        /// <summary>The <c>service</c> the registry names in its challenge and the token's <c>aud</c>.</summary>
        public string Service { get; }
        /// <summary>The token's <c>iss</c> claim; the registry's <c>auth.token.issuer</c>.</summary>
        public string Issuer { get; }
        public int Port => _server.Port;
        /// <summary><c>http://127.0.0.1:PORT/token</c></summary>
        public string Realm => $"http://127.0.0.1:{Port}/token";
        public string CertificatePath { get; }
        public string CertificatePem { get; }
        /// <summary>Base64 DER of the signing certificate, as it appears in the JWT header's <c>x5c</c>.</summary>
        public string CertificateBase64 => Convert.ToBase64String(_certificate.RawData);

        /// <summary>Lifetime of the tokens served on /token (default 300 s). Takes effect for the next request.</summary>
        public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromSeconds(300);
        /// <summary>When set, anonymous requests get tokens, with only <c>pull</c> on repositories.</summary>
        public bool AllowAnonymousPull { get; set; }

        /// <summary>Adds or replaces a user. A pull-only user is granted only <c>pull</c>, whatever it asks for.</summary>
        public void AddUser(string user, string password, bool pullOnly = false)
        {
            _users[user] = password;
            _pullOnly[user] = pullOnly;
        }

        public void RemoveUser(string user)
        {
            _users.TryRemove(user, out _);
            _pullOnly.TryRemove(user, out _);
        }

        public void SetPullOnly(string user, bool pullOnly) => _pullOnly[user] = pullOnly;

        public IReadOnlyDictionary<string, string> Users => new Dictionary<string, string>(_users);

        /// <summary>The user name under which ACR takes a refresh token as a password.</summary>
        public const string RefreshTokenUser = "00000000-0000-0000-0000-000000000000";

        /// <summary>
        /// When set, <c>POST</c> on the token endpoints answers this status (404, 405 or 400, as distribution's spec allows a
        /// token server without the OAuth2 POST to); the exchange is not affected.
        /// </summary>
        public int? RefusePostStatus { get; set; }

        /// <summary>
        /// Accepts <paramref name="accessToken"/> (a stand-in for an Entra ID token) on <c>/oauth2/exchange</c> for
        /// <paramref name="user"/>'s rights; with <paramref name="tenant"/>, only when the exchange names that tenant.
        /// </summary>
        public void AddAccessToken(string accessToken, string user, string? tenant = null) =>
            _accessTokens[accessToken] = (user, string.IsNullOrEmpty(tenant) ? null : tenant); // PowerShell passes $null as ""

        /// <summary>Accepts <paramref name="refreshToken"/> (an identity token) for <paramref name="user"/>'s rights.</summary>
        public void AddRefreshToken(string refreshToken, string user) => _refreshTokens[refreshToken] = user;

        /// <summary>A new random refresh token for <paramref name="user"/>, as <c>az acr login --expose-token</c> prints.</summary>
        public string NewRefreshToken(string user)
        {
            var token = "acr-refresh-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
            _refreshTokens[token] = user;
            _refreshTokensIssued.Enqueue(token);
            return token;
        }

        /// <summary>Forgets every refresh token (as if they had expired); the access tokens stay accepted.</summary>
        public void RevokeRefreshTokens() => _refreshTokens.Clear();

        /// <summary>Every refresh token this issuer made (for leak checks).</summary>
        public string[] RefreshTokensIssued => _refreshTokensIssued.ToArray();

        /// <summary>A snapshot of the requests seen so far, oldest first.</summary>
        public TokenRequestRecord[] Requests
        {
            get { lock (_requests) return _requests.ToArray(); }
        }

        public int RequestCount
        {
            get { lock (_requests) return _requests.Count; }
        }

        public void ClearRequests()
        {
            lock (_requests) _requests.Clear();
        }

        /// <summary>The actions the policy grants <paramref name="user"/> (null = anonymous) for one requested scope.</summary>
        public string[] GrantedActions(string? user, TokenAccess requested)
        {
            bool known = user != null && _users.ContainsKey(user);
            bool pullOnly = user == null || !known || (_pullOnly.TryGetValue(user, out var p) && p);
            if (user == null && !AllowAnonymousPull) return Array.Empty<string>();
            if (!pullOnly) return requested.Actions.Distinct().ToArray();
            if (requested.Type != "repository") return Array.Empty<string>();
            return requested.Actions.Contains("pull") || requested.Actions.Contains("*") ? new[] { "pull" } : Array.Empty<string>();
        }

        /// <summary>Signs a token directly. A negative lifetime makes an already-expired token.</summary>
        public string IssueToken(string? user, IEnumerable<TokenAccess> access, TimeSpan lifetime)
        {
            var now = DateTimeOffset.UtcNow;
            long iat = now.ToUnixTimeSeconds();
            long exp = now.Add(lifetime).ToUnixTimeSeconds();
            long nbf = Math.Min(iat, exp) - 1;
            var headerJson = Util.JsonObject(w =>
            {
                w.WriteString("alg", "ES256");
                w.WriteString("typ", "JWT");
                w.WriteStartArray("x5c");
                w.WriteStringValue(CertificateBase64);
                w.WriteEndArray();
            });
            var claimsJson = Util.JsonObject(w =>
            {
                w.WriteString("iss", Issuer);
                w.WriteString("sub", user ?? "");
                w.WriteString("aud", Service);
                w.WriteNumber("exp", exp);
                w.WriteNumber("nbf", nbf);
                w.WriteNumber("iat", iat);
                w.WriteString("jti", Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
                w.WriteStartArray("access");
                foreach (var a in access)
                {
                    w.WriteStartObject();
                    w.WriteString("type", a.Type);
                    w.WriteString("name", a.Name);
                    w.WriteStartArray("actions");
                    foreach (var action in a.Actions) w.WriteStringValue(action);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
            string signingInput = Util.Base64Url(headerJson) + "." + Util.Base64Url(claimsJson);
            // JWS ES256 wants r||s (IEEE P1363), not DER.
            byte[] signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256,
                DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            return signingInput + "." + Util.Base64Url(signature);
        }

        /// <summary>pwsh-friendly overload: scopes as strings, e.g. "repository:team/app:pull,push"; lifetime in seconds.</summary>
        public string IssueToken(string? user, string[] scopes, double lifetimeSeconds) =>
            IssueToken(user, scopes.Select(TokenAccess.Parse), TimeSpan.FromSeconds(lifetimeSeconds));

        private MiniHttpResponse Handle(MiniHttpRequest request)
        {
            if (request.Path == "/oauth2/exchange") return Exchange(request);
            if (request.Path != "/token" && request.Path != "/oauth2/token")
                return MiniHttpResponse.Json(404, "{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"no such endpoint\"}]}");

            List<KeyValuePair<string, string>> form;
            string? user = null, presentedUser = null, password = null;
            bool credentialsPresented = false;
            bool isPost = request.Method == "POST";
            if (isPost)
            {
                form = MiniHttpRequest.ParseForm(Encoding.UTF8.GetString(request.Body));
                if (RefusePostStatus is int refused)
                    return Record(request, null, null, form, Array.Empty<TokenAccess>(),
                        MiniHttpResponse.Json(refused, "{\"errors\":[{\"code\":\"UNSUPPORTED\",\"message\":\"POST is not supported\"}]}"));
                string grant = Value(form, "grant_type") ?? "";
                if (grant == "refresh_token")
                {
                    var refresh = Value(form, "refresh_token");
                    if (refresh == null || !_refreshTokens.TryGetValue(refresh, out var owner))
                        return Record(request, null, null, form, Array.Empty<TokenAccess>(), Unauthorized("invalid refresh token"));
                    user = owner;
                }
                else if (grant == "password")
                {
                    presentedUser = Value(form, "username");
                    password = Value(form, "password");
                    credentialsPresented = true;
                }
                else
                {
                    return Record(request, null, null, form, Array.Empty<TokenAccess>(),
                        MiniHttpResponse.Json(400, "{\"error\":\"unsupported_grant_type\"}"));
                }
            }
            else if (request.Method == "GET")
            {
                form = MiniHttpRequest.ParseForm(request.Query);
                if (request.Headers.TryGetValue("Authorization", out var auth) &&
                    auth.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
                {
                    credentialsPresented = true;
                    try
                    {
                        string decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth.Substring(6).Trim()));
                        int colon = decoded.IndexOf(':');
                        presentedUser = colon < 0 ? decoded : decoded.Substring(0, colon);
                        password = colon < 0 ? "" : decoded.Substring(colon + 1);
                    }
                    catch (FormatException) { presentedUser = null; }
                }
            }
            else
            {
                return MiniHttpResponse.Json(405, "{\"error\":\"method not allowed\"}");
            }

            if (user != null)
            {
                // Authenticated by a refresh token already.
            }
            else if (credentialsPresented && presentedUser == RefreshTokenUser)
            {
                if (password != null && _refreshTokens.TryGetValue(password, out var owner)) user = owner;
                else return Record(request, null, presentedUser, form, Array.Empty<TokenAccess>(), Unauthorized("invalid refresh token"));
            }
            else if (credentialsPresented)
            {
                if (presentedUser != null && _users.TryGetValue(presentedUser, out var expected) &&
                    password != null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(password)))
                {
                    user = presentedUser;
                }
                else
                {
                    return Record(request, null, presentedUser, form, Array.Empty<TokenAccess>(), Unauthorized("invalid username or password"));
                }
            }
            else if (!AllowAnonymousPull)
            {
                return Record(request, null, null, form, Array.Empty<TokenAccess>(), Unauthorized("authentication required"));
            }

            var granted = new List<TokenAccess>();
            foreach (var scopeParam in form.Where(kv => kv.Key == "scope").Select(kv => kv.Value))
            {
                // A client may send several scopes space-separated in one parameter.
                foreach (var scope in scopeParam.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    TokenAccess requested;
                    try { requested = TokenAccess.Parse(scope); }
                    catch (FormatException)
                    {
                        return Record(request, user, presentedUser, form, Array.Empty<TokenAccess>(),
                            MiniHttpResponse.Json(400, "{\"error\":\"invalid_scope\"}"));
                    }
                    var actions = GrantedActions(user, requested);
                    if (actions.Length > 0) granted.Add(new TokenAccess(requested.Type, requested.Name, actions));
                }
            }

            var lifetime = TokenLifetime;
            string token = IssueToken(user, granted, lifetime);
            var body = Util.JsonObject(w =>
            {
                w.WriteString("token", token);
                w.WriteString("access_token", token);
                w.WriteNumber("expires_in", (long)Math.Max(0, lifetime.TotalSeconds));
                w.WriteString("issued_at", DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"));
            });
            var response = new MiniHttpResponse { Status = 200, Body = body };
            response.Headers["Content-Type"] = "application/json";
            return Record(request, user, presentedUser, form, granted.ToArray(), response);
        }

        /// <summary>ACR's <c>POST /oauth2/exchange</c>: grant_type=access_token, service, tenant, access_token → refresh_token.</summary>
        private MiniHttpResponse Exchange(MiniHttpRequest request)
        {
            if (request.Method != "POST") return MiniHttpResponse.Json(405, "{\"error\":\"method not allowed\"}");
            var form = MiniHttpRequest.ParseForm(Encoding.UTF8.GetString(request.Body));
            if (Value(form, "grant_type") != "access_token")
                return Record(request, null, null, form, Array.Empty<TokenAccess>(), MiniHttpResponse.Json(400, "{\"error\":\"unsupported_grant_type\"}"));
            if (Value(form, "service") != Service)
                return Record(request, null, null, form, Array.Empty<TokenAccess>(), MiniHttpResponse.Json(400, "{\"error\":\"invalid service\"}"));
            var accessToken = Value(form, "access_token");
            if (accessToken == null || !_accessTokens.TryGetValue(accessToken, out var known) ||
                (known.Tenant != null && known.Tenant != Value(form, "tenant")))
                return Record(request, null, null, form, Array.Empty<TokenAccess>(), Unauthorized("invalid access token"));
            var refreshToken = NewRefreshToken(known.User);
            var response = new MiniHttpResponse { Status = 200, Body = Util.JsonObject(w => w.WriteString("refresh_token", refreshToken)) };
            response.Headers["Content-Type"] = "application/json";
            return Record(request, known.User, null, form, Array.Empty<TokenAccess>(), response);
        }

        private static MiniHttpResponse Unauthorized(string message)
        {
            var r = MiniHttpResponse.Json(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":" + JsonSerializer.Serialize(message) + "}]}");
            r.Headers["WWW-Authenticate"] = "Basic realm=\"moby-testbed-token\"";
            return r;
        }

        private MiniHttpResponse Record(MiniHttpRequest request, string? user, string? presentedUser,
            List<KeyValuePair<string, string>> form, TokenAccess[] granted, MiniHttpResponse response)
        {
            var record = new TokenRequestRecord
            {
                Time = DateTimeOffset.UtcNow,
                Method = request.Method,
                Path = request.Path,
                GrantType = request.Method == "POST" ? Value(form, "grant_type") : null,
                Tenant = Value(form, "tenant"),
                User = user,
                PresentedUser = presentedUser,
                Service = Value(form, "service"),
                Account = Value(form, "account"),
                Scopes = form.Where(kv => kv.Key == "scope").Select(kv => kv.Value).ToArray(),
                Granted = granted,
                StatusCode = response.Status,
            };
            lock (_requests) _requests.Add(record);
            return response;
        }

        private static string? Value(List<KeyValuePair<string, string>> form, string key)
        {
            foreach (var kv in form) if (kv.Key == key) return kv.Value;
            return null;
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _server.Dispose();
            _certificate.Dispose();
            _key.Dispose();
            Util.TryDeleteDirectory(_directory);
        }
    }
}
