using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Registries of their own for the fault and security tests (an anonymous, a Basic and a token registry with an issuer
    /// whose token lifetime a test may shorten), and the fixture images they push with skopeo.
    /// </summary>
    public sealed class FaultBed : IDisposable
    {
        public const string User = "fault-user";
        public const string Password = "Fault-Passw0rd-7319-xyz";

        private readonly ConcurrentDictionary<string, string> _pushed = new();
        private readonly Lazy<FixtureImage> _large = new(() => FixtureImage.CreateLargeLayer(1_000_000, seed: 501));
        private readonly Lazy<FixtureImage> _small = new(() => FixtureImage.Create(layerCount: 2, seed: 502));
        private readonly Lazy<FixtureImage> _medium = new(() => FixtureImage.CreateLargeLayer(300_000, seed: 503));
        private readonly Lazy<FixtureImage> _long = new(() => FixtureImage.CreateLargeLayer(640_000, seed: 504));
        private readonly Lazy<FixtureImage> _layers = new(() => FixtureImage.Build(new FixtureOptions { LayerCount = 5, FilesPerLayer = 2, FileSize = 96 * 1024, Seed = 505 }));

        public FaultBed()
        {
            Issuer = new TokenIssuer();
            Issuer.AddUser(User, Password);
            var anonymous = Task.Run(() => RegistryServer.Start(new RegistryOptions { AuthMode = AuthMode.Anonymous }));
            var basic = Task.Run(() => RegistryServer.Start(new RegistryOptions { AuthMode = AuthMode.Basic, Username = User, Password = Password }));
            var token = Task.Run(() => RegistryServer.Start(new RegistryOptions { AuthMode = AuthMode.Token, Username = User, Password = Password, Issuer = Issuer }));
            Task.WaitAll(anonymous, basic, token);
            Anonymous = anonymous.Result;
            Basic = basic.Result;
            Token = token.Result;
        }

        public TokenIssuer Issuer { get; }
        public RegistryServer Anonymous { get; }
        public RegistryServer Basic { get; }
        public RegistryServer Token { get; }

        public RegistryServer Get(string mode) => mode switch { "basic" => Basic, "token" => Token, _ => Anonymous };

        /// <summary>One layer of 1,000,000 bytes (plus tar and gzip framing).</summary>
        public FixtureImage Large => _large.Value;
        /// <summary>Two small layers.</summary>
        public FixtureImage Small => _small.Value;
        /// <summary>One layer of about 300 KB.</summary>
        public FixtureImage Medium => _medium.Value;
        /// <summary>One layer of about 640 KB.</summary>
        public FixtureImage Long => _long.Value;
        /// <summary>Five layers of about 100 KB.</summary>
        public FixtureImage Layers => _layers.Value;

        /// <summary>Pushes a fixture with skopeo (directly, not through a proxy) once per registry and repository.</summary>
        public string Push(FixtureImage image, RegistryServer registry, string repository, string tag = "v1") =>
            _pushed.GetOrAdd($"{registry.BaseUrl}|{repository}|{tag}|{image.Digest}", _ => Skopeo.PushFixture(image, registry, repository, tag));

        public void Dispose()
        {
            foreach (var lazy in new[] { _large, _small, _medium, _long, _layers })
                if (lazy.IsValueCreated) lazy.Value.Dispose();
            Anonymous.Dispose();
            Basic.Dispose();
            Token.Dispose();
            Issuer.Dispose();
        }
    }

    /// <summary>
    /// One test's set-up: a <see cref="FaultProxy"/> in front of a registry, a client of the proxy (short backoff, the
    /// registry's user), and every log line the client wrote. <see cref="AssertNoLeaks"/> checks that no secret the proxy
    /// saw (passwords, Basic values, tokens, <c>_state</c>, presigned signatures) is in a log line or an exception text.
    /// </summary>
    internal sealed class Scenario : IDisposable
    {
        private static readonly ConcurrentQueue<Scenario> All = new();

        public Scenario(RegistryServer registry, FaultProxyOptions? proxyOptions = null, Action<RegistryClientOptions>? configure = null, bool anonymous = false)
        {
            Registry = registry;
            Proxy = FaultProxy.Start(registry, proxyOptions);
            Options = new RegistryClientOptions
            {
                CredentialStore = null,
                Credential = anonymous || registry.AuthMode == AuthMode.Anonymous ? null : RegistryCredential.FromPassword(registry.Username!, registry.Password!),
                Log = line => Lines.Enqueue(line),
                ReadStallTimeout = TimeSpan.FromSeconds(20),
                ResponseTimeout = TimeSpan.FromSeconds(20),
            };
            Options.Retry.MaxAttempts = 4;
            Options.Retry.BaseDelay = TimeSpan.FromMilliseconds(20);
            Options.Retry.MaxDelay = TimeSpan.FromSeconds(2);
            Options.Retry.MaxElapsed = TimeSpan.FromSeconds(30);
            if (proxyOptions?.Tls == true) Options.SkipCertificateCheck = true;
            configure?.Invoke(Options);
            Client = new RegistryClient(RegistryEndpoint.Parse(Proxy.BaseUrl), Options);
            All.Enqueue(this);
        }

        public RegistryServer Registry { get; }
        public FaultProxy Proxy { get; }
        public RegistryClientOptions Options { get; }
        public RegistryClient Client { get; }
        public ConcurrentQueue<string> Lines { get; } = new();
        public ConcurrentQueue<string> ErrorTexts { get; } = new();

        /// <summary>The proxy's reference for an image ("127.0.0.1:PORT/repo:tag").</summary>
        public ImageReference Ref(string repository, string? tag = "v1") => ImageReference.Create(Proxy.HostPort, repository, tag);

        /// <summary>Requests of a method whose path matches a pattern, in order.</summary>
        public ProxyLogEntry[] Requests(string method, string pathPattern) =>
            Proxy.Log.Where(e => e.Method == method && Regex.IsMatch(e.Path, pathPattern)).ToArray();

        public string AllLines => string.Join("\n", Lines);

        /// <summary>Runs an operation that must fail; keeps its exception text for the leak check.</summary>
        public async Task<T> Fails<T>(Func<Task> operation) where T : Exception
        {
            var e = await Assert.ThrowsAnyAsync<T>(operation);
            ErrorTexts.Enqueue(e.ToString());
            return e;
        }

        private readonly ConcurrentQueue<string> _extraSecrets = new();

        /// <summary>Adds a secret the proxy cannot see (one sent only to the token service) to the leak check.</summary>
        public void AddSecret(string secret) => _extraSecrets.Enqueue(secret);

        public string[] Secrets
        {
            get
            {
                var secrets = new HashSet<string>(Proxy.SecretsSeen.Concat(_extraSecrets), StringComparer.Ordinal);
                if (Registry.Password != null) secrets.Add(Registry.Password);
                return secrets.ToArray();
            }
        }

        /// <summary>No secret (whole, or a 24-character piece of its middle) in any log line or exception text.</summary>
        public void AssertNoLeaks()
        {
            var texts = Lines.Concat(ErrorTexts).ToArray();
            foreach (var secret in Secrets)
            {
                var needles = new List<string> { secret };
                if (secret.Length >= 40) needles.Add(secret.Substring(secret.Length / 2 - 12, 24));
                foreach (var text in texts)
                    foreach (var needle in needles)
                        Assert.False(text.Contains(needle, StringComparison.Ordinal),
                            $"A secret ({secret.Substring(0, Math.Min(6, secret.Length))}…, {secret.Length} chars) leaked into: {text}");
            }
        }

        /// <summary>Every scenario created so far in this run (the redaction test checks them all).</summary>
        public static Scenario[] Created => All.ToArray();

        public void Dispose()
        {
            Proxy.Dispose();
            // MOBY_FAULT_DUMP=DIR writes what each scenario saw (proxy log, redirect target log, client lines) for debugging.
            var dump = Environment.GetEnvironmentVariable("MOBY_FAULT_DUMP");
            if (string.IsNullOrEmpty(dump)) return;
            Directory.CreateDirectory(dump);
            File.WriteAllLines(Path.Combine(dump, $"{DateTime.UtcNow:HHmmss.fff}-{Proxy.Port}.log"),
                new[] { Proxy.ToString(), "-- proxy --" }.Concat(Proxy.Log.Select(e => e.ToString()))
                .Concat(new[] { "-- redirect target --" }).Concat(Proxy.RedirectTarget.Log.Select(e => e.ToString()))
                .Concat(new[] { "-- client --" }).Concat(Lines).Concat(new[] { "-- errors --" }).Concat(ErrorTexts));
        }
    }

    /// <summary>Independent checks of what is in a registry, through skopeo (not through Core or the proxy).</summary>
    internal static class SkopeoView
    {
        /// <summary>The manifest digest skopeo sees.</summary>
        public static string Digest(RegistryServer registry, string repository, string tag = "v1") =>
            Skopeo.Digest(registry.ImageReference(repository, tag), registry.Credentials);

        /// <summary>The layer digests of the manifest skopeo sees.</summary>
        public static string[] Layers(RegistryServer registry, string repository, string tag = "v1")
        {
            using var doc = JsonDocument.Parse(Skopeo.InspectRawBytes(registry.ImageReference(repository, tag), registry.Credentials));
            return doc.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()!).ToArray();
        }

        /// <summary>The config digest of the manifest skopeo sees.</summary>
        public static string Config(RegistryServer registry, string repository, string tag = "v1")
        {
            using var doc = JsonDocument.Parse(Skopeo.InspectRawBytes(registry.ImageReference(repository, tag), registry.Credentials));
            return doc.RootElement.GetProperty("config").GetProperty("digest").GetString()!;
        }

        /// <summary>
        /// skopeo copies the image out of the registry into an OCI layout, which verifies every blob against its digest;
        /// returns the manifest digest it saw.
        /// </summary>
        public static string PullVerified(RegistryServer registry, string repository, string tag = "v1")
        {
            var dir = Path.Combine(Path.GetTempPath(), "moby-fault-verify-" + Guid.NewGuid().ToString("N").Substring(0, 10));
            try
            {
                Skopeo.Copy(registry.ImageReference(repository, tag), $"oci:{dir}:{tag}", registry.Credentials);
                return Digest(registry, repository, tag);
            }
            finally
            {
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    internal static class FaultNames
    {
        public static string Repo(string prefix) => "fault/" + prefix + "-" + Guid.NewGuid().ToString("N").Substring(0, 8);

        public static string TempDir()
        {
            var dir = Path.Combine(Path.GetTempPath(), "moby-fault-" + Guid.NewGuid().ToString("N").Substring(0, 10));
            Directory.CreateDirectory(dir);
            return dir;
        }
    }
}
