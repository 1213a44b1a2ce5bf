using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net.Http;
using System.Runtime.CompilerServices;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// A registry's request quota as its last answer told it: Docker Hub sends <c>RateLimit-Limit: 100;w=21600</c> and
    /// <c>RateLimit-Remaining: 76;w=21600</c> on manifest GETs (a HEAD does not count as a pull), the IETF draft's
    /// header fields. Immutable: each answer that carries the headers replaces the whole value.
    /// </summary>
    public sealed class RateLimitStatus
    {
        // A 429 that names no quota of its own carries the last one seen, so that the error (and a wait) can name it.
        private static readonly ConditionalWeakTable<HttpResponseMessage, RateLimitStatus> Carried = new ConditionalWeakTable<HttpResponseMessage, RateLimitStatus>();

        /// <summary>A status; <paramref name="limit"/> or <paramref name="remaining"/> may be unknown, not both.</summary>
        public RateLimitStatus(long? limit, long? remaining, long? windowSeconds, DateTimeOffset observedAt)
        {
            if (limit < 0) throw new ArgumentOutOfRangeException(nameof(limit));
            if (remaining < 0) throw new ArgumentOutOfRangeException(nameof(remaining));
            if (windowSeconds <= 0) throw new ArgumentOutOfRangeException(nameof(windowSeconds));
            if (!limit.HasValue && !remaining.HasValue) throw new ArgumentException("A rate limit status needs a limit or a remaining count.");
            Limit = limit;
            Remaining = remaining;
            WindowSeconds = windowSeconds;
            ObservedAt = observedAt;
        }

        /// <summary>Requests allowed in each window (<c>RateLimit-Limit</c>), when the registry said.</summary>
        public long? Limit { get; }

        /// <summary>Requests left in the current window (<c>RateLimit-Remaining</c>), when the registry said.</summary>
        public long? Remaining { get; }

        /// <summary>The length of the window in seconds (the <c>w=</c> parameter), when the registry said.</summary>
        public long? WindowSeconds { get; }

        /// <summary>The window in words (<c>6 h</c>, <c>90 s</c>); empty when unknown.</summary>
        public string Window => WindowSeconds.HasValue ? Duration(WindowSeconds.Value) : string.Empty;

        /// <summary>When the answer that carried the headers arrived.</summary>
        public DateTimeOffset ObservedAt { get; }

        /// <summary>True when the registry said nothing is left in the window.</summary>
        public bool Exhausted => Remaining == 0;

        /// <summary><c>76 of 100 left per 6 h</c>, <c>76 left</c>, <c>100 per 21600 s</c>.</summary>
        public override string ToString()
        {
            var text = Remaining.HasValue && Limit.HasValue ? $"{Remaining} of {Limit} left"
                : Remaining.HasValue ? $"{Remaining} left" : $"{Limit}";
            return WindowSeconds.HasValue ? text + " per " + Window : text;
        }

        /// <summary>
        /// The quota in words for a message: "the quota is 100 requests per 6 h (21600 s), 0 left, as the registry said at
        /// 12:00:00Z".
        /// </summary>
        public string Describe()
        {
            var text = "the quota is " + (Limit.HasValue ? $"{Limit} request{(Limit == 1 ? string.Empty : "s")}" : "unknown");
            if (WindowSeconds.HasValue) text += $" per {Window}" + (WindowSeconds.Value >= 60 ? $" ({WindowSeconds} s)" : string.Empty);
            if (Remaining.HasValue) text += $", {Remaining} left";
            return text + $", as the registry said at {ObservedAt.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}Z";
        }

        /// <summary>
        /// Reads the two header values (<c>100;w=21600</c>, <c>100</c>, or the draft's list form <c>100, 100;w=21600</c>);
        /// null when neither holds a count that is a whole number of zero or more. A window that is not a positive whole
        /// number is left unknown.
        /// </summary>
        public static RateLimitStatus? Parse(string? limit, string? remaining, DateTimeOffset observedAt)
        {
            var (quota, quotaWindow) = ParseField(limit);
            var (left, leftWindow) = ParseField(remaining);
            if (!quota.HasValue && !left.HasValue) return null;
            return new RateLimitStatus(quota, left, quotaWindow ?? leftWindow, observedAt);
        }

        /// <summary>The status an answer's <c>RateLimit-Limit</c> and <c>RateLimit-Remaining</c> headers give, or null.</summary>
        internal static RateLimitStatus? FromResponse(HttpResponseMessage response, DateTimeOffset observedAt) =>
            Parse(Header(response, "RateLimit-Limit"), Header(response, "RateLimit-Remaining"), observedAt);

        /// <summary>
        /// Called with every answer: the status it carries, else <paramref name="last"/> (which a 429 then carries along,
        /// for <see cref="Of"/>).
        /// </summary>
        internal static RateLimitStatus? Observe(HttpResponseMessage response, RateLimitStatus? last)
        {
            var seen = FromResponse(response, DateTimeOffset.UtcNow);
            if (seen != null) return seen;
            if (last != null && (int)response.StatusCode == 429)
            {
                Carried.Remove(response);
                Carried.Add(response, last);
            }
            return last;
        }

        /// <summary>The quota that applies to a 429: the one its headers give, else the last one seen before it; or null.</summary>
        internal static RateLimitStatus? Of(HttpResponseMessage response) =>
            FromResponse(response, DateTimeOffset.UtcNow) ?? (Carried.TryGetValue(response, out var last) ? last : null);

        /// <summary>
        /// How long a 429 that gives neither <c>Retry-After</c> nor <c>RateLimit-Reset</c> should wait: the quota's whole
        /// window when the quota says nothing is left (a rolling window frees a request at most that much later), else null.
        /// The retry budget then waits only if the window fits in it, and refuses at once otherwise.
        /// </summary>
        internal static TimeSpan? QuotaWait(HttpResponseMessage response)
        {
            if ((int)response.StatusCode != 429 || response.Headers.RetryAfter != null) return null;
            var quota = Of(response);
            return quota != null && quota.Exhausted && quota.WindowSeconds.HasValue ? TimeSpan.FromSeconds(quota.WindowSeconds.Value) : (TimeSpan?)null;
        }

        /// <summary>The sentence an error about a 429 ends with, naming the quota; null when none is known.</summary>
        internal static string? Note(HttpResponseMessage response) =>
            (int)response.StatusCode == 429 && Of(response) is RateLimitStatus quota ? Redaction.Text(quota.Describe()) : null;

        private static (long? Count, long? Window) ParseField(string? value)
        {
            if (string.IsNullOrWhiteSpace(value)) return (null, null);
            // The draft's list form names the current quota first, then the policies: "10, 10;w=1, 50;w=60".
            var items = value!.Split(',').Select(i => i.Trim()).Where(i => i.Length > 0).ToList();
            if (items.Count == 0) return (null, null);
            var parts = items[0].Split(';');
            if (!TryCount(parts[0], out var count)) return (null, null);
            long? window = WindowParameter(parts.Skip(1));
            if (!window.HasValue)
            {
                // "100, 100;w=21600": the window of the policy whose quota is the current one.
                foreach (var item in items.Skip(1))
                {
                    var p = item.Split(';');
                    if (TryCount(p[0], out var c) && c == count && WindowParameter(p.Skip(1)) is long w) { window = w; break; }
                }
            }
            return (count, window);
        }

        private static long? WindowParameter(IEnumerable<string> parameters)
        {
            foreach (var parameter in parameters)
            {
                var kv = parameter.Trim();
                if (kv.StartsWith("w=", StringComparison.OrdinalIgnoreCase) && TryCount(kv.Substring(2), out var w) && w > 0) return w;
            }
            return null;
        }

        private static bool TryCount(string text, out long value) =>
            long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out value);

        private static string? Header(HttpResponseMessage response, string name) =>
            response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : null;

        private static string Duration(long seconds) =>
            seconds % 3600 == 0 ? $"{seconds / 3600} h" : seconds % 60 == 0 ? $"{seconds / 60} min" : $"{seconds} s";
    }
}
