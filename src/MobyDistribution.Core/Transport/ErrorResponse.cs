using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>Turns an unsuccessful response into a typed <see cref="RegistryException"/>.</summary>
    internal static class ErrorResponse
    {
        internal const int MaxErrorBodyBytes = 64 * 1024;

        /// <summary>The most characters of the server's error text that go into an exception message.</summary>
        internal const int MaxDetailChars = 600;

        public static async Task<RegistryException> CreateAsync(HttpResponseMessage response, string context, CancellationToken cancellationToken)
        {
            var request = response.RequestMessage;
            var method = request?.Method.Method;
            var url = Redaction.Url(request?.RequestUri);
            int status = (int)response.StatusCode;
            IReadOnlyList<RegistryError> errors = Array.Empty<RegistryError>();
            string? plainText = null;
            if (response.Content != null && request?.Method != HttpMethod.Head)
            {
                byte[] body;
                try { body = await HttpContentReader.ReadCappedAsync(response.Content, MaxErrorBodyBytes, truncate: true, cancellationToken).ConfigureAwait(false); }
                catch (Exception e) when (e is IOException || e is HttpRequestException) { body = Array.Empty<byte>(); }
                errors = ParseErrors(body);
                if (errors.Count == 0 && body.Length > 0)
                {
                    plainText = Encoding.UTF8.GetString(body).Trim();
                    if (plainText.Length > 200) plainText = plainText.Substring(0, 200) + "…";
                    plainText = Redaction.Text(plainText);
                }
            }
            var kind = Classify(status, errors, response);
            // The server's words, however many errors it lists, take at most MaxDetailChars of the message (all are in Errors).
            var detail = errors.Count > 0 ? Truncate(string.Join("; ", errors.Select(e => e.ToString())), MaxDetailChars) : plainText;
            var message = $"{context}: the registry answered {status} {Redaction.Shorten(Redaction.Text(response.ReasonPhrase), 100)}"
                + (string.IsNullOrEmpty(detail) ? string.Empty : $" ({detail})")
                + $" [{method} {url}]";
            var retried = RetryLayer.Note(response);
            if (retried != null) message += $"; {retried}.";
            if (RateLimitStatus.Note(response) is string quota) message += $"; {quota}.";
            return new RegistryException(kind, message, status, method, url, errors);
        }

        internal static RegistryErrorKind Classify(int status, IReadOnlyList<RegistryError> errors, HttpResponseMessage? response)
        {
            bool Has(string code) => errors.Any(e => string.Equals(e.Code, code, StringComparison.OrdinalIgnoreCase));
            if (Has("DIGEST_INVALID")) return RegistryErrorKind.DigestMismatch;
            if (Has("TOOMANYREQUESTS") || status == 429) return RegistryErrorKind.TooManyRequests;
            if (Has("UNSUPPORTED") || status == 405) return RegistryErrorKind.Unsupported;
            if (Has("DENIED") || status == 403) return RegistryErrorKind.Denied;
            if (status == 401)
            {
                var insufficient = response != null && AuthChallenge.Parse(response.Headers.WwwAuthenticate.Select(h => h.ToString()))
                    .Any(c => string.Equals(c.Error, "insufficient_scope", StringComparison.OrdinalIgnoreCase));
                return insufficient ? RegistryErrorKind.Denied : RegistryErrorKind.Unauthorized;
            }
            if (status == 404 || Has("BLOB_UNKNOWN") || Has("MANIFEST_UNKNOWN") || Has("NAME_UNKNOWN") || Has("BLOB_UPLOAD_UNKNOWN"))
                return status == 400 && Has("MANIFEST_BLOB_UNKNOWN") ? RegistryErrorKind.InvalidRequest : RegistryErrorKind.NotFound;
            if (status == 413) return RegistryErrorKind.LimitExceeded;
            if (status == 408 || status == 504) return RegistryErrorKind.Timeout;
            if (status >= 500) return RegistryErrorKind.ServerError;
            if (status >= 400) return RegistryErrorKind.InvalidRequest;
            return RegistryErrorKind.Protocol;
        }

        internal static IReadOnlyList<RegistryError> ParseErrors(byte[] body)
        {
            if (body.Length == 0) return Array.Empty<RegistryError>();
            try
            {
                using var doc = JsonDocument.Parse(body);
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("errors", out var list) || list.ValueKind != JsonValueKind.Array)
                    return Array.Empty<RegistryError>();
                var result = new List<RegistryError>();
                foreach (var e in list.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.Object) continue;
                    var code = e.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "UNKNOWN";
                    var message = e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                    string? detail = e.TryGetProperty("detail", out var d) ? d.GetRawText() : null;
                    if (detail != null && detail.Length > 500) detail = detail.Substring(0, 500) + "…";
                    result.Add(new RegistryError(Truncate(code, 64), message == null ? null : Redaction.Text(Truncate(message, 500)), detail == null ? null : Redaction.Text(detail)));
                    if (result.Count >= 20) break;
                }
                return result;
            }
            catch (JsonException)
            {
                return Array.Empty<RegistryError>();
            }
        }

        private static string Truncate(string s, int max) => s.Length > max ? s.Substring(0, max) + "…" : s;
    }

    /// <summary>Reads bodies with a cap, so a hostile or broken server cannot exhaust memory.</summary>
    internal static class HttpContentReader
    {
        public static async Task<byte[]> ReadCappedAsync(HttpContent content, long max, bool truncate, CancellationToken cancellationToken)
        {
            var declared = content.Headers.ContentLength;
            if (!truncate && declared.HasValue && declared.Value > max)
                throw new RegistryException(RegistryErrorKind.LimitExceeded, $"The response body is {declared.Value} bytes; at most {max} are accepted.");
            using var stream = await content.ReadAsStreamAsync().ConfigureAwait(false);
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            while (true)
            {
                int want = (int)Math.Min(chunk.Length, max + 1 - buffer.Length);
                if (want <= 0) break;
                int n = await stream.ReadAsync(chunk, 0, want, cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                buffer.Write(chunk, 0, n);
            }
            if (buffer.Length > max)
            {
                if (!truncate) throw new RegistryException(RegistryErrorKind.LimitExceeded, $"The response body is larger than {max} bytes, the most accepted.");
                buffer.SetLength(max);
            }
            return buffer.ToArray();
        }
    }
}
