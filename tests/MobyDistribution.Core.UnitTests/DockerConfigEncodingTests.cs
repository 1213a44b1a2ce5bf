using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>
    /// Docker's config as Windows PowerShell 5.1 writes it and finds it: a UTF-8 byte order mark (Set-Content -Encoding
    /// UTF8), UTF-16 (Out-File, '>'), USERPROFILE before HOME, and a helper's standard input without a BOM.
    /// </summary>
    public sealed class DockerConfigEncodingTests : IDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "moby-unit-cfg-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public DockerConfigEncodingTests() => Directory.CreateDirectory(_dir);

        public void Dispose()
        {
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }

        private string Write(byte[] bytes)
        {
            var path = Path.Combine(_dir, "config.json");
            File.WriteAllBytes(path, bytes);
            return path;
        }

        private const string Json = "{\"auths\":{\"registry.example.com\":{\"auth\":\"dXNlcjpwYXNz\"}}}"; // user:pass

        [Fact]
        public async Task A_config_written_with_a_UTF8_byte_order_mark_gives_its_credentials()
        {
            var path = Write(new UTF8Encoding(true).GetPreamble().Concat(Encoding.UTF8.GetBytes(Json)));
            var credential = await new DockerConfigCredentialStore(path).GetAsync("registry.example.com");
            Assert.NotNull(credential);
            Assert.Equal("user", credential!.Username);
            Assert.Equal(new[] { "registry.example.com" }, new DockerConfigCredentialStore(path).ListRegistries());
        }

        [Fact]
        public async Task A_UTF16_config_is_refused_with_a_message_that_names_the_encoding()
        {
            var path = Write(Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes(Json)));
            var e = await Assert.ThrowsAsync<InvalidDataException>(() => new DockerConfigCredentialStore(path).GetAsync("registry.example.com"));
            Assert.Contains("UTF-16", e.Message);
            Assert.Contains(path, e.Message);
        }

        [Fact]
        public async Task A_config_that_is_not_JSON_is_refused_with_its_path()
        {
            var path = Write(Encoding.UTF8.GetBytes("{\"auths\": {"));
            var e = await Assert.ThrowsAsync<InvalidDataException>(() => new DockerConfigCredentialStore(path).GetAsync("registry.example.com"));
            Assert.Contains(path, e.Message);
        }

        [Fact]
        public void On_Windows_USERPROFILE_comes_before_HOME_and_DOCKER_CONFIG_before_both()
        {
            var env = new Dictionary<string, string?> { ["USERPROFILE"] = "C:\\Users\\me", ["HOME"] = "/c/Users/me" };
            string? Get(string name) => env.TryGetValue(name, out var v) ? v : null;
            Assert.Equal(Path.Combine("C:\\Users\\me", ".docker", "config.json"), DockerConfigCredentialStore.ConfigPathFrom(Get, windows: true, profileFolder: null));
            Assert.Equal(Path.Combine("/c/Users/me", ".docker", "config.json"), DockerConfigCredentialStore.ConfigPathFrom(Get, windows: false, profileFolder: null));
            env["USERPROFILE"] = null;
            Assert.Equal(Path.Combine("/c/Users/me", ".docker", "config.json"), DockerConfigCredentialStore.ConfigPathFrom(Get, windows: true, profileFolder: null));
            env["HOME"] = null;
            Assert.Equal(Path.Combine("/profile", ".docker", "config.json"), DockerConfigCredentialStore.ConfigPathFrom(Get, windows: true, profileFolder: "/profile"));
            env["DOCKER_CONFIG"] = "/etc/docker-cfg";
            env["USERPROFILE"] = "C:\\Users\\me";
            Assert.Equal(Path.Combine("/etc/docker-cfg", "config.json"), DockerConfigCredentialStore.ConfigPathFrom(Get, windows: true, profileFolder: null));
        }

        [Fact]
        public async Task A_helper_gets_the_server_name_as_UTF8_without_a_byte_order_mark_whatever_the_writer_encoding()
        {
            var pipe = new MemoryStream();
            var stdin = new StreamWriter(pipe, new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
            await DockerConfigCredentialStore.WriteRequestAsync(stdin, "registry.example.com");
            Assert.Equal(Encoding.ASCII.GetBytes("registry.example.com"), pipe.ToArray());
            Assert.False(pipe.CanWrite); // closed: the helper sees the end of its input
        }

        [Fact]
        public void A_helper_starts_under_a_console_encoding_without_preamble_only_when_the_console_is_UTF8_with_one()
        {
            // .NET Framework's Console.InputEncoding under chcp 65001 has a preamble; Process writes it into the helper's stdin.
            var replacement = DockerConfigCredentialStore.InputEncodingWithoutPreamble(new UTF8Encoding(true));
            Assert.NotNull(replacement);
            Assert.Equal(65001, replacement!.CodePage);
            Assert.Empty(replacement.GetPreamble());
            Assert.Null(DockerConfigCredentialStore.InputEncodingWithoutPreamble(new UTF8Encoding(false)));
            Assert.Null(DockerConfigCredentialStore.InputEncodingWithoutPreamble(Encoding.ASCII));
            // UTF-16 has a preamble too, but is no console input code page: left alone rather than changing the code page.
            Assert.Null(DockerConfigCredentialStore.InputEncodingWithoutPreamble(Encoding.Unicode));
        }
    }

    internal static class ByteArrayConcat
    {
        public static byte[] Concat(this byte[] a, byte[] b)
        {
            var all = new byte[a.Length + b.Length];
            Buffer.BlockCopy(a, 0, all, 0, a.Length);
            Buffer.BlockCopy(b, 0, all, a.Length, b.Length);
            return all;
        }
    }
}
