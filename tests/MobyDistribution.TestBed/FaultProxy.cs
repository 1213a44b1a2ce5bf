using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.TestBed
{
    /// <summary>What a <see cref="FaultRule"/> does to the requests it applies to.</summary>
    public enum FaultKind
    {
        /// <summary>Answer <see cref="FaultRule.StatusCode"/> (500, 502, 503, 504 …) with a JSON error body; the registry never sees the request.</summary>
        Status,
        /// <summary>Answer 429 TOOMANYREQUESTS with <c>Retry-After: </c><see cref="FaultRule.RetryAfterSeconds"/>; the registry never sees the request.</summary>
        TooManyRequests,
        /// <summary>Forward; reset the connection (TCP RST) after <see cref="FaultRule.AfterBytes"/> bytes of the response body.</summary>
        ResetAfter,
        /// <summary>Forward; close the connection cleanly after <see cref="FaultRule.AfterBytes"/> bytes of the body, though Content-Length promised more.</summary>
        Truncate,
        /// <summary>Forward; send nothing for <see cref="FaultRule.Duration"/> after <see cref="FaultRule.AfterBytes"/> bytes of the body (-1: before the headers), then go on.</summary>
        Stall,
        /// <summary>Forward; invert the byte at offset <see cref="FaultRule.AfterBytes"/> of the body (the last byte when the body is shorter).</summary>
        FlipBytes,
        /// <summary>Forward; when the registry answers 200 or 206, answer 307 to the <see cref="BlobRedirectTarget"/> instead (a presigned-looking URL).</summary>
        Redirect,
        /// <summary>Forward without the request's Range header, so the registry answers 200 with the whole body.</summary>
        StripRange,
        /// <summary>Read <see cref="FaultRule.AfterBytes"/> bytes of the request body, then reset the connection; nothing reaches the registry.</summary>
        ResetRequest,
        /// <summary>Forward the whole request, then reset the connection instead of passing the answer on.</summary>
        DropResponse,
        /// <summary>Forward, limiting the request and response bodies to <see cref="FaultRule.BytesPerSecond"/>.</summary>
        Throttle,
        /// <summary>
        /// Docker Hub's pull quota: forward with <c>RateLimit-Limit: </c><see cref="FaultRule.QuotaLimit"/><c>;w=</c>window and a
        /// <c>RateLimit-Remaining</c> that counts down; once spent, answer 429 TOOMANYREQUESTS with the same headers (and
        /// <c>Retry-After: </c><see cref="FaultRule.RetryAfterSeconds"/> unless it is negative) until the window of
        /// <see cref="FaultRule.Duration"/>, started by the first counted request, is over.
        /// </summary>
        RateLimit,
    }

    /// <summary>
    /// One scripted fault: requests whose method and path match are counted, and the fault is applied to the
    /// <see cref="Occurrence"/>-th match and the <see cref="Times"/> - 1 matches after it (<see cref="Times"/> 0: every match from then on).
    /// Several rules may apply to one request: the first that answers instead of the registry wins, the body effects add up.
    /// </summary>
    public sealed class FaultRule
    {
        private readonly Regex _path;
        private int _matched;
        private int _applied;

        public FaultRule(FaultKind kind, string method, string pathPattern)
        {
            Kind = kind;
            Method = string.IsNullOrEmpty(method) ? "*" : method.ToUpperInvariant();
            PathPattern = string.IsNullOrEmpty(pathPattern) ? ".*" : pathPattern;
            _path = new Regex(PathPattern, RegexOptions.CultureInvariant);
        }

        public FaultKind Kind { get; }

        /// <summary>GET, HEAD, PATCH … or "*" for any.</summary>
        public string Method { get; }

        /// <summary>A regular expression matched (unanchored) against the request path, without the query.</summary>
        public string PathPattern { get; }

        /// <summary>The first matching request the fault applies to (1-based).</summary>
        public int Occurrence { get; set; } = 1;

        /// <summary>How many matching requests, from <see cref="Occurrence"/> on, get the fault; 0 for all of them.</summary>
        public int Times { get; set; } = 1;

        public int StatusCode { get; set; } = 503;
        public int RetryAfterSeconds { get; set; } = 1;
        public long AfterBytes { get; set; }
        public TimeSpan Duration { get; set; }
        public long BytesPerSecond { get; set; }

        /// <summary>Requests allowed per window by a <see cref="FaultKind.RateLimit"/> rule.</summary>
        public int QuotaLimit { get; set; }

        private readonly object _quotaGate = new();
        private DateTimeOffset _windowStart;
        private int _quotaUsed;

        /// <summary>
        /// Counts a request against the quota: what is left after it, or -1 when the quota was already spent. A request
        /// that is not a pull (<paramref name="counts"/> false: a HEAD) is told what is left without using any.
        /// </summary>
        internal int TakeQuota(bool counts = true)
        {
            lock (_quotaGate)
            {
                var now = DateTimeOffset.UtcNow;
                if (_quotaUsed == 0 || (Duration > TimeSpan.Zero && now - _windowStart >= Duration))
                {
                    _windowStart = now;
                    _quotaUsed = 0;
                }
                if (!counts) return QuotaLimit - _quotaUsed;
                if (_quotaUsed >= QuotaLimit) return -1;
                _quotaUsed++;
                return QuotaLimit - _quotaUsed;
            }
        }

        /// <summary>The headers of a <see cref="FaultKind.RateLimit"/> answer with <paramref name="remaining"/> left.</summary>
        internal List<KeyValuePair<string, string>> QuotaHeaders(int remaining)
        {
            var w = ((long)Duration.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return new List<KeyValuePair<string, string>>
            {
                new("RateLimit-Limit", $"{QuotaLimit};w={w}"),
                new("RateLimit-Remaining", $"{Math.Max(0, remaining)};w={w}"),
            };
        }

        /// <summary>Requests that matched method and path so far.</summary>
        public int Matched => Volatile.Read(ref _matched);

        /// <summary>Requests the fault was applied to so far.</summary>
        public int Applied => Volatile.Read(ref _applied);

        /// <summary>Sets <see cref="Occurrence"/>; returns the rule.</summary>
        public FaultRule Nth(int occurrence) { Occurrence = occurrence; return this; }

        /// <summary>Sets <see cref="Times"/>; returns the rule.</summary>
        public FaultRule Count(int times) { Times = times; return this; }

        /// <summary>Applies to every match from <see cref="Occurrence"/> on.</summary>
        public FaultRule Always() { Times = 0; return this; }

        internal bool Matches(string method, string path) =>
            (Method == "*" || string.Equals(Method, method, StringComparison.OrdinalIgnoreCase)) && _path.IsMatch(path);

        /// <summary>Counts a match; true when the fault applies to it.</summary>
        internal bool Hit()
        {
            int n = Interlocked.Increment(ref _matched);
            bool applies = n >= Occurrence && (Times <= 0 || n < Occurrence + Times);
            if (applies) Interlocked.Increment(ref _applied);
            return applies;
        }

        internal bool AnswersInstead => Kind == FaultKind.Status || Kind == FaultKind.TooManyRequests || Kind == FaultKind.ResetRequest;

        public static FaultRule Status(int statusCode, string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.Status, method, pathPattern) { StatusCode = statusCode, Occurrence = occurrence, Times = times };

        public static FaultRule TooManyRequests(int retryAfterSeconds, string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.TooManyRequests, method, pathPattern) { StatusCode = 429, RetryAfterSeconds = retryAfterSeconds, Occurrence = occurrence, Times = times };

        public static FaultRule ResetAfter(long bytes, string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.ResetAfter, method, pathPattern) { AfterBytes = bytes, Occurrence = occurrence, Times = times };

        public static FaultRule Truncate(long bytes, string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.Truncate, method, pathPattern) { AfterBytes = bytes, Occurrence = occurrence, Times = times };

        public static FaultRule Stall(TimeSpan duration, long afterBytes, string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.Stall, method, pathPattern) { Duration = duration, AfterBytes = afterBytes, Occurrence = occurrence, Times = times };

        public static FaultRule FlipBytes(long atOffset, string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.FlipBytes, method, pathPattern) { AfterBytes = atOffset, Occurrence = occurrence, Times = times };

        public static FaultRule Redirect(string method, string pathPattern, int occurrence = 1, int times = 0) =>
            new FaultRule(FaultKind.Redirect, method, pathPattern) { Occurrence = occurrence, Times = times };

        public static FaultRule StripRange(string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.StripRange, method, pathPattern) { Occurrence = occurrence, Times = times };

        public static FaultRule ResetRequest(long afterBytes, string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.ResetRequest, method, pathPattern) { AfterBytes = afterBytes, Occurrence = occurrence, Times = times };

        public static FaultRule DropResponse(string method, string pathPattern, int occurrence = 1, int times = 1) =>
            new FaultRule(FaultKind.DropResponse, method, pathPattern) { Occurrence = occurrence, Times = times };

        /// <summary>
        /// A pull quota of <paramref name="limit"/> manifest GETs per window; as on Docker Hub, a HEAD gets the headers
        /// without counting and is never refused.
        /// </summary>
        public static FaultRule RateLimit(int limit, int windowSeconds, int retryAfterSeconds = -1, string method = "*", string pathPattern = "/manifests/") =>
            new FaultRule(FaultKind.RateLimit, method, pathPattern)
            {
                QuotaLimit = limit, Duration = TimeSpan.FromSeconds(windowSeconds), RetryAfterSeconds = retryAfterSeconds, StatusCode = 429, Times = 0,
            };

        public static FaultRule Throttle(long bytesPerSecond, string method = "*", string pathPattern = ".*", int occurrence = 1, int times = 0) =>
            new FaultRule(FaultKind.Throttle, method, pathPattern) { BytesPerSecond = bytesPerSecond, Occurrence = occurrence, Times = times };

        public override string ToString() => Kind switch
        {
            FaultKind.Status => $"Status({StatusCode})",
            FaultKind.TooManyRequests => $"TooManyRequests(Retry-After {RetryAfterSeconds})",
            FaultKind.ResetAfter => $"ResetAfter({AfterBytes})",
            FaultKind.Truncate => $"Truncate({AfterBytes})",
            FaultKind.Stall => $"Stall({Duration.TotalSeconds:0.###} s after {AfterBytes})",
            FaultKind.FlipBytes => $"FlipBytes({AfterBytes})",
            FaultKind.ResetRequest => $"ResetRequest({AfterBytes})",
            FaultKind.Throttle => $"Throttle({BytesPerSecond} B/s)",
            FaultKind.RateLimit => $"RateLimit({QuotaLimit} per {Duration.TotalSeconds:0} s)",
            _ => Kind.ToString(),
        };
    }

    /// <summary>One request the proxy saw. Carries no secret: whether Authorization was there, not its value.</summary>
    public sealed class ProxyLogEntry
    {
        public int Index { get; internal set; }
        /// <summary>When the request's headers had arrived.</summary>
        public DateTimeOffset Time { get; internal set; }
        public string Method { get; internal set; } = "";
        /// <summary>The path, without the query.</summary>
        public string Path { get; internal set; } = "";
        public bool HasQuery { get; internal set; }
        public bool HasAuthorization { get; internal set; }
        /// <summary>Basic, Bearer, or null.</summary>
        public string? AuthorizationScheme { get; internal set; }
        /// <summary>For a Bearer JWT: its <c>exp</c> claim.</summary>
        public DateTimeOffset? BearerExpires { get; internal set; }
        /// <summary>The Range header the client sent, or null.</summary>
        public string? Range { get; internal set; }
        /// <summary>The Content-Range header the client sent, or null.</summary>
        public string? ContentRange { get; internal set; }
        /// <summary>Request body bytes read from the client.</summary>
        public long RequestBytes { get; internal set; }
        /// <summary>The status the client was sent; 0 when the connection was dropped before an answer.</summary>
        public int Status { get; internal set; }
        /// <summary>The registry's status, when the request was forwarded (0 otherwise).</summary>
        public int UpstreamStatus { get; internal set; }
        /// <summary>Response body bytes sent to the client.</summary>
        public long ResponseBytes { get; internal set; }
        /// <summary>The faults applied, e.g. "ResetAfter(102400)", or null.</summary>
        public string? Fault { get; internal set; }
        /// <summary>The range the registry answered (response Range or Content-Range header).</summary>
        public string? ResponseRange { get; internal set; }
        /// <summary>How long the request was held before it was handled (<see cref="FaultProxy.Latency"/>).</summary>
        public TimeSpan Delay { get; internal set; }

        /// <summary>What the request was for: ping, blob, upload, manifest, tags, catalog, referrers or other (see <see cref="EndpointOf"/>).</summary>
        public string Endpoint => EndpointOf(Path);

        /// <summary>
        /// The class of a registry API path: "ping" (/v2/), "upload" (…/blobs/uploads/…), "blob" (…/blobs/DIGEST),
        /// "manifest" (…/manifests/REF), "tags" (…/tags/list), "catalog" (/v2/_catalog), "referrers", else "other".
        /// </summary>
        public static string EndpointOf(string path)
        {
            if (path == "/v2/" || path == "/v2") return "ping";
            if (!path.StartsWith("/v2/", StringComparison.Ordinal)) return "other";
            if (path == "/v2/_catalog") return "catalog";
            if (path.Contains("/blobs/uploads", StringComparison.Ordinal)) return "upload";
            if (path.Contains("/blobs/", StringComparison.Ordinal)) return "blob";
            if (path.Contains("/manifests/", StringComparison.Ordinal)) return "manifest";
            if (path.EndsWith("/tags/list", StringComparison.Ordinal)) return "tags";
            if (path.Contains("/referrers/", StringComparison.Ordinal)) return "referrers";
            return "other";
        }

        public override string ToString() =>
            $"#{Index} {Time:HH:mm:ss.fff} {Method} {Path}{(HasQuery ? "?…" : "")} auth={AuthorizationScheme ?? "-"}"
            + (Range != null ? $" range={Range}" : "") + (ContentRange != null ? $" content-range={ContentRange}" : "")
            + $" -> {Status}" + (UpstreamStatus != 0 && UpstreamStatus != Status ? $" (registry {UpstreamStatus})" : "")
            + $" req={RequestBytes} resp={ResponseBytes}" + (Fault != null ? $" fault={Fault}" : "")
            + (Delay > TimeSpan.Zero ? $" delay={Delay.TotalMilliseconds:0.###}ms" : "");
    }

    /// <summary>Options of a <see cref="FaultProxy"/>.</summary>
    public sealed class FaultProxyOptions
    {
        /// <summary>Serve TLS to the client with a fresh self-signed certificate (the registry behind stays plain http).</summary>
        public bool Tls { get; set; }

        /// <summary>The address to listen on; loopback unless a test needs a host that is not loopback.</summary>
        public string ListenAddress { get; set; } = "127.0.0.1";

        /// <summary>
        /// The registry's storage folder (<see cref="RegistryServer.StorageDirectory"/>): when set, the proxy serves the OCI
        /// referrers API from it (<see cref="ReferrersApi"/>), which distribution 2.8.2 lacks.
        /// </summary>
        public string? ReferrersStorage { get; set; }

        /// <summary>With <see cref="ReferrersStorage"/>, referrers per page (paged with Link); 0 for one page.</summary>
        public int ReferrersPageSize { get; set; }

        /// <summary>With <see cref="ReferrersStorage"/>, whether the artifactType filter is applied (and said so); false plays a server that ignores it.</summary>
        public bool ReferrersFilter { get; set; } = true;
    }

    /// <summary>
    /// An HTTP/1.1 reverse proxy on a free port in front of a real registry, injecting scripted faults at byte level
    /// (resets, truncation, stalls, flipped bytes, error answers, 429 with Retry-After, redirects to a second server,
    /// throttling, a fixed latency per request). Bodies are streamed, never buffered whole. The client's Host header is passed on, so the registry
    /// builds its Location headers for the proxy; any that still name the registry are rewritten. Every request is logged
    /// (<see cref="Log"/>) without its secrets; the secrets it saw go to <see cref="SecretsSeen"/> for leak checks.
    /// </summary>
    public sealed class FaultProxy : IDisposable
    {
        private const int BufferSize = 16 * 1024;
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _cts = new();
        private readonly HttpClient _upstream;
        private readonly List<FaultRule> _rules = new();
        private readonly List<ProxyLogEntry> _log = new();
        private readonly HashSet<string> _secrets = new(StringComparer.Ordinal);
        private readonly X509Certificate2? _certificate;
        private readonly Task _acceptLoop;
        private readonly ReferrersApi? _referrers;
        private int _disposed;
        private int _connections;

        private FaultProxy(string upstream, FaultProxyOptions options)
        {
            Upstream = upstream.TrimEnd('/');
            Options = options;
            _upstream = new HttpClient(new SocketsHttpHandler
            {
                UseProxy = false,
                AllowAutoRedirect = false,
                UseCookies = false,
                AutomaticDecompression = DecompressionMethods.None,
                PooledConnectionIdleTimeout = TimeSpan.FromSeconds(10),
            }) { Timeout = Timeout.InfiniteTimeSpan };
            if (options.Tls) _certificate = CreateCertificate(options.ListenAddress);
            _listener = new TcpListener(IPAddress.Parse(options.ListenAddress), 0);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            RedirectTarget = new BlobRedirectTarget(_upstream, Upstream, this);
            if (options.ReferrersStorage != null) _referrers = new ReferrersApi(_upstream, Upstream, options.ReferrersStorage, options.ReferrersPageSize, options.ReferrersFilter);
            _acceptLoop = Task.Run(AcceptLoop);
        }

        /// <summary>Starts a proxy in front of <paramref name="registry"/>.</summary>
        public static FaultProxy Start(RegistryServer registry, FaultProxyOptions? options = null) => Start(registry.BaseUrl, options);

        /// <summary>Starts a proxy in front of the registry at <paramref name="upstreamBaseUrl"/> (http://host:port).</summary>
        public static FaultProxy Start(string upstreamBaseUrl, FaultProxyOptions? options = null) =>
            new FaultProxy(upstreamBaseUrl, options ?? new FaultProxyOptions());

        /// <summary>Starts a proxy in front of <paramref name="registry"/> that serves the OCI referrers API from its storage.</summary>
        public static FaultProxy StartWithReferrersApi(RegistryServer registry, int pageSize = 0) =>
            Start(registry.BaseUrl, new FaultProxyOptions { ReferrersStorage = registry.StorageDirectory, ReferrersPageSize = pageSize });

        /// <summary>With <see cref="FaultProxyOptions.ReferrersStorage"/>, how many referrers requests the proxy answered.</summary>
        public int ReferrersAnswered => _referrers?.Answered ?? 0;

        /// <summary>The registry behind, e.g. http://127.0.0.1:5000.</summary>
        public string Upstream { get; }
        public FaultProxyOptions Options { get; }
        public int Port { get; }
        public string Scheme => Options.Tls ? "https" : "http";
        /// <summary>"127.0.0.1:PORT" (the listen address).</summary>
        public string HostPort => $"{Options.ListenAddress}:{Port}";
        /// <summary>"http://127.0.0.1:PORT" (https with <see cref="FaultProxyOptions.Tls"/>).</summary>
        public string BaseUrl => $"{Scheme}://{HostPort}";
        /// <summary>The self-signed certificate served with TLS, else null.</summary>
        public X509Certificate2? Certificate => _certificate;

        /// <summary>The second server blob GETs are redirected to by <see cref="FaultKind.Redirect"/> rules.</summary>
        public BlobRedirectTarget RedirectTarget { get; }

        /// <summary>Limits every request and response body to this many bytes per second; 0 for no limit.</summary>
        public long BandwidthLimit { get; set; }

        /// <summary>
        /// Holds every request this long once its headers have arrived, before it is answered or forwarded (a far registry:
        /// one round trip per request); zero for none. Opening a connection is not delayed. Logged as <see cref="ProxyLogEntry.Delay"/>.
        /// </summary>
        public TimeSpan Latency { get; set; }

        /// <summary>Client connections accepted so far.</summary>
        public int ConnectionsAccepted => Volatile.Read(ref _connections);

        private Random? _chaos;
        private double _chaosRate;

        /// <summary>
        /// Breaks this share of all requests at random (a soak): each broken one gets one of 503, 429, a reset before it
        /// is forwarded, a reset or a cut partway through its answer's body, or its answer dropped after the registry acted.
        /// Seeded, so a run can be repeated; logged in <see cref="ProxyLogEntry.Fault"/> like any rule.
        /// </summary>
        public void BreakAtRandom(double rate, int seed)
        {
            lock (this)
            {
                _chaosRate = rate;
                _chaos = rate > 0 ? new Random(seed) : null;
            }
        }

        private FaultRule? RandomFault()
        {
            lock (this)
            {
                if (_chaos == null || _chaos.NextDouble() >= _chaosRate) return null;
                long bytes = 1 + _chaos.Next(4096);
                return _chaos.Next(6) switch
                {
                    0 => FaultRule.Status(503, "*", ".*"),
                    1 => FaultRule.TooManyRequests(0, "*", ".*"),
                    2 => FaultRule.ResetRequest(0, "*", ".*"),
                    3 => FaultRule.ResetAfter(bytes, "*", ".*"),
                    4 => FaultRule.Truncate(bytes, "*", ".*"),
                    _ => FaultRule.DropResponse("*", ".*"),
                };
            }
        }

        /// <summary>The requests logged so far, counted by method and <see cref="ProxyLogEntry.Endpoint"/>: "HEAD blob" → 12.</summary>
        public IReadOnlyDictionary<string, int> RequestCounts() =>
            new SortedDictionary<string, int>(
                Log.GroupBy(e => e.Method + " " + e.Endpoint, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
                StringComparer.Ordinal);

        /// <summary>Adds a rule (checked in the order added); returns it.</summary>
        public FaultRule AddRule(FaultRule rule)
        {
            if (rule == null) throw new ArgumentNullException(nameof(rule));
            lock (_rules) _rules.Add(rule);
            return rule;
        }

        public void ClearRules()
        {
            lock (_rules) _rules.Clear();
        }

        public FaultRule[] Rules
        {
            get { lock (_rules) return _rules.ToArray(); }
        }

        /// <summary>The requests seen so far, in arrival order.</summary>
        public ProxyLogEntry[] Log
        {
            get { lock (_log) return _log.ToArray(); }
        }

        public void ClearLog()
        {
            lock (_log) _log.Clear();
        }

        /// <summary>
        /// Secrets that passed through: Authorization values (tokens, Basic values and their passwords), <c>_state</c> values,
        /// and the signatures of redirect URLs. A client's logs and exception texts must contain none of them.
        /// </summary>
        public string[] SecretsSeen
        {
            get { lock (_secrets) return _secrets.ToArray(); }
        }

        internal void AddSecret(string? value)
        {
            if (string.IsNullOrEmpty(value) || value.Length < 8) return;
            lock (_secrets) _secrets.Add(value);
        }

        private async Task AcceptLoop()
        {
            while (!_cts.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_cts.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
                catch (SocketException) { if (_cts.IsCancellationRequested) return; continue; }
                Interlocked.Increment(ref _connections);
                _ = Task.Run(() => ServeConnection(client));
            }
        }

        private async Task ServeConnection(TcpClient client)
        {
            using (client)
            {
                Stream? stream = null;
                try
                {
                    client.NoDelay = true;
                    stream = client.GetStream();
                    if (_certificate != null)
                    {
                        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
                        handshake.CancelAfter(TimeSpan.FromSeconds(10));
                        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, handshake.Token).ConfigureAwait(false);
                        stream = ssl;
                    }
                    var conn = new HttpConn(client.Client, stream);
                    while (!_cts.IsCancellationRequested)
                    {
                        var head = await RequestHead.ReadAsync(conn, _cts.Token).ConfigureAwait(false);
                        if (head == null) return;
                        if (!await HandleAsync(conn, head).ConfigureAwait(false)) return;
                    }
                }
                catch (Exception e) when (e is IOException || e is SocketException || e is OperationCanceledException || e is ObjectDisposedException
                    || e is System.Security.Authentication.AuthenticationException || e is HttpRequestException || e is InvalidOperationException)
                {
                    // The client went away, or a fault ended the connection.
                }
                finally
                {
                    stream?.Dispose();
                }
            }
        }

        private ProxyLogEntry NewEntry(RequestHead head)
        {
            var entry = new ProxyLogEntry
            {
                Time = DateTimeOffset.UtcNow,
                Method = head.Method,
                Path = head.Path,
                HasQuery = head.Query.Length > 0,
                Range = head.Header("Range"),
                ContentRange = head.Header("Content-Range"),
            };
            var auth = head.Header("Authorization");
            if (auth != null)
            {
                entry.HasAuthorization = true;
                int sp = auth.IndexOf(' ');
                entry.AuthorizationScheme = sp > 0 ? auth.Substring(0, sp) : auth;
                var value = sp > 0 ? auth.Substring(sp + 1).Trim() : "";
                AddSecret(value);
                if (entry.AuthorizationScheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
                {
                    try
                    {
                        var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(value));
                        int colon = decoded.IndexOf(':');
                        if (colon >= 0) AddSecret(decoded.Substring(colon + 1));
                    }
                    catch (FormatException) { }
                }
                else if (entry.AuthorizationScheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
                {
                    entry.BearerExpires = JwtExpiry(value);
                }
            }
            foreach (var kv in ParseQuery(head.Query))
                if (kv.Key == "_state") { AddSecret(kv.Value); AddSecret(Uri.EscapeDataString(kv.Value)); }
            lock (_log)
            {
                entry.Index = _log.Count + 1;
                _log.Add(entry);
            }
            return entry;
        }

        internal static IEnumerable<KeyValuePair<string, string>> ParseQuery(string query)
        {
            foreach (var part in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = part.IndexOf('=');
                var key = Uri.UnescapeDataString(eq < 0 ? part : part.Substring(0, eq));
                var value = eq < 0 ? "" : Uri.UnescapeDataString(part.Substring(eq + 1).Replace('+', ' '));
                yield return new KeyValuePair<string, string>(key, value);
            }
        }

        private static DateTimeOffset? JwtExpiry(string token)
        {
            var parts = token.Split('.');
            if (parts.Length != 3) return null;
            try
            {
                var payload = parts[1].Replace('-', '+').Replace('_', '/');
                payload = payload.PadRight(payload.Length + (4 - payload.Length % 4) % 4, '=');
                using var doc = JsonDocument.Parse(Convert.FromBase64String(payload));
                return doc.RootElement.TryGetProperty("exp", out var exp) && exp.TryGetInt64(out var seconds)
                    ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null;
            }
            catch (Exception e) when (e is FormatException || e is JsonException)
            {
                return null;
            }
        }

        /// <summary>Handles one request; false when the connection is to be closed.</summary>
        private async Task<bool> HandleAsync(HttpConn conn, RequestHead head)
        {
            var ct = _cts.Token;
            var entry = NewEntry(head);
            var latency = Latency;
            if (latency > TimeSpan.Zero)
            {
                entry.Delay = latency;
                await Task.Delay(latency, ct).ConfigureAwait(false);
            }
            var active = new List<FaultRule>();
            foreach (var rule in Rules)
                if (rule.Matches(head.Method, head.Path) && rule.Hit()) active.Add(rule);
            if (RandomFault() is FaultRule chaos) active.Add(chaos);
            if (active.Count > 0) entry.Fault = string.Join(", ", active.Select(r => r.ToString()));
            var answer = active.FirstOrDefault(r => r.AnswersInstead);
            var quota = active.FirstOrDefault(r => r.Kind == FaultKind.RateLimit);
            List<KeyValuePair<string, string>>? quotaHeaders = null;
            if (quota != null)
            {
                int left = quota.TakeQuota(counts: head.Method == "GET");
                quotaHeaders = quota.QuotaHeaders(left);
                if (left < 0) answer ??= quota;
            }
            long throttle = active.Where(r => r.Kind == FaultKind.Throttle).Select(r => r.BytesPerSecond).DefaultIfEmpty(BandwidthLimit).Min();
            if (throttle <= 0) throttle = BandwidthLimit;
            var body = new RequestBody(conn, head, throttle);

            if (answer != null && answer.Kind == FaultKind.ResetRequest)
            {
                var sink = new byte[BufferSize];
                while (body.BytesRead < answer.AfterBytes)
                {
                    int n = await body.ReadAsync(sink, 0, (int)Math.Min(sink.Length, answer.AfterBytes - body.BytesRead), ct).ConfigureAwait(false);
                    if (n == 0) break;
                }
                entry.RequestBytes = body.BytesRead;
                await conn.ResetAsync().ConfigureAwait(false);
                return false;
            }
            if (answer != null)
            {
                await body.DrainAsync(ct).ConfigureAwait(false);
                entry.RequestBytes = body.BytesRead;
                var status = answer.Kind == FaultKind.TooManyRequests || answer.Kind == FaultKind.RateLimit ? 429 : answer.StatusCode;
                var code = status == 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE";
                var json = Encoding.UTF8.GetBytes("{\"errors\":[{\"code\":\"" + code + "\",\"message\":\"injected by FaultProxy\"}]}");
                var headers = new List<KeyValuePair<string, string>>
                {
                    new("Content-Type", "application/json; charset=utf-8"),
                    new("Docker-Distribution-Api-Version", "registry/2.0"),
                };
                if (status == 429 && answer.RetryAfterSeconds >= 0) headers.Add(new("Retry-After", answer.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                if (quotaHeaders != null) headers.AddRange(quotaHeaders);
                // The log is written before the answer, so that a client that has the answer also finds it in the log.
                entry.Status = status;
                entry.ResponseBytes = head.Method == "HEAD" ? 0 : json.Length;
                await WriteSimpleAsync(conn, status, headers, head.Method == "HEAD" ? null : json, json.Length, ct).ConfigureAwait(false);
                return head.KeepAlive;
            }

            if (_referrers != null && await _referrers.TryAnswerAsync(head, ct).ConfigureAwait(false) is { } served)
            {
                await body.DrainAsync(ct).ConfigureAwait(false);
                entry.Status = served.Status;
                entry.ResponseBytes = served.Body.Length;
                await WriteSimpleAsync(conn, served.Status, served.Headers, served.Body, served.Body.Length, ct).ConfigureAwait(false);
                return head.KeepAlive;
            }

            var stall = active.FirstOrDefault(r => r.Kind == FaultKind.Stall);
            if (stall != null && stall.AfterBytes < 0) await Task.Delay(stall.Duration, ct).ConfigureAwait(false);

            bool stripRange = active.Any(r => r.Kind == FaultKind.StripRange);
            using var message = new HttpRequestMessage(new HttpMethod(head.Method), Upstream + head.Target);
            bool hasBody = body.HasBody;
            if (hasBody)
            {
                message.Content = new StreamContent(body, BufferSize);
                if (body.DeclaredLength.HasValue) message.Content.Headers.ContentLength = body.DeclaredLength.Value;
            }
            foreach (var (name, value) in head.Headers)
            {
                if (IsHopByHop(name) || name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) continue;
                if (stripRange && name.Equals("Range", StringComparison.OrdinalIgnoreCase)) continue;
                if (!message.Headers.TryAddWithoutValidation(name, value) && message.Content != null)
                    message.Content.Headers.TryAddWithoutValidation(name, value);
            }
            message.Headers.Host = head.Header("Host") ?? HostPort;
            if (Options.Tls) message.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");

            HttpResponseMessage response;
            try
            {
                response = await _upstream.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException)
            {
                if (body.Failed) { await conn.ResetAsync().ConfigureAwait(false); return false; }
                var text = Encoding.UTF8.GetBytes("bad gateway");
                entry.Status = 502;
                await WriteSimpleAsync(conn, 502, new List<KeyValuePair<string, string>> { new("Content-Type", "text/plain") }, text, text.Length, ct).ConfigureAwait(false);
                return false;
            }
            using (response)
            {
                entry.UpstreamStatus = (int)response.StatusCode;
                await body.DrainAsync(ct).ConfigureAwait(false);
                entry.RequestBytes = body.BytesRead;
                CaptureStateSecrets(response);

                if (active.Any(r => r.Kind == FaultKind.DropResponse))
                {
                    await conn.ResetAsync().ConfigureAwait(false);
                    return false;
                }
                int status = (int)response.StatusCode;
                if (active.Any(r => r.Kind == FaultKind.Redirect) && (status == 200 || status == 206) && head.Method == "GET")
                {
                    var location = RedirectTarget.Register(head.Target, head.Header("Authorization"));
                    var headers = new List<KeyValuePair<string, string>>
                    {
                        new("Location", location),
                        new("Docker-Distribution-Api-Version", "registry/2.0"),
                    };
                    entry.Status = 307;
                    await WriteSimpleAsync(conn, 307, headers, Array.Empty<byte>(), 0, ct).ConfigureAwait(false);
                    return head.KeepAlive;
                }
                var subject = _referrers == null ? null : await _referrers.SubjectHeaderAsync(head, response, ct).ConfigureAwait(false);
                if (subject is { } header) (quotaHeaders ??= new List<KeyValuePair<string, string>>()).Add(header);
                return await RelayAsync(conn, head, response, entry, active, throttle, ct, quotaHeaders).ConfigureAwait(false);
            }
        }

        private void CaptureStateSecrets(HttpResponseMessage response)
        {
            if (!response.Headers.NonValidated.TryGetValues("Location", out var values)) return;
            foreach (var location in values)
            {
                int q = location.IndexOf('?');
                if (q < 0) continue;
                foreach (var kv in ParseQuery(location.Substring(q + 1)))
                    if (kv.Key == "_state") { AddSecret(kv.Value); AddSecret(Uri.EscapeDataString(kv.Value)); }
            }
        }

        internal static bool IsHopByHop(string name) =>
            name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
            || name.Equals("TE", StringComparison.OrdinalIgnoreCase) || name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Trailer", StringComparison.OrdinalIgnoreCase);

        private string RewriteLocation(string value)
        {
            // Absolute Locations that still name the registry (e.g. built from another Host) are pointed at the proxy.
            foreach (var prefix in new[] { Upstream, Upstream.Replace("127.0.0.1", "localhost") })
                if (value.StartsWith(prefix + "/", StringComparison.OrdinalIgnoreCase)) return BaseUrl + value.Substring(prefix.Length);
            return value;
        }

        private async Task<bool> RelayAsync(HttpConn conn, RequestHead head, HttpResponseMessage response, ProxyLogEntry entry,
            List<FaultRule> active, long throttle, CancellationToken ct, List<KeyValuePair<string, string>>? extraHeaders = null)
        {
            int status = (int)response.StatusCode;
            bool noBody = head.Method == "HEAD" || status == 204 || status == 304 || status < 200;
            var sb = new StringBuilder();
            sb.Append("HTTP/1.1 ").Append(status).Append(' ').Append(response.ReasonPhrase ?? "Status").Append("\r\n");
            long? length = null;
            foreach (var h in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
            {
                if (IsHopByHop(h.Key)) continue;
                if (h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    if (long.TryParse(h.Value.FirstOrDefault(), out var l)) length = l;
                    continue;
                }
                foreach (var v in h.Value)
                {
                    var value = h.Key.Equals("Location", StringComparison.OrdinalIgnoreCase) ? RewriteLocation(v) : v;
                    sb.Append(h.Key).Append(": ").Append(value).Append("\r\n");
                    if (h.Key.Equals("Range", StringComparison.OrdinalIgnoreCase) || h.Key.Equals("Content-Range", StringComparison.OrdinalIgnoreCase))
                        entry.ResponseRange = v;
                }
            }
            foreach (var h in extraHeaders ?? new List<KeyValuePair<string, string>>()) sb.Append(h.Key).Append(": ").Append(h.Value).Append("\r\n");
            bool chunked = !noBody && !length.HasValue;
            if (length.HasValue) sb.Append("Content-Length: ").Append(length.Value).Append("\r\n");
            if (chunked) sb.Append("Transfer-Encoding: chunked\r\n");
            if (!head.KeepAlive) sb.Append("Connection: close\r\n");
            sb.Append("\r\n");
            entry.Status = status;
            await conn.Stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), ct).ConfigureAwait(false);
            if (noBody)
            {
                await conn.Stream.FlushAsync(ct).ConfigureAwait(false);
                return head.KeepAlive;
            }

            var cut = active.FirstOrDefault(r => r.Kind == FaultKind.ResetAfter || r.Kind == FaultKind.Truncate);
            var stall = active.FirstOrDefault(r => r.Kind == FaultKind.Stall && r.AfterBytes >= 0);
            var flip = active.FirstOrDefault(r => r.Kind == FaultKind.FlipBytes);
            long flipAt = flip == null ? -1 : length.HasValue ? Math.Min(flip.AfterBytes, length.Value - 1) : flip.AfterBytes;
            var pump = new BodyPump(conn.Stream, chunked, throttle, ct, entry)
            {
                CutAt = cut?.AfterBytes ?? -1,
                StallAt = stall?.AfterBytes ?? -1,
                StallFor = stall?.Duration ?? TimeSpan.Zero,
                FlipAt = flipAt,
            };
            using var upstreamBody = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            var buffer = new byte[BufferSize];
            try
            {
                while (true)
                {
                    int n = await upstreamBody.ReadAsync(buffer, ct).ConfigureAwait(false);
                    if (n == 0) break;
                    if (!await pump.EmitAsync(buffer, n).ConfigureAwait(false))
                    {
                        if (cut!.Kind == FaultKind.ResetAfter) await conn.ResetAsync().ConfigureAwait(false);
                        else conn.CloseGracefully();
                        return false;
                    }
                }
                if (pump.CutAt >= 0 && pump.Position == pump.CutAt && pump.Position < (length ?? long.MaxValue))
                {
                    if (cut!.Kind == FaultKind.ResetAfter) await conn.ResetAsync().ConfigureAwait(false);
                    else conn.CloseGracefully();
                    return false;
                }
                await pump.FinishAsync().ConfigureAwait(false);
            }
            catch (HttpRequestException)
            {
                await conn.ResetAsync().ConfigureAwait(false);
                return false;
            }
            return head.KeepAlive;
        }

        internal static async Task WriteSimpleAsync(HttpConn conn, int status, List<KeyValuePair<string, string>> headers, byte[]? body, long length, CancellationToken ct)
        {
            var sb = new StringBuilder();
            sb.Append("HTTP/1.1 ").Append(status).Append(' ').Append(Reason(status)).Append("\r\n");
            foreach (var h in headers) sb.Append(h.Key).Append(": ").Append(h.Value).Append("\r\n");
            sb.Append("Content-Length: ").Append(length).Append("\r\n\r\n");
            await conn.Stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), ct).ConfigureAwait(false);
            if (body != null && body.Length > 0) await conn.Stream.WriteAsync(body, ct).ConfigureAwait(false);
            await conn.Stream.FlushAsync(ct).ConfigureAwait(false);
        }

        internal static string Reason(int status) => status switch
        {
            200 => "OK",
            206 => "Partial Content",
            307 => "Temporary Redirect",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            408 => "Request Timeout",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Status",
        };

        private static X509Certificate2 CreateCertificate(string address)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=moby-testbed-fault-proxy", key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddIpAddress(IPAddress.Loopback);
            if (IPAddress.TryParse(address, out var ip) && !ip.Equals(IPAddress.Loopback)) san.AddIpAddress(ip);
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _cts.Cancel();
            _listener.Stop();
            try { _acceptLoop.Wait(2000); } catch (AggregateException) { }
            RedirectTarget.Dispose();
            _upstream.Dispose();
            _certificate?.Dispose();
        }

        public override string ToString() => $"FaultProxy {BaseUrl} -> {Upstream}";
    }

    /// <summary>
    /// The second server of <see cref="FaultKind.Redirect"/>: it serves, under a presigned-looking URL, the bytes it fetches
    /// from the registry with the credentials of the original request (which the client itself must never send here),
    /// passing Range on. It records whether an Authorization header reached it.
    /// </summary>
    public sealed class BlobRedirectTarget : IDisposable
    {
        private readonly HttpClient _upstream;
        private readonly string _upstreamBase;
        private readonly FaultProxy _owner;
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _cts = new();
        private readonly Dictionary<string, (string Target, string? Authorization, string Signature)> _objects = new();
        private readonly List<ProxyLogEntry> _log = new();
        private readonly Task _acceptLoop;

        internal BlobRedirectTarget(HttpClient upstream, string upstreamBase, FaultProxy owner)
        {
            _upstream = upstream;
            _upstreamBase = upstreamBase;
            _owner = owner;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _acceptLoop = Task.Run(AcceptLoop);
        }

        public int Port { get; }
        public string BaseUrl => $"http://127.0.0.1:{Port}";

        /// <summary>The requests that reached this server.</summary>
        public ProxyLogEntry[] Log
        {
            get { lock (_log) return _log.ToArray(); }
        }

        /// <summary>True when any request that reached this server carried an Authorization header.</summary>
        public bool AuthorizationSeen => Log.Any(e => e.HasAuthorization);

        internal string Register(string target, string? authorization)
        {
            var id = Guid.NewGuid().ToString("N");
            var signature = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            var credential = "AKIA" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
            _owner.AddSecret(signature);
            _owner.AddSecret(credential);
            lock (_objects) _objects[id] = (target, authorization, signature);
            return $"{BaseUrl}/objects/{id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Expires=600&X-Amz-Signature={signature}";
        }

        private async Task AcceptLoop()
        {
            while (!_cts.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_cts.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
                catch (SocketException) { if (_cts.IsCancellationRequested) return; continue; }
                _ = Task.Run(() => Serve(client));
            }
        }

        private async Task Serve(TcpClient client)
        {
            using (client)
            {
                try
                {
                    client.NoDelay = true;
                    var conn = new HttpConn(client.Client, client.GetStream());
                    while (!_cts.IsCancellationRequested)
                    {
                        var head = await RequestHead.ReadAsync(conn, _cts.Token).ConfigureAwait(false);
                        if (head == null) return;
                        if (!await HandleAsync(conn, head).ConfigureAwait(false)) return;
                    }
                }
                catch (Exception e) when (e is IOException || e is SocketException || e is OperationCanceledException || e is ObjectDisposedException || e is HttpRequestException)
                {
                }
            }
        }

        private async Task<bool> HandleAsync(HttpConn conn, RequestHead head)
        {
            var ct = _cts.Token;
            var entry = new ProxyLogEntry
            {
                Time = DateTimeOffset.UtcNow,
                Method = head.Method,
                Path = head.Path,
                HasQuery = head.Query.Length > 0,
                Range = head.Header("Range"),
                HasAuthorization = head.Header("Authorization") != null,
            };
            var auth = head.Header("Authorization");
            if (auth != null) entry.AuthorizationScheme = auth.Split(' ')[0];
            lock (_log)
            {
                entry.Index = _log.Count + 1;
                _log.Add(entry);
            }
            var id = head.Path.StartsWith("/objects/", StringComparison.Ordinal) ? head.Path.Substring(9) : "";
            (string Target, string? Authorization, string Signature) obj;
            bool known;
            lock (_objects) known = _objects.TryGetValue(id, out obj);
            var signature = FaultProxy.ParseQuery(head.Query).FirstOrDefault(kv => kv.Key == "X-Amz-Signature").Value;
            if (!known || signature != obj.Signature || (head.Method != "GET" && head.Method != "HEAD"))
            {
                var text = Encoding.UTF8.GetBytes("<Error><Code>AccessDenied</Code></Error>");
                await FaultProxy.WriteSimpleAsync(conn, 403, new List<KeyValuePair<string, string>> { new("Content-Type", "application/xml") }, text, text.Length, ct).ConfigureAwait(false);
                entry.Status = 403;
                return true;
            }
            using var message = new HttpRequestMessage(new HttpMethod(head.Method), _upstreamBase + obj.Target);
            if (obj.Authorization != null) message.Headers.TryAddWithoutValidation("Authorization", obj.Authorization);
            if (entry.Range != null) message.Headers.TryAddWithoutValidation("Range", entry.Range);
            using var response = await _upstream.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            entry.Status = entry.UpstreamStatus = status;
            var sb = new StringBuilder();
            sb.Append("HTTP/1.1 ").Append(status).Append(' ').Append(FaultProxy.Reason(status)).Append("\r\n");
            long? length = response.Content.Headers.ContentLength;
            foreach (var name in new[] { "Content-Type", "Content-Range", "ETag" })
                if (response.Content.Headers.NonValidated.TryGetValues(name, out var values) || response.Headers.NonValidated.TryGetValues(name, out values))
                    foreach (var v in values) sb.Append(name).Append(": ").Append(v).Append("\r\n");
            sb.Append("Content-Length: ").Append(length ?? 0).Append("\r\n\r\n");
            await conn.Stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), ct).ConfigureAwait(false);
            if (head.Method == "GET" && length.HasValue)
            {
                using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                var buffer = new byte[16 * 1024];
                int n;
                while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    await conn.Stream.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    entry.ResponseBytes += n;
                }
            }
            await conn.Stream.FlushAsync(ct).ConfigureAwait(false);
            return head.KeepAlive;
        }

        public void Dispose()
        {
            if (_cts.IsCancellationRequested) return;
            _cts.Cancel();
            _listener.Stop();
            try { _acceptLoop.Wait(2000); } catch (AggregateException) { }
        }
    }

    /// <summary>A request body read from the client connection (Content-Length or chunked), optionally throttled.</summary>
    internal sealed class RequestBody : Stream
    {
        private readonly HttpConn _conn;
        private readonly bool _chunked;
        private readonly long _throttle;
        private readonly System.Diagnostics.Stopwatch _clock = new();
        private long _remaining;
        private long _chunkLeft;
        private bool _done;

        public RequestBody(HttpConn conn, RequestHead head, long throttle)
        {
            _conn = conn;
            _throttle = throttle;
            var te = head.Header("Transfer-Encoding");
            _chunked = te != null && te.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            var cl = head.Header("Content-Length");
            if (!_chunked && cl != null && long.TryParse(cl, out var length))
            {
                DeclaredLength = length;
                _remaining = length;
            }
            _done = !_chunked && _remaining == 0;
            HasBody = _chunked || cl != null;
        }

        public long? DeclaredLength { get; }
        public bool HasBody { get; }
        public long BytesRead { get; private set; }
        /// <summary>True when reading from the client failed (the client dropped the upload).</summary>
        public bool Failed { get; private set; }

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct)
        {
            try
            {
                int n = await ReadCoreAsync(buffer, offset, count, ct).ConfigureAwait(false);
                if (n > 0 && _throttle > 0)
                {
                    if (!_clock.IsRunning) _clock.Start();
                    var due = TimeSpan.FromSeconds((double)(BytesRead + n) / _throttle);
                    var wait = due - _clock.Elapsed;
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, ct).ConfigureAwait(false);
                }
                BytesRead += n;
                return n;
            }
            catch (Exception e) when (e is IOException || e is SocketException)
            {
                Failed = true;
                throw;
            }
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(buffer, out var segment))
                return new ValueTask<int>(ReadAsync(segment.Array!, segment.Offset, segment.Count, ct));
            var temp = new byte[buffer.Length];
            return new ValueTask<int>(ReadAsync(temp, 0, temp.Length, ct).ContinueWith(t => { temp.AsSpan(0, t.Result).CopyTo(buffer.Span); return t.Result; }, ct));
        }

        private async Task<int> ReadCoreAsync(byte[] buffer, int offset, int count, CancellationToken ct)
        {
            if (_done || count == 0) return 0;
            if (!_chunked)
            {
                int n = await _conn.ReadAsync(buffer, offset, (int)Math.Min(count, _remaining), ct).ConfigureAwait(false);
                if (n == 0) throw new IOException("The client ended the request body early.");
                _remaining -= n;
                if (_remaining == 0) _done = true;
                return n;
            }
            if (_chunkLeft == 0)
            {
                var line = await _conn.ReadLineAsync(ct).ConfigureAwait(false) ?? throw new IOException("The client ended a chunked body early.");
                int semi = line.IndexOf(';');
                _chunkLeft = Convert.ToInt64((semi < 0 ? line : line.Substring(0, semi)).Trim(), 16);
                if (_chunkLeft == 0)
                {
                    while (!string.IsNullOrEmpty(await _conn.ReadLineAsync(ct).ConfigureAwait(false))) { }
                    _done = true;
                    return 0;
                }
            }
            int m = await _conn.ReadAsync(buffer, offset, (int)Math.Min(count, _chunkLeft), ct).ConfigureAwait(false);
            if (m == 0) throw new IOException("The client ended a chunk early.");
            _chunkLeft -= m;
            if (_chunkLeft == 0) await _conn.ReadLineAsync(ct).ConfigureAwait(false);
            return m;
        }

        /// <summary>Reads and discards what the registry did not read, so the next request on the connection starts clean.</summary>
        public async Task DrainAsync(CancellationToken ct)
        {
            var sink = new byte[16 * 1024];
            while (!_done && await ReadCoreAsync(sink, 0, sink.Length, ct).ConfigureAwait(false) > 0) { }
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Writes a response body with the body faults: stall, flip, cut; chunked framing; throttling.</summary>
    internal sealed class BodyPump
    {
        private readonly Stream _out;
        private readonly bool _chunked;
        private readonly long _throttle;
        private readonly CancellationToken _ct;
        private readonly System.Diagnostics.Stopwatch _clock = new();
        private bool _stalled;

        private readonly ProxyLogEntry _entry;

        public BodyPump(Stream output, bool chunked, long throttle, CancellationToken ct, ProxyLogEntry entry)
        {
            _entry = entry;
            _out = output;
            _chunked = chunked;
            _throttle = throttle;
            _ct = ct;
        }

        public long CutAt { get; set; } = -1;
        public long StallAt { get; set; } = -1;
        public TimeSpan StallFor { get; set; }
        public long FlipAt { get; set; } = -1;
        public long Position { get; private set; }

        /// <summary>Writes the bytes; false when the cut point was reached (the caller then ends the connection).</summary>
        public async Task<bool> EmitAsync(byte[] buffer, int count)
        {
            if (FlipAt >= Position && FlipAt < Position + count) buffer[FlipAt - Position] ^= 0xFF;
            int offset = 0;
            while (true)
            {
                long next = long.MaxValue;
                if (!_stalled && StallAt >= Position) next = Math.Min(next, StallAt);
                if (CutAt >= Position) next = Math.Min(next, CutAt);
                if (next == Position)
                {
                    if (!_stalled && StallAt == Position)
                    {
                        await _out.FlushAsync(_ct).ConfigureAwait(false);
                        await Task.Delay(StallFor, _ct).ConfigureAwait(false);
                        _stalled = true;
                        continue;
                    }
                    if (CutAt == Position) return false;
                }
                if (offset == count) return true;
                int take = (int)Math.Min(count - offset, next - Position);
                _entry.ResponseBytes = Position + take; // counted before the client can have them
                await WriteAsync(buffer, offset, take).ConfigureAwait(false);
                offset += take;
                Position += take;
            }
        }

        private async Task WriteAsync(byte[] buffer, int offset, int count)
        {
            if (_throttle <= 0)
            {
                await WriteFramedAsync(buffer, offset, count).ConfigureAwait(false);
                return;
            }
            if (!_clock.IsRunning) _clock.Start();
            int slice = (int)Math.Max(1024, Math.Min(16 * 1024, _throttle / 20));
            long sent = Position;
            while (count > 0)
            {
                int n = Math.Min(slice, count);
                await WriteFramedAsync(buffer, offset, n).ConfigureAwait(false);
                await _out.FlushAsync(_ct).ConfigureAwait(false);
                offset += n;
                count -= n;
                sent += n;
                var wait = TimeSpan.FromSeconds((double)sent / _throttle) - _clock.Elapsed;
                if (wait > TimeSpan.Zero) await Task.Delay(wait, _ct).ConfigureAwait(false);
            }
        }

        private async Task WriteFramedAsync(byte[] buffer, int offset, int count)
        {
            if (count == 0) return;
            if (_chunked) await _out.WriteAsync(Encoding.ASCII.GetBytes(count.ToString("x") + "\r\n"), _ct).ConfigureAwait(false);
            await _out.WriteAsync(buffer.AsMemory(offset, count), _ct).ConfigureAwait(false);
            if (_chunked) await _out.WriteAsync(Encoding.ASCII.GetBytes("\r\n"), _ct).ConfigureAwait(false);
        }

        public async Task FinishAsync()
        {
            if (_chunked) await _out.WriteAsync(Encoding.ASCII.GetBytes("0\r\n\r\n"), _ct).ConfigureAwait(false);
            await _out.FlushAsync(_ct).ConfigureAwait(false);
        }
    }
}
