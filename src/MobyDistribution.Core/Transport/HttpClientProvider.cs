using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// One HttpClient per TLS configuration for the whole process, so connections are reused across cmdlets
    /// and sessions. Redirects are followed by the transport itself (to keep Authorization on its host).
    /// </summary>
    internal static class HttpClientProvider
    {
        private static readonly ConcurrentDictionary<string, HttpClient> Clients = new ConcurrentDictionary<string, HttpClient>(StringComparer.Ordinal);

        /// <summary>The last certificate refusal per host:port, so a caller can tell "bad certificate" from "no TLS".</summary>
        internal static readonly ConcurrentDictionary<string, string> CertificateFailures = new ConcurrentDictionary<string, string>(StringComparer.OrdinalIgnoreCase);

        public static HttpClient Get(bool skipCertificateCheck, string? caPath)
        {
            string? fullCa = caPath == null ? null : Path.GetFullPath(caPath);
            var key = (skipCertificateCheck ? "skip" : "verify") + "|" + (fullCa ?? string.Empty);
            return Clients.GetOrAdd(key, _ => Create(skipCertificateCheck, fullCa));
        }

        private static HttpClient Create(bool skip, string? caPath)
        {
            var handler = new HttpClientHandler
            {
                AllowAutoRedirect = false,
                UseCookies = false,
                AutomaticDecompression = System.Net.DecompressionMethods.None,
            };
            X509Certificate2[]? extraRoots = caPath == null ? null : LoadPem(caPath);
            if (skip)
            {
                handler.ServerCertificateCustomValidationCallback = (_, _, _, _) => true;
            }
            else
            {
                handler.ServerCertificateCustomValidationCallback = (request, cert, _, errors) =>
                {
                    var ok = Validate(cert, errors, extraRoots);
                    if (!ok && request?.RequestUri != null) CertificateFailures[request.RequestUri.Authority] = errors.ToString();
                    return ok;
                };
            }
            return new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        }

        private static bool Validate(X509Certificate2? cert, SslPolicyErrors errors, X509Certificate2[]? extraRoots)
        {
            if (errors == SslPolicyErrors.None) return true;
            if (cert == null || extraRoots == null || extraRoots.Length == 0) return false;
            // Only an unknown root may be forgiven, and only when the chain ends in one of the caller's CAs.
            if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationFlags = X509VerificationFlags.AllowUnknownCertificateAuthority;
            foreach (var root in extraRoots) chain.ChainPolicy.ExtraStore.Add(root);
            if (!chain.Build(cert)) return false;
            var chainRoot = chain.ChainElements[chain.ChainElements.Count - 1].Certificate;
            if (!extraRoots.Any(r => r.Thumbprint == chainRoot.Thumbprint)) return false;
            foreach (X509ChainStatus status in chain.ChainStatus)
                if (status.Status != X509ChainStatusFlags.UntrustedRoot && status.Status != X509ChainStatusFlags.NoError) return false;
            return true;
        }

        internal static X509Certificate2[] LoadPem(string path)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"The certificate authority file '{path}' does not exist.", path);
            var text = File.ReadAllText(path);
            const string begin = "-----BEGIN CERTIFICATE-----";
            const string end = "-----END CERTIFICATE-----";
            var certs = new List<X509Certificate2>();
            int pos = 0;
            while ((pos = text.IndexOf(begin, pos, StringComparison.Ordinal)) >= 0)
            {
                int stop = text.IndexOf(end, pos, StringComparison.Ordinal);
                if (stop < 0) break;
                var b64 = text.Substring(pos + begin.Length, stop - pos - begin.Length);
                certs.Add(new X509Certificate2(Convert.FromBase64String(b64.Replace("\r", "").Replace("\n", "").Trim())));
                pos = stop + end.Length;
            }
            if (certs.Count == 0)
            {
                // A DER file holding one certificate.
                try { certs.Add(new X509Certificate2(File.ReadAllBytes(path))); }
                catch (Exception e) when (e is System.Security.Cryptography.CryptographicException)
                {
                    throw new InvalidDataException($"'{path}' holds no PEM or DER certificate.", e);
                }
            }
            return certs.ToArray();
        }
    }
}
