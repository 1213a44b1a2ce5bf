using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Authentication;
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

        private static HttpClient Create(bool skip, string? caPath) =>
            new HttpClient(Configure(new HttpClientHandler(), skip, caPath), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };

        /// <summary>Sets up a handler as every client of the process has it (a test hands in one of another implementation).</summary>
        internal static HttpClientHandler Configure(HttpClientHandler handler, bool skip, string? caPath)
        {
            handler.AllowAutoRedirect = false;
            handler.UseCookies = false;
            handler.AutomaticDecompression = System.Net.DecompressionMethods.None;
            ConfigureForRuntime(handler);
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
            return handler;
        }

        /// <summary>
        /// Connections per host and port: enough for the widest parallel transfer (a copy's ThrottleLimit goes up to 64).
        /// .NET's own default is unlimited; on .NET Framework and Mono, HttpClientHandler sits on HttpWebRequest, whose
        /// ServicePoint allows only 2 per host, so parallel blob transfers would queue two at a time.
        /// </summary>
        internal const int MaxConnectionsPerServer = 64;

        /// <summary>True where HttpClientHandler is built on HttpWebRequest (.NET Framework, Mono), not on sockets.</summary>
        internal static bool OnHttpWebRequest { get; } =
            RuntimeInformation.FrameworkDescription.StartsWith(".NET Framework", StringComparison.OrdinalIgnoreCase)
            || RuntimeInformation.FrameworkDescription.StartsWith("Mono", StringComparison.OrdinalIgnoreCase);

        /// <summary>
        /// Per handler, never through <c>ServicePointManager</c>'s process-wide settings, which other modules in the same
        /// Windows PowerShell process rely on. See docs/windows-powershell.md.
        /// </summary>
        internal static void ConfigureForRuntime(HttpClientHandler handler)
        {
            // On .NET Framework this raises the ServicePoint's limit for the hosts this handler talks to; its connections
            // stay in its own connection group, so other code's requests are neither slowed nor sped up.
            try { handler.MaxConnectionsPerServer = MaxConnectionsPerServer; }
            catch (Exception e) when (IsUnsupported(e)) { } // Mono's HttpWebRequest-based handler has no such setting
            if (!OnHttpWebRequest) return; // .NET leaves the protocol choice to the OS, which offers TLS 1.2 and 1.3
            var protocols = FrameworkSslProtocols(ReadProcessProtocols(), Environment.OSVersion);
            try { handler.SslProtocols = protocols; }
            catch (Exception e) when (IsUnsupported(e)) { } // .NET Framework 4.7.1 only; the module asks for 4.7.2
        }

        private static bool IsUnsupported(Exception e) => e is PlatformNotSupportedException || e is NotImplementedException;

        /// <summary>
        /// The protocols a handler on .NET Framework offers: TLS 1.2 always (Windows PowerShell's own default is SSL 3 and
        /// TLS 1.0 on many systems), TLS 1.3 where Windows has it on by default (Windows 11 and Server 2022, build 20348 and
        /// later), plus whatever the process already allows, so a user who enabled TLS 1.1 for an old server keeps it.
        /// </summary>
        internal static SslProtocols FrameworkSslProtocols(int processProtocols, OperatingSystem os)
        {
            const SslProtocols tls13 = (SslProtocols)12288; // SslProtocols.Tls13, not in netstandard2.0's enum
            const SslProtocols ssl = (SslProtocols)(12 | 48); // SSL 2 and 3: never offered, whatever the process allows
            var protocols = (SslProtocols.Tls12 | (SslProtocols)processProtocols) & ~ssl;
            if (os.Platform == PlatformID.Win32NT && os.Version.Major >= 10 && os.Version.Build >= 20348) protocols |= tls13;
            // SystemDefault (0) adds nothing: the OS's defaults are not known here, and TLS 1.2 is already in.
            return protocols;
        }

        private static int ReadProcessProtocols()
        {
            // Read, never written: System.Net.ServicePointManager.SecurityProtocol, whose values are those of SslProtocols.
            try { return (int)System.Net.ServicePointManager.SecurityProtocol; }
            catch (Exception e) when (IsUnsupported(e) || e is NotSupportedException) { return 0; }
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
