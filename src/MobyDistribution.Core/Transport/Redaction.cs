using System;
using System.Collections.Generic;
using System.Text;
using System.Text.RegularExpressions;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// Removes secrets from what is shown: user info in URLs, every query value but a few harmless ones
    /// (so <c>_state</c>, presigned signatures and tokens never appear), and in text: bearer/basic credentials, token and
    /// password fields of forms and JSON (<c>refresh_token=</c>, <c>"access_token":</c>), and anything shaped like a JWT.
    /// </summary>
    public static class Redaction
    {
        private const string Mask = "REDACTED";

        // Query keys whose values say nothing secret and help a reader of the log.
        private static readonly HashSet<string> SafeQueryKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "digest", "mount", "from", "n", "last", "service", "scope",
        };

        private static readonly Regex AuthHeaderPattern = new Regex(
            @"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/=]+", RegexOptions.Compiled | RegexOptions.IgnoreCase);

        // Secrets as form values (refresh_token=...) and as JSON fields ("access_token": "..."), as a token service may echo them.
        private static readonly Regex SecretFieldPattern = new Regex(
            @"(\b|"")(refresh_token|access_token|id_token|identitytoken|identity_token|token|password|client_secret)(""?\s*[:=]\s*""?)([^&\s""]+)",
            RegexOptions.Compiled | RegexOptions.IgnoreCase);

        // A JWT anywhere (ACR's refresh and access tokens and Entra ID's are JWTs): three base64url parts, the first a JSON header.
        private static readonly Regex JwtPattern = new Regex(@"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", RegexOptions.Compiled);

        private static readonly Regex UrlPattern = new Regex(@"https?://[^\s""'<>]+", RegexOptions.Compiled | RegexOptions.IgnoreCase);

        /// <summary>The most characters of scheme, host and path shown; a longer one is cut in the middle.</summary>
        internal const int MaxShownPath = 200;

        /// <summary>The most characters of a query shown; a longer one (a server can name thousands of scopes) is cut in the middle.</summary>
        internal const int MaxShownQuery = 200;

        /// <summary>
        /// A URL with user info removed and every query value outside a short safe list replaced, shortened (with "…" in the
        /// middle) to at most <see cref="MaxShownPath"/> characters before the query and <see cref="MaxShownQuery"/> of query.
        /// </summary>
        public static string Url(Uri? uri)
        {
            if (uri == null) return string.Empty;
            if (!uri.IsAbsoluteUri) return Url(uri.OriginalString);
            return Shorten(uri.Scheme + "://" + uri.Authority + uri.AbsolutePath, MaxShownPath) + RedactQuery(uri.Query);
        }

        /// <summary>Redacts (and shortens) a URL given as text (absolute or relative).</summary>
        public static string Url(string? url)
        {
            if (string.IsNullOrEmpty(url)) return string.Empty;
            if (Uri.TryCreate(url, UriKind.Absolute, out var abs) && (abs.Scheme == "http" || abs.Scheme == "https")) return Url(abs);
            int q = url!.IndexOf('?');
            if (q < 0) return Shorten(url, MaxShownPath);
            return Shorten(url.Substring(0, q), MaxShownPath) + RedactQuery(url.Substring(q));
        }

        /// <summary>
        /// Cuts <paramref name="text"/> to at most <paramref name="max"/> characters, keeping its start and end around "…".
        /// Applied after redaction, it only removes characters, so it cannot uncover anything.
        /// </summary>
        internal static string Shorten(string text, int max)
        {
            if (text.Length <= max) return text;
            int head = (max - 1) * 2 / 3;
            int tail = max - 1 - head;
            return text.Substring(0, head) + "…" + text.Substring(text.Length - tail);
        }

        /// <summary>Redacts URLs and Authorization-style credentials in free text (exception messages, bodies).</summary>
        public static string Text(string? text)
        {
            if (string.IsNullOrEmpty(text)) return string.Empty;
            var s = AuthHeaderPattern.Replace(text!, m => m.Groups[1].Value + " " + Mask);
            s = SecretFieldPattern.Replace(s, m => m.Groups[1].Value + m.Groups[2].Value + m.Groups[3].Value + Mask);
            s = JwtPattern.Replace(s, Mask);
            return UrlPattern.Replace(s, m => Url(m.Value));
        }

        private static string RedactQuery(string query)
        {
            if (string.IsNullOrEmpty(query) || query == "?") return string.Empty;
            var parts = query.TrimStart('?').Split('&');
            var builder = new StringBuilder("?");
            for (int i = 0; i < parts.Length; i++)
            {
                if (i > 0) builder.Append('&');
                var part = parts[i];
                int eq = part.IndexOf('=');
                var key = eq >= 0 ? part.Substring(0, eq) : part;
                builder.Append(key);
                if (eq >= 0)
                {
                    builder.Append('=');
                    builder.Append(SafeQueryKeys.Contains(Uri.UnescapeDataString(key)) ? part.Substring(eq + 1) : Mask);
                }
            }
            return Shorten(builder.ToString(), MaxShownQuery);
        }
    }
}
