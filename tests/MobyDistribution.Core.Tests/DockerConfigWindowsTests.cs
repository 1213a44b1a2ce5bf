using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Docker's config as Windows PowerShell leaves it, against the real basic-auth registry: a config with a byte order
    /// mark logs in; one that does not parse is said as a warning line (not only in the verbose log) before going on
    /// anonymously; a credential helper's input carries no BOM and its output may start with one. In the "registries"
    /// collection, as these tests set DOCKER_CONFIG and PATH for the process.
    /// </summary>
    [Collection("registries")]
    public sealed class DockerConfigWindowsTests : IDisposable
    {
        private readonly TestBedFixture _bed;
        private readonly string _dir;
        private readonly string? _oldDockerConfig;
        private readonly string? _oldPath;

        public DockerConfigWindowsTests(TestBedFixture bed)
        {
            _bed = bed;
            _dir = Path.Combine(Path.GetTempPath(), "moby-core-wincfg-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(_dir);
            _oldDockerConfig = Environment.GetEnvironmentVariable("DOCKER_CONFIG");
            _oldPath = Environment.GetEnvironmentVariable("PATH");
            Environment.SetEnvironmentVariable("DOCKER_CONFIG", _dir);
        }

        public void Dispose()
        {
            Environment.SetEnvironmentVariable("DOCKER_CONFIG", _oldDockerConfig);
            Environment.SetEnvironmentVariable("PATH", _oldPath);
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }

        private string Registry => _bed.Basic.HostPort;
        private string ConfigPath => Path.Combine(_dir, "config.json");

        private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

        [Fact]
        public async Task A_config_saved_with_a_UTF8_BOM_logs_in_to_the_registry()
        {
            var json = $"{{\"auths\":{{\"{Registry}\":{{\"auth\":\"{B64(TestBedEnvironment.User + ":" + TestBedEnvironment.Password)}\"}}}}}}";
            File.WriteAllText(ConfigPath, json, new UTF8Encoding(true)); // what Set-Content -Encoding UTF8 writes
            var client = new RegistryClient(RegistryEndpoint.Parse(Registry), new RegistryClientOptions { CredentialStore = new DockerConfigCredentialStore() });
            await client.VerifyAsync();
        }

        [Fact]
        public async Task A_config_that_does_not_parse_is_a_warning_line_and_access_goes_on_anonymously()
        {
            File.WriteAllText(ConfigPath, "{\"auths\": {", new UTF8Encoding(false));
            var lines = new ConcurrentQueue<string>();
            var client = new RegistryClient(RegistryEndpoint.Parse(Registry),
                new RegistryClientOptions { CredentialStore = new DockerConfigCredentialStore(), Log = lines.Enqueue });
            await Assert.ThrowsAnyAsync<Exception>(() => client.VerifyAsync()); // anonymous against a basic-auth registry
            var warning = Assert.Single(lines, l => l.StartsWith(RegistryLog.WarningPrefix, StringComparison.Ordinal));
            Assert.Contains(ConfigPath, warning);
            Assert.Contains("anonymously", warning);
        }

        [Fact]
        public async Task A_helper_reads_the_server_name_without_a_BOM_and_may_answer_with_one()
        {
            string bin = Path.Combine(_dir, "bin");
            Directory.CreateDirectory(bin);
            string asked = Path.Combine(_dir, "asked.bin");
            string script = Path.Combine(bin, "docker-credential-bom");
            File.WriteAllText(script,
                "#!/bin/bash\n[ \"$1\" = get ] || exit 2\n" +
                $"cat > '{asked}'\n" +
                $"printf '\\xef\\xbb\\xbf{{\"ServerURL\":\"x\",\"Username\":\"{TestBedEnvironment.User}\",\"Secret\":\"{TestBedEnvironment.Password}\"}}'\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Environment.SetEnvironmentVariable("PATH", bin + Path.PathSeparator + _oldPath);
            File.WriteAllText(ConfigPath, $"{{\"credHelpers\":{{\"{Registry}\":\"bom\"}}}}");

            var credential = await new DockerConfigCredentialStore().GetAsync(Registry);
            Assert.NotNull(credential);
            Assert.Equal(TestBedEnvironment.User, credential!.Username);
            Assert.Equal(Encoding.ASCII.GetBytes(Registry), File.ReadAllBytes(asked));
        }
    }
}
