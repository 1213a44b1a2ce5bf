using System;
using System.Net.Http;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// The retry layer: sends a request again after an answer or a failure that another try may not meet, drawing from the
    /// <see cref="RetryBudget"/> of the resource it belongs to (decided by <see cref="RetryRules"/>). An idempotent request is
    /// retried after 408, 429, 5xx and a dropped connection; any other one only after 408, 429 or 503 (the registry did not
    /// act); a body that cannot be made again is never sent twice.
    /// </summary>
    internal sealed class RetryLayer
    {
        private readonly Func<RegistryRequest, Uri, long?, CancellationToken, Task<HttpResponseMessage>> _next;
        private readonly RegistryClientOptions _options;
        private readonly Action<string> _log;

        // Why a retried request finally failed ("gave up after 3 attempts … (answers: 503, 503, 503)"), for the error message.
        private static readonly ConditionalWeakTable<HttpResponseMessage, string> Notes = new ConditionalWeakTable<HttpResponseMessage, string>();

        public RetryLayer(Func<RegistryRequest, Uri, long?, CancellationToken, Task<HttpResponseMessage>> next, RegistryClientOptions options, Action<string> log)
        {
            _next = next;
            _options = options;
            _log = log;
        }

        /// <summary>The retry history of a response the layer gave up on, or null when it was not retried.</summary>
        public static string? Note(HttpResponseMessage response) => Notes.TryGetValue(response, out var note) ? note : null;

        public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, Uri uri, long? freshAfter, CancellationToken cancellationToken)
        {
            using var budget = RetryBudget.Enter(_options.Retry);
            bool replayable = request.ContentReplayable;
            var what = $"{request.Method} {Redaction.Url(uri)}";
            int attempts = 0;
            while (true)
            {
                attempts++;
                HttpResponseMessage response;
                try
                {
                    response = await _next(request, uri, freshAfter, cancellationToken).ConfigureAwait(false);
                    freshAfter = null;
                }
                catch (HttpRequestException e) when (Inner<RegistryException>(e) is RegistryException fromBody)
                {
                    // The request body (a verifying stream) refused its content: that is the error, not the connection.
                    throw fromBody;
                }
                catch (Exception e) when (RetryRules.IsTransient(e, cancellationToken))
                {
                    var reason = RetryRules.Describe(e);
                    if (request.Idempotent && replayable && await budget.WaitToRetryAsync($"{what} failed ({reason});", reason, null, _log, cancellationToken).ConfigureAwait(false))
                        continue;
                    var kind = e is OperationCanceledException || e is TimeoutException ? RegistryErrorKind.Timeout : RegistryErrorKind.Connection;
                    throw new RegistryException(kind,
                        $"{request.Description ?? request.Method.Method}: {reason} [{what}]" + (attempts > 1 || budget.Failures > 1 ? $"; {budget.Summary}." : "."),
                        null, request.Method.Method, Redaction.Url(uri), null, e) { RetriesSpent = budget.Spent };
                }
                catch (HttpRequestException e) when (!cancellationToken.IsCancellationRequested && RetryRules.IsDeterministic(e))
                {
                    // It fails the same way every time (a header over the limit, an answer that is not HTTP): not retried.
                    throw new RegistryException(RegistryErrorKind.Protocol,
                        $"{request.Description ?? request.Method.Method}: {RetryRules.Describe(e)} [{what}]; not retried, as it fails the same way every time.",
                        null, request.Method.Method, Redaction.Url(uri), null, e);
                }

                int status = (int)response.StatusCode;
                if (replayable && RetryRules.IsRetryableStatus(status, request.Idempotent))
                {
                    var retryAfter = RetryRules.RetryAfter(response, out var askedBy);
                    var why = status == 429 ? "rate limited (TOOMANYREQUESTS)" : $"answered {status}";
                    var reason = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    // Give the connection back before waiting.
                    if (await budget.WaitToRetryAsync($"{what} {why}", reason, retryAfter, _log, cancellationToken, before: response.Dispose, askedBy: askedBy).ConfigureAwait(false))
                        continue;
                    var note = budget.Summary;
                    _log($"{what}: {note}.");
                    Notes.Remove(response);
                    Notes.Add(response, note);
                }
                return response;
            }
        }

        internal static T? Inner<T>(Exception e) where T : Exception
        {
            for (var x = e.InnerException; x != null; x = x.InnerException) if (x is T t) return t;
            return null;
        }
    }
}
