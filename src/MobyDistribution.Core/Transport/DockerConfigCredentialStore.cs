using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// Credentials from Docker's <c>config.json</c> (<c>$DOCKER_CONFIG/config.json</c>, else <c>~/.docker/config.json</c>):
    /// <c>credHelpers</c> for the host, then <c>credsStore</c>, then the <c>auths</c> entry, as docker resolves them.
    /// Credential helpers run as <c>docker-credential-NAME get</c> with the server on standard input.
    /// </summary>
    public sealed class DockerConfigCredentialStore
    {
        private const int MaxConfigBytes = 4 * 1024 * 1024;
        private static readonly TimeSpan HelperTimeout = TimeSpan.FromSeconds(30);
        private static readonly UTF8Encoding HelperEncoding = new UTF8Encoding(false);

        private readonly string? _configPath;

        /// <param name="configPath">The config file; null follows <c>DOCKER_CONFIG</c> (else <c>~/.docker</c>) at each look-up.</param>
        public DockerConfigCredentialStore(string? configPath = null)
        {
            _configPath = configPath;
        }

        /// <summary>
        /// The config file read (it may not exist). Without a path given it is found again at each look-up, so a
        /// <c>DOCKER_CONFIG</c> set after the store was made (by an Azure DevOps Docker task, or in a session) is honoured.
        /// </summary>
        public string ConfigPath => _configPath ?? DefaultConfigPath();

        /// <summary>
        /// Where docker reads its config: <c>$DOCKER_CONFIG/config.json</c>, else <c>.docker/config.json</c> in the user's
        /// home, which on Windows is <c>USERPROFILE</c> (as docker's own client takes it; HOME there is often a Unix-style
        /// path set by Git or MSYS), elsewhere <c>HOME</c>.
        /// </summary>
        public static string DefaultConfigPath() =>
            ConfigPathFrom(Environment.GetEnvironmentVariable, Path.DirectorySeparatorChar == '\\',
                Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

        /// <summary><see cref="DefaultConfigPath"/> from the given environment, so the Windows order can be checked anywhere.</summary>
        internal static string ConfigPathFrom(Func<string, string?> environment, bool windows, string? profileFolder)
        {
            var dir = environment("DOCKER_CONFIG");
            if (string.IsNullOrEmpty(dir))
            {
                string? home = null;
                foreach (var name in windows ? new[] { "USERPROFILE", "HOME" } : new[] { "HOME" })
                {
                    home = environment(name);
                    if (!string.IsNullOrEmpty(home)) break;
                }
                if (string.IsNullOrEmpty(home)) home = profileFolder;
                dir = Path.Combine(string.IsNullOrEmpty(home) ? "." : home!, ".docker");
            }
            return Path.Combine(dir!, "config.json");
        }

        /// <summary>The registries named in the config (auths and credHelpers), for completion and listing.</summary>
        public IReadOnlyList<string> ListRegistries()
        {
            var result = new List<string>();
            using var doc = Load(ConfigPath);
            if (doc == null) return result;
            foreach (var section in new[] { "auths", "credHelpers" })
            {
                if (doc.RootElement.TryGetProperty(section, out var obj) && obj.ValueKind == JsonValueKind.Object)
                    foreach (var p in obj.EnumerateObject())
                    {
                        var name = NormalizeKey(p.Name);
                        if (!result.Contains(name)) result.Add(name);
                    }
            }
            return result;
        }

        /// <summary>Finds credentials for a registry, or null for anonymous access.</summary>
        public async Task<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken = default)
        {
            var configPath = ConfigPath;
            using var doc = Load(configPath);
            if (doc == null) return null;
            var root = doc.RootElement;

            string? helper = null;
            if (root.TryGetProperty("credHelpers", out var helpers) && helpers.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in helpers.EnumerateObject())
                    if (Matches(p.Name, registry) && p.Value.ValueKind == JsonValueKind.String) { helper = p.Value.GetString(); break; }
            }
            if (helper == null && root.TryGetProperty("credsStore", out var store) && store.ValueKind == JsonValueKind.String)
                helper = store.GetString();
            if (!string.IsNullOrEmpty(helper))
            {
                var fromHelper = await RunHelperAsync(helper!, HelperServerName(registry), cancellationToken).ConfigureAwait(false);
                if (fromHelper != null) return fromHelper;
            }

            if (root.TryGetProperty("auths", out var auths) && auths.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in auths.EnumerateObject())
                {
                    if (!Matches(p.Name, registry) || p.Value.ValueKind != JsonValueKind.Object) continue;
                    var entry = p.Value;
                    string source = "docker config: " + configPath;
                    string? user = null, pass = null;
                    if (entry.TryGetProperty("auth", out var auth) && auth.ValueKind == JsonValueKind.String && auth.GetString()!.Length > 0)
                    {
                        string decoded;
                        try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth.GetString()!)); }
                        catch (FormatException) { throw new InvalidDataException($"The 'auth' entry for '{p.Name}' in {configPath} is not valid base64."); }
                        int colon = decoded.IndexOf(':');
                        if (colon <= 0) throw new InvalidDataException($"The 'auth' entry for '{p.Name}' in {configPath} is not 'user:password'.");
                        user = decoded.Substring(0, colon);
                        pass = decoded.Substring(colon + 1);
                    }
                    else
                    {
                        if (entry.TryGetProperty("username", out var u) && u.ValueKind == JsonValueKind.String) user = u.GetString();
                        if (entry.TryGetProperty("password", out var pw) && pw.ValueKind == JsonValueKind.String) pass = pw.GetString();
                    }
                    // The user name goes with the identity token: `az acr login` writes ACR's null-GUID user there, which the
                    // token GET needs when a token service takes the refresh token only as a Basic password.
                    if (entry.TryGetProperty("identitytoken", out var it) && it.ValueKind == JsonValueKind.String && it.GetString()!.Length > 0)
                        return RegistryCredential.FromIdentityToken(it.GetString()!, string.IsNullOrEmpty(user) ? null : user, source);
                    // A password under ACR's null-GUID user is a refresh token (RegistryCredential.RefreshToken takes it so).
                    if (!string.IsNullOrEmpty(user)) return RegistryCredential.FromPassword(user!, pass ?? string.Empty, source);
                }
            }
            return null;
        }

        private static JsonDocument? Load(string configPath)
        {
            var info = new FileInfo(configPath);
            if (!info.Exists) return null;
            if (info.Length > MaxConfigBytes) throw new InvalidDataException($"{configPath} is larger than {MaxConfigBytes} bytes.");
            return Parse(File.ReadAllBytes(configPath), configPath);
        }

        /// <summary>
        /// Parses a config's bytes. A UTF-8 byte order mark is skipped: Windows PowerShell's <c>Set-Content -Encoding UTF8</c>
        /// writes one, and System.Text.Json refuses it. UTF-16 (what Windows PowerShell's <c>Out-File</c> and <c>&gt;</c> write)
        /// is refused with a message that says so, as docker itself cannot read it.
        /// </summary>
        internal static JsonDocument Parse(byte[] bytes, string path)
        {
            int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
            if (bytes.Length >= 2 && ((bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF)))
                throw new InvalidDataException($"{path} is UTF-16 text (Windows PowerShell's Out-File and '>' write that); docker reads UTF-8 only, so save it as UTF-8.");
            try
            {
                return JsonDocument.Parse(new ReadOnlyMemory<byte>(bytes, start, bytes.Length - start),
                    new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
            }
        }

        /// <summary>The server name a credential helper is asked about: docker stores Docker Hub under its legacy v1 URL.</summary>
        private static string HelperServerName(string registry) => DockerHub.IsAlias(registry) ? DockerHub.LegacyConfigKey : registry;

        /// <summary>Reduces a config key (possibly a URL) to host[:port], with Docker Hub's aliases folded.</summary>
        internal static string NormalizeKey(string key)
        {
            var k = key.Trim();
            int sep = k.IndexOf("://", StringComparison.Ordinal);
            if (sep >= 0) k = k.Substring(sep + 3);
            int slash = k.IndexOf('/');
            if (slash >= 0) k = k.Substring(0, slash);
            k = k.ToLowerInvariant();
            return DockerHub.Canonicalize(k);
        }

        private static bool Matches(string key, string registry) =>
            string.Equals(NormalizeKey(key), DockerHub.Canonicalize(registry.ToLowerInvariant()), StringComparison.Ordinal);

        private async Task<RegistryCredential?> RunHelperAsync(string helper, string server, CancellationToken cancellationToken)
        {
            foreach (var c in helper)
                if (!(char.IsLetterOrDigit(c) || c == '-' || c == '_' || c == '.'))
                    throw new InvalidDataException($"Credential helper name '{helper}' in {ConfigPath} is not a plain name.");
            var psi = new ProcessStartInfo("docker-credential-" + helper, "get")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                // Helpers speak UTF-8; the default would be the console's code page (an OEM one on Windows PowerShell).
                StandardOutputEncoding = HelperEncoding,
                StandardErrorEncoding = HelperEncoding,
                UseShellExecute = false,
                CreateNoWindow = true,
            };
            Process process;
            try { process = StartWithoutInputPreamble(psi); }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException($"Docker's config names the credential helper 'docker-credential-{helper}', but it could not be started: {e.Message}", e);
            }
            using (process)
            {
                await WriteRequestAsync(process.StandardInput, server).ConfigureAwait(false);
                var stdoutTask = process.StandardOutput.ReadToEndAsync();
                var stderrTask = process.StandardError.ReadToEndAsync();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(HelperTimeout);
                var exited = new TaskCompletionSource<bool>();
                process.EnableRaisingEvents = true;
                process.Exited += (_, _) => exited.TrySetResult(true);
                if (process.HasExited) exited.TrySetResult(true);
                using (timeout.Token.Register(() => exited.TrySetCanceled()))
                {
                    try { await exited.Task.ConfigureAwait(false); }
                    catch (OperationCanceledException)
                    {
                        try { process.Kill(); } catch (InvalidOperationException) { }
                        cancellationToken.ThrowIfCancellationRequested();
                        throw new TimeoutException($"Credential helper docker-credential-{helper} did not answer within {HelperTimeout.TotalSeconds} s.");
                    }
                }
                var stdout = await stdoutTask.ConfigureAwait(false);
                var stderr = await stderrTask.ConfigureAwait(false);
                if (process.ExitCode != 0)
                {
                    // Helpers say "credentials not found in native keychain" when they hold nothing: anonymous, not an error.
                    if ((stdout + stderr).IndexOf("not found", StringComparison.OrdinalIgnoreCase) >= 0) return null;
                    throw new InvalidOperationException($"Credential helper docker-credential-{helper} failed (exit {process.ExitCode}).");
                }
                try
                {
                    using var doc = JsonDocument.Parse(stdout.TrimStart('\uFEFF')); // a helper may write a byte order mark first
                    var root = doc.RootElement;
                    var user = root.TryGetProperty("Username", out var u) ? u.GetString() : null;
                    var secret = root.TryGetProperty("Secret", out var s) ? s.GetString() : null;
                    if (string.IsNullOrEmpty(secret)) return null;
                    var source = "credential helper: docker-credential-" + helper;
                    return user == "<token>"
                        ? RegistryCredential.FromIdentityToken(secret!, null, source)
                        : RegistryCredential.FromPassword(user ?? string.Empty, secret!, source);
                }
                catch (JsonException)
                {
                    throw new InvalidDataException($"Credential helper docker-credential-{helper} answered with something that is not JSON.");
                }
            }
        }

        private static readonly object ConsoleEncodingGate = new object();

        /// <summary>
        /// Starts a helper so that nothing precedes what is written to its standard input. .NET Framework makes that writer
        /// with <see cref="Console.InputEncoding"/> and flushes it at once, so under a UTF-8 console (<c>chcp 65001</c>, or a
        /// profile that sets <c>[Console]::InputEncoding</c> to UTF-8) a byte order mark is in the pipe before any request.
        /// For that case only, the console's encoding is swapped for the same code page without a preamble while the
        /// process starts, then put back: the console's code page never changes. .NET (Core) strips the preamble itself.
        /// </summary>
        private static Process StartWithoutInputPreamble(ProcessStartInfo psi)
        {
            lock (ConsoleEncodingGate)
            {
                Encoding? original = null;
                try
                {
                    var current = Console.InputEncoding;
                    var replacement = InputEncodingWithoutPreamble(current);
                    if (replacement != null) { Console.InputEncoding = replacement; original = current; }
                }
                catch (Exception e) when (e is IOException || e is PlatformNotSupportedException || e is ArgumentException || e is System.Security.SecurityException) { }
                try { return Process.Start(psi)!; }
                finally
                {
                    if (original != null)
                    {
                        try { Console.InputEncoding = original; }
                        catch (Exception e) when (e is IOException || e is PlatformNotSupportedException || e is ArgumentException) { }
                    }
                }
            }
        }

        /// <summary>The console encoding to start a helper under, when <paramref name="current"/> would write a preamble; else null.</summary>
        internal static Encoding? InputEncodingWithoutPreamble(Encoding current) =>
            current.GetPreamble().Length > 0 && current.CodePage == 65001 ? new UTF8Encoding(false) : null;

        /// <summary>
        /// Writes the server name to a helper's standard input as UTF-8 without a byte order mark, and closes it. Not
        /// through the writer's own encoding, which is the console's (an OEM code page, or UTF-8 with a preamble, on .NET
        /// Framework): a helper given "\uFEFFregistry" looks up a server that is not there.
        /// </summary>
        internal static async Task WriteRequestAsync(StreamWriter stdin, string server)
        {
            var bytes = HelperEncoding.GetBytes(server);
            await stdin.BaseStream.WriteAsync(bytes, 0, bytes.Length).ConfigureAwait(false);
            await stdin.BaseStream.FlushAsync().ConfigureAwait(false);
            stdin.BaseStream.Dispose(); // the helper reads to the end of its input
            // The writer flushes (and would write its preamble) as it closes: it finds the pipe already closed.
            try { stdin.Dispose(); }
            catch (Exception e) when (e is ObjectDisposedException || e is IOException) { }
        }
    }
}
