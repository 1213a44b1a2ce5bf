using System;
using System.Diagnostics;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// The redirect layer, and the one place a message goes onto the wire. Redirects (blob GETs are often sent to object
    /// storage) are followed, but Authorization is sent only to the registry's own origin, never to another host even if a
    /// later hop comes back, and https to http is refused. The response timeout counts silence: re-armed by every piece of a
    /// body sent, then given whole to the answer.
    /// </summary>
    internal sealed class RedirectLayer
    {
        private const int MaxRedirects = 10;

        private readonly HttpClient _http;
        private readonly RegistryClientOptions _options;
        private readonly Func<Uri, Uri> _origin;
        private readonly Func<HttpRequestMessage, RegistryRequest, long?, CancellationToken, Task> _authorize;
        private readonly Action<string> _log;
        private readonly Action<HttpResponseMessage>? _observe;

        /// <param name="origin">The registry's origin for a request URL (its scheme may not be settled yet).</param>
        /// <param name="authorize">Adds the registry's Authorization to a message bound for its origin.</param>
        /// <param name="observe">Sees every answer, redirects included (the rate limit headers are read there).</param>
        public RedirectLayer(HttpClient http, RegistryClientOptions options, Func<Uri, Uri> origin,
            Func<HttpRequestMessage, RegistryRequest, long?, CancellationToken, Task> authorize, Action<string> log,
            Action<HttpResponseMessage>? observe = null)
        {
            _observe = observe;
            _http = http;
            _options = options;
            _origin = origin;
            _authorize = authorize;
            _log = log;
        }

        public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, Uri uri, long? freshAfter, CancellationToken cancellationToken)
        {
            var current = uri;
            var method = request.Method;
            bool withBody = request.Content != null;
            var origin = _origin(uri);
            bool sameOrigin = SameOrigin(current, origin);
            for (int hop = 0; ; hop++)
            {
                using var message = new HttpRequestMessage(method, current);
                message.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
                request.Headers?.Invoke(message.Headers);
                if (sameOrigin) await _authorize(message, request, freshAfter, cancellationToken).ConfigureAwait(false);
                var timer = Stopwatch.StartNew();
                HttpResponseMessage response;
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    var responseTimeout = _options.ResponseTimeout;
                    if (withBody) message.Content = new ProgressTimedContent(request.Content!(), () => ReArm(timeout, responseTimeout));
                    // .NET Framework would wait for "100 Continue" (a round trip more) and buffer a body of unknown length whole.
                    if (withBody) { message.Headers.ExpectContinue = false; if (message.Content!.Headers.ContentLength == null) message.Headers.TransferEncodingChunked = true; }
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
                _log($"{method} {Redaction.Url(current)} -> {(int)response.StatusCode} ({timer.ElapsedMilliseconds} ms)");
                _observe?.Invoke(response);
                foreach (var warning in response.Headers.Warning)
                    if (warning.Code == 299) _log($"Registry warning: {Redaction.Text(warning.Text)}");

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
    }
}
