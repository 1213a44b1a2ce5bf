using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;

namespace MobyDistribution.TestBed
{
    public sealed class SkopeoResult
    {
        public string[] Arguments { get; init; } = Array.Empty<string>();
        public int ExitCode { get; init; }
        public byte[] StandardOutputBytes { get; init; } = Array.Empty<byte>();
        public string StandardOutput => Encoding.UTF8.GetString(StandardOutputBytes);
        public string StandardError { get; init; } = "";
        public TimeSpan Elapsed { get; init; }
    }

    /// <summary>
    /// Runs skopeo (1.9) against the test bed. Every docker:// reference gets <c>--tls-verify=false</c>
    /// (this makes skopeo fall back to plain http on loopback), and <c>--insecure-policy</c> is always set.
    /// Credentials are "user:password" strings; null means anonymous (<c>--no-creds</c>, so no auth file is read).
    /// </summary>
    public static class Skopeo
    {
        public static string Executable { get; set; } = "skopeo";
        public static TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(120);

        /// <summary>Runs skopeo with these arguments; throws with its output on a non-zero exit or a timeout.</summary>
        public static SkopeoResult Run(params string[] args) => Run(DefaultTimeout, args);

        public static SkopeoResult Run(TimeSpan timeout, params string[] args)
        {
            var result = TryRun(timeout, args);
            if (result.ExitCode != 0)
                throw new InvalidOperationException(
                    $"skopeo {string.Join(" ", Redact(args))} exited with {result.ExitCode}:\n{result.StandardError}\n{result.StandardOutput}");
            return result;
        }

        /// <summary>Runs skopeo and returns whatever happened (throws only on timeout).</summary>
        public static SkopeoResult TryRun(TimeSpan timeout, params string[] args)
        {
            var psi = new ProcessStartInfo(Executable)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            psi.ArgumentList.Add("--insecure-policy");
            foreach (var a in args) psi.ArgumentList.Add(a);
            var sw = Stopwatch.StartNew();
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start skopeo");
            ProcessTracker.Track(process, watchdog: false); // short-lived: killed on exit, ends by itself otherwise
            try
            {
                process.StandardInput.Close();
                var stdout = Task.Run(() =>
                {
                    using var ms = new MemoryStream();
                    process.StandardOutput.BaseStream.CopyTo(ms);
                    return ms.ToArray();
                });
                var stderr = process.StandardError.ReadToEndAsync();
                if (!process.WaitForExit((int)Math.Min(int.MaxValue, timeout.TotalMilliseconds)))
                {
                    ProcessTracker.Kill(process);
                    throw new TimeoutException(
                        $"skopeo {string.Join(" ", Redact(args))} did not finish within {timeout.TotalSeconds:0} s.\n{SafeResult(stderr)}");
                }
                process.WaitForExit();
                return new SkopeoResult
                {
                    Arguments = args,
                    ExitCode = process.ExitCode,
                    StandardOutputBytes = stdout.GetAwaiter().GetResult(),
                    StandardError = stderr.GetAwaiter().GetResult(),
                    Elapsed = sw.Elapsed,
                };
            }
            finally
            {
                ProcessTracker.Untrack(process);
            }
        }

        private static string SafeResult(Task<string> t) => t.IsCompletedSuccessfully ? t.Result : "";

        private static IEnumerable<string> Redact(IEnumerable<string> args)
        {
            string? previous = null;
            foreach (var a in args)
            {
                yield return previous != null && previous.EndsWith("creds", StringComparison.Ordinal) ? RedactCreds(a)
                    : a.Contains("creds=", StringComparison.Ordinal) ? a.Substring(0, a.IndexOf('=') + 1) + RedactCreds(a.Substring(a.IndexOf('=') + 1))
                    : a;
                previous = a;
            }
        }

        private static string RedactCreds(string creds)
        {
            int colon = creds.IndexOf(':');
            return colon < 0 ? creds : creds.Substring(0, colon) + ":***";
        }

        private static bool IsDocker(string reference) => reference.StartsWith("docker://", StringComparison.Ordinal);

        /// <summary>skopeo copy SRC DEST; TLS verification off and credentials (or --*-no-creds) for docker:// ends.</summary>
        public static SkopeoResult Copy(string source, string destination, string? sourceCredentials = null,
            string? destinationCredentials = null, params string[] extraArgs)
        {
            var args = new List<string> { "copy", "--quiet", "--retry-times", "0" };
            if (IsDocker(source))
            {
                args.Add("--src-tls-verify=false");
                args.Add(sourceCredentials == null ? "--src-no-creds" : "--src-creds=" + sourceCredentials);
            }
            if (IsDocker(destination))
            {
                args.Add("--dest-tls-verify=false");
                args.Add(destinationCredentials == null ? "--dest-no-creds" : "--dest-creds=" + destinationCredentials);
            }
            if (extraArgs != null) args.AddRange(extraArgs);
            args.Add(source);
            args.Add(destination);
            return Run(args.ToArray());
        }

        private static List<string> InspectArgs(string reference, string? credentials, params string[] more)
        {
            var args = new List<string> { "inspect", "--retry-times", "0" };
            if (IsDocker(reference))
            {
                args.Add("--tls-verify=false");
                args.Add(credentials == null ? "--no-creds" : "--creds=" + credentials);
            }
            args.AddRange(more);
            args.Add(reference);
            return args;
        }

        /// <summary>The manifest (or index) exactly as the registry serves it.</summary>
        public static byte[] InspectRawBytes(string reference, string? credentials = null) =>
            Run(InspectArgs(reference, credentials, "--raw").ToArray()).StandardOutputBytes;

        public static string InspectRaw(string reference, string? credentials = null) =>
            Encoding.UTF8.GetString(InspectRawBytes(reference, credentials));

        /// <summary>The raw config blob (for an index: the instance matching linux/amd64).</summary>
        public static string InspectConfig(string reference, string? credentials = null) =>
            Run(new[] { "--override-os", "linux", "--override-arch", "amd64" }
                .Concat(InspectArgs(reference, credentials, "--config", "--raw")).ToArray()).StandardOutput;

        /// <summary>sha256 digest of the raw manifest as served.</summary>
        public static string Digest(string reference, string? credentials = null) =>
            Util.Sha256Digest(InspectRawBytes(reference, credentials));

        /// <summary>skopeo list-tags; accepts "docker://host/repo" or "docker://host/repo:tag" (the tag is dropped).</summary>
        public static string[] ListTags(string reference, string? credentials = null)
        {
            string repo = reference;
            int slash = repo.LastIndexOf('/');
            int colon = repo.LastIndexOf(':');
            if (IsDocker(repo) && colon > slash && slash > "docker://".Length) repo = repo.Substring(0, colon);
            var args = new List<string> { "list-tags", "--retry-times", "0" };
            if (IsDocker(repo))
            {
                args.Add("--tls-verify=false");
                args.Add(credentials == null ? "--no-creds" : "--creds=" + credentials);
            }
            args.Add(repo);
            using var doc = JsonDocument.Parse(Run(args.ToArray()).StandardOutputBytes);
            return doc.RootElement.GetProperty("Tags").EnumerateArray().Select(e => e.GetString()!).ToArray();
        }

        /// <summary>
        /// Pushes a fixture to <paramref name="registry"/> as repository:tag and returns the digest of what was pushed.
        /// format "oci": as built (<c>--all --preserve-digests</c>), returns the fixture's digest.
        /// format "v2s2": converted to Docker schema 2 (<c>--format v2s2</c>), the digest is read back from the registry.
        /// </summary>
        public static string PushFixture(FixtureImage image, RegistryServer registry, string repository,
            string tag = "latest", string format = "oci")
        {
            string destination = registry.ImageReference(repository, tag);
            string? creds = registry.Credentials;
            switch (format)
            {
                case "oci":
                    Copy(image.OciReference, destination, null, creds, "--all", "--preserve-digests");
                    return image.Digest;
                case "v2s2":
                    Copy(image.OciReference, destination, null, creds, "--all", "--format", "v2s2");
                    return Digest(destination, creds);
                default:
                    throw new ArgumentException("format must be \"oci\" or \"v2s2\".", nameof(format));
            }
        }
    }
}
