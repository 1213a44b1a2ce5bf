using System;
using System.IO;
using System.Threading.Tasks;
using MobyDistribution.Formats;
using Xunit;

namespace MobyDistribution.Core.Net48Tests
{
    /// <summary>
    /// Making a layer from a folder where <c>FileSystemInfo.LinkTarget</c> does not exist (.NET Framework, and the Mono
    /// these tests run on, which marks symbolic links as reparse points as Windows does): a link is never walked into.
    /// </summary>
    public sealed class FrameworkFileTests : IDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "moby-n48-layer-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public FrameworkFileTests() => Directory.CreateDirectory(_dir);

        public void Dispose()
        {
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }

        private static void Symlink(string link, string target)
        {
            // No P/Invoke and no Mono.Posix: ln, as the tests run on Linux (Mono).
            using var ln = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ln", $"-s \"{target}\" \"{link}\"") { UseShellExecute = false })!;
            ln.WaitForExit();
            Assert.Equal(0, ln.ExitCode);
        }

        [Fact]
        public async Task A_link_to_its_own_parent_is_refused_by_name_instead_of_walked_into()
        {
            var app = Directory.CreateDirectory(Path.Combine(_dir, "app")).FullName;
            File.WriteAllText(Path.Combine(app, "run.sh"), "echo hi\n");
            Symlink(Path.Combine(app, "loop"), "..");
            var e = await Assert.ThrowsAsync<LayerSourceException>(() => LayerBuilder.WriteDirectoryTarAsync(_dir, new MemoryStream()));
            Assert.Equal(Path.Combine(app, "loop"), e.SourcePath);
            Assert.Contains("cannot read where it points", e.Message);
        }

        [Fact]
        public async Task A_link_to_a_file_outside_the_folder_does_not_pack_that_file()
        {
            var outside = Path.Combine(Path.GetTempPath(), "moby-n48-secret-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            File.WriteAllText(outside, "secret");
            try
            {
                Symlink(Path.Combine(_dir, "leak"), outside);
                await Assert.ThrowsAsync<LayerSourceException>(() => LayerBuilder.WriteDirectoryTarAsync(_dir, new MemoryStream()));
            }
            finally { File.Delete(outside); }
        }

        [Fact]
        public async Task A_folder_without_links_is_packed()
        {
            Directory.CreateDirectory(Path.Combine(_dir, "a", "b"));
            File.WriteAllText(Path.Combine(_dir, "a", "b", "c.txt"), "c");
            var tar = new MemoryStream();
            await LayerBuilder.WriteDirectoryTarAsync(_dir, tar);
            Assert.True(tar.Length >= 4 * 512);
        }
    }
}
