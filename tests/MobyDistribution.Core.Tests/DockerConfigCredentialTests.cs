using System;
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
    /// Credentials from Docker's config.json: auths (auth, username/password, identitytoken), credHelpers and credsStore
    /// (a fake docker-credential-test on PATH), Docker Hub's legacy key. In the "registries" collection: these tests set
    /// DOCKER_CONFIG and PATH for the process, so nothing else that reads them may run meanwhile.
    /// </summary>
    [Collection("registries")]
    public sealed class DockerConfigCredentialTests : IDisposable
    {
        private readonly TestBedFixture _bed;
        private readonly string _dir;
        private readonly string _configPath;
        private readonly string? _oldDockerConfig;
        private readonly string? _oldPath;

        public DockerConfigCredentialTests(TestBedFixture bed)
        {
            _bed = bed;
            _dir = Path.Combine(Path.GetTempPath(), "moby-core-dockercfg-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(_dir);
            _configPath = Path.Combine(_dir, "config.json");
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

        private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

        private void WriteConfig(string json) => File.WriteAllText(_configPath, json);

        /// <summary>
        /// A fake helper, docker-credential-test, on PATH: writes the server it was asked about to a file and answers with
        /// <paramref name="username"/> and <paramref name="secret"/>, or fails like a helper that holds nothing.
        /// </summary>
        private string InstallHelper(string username, string secret, bool notFound = false)
        {
            string bin = Path.Combine(_dir, "bin");
            Directory.CreateDirectory(bin);
            string asked = Path.Combine(_dir, "helper-asked.txt");
            string script = Path.Combine(bin, "docker-credential-test");
            string body = notFound
                ? "echo 'credentials not found in native keychain'; exit 1"
                : $"printf '{{\"ServerURL\":\"%s\",\"Username\":\"{username}\",\"Secret\":\"{secret}\"}}' \"$server\"";
            File.WriteAllText(script,
                "#!/bin/bash\n" +
                "[ \"$1\" = get ] || exit 2\n" +
                "server=$(cat)\n" +
                $"printf '%s' \"$server\" > '{asked}'\n" +
                body + "\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Environment.SetEnvironmentVariable("PATH", bin + Path.PathSeparator + _oldPath);
            return asked;
        }

        /// <summary>A client that reads Docker's config (the default store, so DOCKER_CONFIG is honoured).</summary>
        private RegistryClient ClientFromConfig() =>
            new RegistryClient(RegistryEndpoint.Parse(Registry), new RegistryClientOptions { CredentialStore = new DockerConfigCredentialStore() });

        [Fact]
        public void DefaultConfigPath_FollowsDockerConfig()
        {
            Assert.Equal(_configPath, DockerConfigCredentialStore.DefaultConfigPath());
            Assert.Equal(_configPath, new DockerConfigCredentialStore().ConfigPath);
        }

        [Fact]
        public async Task Auths_Base64Auth_IsUsedAgainstTheBasicRegistry()
        {
            WriteConfig($"{{\"auths\":{{\"{Registry}\":{{\"auth\":\"{B64(TestBedEnvironment.User + ":" + TestBedEnvironment.Password)}\"}}}}}}");
            var credential = await new DockerConfigCredentialStore().GetAsync(Registry);
            Assert.NotNull(credential);
            Assert.Equal(TestBedEnvironment.User, credential!.Username);
            Assert.True(credential.HasPassword);
            Assert.Contains(_configPath, credential.Source);
            Assert.DoesNotContain(TestBedEnvironment.Password, credential.ToString());

            var client = ClientFromConfig();
            await client.VerifyAsync();
            Reg.PushOnce(_bed.Image, _bed.Basic, "core/config-pull", "v1");
            var manifest = await client.Manifests.GetAsync("core/config-pull", "v1");
            Assert.Equal(_bed.Image.ManifestDigest, manifest.Digest.ToString());
        }

        [Fact]
        public async Task Auths_KeyedByUrl_AndPasswordWithColon()
        {
            WriteConfig($"{{\"auths\":{{\"http://{Registry}/v2/\":{{\"auth\":\"{B64("someone:pa:ss:word")}\"}}}}}}");
            var credential = await new DockerConfigCredentialStore().GetAsync(Registry);
            Assert.Equal("someone", credential!.Username);
            Assert.Equal("pa:ss:word", credential.Password);
            Assert.Null(await new DockerConfigCredentialStore().GetAsync("127.0.0.1:1"));
        }

        [Fact]
        public async Task Auths_UsernameAndPasswordFields()
        {
            WriteConfig($"{{\"auths\":{{\"{Registry}\":{{\"username\":\"{TestBedEnvironment.User}\",\"password\":\"{TestBedEnvironment.Password}\"}}}}}}");
            var credential = await new DockerConfigCredentialStore().GetAsync(Registry);
            Assert.Equal(TestBedEnvironment.User, credential!.Username);
            Assert.Equal(TestBedEnvironment.Password, credential.Password);
            await ClientFromConfig().VerifyAsync();
        }

        [Fact]
        public async Task Auths_IdentityToken()
        {
            WriteConfig($"{{\"auths\":{{\"{Registry}\":{{\"auth\":\"{B64("tester:")}\",\"identitytoken\":\"refresh-me\"}}}}}}");
            var credential = await new DockerConfigCredentialStore().GetAsync(Registry);
            Assert.NotNull(credential);
            Assert.True(credential!.HasIdentityToken);
            Assert.False(credential.HasPassword);
            Assert.Equal("refresh-me", credential.IdentityToken);
            Assert.DoesNotContain("refresh-me", credential.ToString());
        }

        /// <summary>
        /// What <c>az acr login</c> and Azure DevOps' Docker task write for ACR: the null-GUID user with the refresh token as
        /// its password (<paramref name="asIdentityToken"/> false), or with an empty password and the token as identitytoken.
        /// Either works against the token registry, through the OAuth2 refresh grant.
        /// </summary>
        [Theory]
        [InlineData(false)]
        [InlineData(true)]
        public async Task Auths_AcrNullGuidUser_PullsFromTheTokenRegistry(bool asIdentityToken)
        {
            const string guid = RegistryCredential.RefreshTokenUserName;
            var registry = _bed.Token.HostPort;
            Reg.PushOnce(_bed.Image, _bed.Token, "core/acr-config", "v1");
            var refresh = _bed.Issuer.NewRefreshToken(TestBedEnvironment.User);
            var entry = asIdentityToken
                ? $"{{\"auth\":\"{B64(guid + ":")}\",\"identitytoken\":\"{refresh}\"}}"
                : $"{{\"auth\":\"{B64(guid + ":" + refresh)}\"}}";
            WriteConfig($"{{\"auths\":{{\"{registry}\":{entry}}}}}");
            var credential = await new DockerConfigCredentialStore().GetAsync(registry);
            Assert.Equal(guid, credential!.Username);
            Assert.Equal(refresh, credential.RefreshToken);

            int start = _bed.Issuer.RequestCount;
            var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var client = new RegistryClient(RegistryEndpoint.Parse(registry), new RegistryClientOptions { CredentialStore = new DockerConfigCredentialStore(), Log = lines.Enqueue });
            var content = await client.Manifests.GetContentAsync("core/acr-config", "v1");
            Assert.Equal(_bed.Image.ManifestDigest, content.Digest.ToString());
            var seen = _bed.Issuer.Requests.Skip(start).ToArray();
            Assert.NotEmpty(seen);
            Assert.All(seen, r => Assert.Equal(("POST", "refresh_token", TestBedEnvironment.User), (r.Method, r.GrantType, r.User)));
            Assert.DoesNotContain(refresh, string.Join("\n", lines));
        }

        [Fact]
        public async Task DefaultStore_FollowsADockerConfigSetAfterItWasMade()
        {
            // As in a pipeline whose Docker task sets DOCKER_CONFIG after the module (and its default store) was loaded.
            var store = new DockerConfigCredentialStore();
            var later = Path.Combine(_dir, "later");
            Directory.CreateDirectory(later);
            File.WriteAllText(Path.Combine(later, "config.json"), $"{{\"auths\":{{\"{Registry}\":{{\"auth\":\"{B64(TestBedEnvironment.User + ":" + TestBedEnvironment.Password)}\"}}}}}}");
            Assert.Null(await store.GetAsync(Registry));
            Environment.SetEnvironmentVariable("DOCKER_CONFIG", later);
            Assert.Equal(Path.Combine(later, "config.json"), store.ConfigPath);
            Assert.Equal(TestBedEnvironment.User, (await store.GetAsync(Registry))!.Username);
        }

        [Fact]
        public async Task Auths_InvalidBase64_IsInvalidData_AndTheClientGoesOnAnonymously()
        {
            WriteConfig($"{{\"auths\":{{\"{_bed.Anonymous.HostPort}\":{{\"auth\":\"%%%not base64\"}}}}}}");
            await Assert.ThrowsAsync<InvalidDataException>(() => new DockerConfigCredentialStore().GetAsync(_bed.Anonymous.HostPort));
            var client = new RegistryClient(RegistryEndpoint.Parse(_bed.Anonymous.HostPort), new RegistryClientOptions());
            await client.VerifyAsync();
        }

        [Fact]
        public async Task CredHelpers_RunsTheHelper_WithTheServerOnStdin()
        {
            string asked = InstallHelper(TestBedEnvironment.User, TestBedEnvironment.Password);
            WriteConfig($"{{\"auths\":{{\"{Registry}\":{{}}}},\"credHelpers\":{{\"{Registry}\":\"test\"}}}}");
            var credential = await new DockerConfigCredentialStore().GetAsync(Registry);
            Assert.NotNull(credential);
            Assert.Equal(TestBedEnvironment.User, credential!.Username);
            Assert.Equal(TestBedEnvironment.Password, credential.Password);
            Assert.Equal("credential helper: docker-credential-test", credential.Source);
            Assert.Equal(Registry, File.ReadAllText(asked));

            var client = ClientFromConfig();
            await client.VerifyAsync();
            Assert.Equal("Basic", client.AuthScheme);
        }

        [Fact]
        public async Task CredHelper_TokenUser_IsAnIdentityToken_AndNotFound_IsAnonymous()
        {
            InstallHelper("<token>", "refresh-token-value");
            WriteConfig($"{{\"credHelpers\":{{\"{Registry}\":\"test\"}}}}");
            var credential = await new DockerConfigCredentialStore().GetAsync(Registry);
            Assert.True(credential!.HasIdentityToken);
            Assert.Null(credential.Username);

            InstallHelper("", "", notFound: true);
            Assert.Null(await new DockerConfigCredentialStore().GetAsync(Registry));
        }

        [Fact]
        public async Task CredsStore_IsUsedWhenNoHelperIsNamedForTheRegistry()
        {
            string asked = InstallHelper(TestBedEnvironment.User, TestBedEnvironment.Password);
            WriteConfig($"{{\"auths\":{{\"{Registry}\":{{}}}},\"credsStore\":\"test\",\"credHelpers\":{{\"other.example\":\"nonexistent\"}}}}");
            var credential = await new DockerConfigCredentialStore().GetAsync(Registry);
            Assert.Equal(TestBedEnvironment.User, credential!.Username);
            Assert.Equal(Registry, File.ReadAllText(asked));
            await ClientFromConfig().VerifyAsync();
        }

        [Fact]
        public async Task MissingHelper_IsAnError_AndTheClientGoesOnAnonymously()
        {
            WriteConfig($"{{\"credsStore\":\"surely-not-installed\"}}");
            await Assert.ThrowsAsync<InvalidOperationException>(() => new DockerConfigCredentialStore().GetAsync(Registry));
            var e = await Assert.ThrowsAsync<Errors.RegistryException>(() => ClientFromConfig().VerifyAsync());
            Assert.Equal(Errors.RegistryErrorKind.Unauthorized, e.Kind);
        }

        [Fact]
        public async Task DockerHub_LegacyKey_IsFoundForDockerIo()
        {
            WriteConfig($"{{\"auths\":{{\"https://index.docker.io/v1/\":{{\"auth\":\"{B64("hubuser:hubpass")}\"}}}}}}");
            var store = new DockerConfigCredentialStore();
            var credential = await store.GetAsync("docker.io");
            Assert.Equal("hubuser", credential!.Username);
            Assert.Equal("hubpass", credential.Password);
            Assert.Contains("docker.io", store.ListRegistries());
        }

        [Fact]
        public async Task DockerHub_Helper_IsAskedAboutTheLegacyUrl()
        {
            string asked = InstallHelper("hubuser", "hubpass");
            WriteConfig("{\"credHelpers\":{\"docker.io\":\"test\"}}");
            var credential = await new DockerConfigCredentialStore().GetAsync("docker.io");
            Assert.Equal("hubuser", credential!.Username);
            Assert.Equal("https://index.docker.io/v1/", File.ReadAllText(asked));
        }

        [Fact]
        public async Task NoConfigFile_IsAnonymous()
        {
            Assert.False(File.Exists(_configPath));
            Assert.Null(await new DockerConfigCredentialStore().GetAsync(Registry));
            Assert.Empty(new DockerConfigCredentialStore().ListRegistries());
        }
    }
}
