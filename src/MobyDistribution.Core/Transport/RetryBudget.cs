using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.Http;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// The one place where a retry is decided. Every retry loop of the client (a request, a token request, a manifest body,
    /// a resumed download, a chunk, a restarted upload, a whole blob transfer) asks the <see cref="RetryBudget"/> of the
    /// resource it works on, and the layers below it draw from that same budget:
    /// <list type="bullet">
    /// <item>at most <see cref="RetryPolicy.MaxAttempts"/> attempts at one resource (a manifest, a blob, a chunk), however
    /// many layers retry it: a loop entered while another is active for the same resource shares its count, so a whole-blob
    /// retry around a request retry adds up to <c>MaxAttempts</c>, never <c>MaxAttempts²</c>;</item>
    /// <item>no retry whose wait would end more than <see cref="RetryPolicy.MaxElapsed"/> after the resource first failed,
    /// so a command gives up within that time plus the request in flight; <c>Retry-After</c> and <c>RateLimit-Reset</c> are
    /// waited for inside it, or the wait is refused at once.</item>
    /// </list>
    /// The policy is the client's, unless <see cref="RetryScope"/> overrides it for a command.
    /// </summary>
    internal sealed class RetryBudget : IDisposable
    {
        private static readonly AsyncLocal<State?> Active = new AsyncLocal<State?>();

        private readonly State _state;
        private readonly State? _previous;
        private readonly bool _owner;

        private RetryBudget(State state, State? previous, bool owner)
        {
            _state = state;
            _previous = previous;
            _owner = owner;
        }

        /// <summary>The limits in force.</summary>
        public RetryPolicy Policy => _state.Policy;

        /// <summary>Attempts that failed so far.</summary>
        public int Failures { get { lock (_state) return _state.Failures; } }

        /// <summary>True once a retry was refused: the resource's budget is spent, and no loop around it tries again.</summary>
        public bool Spent { get { lock (_state) return _state.Spent; } }

        /// <summary>
        /// The budget of the resource being worked on: the one already active in this async flow (an outer loop's), else a
        /// new one for <paramref name="clientPolicy"/> (as <see cref="RetryScope"/> resolves it). Dispose it when done.
        /// </summary>
        public static RetryBudget Enter(RetryPolicy clientPolicy)
        {
            var current = Active.Value;
            return current != null ? new RetryBudget(current, null, owner: false) : Begin(clientPolicy);
        }

        /// <summary>A budget of its own for a resource inside another (a chunk inside an upload): its own count, the same limits.</summary>
        public static RetryBudget Begin(RetryPolicy clientPolicy)
        {
            var previous = Active.Value;
            var state = new State(RetryScope.Resolve(clientPolicy));
            Active.Value = state;
            return new RetryBudget(state, previous, owner: true);
        }

        /// <summary>Ends this budget's scope; a handle on an outer budget leaves that one active.</summary>
        public void Dispose()
        {
            if (_owner && ReferenceEquals(Active.Value, _state)) Active.Value = _previous;
        }

        /// <summary>
        /// After a failed attempt: waits before the next one and returns true, or returns false (and marks the budget spent)
        /// when the attempts or the time are used up. <paramref name="what"/> starts the log line; <paramref name="reason"/>
        /// (a status, a short failure) goes into the final message; <paramref name="before"/> runs only when it will wait.
        /// </summary>
        public async Task<bool> WaitToRetryAsync(string what, string reason, TimeSpan? retryAfter, Action<string> log, CancellationToken cancellationToken,
            Action? before = null, string? askedBy = null)
        {
            var s = _state;
            TimeSpan delay;
            int failures;
            lock (s)
            {
                // A spent budget counts no more attempts: none was made after it gave up.
                if (s.Spent) return false;
                s.Reasons.Add(reason);
                s.SinceFirstFailure ??= Stopwatch.StartNew();
                failures = ++s.Failures;
                if (failures >= s.Policy.MaxAttempts)
                {
                    s.Spent = true;
                    return false;
                }
                // A wait the registry asks for is waited whole or not at all: a shorter one would only meet the same answer.
                if (retryAfter.HasValue && retryAfter.Value > s.Policy.MaxDelay && s.SinceFirstFailure.Elapsed + retryAfter.Value <= s.Policy.MaxElapsed)
                {
                    s.Spent = true;
                    s.Refusal = $"the registry asks to wait {retryAfter.Value.TotalSeconds:0.#} s, more than the longest wait of {s.Policy.MaxDelay.TotalSeconds:0.#} s";
                    return false;
                }
                delay = s.Policy.DelayFor(failures, retryAfter);
                if (s.SinceFirstFailure.Elapsed + (retryAfter ?? delay) > s.Policy.MaxElapsed)
                {
                    s.Spent = true;
                    if (retryAfter.HasValue)
                        s.Refusal = $"waiting {delay.TotalSeconds:0.#} s more would exceed the budget of {s.Policy.MaxElapsed.TotalSeconds:0.#} s";
                    return false;
                }
            }
            before?.Invoke();
            log($"{what}; waiting {delay.TotalSeconds:0.#} s{(retryAfter.HasValue ? $" as {askedBy ?? "Retry-After"} asks" : string.Empty)}, retry {failures} of {s.Policy.MaxAttempts - 1}.");
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            return true;
        }

        /// <summary>Why the budget gave up: "gave up after 3 attempts in 1.2 s (answers: 502, 503, 503; the budget is …)".</summary>
        public string Summary
        {
            get
            {
                var s = _state;
                lock (s)
                {
                    int attempts = s.Failures;
                    var elapsed = s.SinceFirstFailure?.Elapsed.TotalSeconds ?? 0;
                    var budget = s.Refusal ?? $"the budget is {s.Policy.MaxAttempts} attempts in {s.Policy.MaxElapsed.TotalSeconds:0.#} s";
                    return $"gave up after {attempts} attempt{(attempts == 1 ? "" : "s")} in {elapsed:0.#} s (answers: {string.Join(", ", s.Reasons)}; {budget})";
                }
            }
        }

        /// <summary>True when the refusal was a wait the registry asked for that does not fit the time left.</summary>
        public bool RefusedWait { get { lock (_state) return _state.Refusal != null; } }

        private sealed class State
        {
            public State(RetryPolicy policy) => Policy = policy;
            public RetryPolicy Policy { get; }
            public List<string> Reasons { get; } = new List<string>();
            public Stopwatch? SinceFirstFailure { get; set; }
            public int Failures { get; set; }
            public bool Spent { get; set; }
            public string? Refusal { get; set; }
        }
    }

    /// <summary>What may succeed on another try, and how long the registry asks to wait.</summary>
    internal static class RetryRules
    {
        /// <summary>
        /// Statuses worth another try. An idempotent request may be sent again after any of them; any other request only
        /// after an answer that says the registry did not act on it (408, 429, 503).
        /// </summary>
        public static bool IsRetryableStatus(int status, bool idempotent) =>
            status == 408 || status == 429 || status == 503 || (idempotent && (status == 500 || status == 502 || status == 504));

        /// <summary>A status worth another try for an idempotent request.</summary>
        public static bool IsRetryableStatus(int status) => IsRetryableStatus(status, idempotent: true);

        /// <summary>
        /// A failure that another try may not meet: a dropped or refused connection, a stall, a cut body. Not one that
        /// fails the same way every time (a response header over the limit, an unparseable answer, a refused certificate),
        /// nor a <see cref="RegistryException"/>, nor the caller's cancellation.
        /// </summary>
        public static bool IsTransient(Exception e, CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested) return false;
            if (e is RegistryException) return false;
            if (e is HttpRequestException http && IsDeterministic(http)) return false;
            return e is HttpRequestException || e is IOException || e is OperationCanceledException || e is TimeoutException || e is SocketException;
        }

        // HttpRequestError (.NET 8+) names the failures that repeat on every try; on older runtimes the property is absent
        // and only the message can tell (HttpWebRequest's WebException status on .NET Framework).
        private static readonly System.Reflection.PropertyInfo? ErrorProperty = typeof(HttpRequestException).GetProperty("HttpRequestError");

        private static readonly HashSet<string> DeterministicErrors = new HashSet<string>(StringComparer.Ordinal)
        {
            "InvalidResponse", "ConfigurationLimitExceeded", "ExtendedConnectNotSupported",
            "VersionNegotiationError", "UserAuthenticationError",
        };

        internal static bool IsDeterministic(HttpRequestException e)
        {
            if (ErrorProperty != null)
            {
                var name = ErrorProperty.GetValue(e)?.ToString();
                if (name != null && DeterministicErrors.Contains(name)) return true;
                if (name != null && name != "Unknown") return false;
            }
            for (Exception? x = e.InnerException; x != null; x = x.InnerException)
            {
                if (x is System.Net.WebException web)
                    return web.Status == System.Net.WebExceptionStatus.ServerProtocolViolation || web.Status == System.Net.WebExceptionStatus.MessageLengthLimitExceeded
                        || web.Status == System.Net.WebExceptionStatus.TrustFailure;
                if (x is System.Security.Authentication.AuthenticationException) return true;
            }
            return false;
        }

        /// <summary>How long a 429 or 503 asks to wait: Retry-After (seconds or a date), else RateLimit-Reset, else the spent quota's window, else null.</summary>
        public static TimeSpan? RetryAfter(HttpResponseMessage response) => RetryAfter(response, out _);

        /// <summary>As <see cref="RetryAfter(HttpResponseMessage)"/>, naming what asked for the wait (for the log).</summary>
        public static TimeSpan? RetryAfter(HttpResponseMessage response, out string? askedBy)
        {
            var ra = response.Headers.RetryAfter;
            askedBy = "Retry-After";
            if (ra?.Delta.HasValue == true) return ra.Delta!.Value;
            if (ra?.Date.HasValue == true) return ra.Date!.Value - DateTimeOffset.UtcNow;
            int status = (int)response.StatusCode;
            askedBy = null;
            if (status != 429 && status != 503) return null;
            var reset = RateLimitReset(response);
            if (reset.HasValue)
            {
                askedBy = "RateLimit-Reset";
                return reset;
            }
            var window = RateLimitStatus.QuotaWait(response);
            if (window.HasValue) askedBy = "the spent quota's window";
            return window;
        }

        /// <summary>
        /// The seconds until the quota resets, from <c>RateLimit-Reset: N</c> or <c>RateLimit: …, reset=N</c> (the IETF
        /// draft's fields, which some registries send in place of Retry-After).
        /// </summary>
        internal static TimeSpan? RateLimitReset(HttpResponseMessage response)
        {
            if (response.Headers.TryGetValues("RateLimit-Reset", out var resets))
                foreach (var v in resets)
                    if (long.TryParse(v.Split(';')[0].Trim(), out var seconds) && seconds >= 0) return Seconds(seconds);
            if (response.Headers.TryGetValues("RateLimit", out var fields))
                foreach (var v in fields)
                    foreach (var part in v.Split(',', ';'))
                    {
                        var kv = part.Trim();
                        if (kv.StartsWith("reset=", StringComparison.OrdinalIgnoreCase) && long.TryParse(kv.Substring(6).Trim(), out var seconds) && seconds >= 0)
                            return Seconds(seconds);
                        if (kv.StartsWith("t=", StringComparison.OrdinalIgnoreCase) && long.TryParse(kv.Substring(2).Trim(), out var t) && t >= 0)
                            return Seconds(t);
                    }
            return null;
        }

        // Some servers send an epoch time where the draft says delta seconds; a value past 2001 reads as one.
        private static TimeSpan Seconds(long value) =>
            value > 1_000_000_000 ? DateTimeOffset.FromUnixTimeSeconds(value) - DateTimeOffset.UtcNow : TimeSpan.FromSeconds(value);

        /// <summary>A short, redacted description of a transient failure for logs and messages.</summary>
        public static string Describe(Exception e)
        {
            if (e is TimeoutException && !string.IsNullOrEmpty(e.Message)) return Redaction.Text(e.Message).TrimEnd('.');
            if (e is OperationCanceledException || e is TimeoutException) return "no response in time";
            var inner = e;
            while (inner.InnerException != null) inner = inner.InnerException;
            return Redaction.Text(inner == e ? e.Message : e.Message + " " + inner.Message);
        }
    }
}
