using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;

namespace MobyDistribution.TestBed
{
    public enum AuthMode
    {
        Anonymous,
        Basic,
        Token,
    }

    public sealed class RegistryOptions
    {
        public AuthMode AuthMode { get; set; } = AuthMode.Anonymous;
        /// <summary>Basic: the htpasswd user. Token: the credentials clients should present to the issuer.</summary>
        public string? Username { get; set; }
        public string? Password { get; set; }
        /// <summary>Required for <see cref="AuthMode.Token"/>.</summary>
        public TokenIssuer? Issuer { get; set; }
        /// <summary>Makes the registry answer with relative Location headers (<c>http.relativeurls</c>).</summary>
        public bool RelativeUrls { get; set; }
        public bool DeleteEnabled { get; set; } = true;
        /// <summary>Serve https with a server certificate (for 127.0.0.1 and localhost) signed by a throwaway CA.</summary>
        public bool Tls { get; set; }
        /// <summary>Registry log level (debug, info, warn, error).</summary>
        public string LogLevel { get; set; } = "warn";
        public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(20);
        /// <summary>The registry binary; "docker-registry" (Debian) by default.</summary>
        public string Executable { get; set; } = "docker-registry";
    }

    /// <summary>
    /// A real distribution registry (Debian's <c>docker-registry</c>) on a free loopback port, with its storage in a
    /// temp dir. Dispose kills it and deletes the temp dir; processes are also killed when the host process exits.
    /// </summary>
    public sealed class RegistryServer : IDisposable
    {
        // Only for the readiness probe of a TLS test registry, whose CA the probe need not trust.
        private static readonly HttpClient TlsProbe = new(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        }) { Timeout = TimeSpan.FromSeconds(2) };

        private static readonly HttpClient Probe = new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
        {
            Timeout = TimeSpan.FromSeconds(2),
        };

        private readonly Process _process;
        private readonly OutputTail _output;
        private int _disposed;

        private RegistryServer(RegistryOptions options, string directory, int port, Process process, OutputTail output)
        {
            Options = options;
            Directory = directory;
            Port = port;
            _process = process;
            _output = output;
        }

        public RegistryOptions Options { get; }
        public int Port { get; }
        /// <summary>"127.0.0.1:PORT"</summary>
        public string HostPort => $"127.0.0.1:{Port}";
        /// <summary>"http://127.0.0.1:PORT"</summary>
        public string BaseUrl => $"{(Options.Tls ? "https" : "http")}://{HostPort}";

        /// <summary>With <see cref="RegistryOptions.Tls"/>: the PEM file of the CA that signed the server certificate.</summary>
        public string? CertificateAuthorityPath => Options.Tls ? Path.Combine(Directory, "ca.pem") : null;
        public AuthMode AuthMode => Options.AuthMode;
        public string? Username => Options.Username;
        public string? Password => Options.Password;
        public TokenIssuer? Issuer => Options.Issuer;
        public bool RelativeUrls => Options.RelativeUrls;
        /// <summary>"user:password" for skopeo's --creds, or null for an anonymous registry.</summary>
        public string? Credentials =>
            AuthMode == AuthMode.Anonymous || Username == null ? null : $"{Username}:{Password}";
        /// <summary>The temp dir holding config.yml, the htpasswd file and the storage root (<c>storage/</c>).</summary>
        public string Directory { get; }
        public string StorageDirectory => Path.Combine(Directory, "storage");
        public string ConfigPath => Path.Combine(Directory, "config.yml");
        public int ProcessId => _process.Id;
        public bool IsRunning
        {
            get { try { return !_process.HasExited; } catch (InvalidOperationException) { return false; } }
        }
        /// <summary>The last lines the registry wrote (stdout and stderr).</summary>
        public string RecentOutput => _output.ToString();

        /// <summary>"docker://127.0.0.1:PORT/repository:tag" (or @digest when tag starts with "sha256:").</summary>
        public string ImageReference(string repository, string tag = "latest") =>
            $"docker://{HostPort}/{repository}{(tag.Contains(':') ? "@" : ":")}{tag}";

        public static RegistryServer Start() => Start(new RegistryOptions());

        public static RegistryServer Start(RegistryOptions options)
        {
            if (options == null) throw new ArgumentNullException(nameof(options));
            if (options.AuthMode == AuthMode.Basic && (string.IsNullOrEmpty(options.Username) || options.Password == null))
                throw new ArgumentException("Basic auth needs Username and Password.");
            if (options.AuthMode == AuthMode.Token && options.Issuer == null)
                throw new ArgumentException("Token auth needs an Issuer.");

            string directory = Util.CreateTempDirectory("moby-testbed-registry");
            try
            {
                System.IO.Directory.CreateDirectory(Path.Combine(directory, "storage"));
                if (options.AuthMode == AuthMode.Basic)
                {
                    string line = Util.RunTool("htpasswd", new[] { "-Bbn", options.Username!, options.Password! }, TimeSpan.FromSeconds(20));
                    File.WriteAllText(Path.Combine(directory, "htpasswd"), line.Trim() + "\n");
                }
                if (options.Tls) WriteTlsFiles(directory);

                Exception? last = null;
                // A port picked by binding port 0 can in rare cases be taken before the registry binds it: retry.
                for (int attempt = 0; attempt < 3; attempt++)
                {
                    int port = Util.FreeLoopbackPort();
                    File.WriteAllText(Path.Combine(directory, "config.yml"), BuildConfig(options, directory, port));
                    var output = new OutputTail(200);
                    var process = Launch(options, directory, output);
                    var server = new RegistryServer(options, directory, port, process, output);
                    try
                    {
                        server.WaitUntilReady(options.StartTimeout);
                        return server;
                    }
                    catch (Exception ex)
                    {
                        last = ex;
                        ProcessTracker.Kill(process);
                        process.Dispose();
                        if (!output.ToString().Contains("address already in use")) break;
                    }
                }
                throw last!;
            }
            catch
            {
                Util.TryDeleteDirectory(directory);
                throw;
            }
        }

        private static string BuildConfig(RegistryOptions options, string directory, int port)
        {
            var sb = new StringBuilder();
            sb.Append("version: 0.1\n");
            sb.Append("log:\n");
            sb.Append("  level: ").Append(options.LogLevel).Append('\n');
            sb.Append("  accesslog:\n    disabled: true\n");
            sb.Append("storage:\n");
            sb.Append("  filesystem:\n    rootdirectory: ").Append(Util.Yaml(Path.Combine(directory, "storage"))).Append('\n');
            sb.Append("  delete:\n    enabled: ").Append(options.DeleteEnabled ? "true" : "false").Append('\n');
            sb.Append("  maintenance:\n    uploadpurging:\n      enabled: false\n");
            sb.Append("http:\n");
            sb.Append("  addr: 127.0.0.1:").Append(port).Append('\n');
            sb.Append("  secret: moby-testbed-fixed-secret\n");
            if (options.RelativeUrls) sb.Append("  relativeurls: true\n");
            if (options.Tls)
            {
                sb.Append("  tls:\n");
                sb.Append("    certificate: ").Append(Util.Yaml(Path.Combine(directory, "server.pem"))).Append('\n');
                sb.Append("    key: ").Append(Util.Yaml(Path.Combine(directory, "server.key"))).Append('\n');
            }
            switch (options.AuthMode)
            {
                case AuthMode.Basic:
                    sb.Append("auth:\n  htpasswd:\n    realm: moby-testbed\n    path: ")
                      .Append(Util.Yaml(Path.Combine(directory, "htpasswd"))).Append('\n');
                    break;
                case AuthMode.Token:
                    var issuer = options.Issuer!;
                    sb.Append("auth:\n  token:\n");
                    sb.Append("    realm: ").Append(Util.Yaml(issuer.Realm)).Append('\n');
                    sb.Append("    service: ").Append(Util.Yaml(issuer.Service)).Append('\n');
                    sb.Append("    issuer: ").Append(Util.Yaml(issuer.Issuer)).Append('\n');
                    sb.Append("    rootcertbundle: ").Append(Util.Yaml(issuer.CertificatePath)).Append('\n');
                    break;
            }
            return sb.ToString();
        }

        private static Process Launch(RegistryOptions options, string directory, OutputTail output)
        {
            var psi = new ProcessStartInfo(options.Executable)
            {
                UseShellExecute = false,
                WorkingDirectory = directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            psi.ArgumentList.Add("serve");
            psi.ArgumentList.Add(Path.Combine(directory, "config.yml"));
            // Keep the registry from picking up configuration from the environment of the test run.
            foreach (var key in new System.Collections.Generic.List<string>(psi.Environment.Keys))
                if (key.StartsWith("REGISTRY_", StringComparison.Ordinal)) psi.Environment.Remove(key);
            psi.Environment["OTEL_TRACES_EXPORTER"] = "none";
            var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
            process.OutputDataReceived += (_, e) => output.Add(e.Data);
            process.ErrorDataReceived += (_, e) => output.Add(e.Data);
            if (!process.Start()) throw new InvalidOperationException("Could not start " + options.Executable);
            ProcessTracker.Track(process);
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return process;
        }

        /// <summary>A throwaway CA (ca.pem) and a server certificate it signed for 127.0.0.1/localhost (server.pem, server.key).</summary>
        private static void WriteTlsFiles(string directory)
        {
            using var caKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var caRequest = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=MobyDistribution Test CA", caKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
            caRequest.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509KeyUsageExtension(
                System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.KeyCertSign | System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.CrlSign, true));
            using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

            using var serverKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=127.0.0.1", serverKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
            var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(false, false, 0, false));
            request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension(
                new System.Security.Cryptography.OidCollection { new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1") }, false));
            var serial = new byte[12];
            System.Security.Cryptography.RandomNumberGenerator.Fill(serial);
            using var server = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), serial);

            File.WriteAllText(Path.Combine(directory, "ca.pem"), ca.ExportCertificatePem() + "\n");
            File.WriteAllText(Path.Combine(directory, "server.pem"), server.ExportCertificatePem() + "\n");
            File.WriteAllText(Path.Combine(directory, "server.key"), serverKey.ExportPkcs8PrivateKeyPem() + "\n");
        }

        private void WaitUntilReady(TimeSpan timeout)
        {
            var sw = Stopwatch.StartNew();
            string lastProblem = "no answer yet";
            while (sw.Elapsed < timeout)
            {
                if (!IsRunning)
                {
                    _process.WaitForExit();
                    throw new InvalidOperationException(
                        $"docker-registry exited with code {_process.ExitCode} before answering on {BaseUrl}.\n{RecentOutput}");
                }
                try
                {
                    using var response = (Options.Tls ? TlsProbe : Probe).GetAsync(BaseUrl + "/v2/").GetAwaiter().GetResult();
                    if (response.StatusCode == HttpStatusCode.OK || response.StatusCode == HttpStatusCode.Unauthorized) return;
                    lastProblem = "status " + (int)response.StatusCode;
                }
                catch (HttpRequestException ex) { lastProblem = ex.Message; }
                catch (System.Threading.Tasks.TaskCanceledException ex) { lastProblem = ex.Message; }
                Thread.Sleep(50);
            }
            throw new TimeoutException(
                $"docker-registry did not answer GET {BaseUrl}/v2/ with 200 or 401 within {timeout.TotalSeconds:0} s ({lastProblem}).\n{RecentOutput}");
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            ProcessTracker.Kill(_process);
            _process.Dispose();
            Util.TryDeleteDirectory(Directory);
        }

        public override string ToString() => $"{AuthMode} registry at {BaseUrl}";
    }
}
