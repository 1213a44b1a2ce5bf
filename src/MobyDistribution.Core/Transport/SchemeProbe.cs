using System;
using System.Net.Http;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// The transport's first layer: which scheme a registry speaks. An explicit scheme is used as given; no scheme means https,
    /// except for loopback or insecure hosts, which are probed and fall back to http only when the host does not speak TLS at
    /// all (as docker does), never past a certificate that fails verification.
    /// </summary>
    internal sealed class SchemeProbe
    {
        private readonly RegistryEndpoint _endpoint;
        private readonly HttpClient _http;
        private readonly Action<string> _log;
        private readonly Action<HttpResponseMessage> _learnChallenge;
        private readonly SemaphoreSlim _lock = new SemaphoreSlim(1, 1);
        private readonly string _userAgent;
        private Uri? _baseUri;

        public SchemeProbe(RegistryEndpoint endpoint, HttpClient http, string userAgent, Action<string> log, Action<HttpResponseMessage> learnChallenge)
        {
            _endpoint = endpoint;
            _http = http;
            _userAgent = userAgent;
            _log = log;
            _learnChallenge = learnChallenge;
        }

        /// <summary>The registry's root URL once settled, else null.</summary>
        public Uri? Known => _baseUri;

        public async Task<Uri> GetBaseUriAsync(CancellationToken cancellationToken)
        {
            if (_baseUri != null) return _baseUri;
            await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_baseUri != null) return _baseUri;
                if (_endpoint.ExplicitScheme != null) return _baseUri = _endpoint.BaseUri(_endpoint.ExplicitScheme);
                var https = _endpoint.BaseUri("https");
                if (!_endpoint.MayUseHttp) return _baseUri = https;
                var probe = new Uri(https, "v2/");
                HttpClientProvider.CertificateFailures.TryRemove(probe.Authority, out _);
                try
                {
                    using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    cts.CancelAfter(TimeSpan.FromSeconds(15));
                    using var message = new HttpRequestMessage(HttpMethod.Get, probe);
                    message.Headers.TryAddWithoutValidation("User-Agent", _userAgent);
                    using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
                    _log($"GET {Redaction.Url(probe)} -> {(int)response.StatusCode} (scheme probe)");
                    _learnChallenge(response);
                    return _baseUri = https;
                }
                catch (HttpRequestException e) when (!cancellationToken.IsCancellationRequested)
                {
                    if (HttpClientProvider.CertificateFailures.TryGetValue(probe.Authority, out var why))
                        throw new RegistryException(RegistryErrorKind.Security,
                            $"The TLS certificate of {_endpoint.Host} is not trusted ({why}). Name its CA, or skip the check for this registry explicitly.", e);
                    var http = _endpoint.BaseUri("http");
                    _log($"{_endpoint.Host} does not speak TLS; using http ({(_endpoint.IsLoopback ? "loopback" : "marked insecure")}).");
                    if (IsSocketFailure(e)) return http; // nothing answered: decide again next time
                    return _baseUri = http;
                }
            }
            finally
            {
                _lock.Release();
            }
        }

        private static bool IsSocketFailure(Exception e)
        {
            for (var x = e; x != null; x = x.InnerException) if (x is SocketException) return true;
            return false;
        }
    }
}
