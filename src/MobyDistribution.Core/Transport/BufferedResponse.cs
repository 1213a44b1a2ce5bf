using System;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// Sends an idempotent request for a small body (a manifest) and reads that body inside the retry budget: a connection
    /// dropped or cut short while the body is read sends the request again, like a failure before the headers would.
    /// </summary>
    internal static class BufferedResponse
    {
        /// <summary>
        /// The response, with a successful body read into memory (at most <paramref name="maxBytes"/> + 1 bytes, so the caller's
        /// own cap still sees an over-long body; a declared Content-Length over the cap is left unread for the caller to refuse).
        /// Unsuccessful responses are returned as they are.
        /// </summary>
        public static async Task<HttpResponseMessage> SendBufferedAsync(this RegistryTransport transport, RegistryRequest request, long maxBytes,
            CancellationToken cancellationToken)
        {
            // The body is part of the resource: a cut body is one more failed attempt at it, in the same budget as the request.
            using var budget = RetryBudget.Enter(transport.Options.Retry);
            while (true)
            {
                var response = await transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
                var declared = response.Content?.Headers.ContentLength;
                if (!response.IsSuccessStatusCode || response.Content == null || (declared.HasValue && declared.Value > maxBytes)) return response;
                byte[] body;
                try
                {
                    body = await HttpContentReader.ReadCappedAsync(response.Content, maxBytes + 1, truncate: true, cancellationToken).ConfigureAwait(false);
                    if (declared.HasValue && body.Length < declared.Value && body.Length <= maxBytes)
                        throw new System.IO.IOException($"The body ended after {body.Length} of {declared.Value} bytes.");
                }
                catch (Exception e) when (RetryRules.IsTransient(e, cancellationToken))
                {
                    response.Dispose();
                    var what = $"{request.Description ?? request.Method.Method}: the body was cut short ({Redaction.Text(e.Message)})";
                    if (await budget.WaitToRetryAsync(what, "cut body", null, transport.Log, cancellationToken).ConfigureAwait(false))
                        continue;
                    throw new RegistryException(RegistryErrorKind.Connection, $"{what}; {budget.Summary}.", e) { RetriesSpent = true };
                }
                var buffered = new ByteArrayContent(body);
                foreach (var header in response.Content.Headers)
                    if (!string.Equals(header.Key, "Content-Length", StringComparison.OrdinalIgnoreCase))
                        buffered.Headers.TryAddWithoutValidation(header.Key, header.Value);
                response.Content.Dispose();
                response.Content = buffered;
                return response;
            }
        }
    }
}
