using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Formats;
using MobyDistribution.IO;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Writers on a real full disk (a 2 MiB tmpfs): the error comes through, no temporary file is left holding the space,
    /// and a file being replaced stays as it was.
    /// </summary>
    public sealed class DiskFullTests
    {
        private static readonly byte[] Old = { (byte)'o', (byte)'l', (byte)'d' };

        [SmallFileSystemFact]
        public void AtomicFile_whose_writes_fill_the_disk_leaves_no_temporary_file_and_keeps_the_file_it_was_replacing()
        {
            using var fs = SmallFileSystem.Mount(2);
            var path = Path.Combine(fs.Path, "big.tar");
            File.WriteAllBytes(path, Old);
            var piece = new byte[64 * 1024];
            // The write that meets ENOSPC throws; disposing then flushes the buffered tail and meets it again.
            var e = Assert.ThrowsAny<IOException>(() =>
            {
                using var file = AtomicFile.Create(path, overwrite: true);
                for (int i = 0; i < 64; i++) file.Stream.Write(piece, 0, piece.Length);
                file.Commit();
            });
            Assert.Contains("space", e.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(new[] { "big.tar" }, Names(fs.Path));
            Assert.Equal(Old, File.ReadAllBytes(path));
        }

        [SmallFileSystemFact]
        public void AtomicFile_whose_last_flush_in_Commit_fails_removes_its_temporary_file_before_the_error_goes_on()
        {
            using var fs = SmallFileSystem.Mount(2);
            var path = Path.Combine(fs.Path, "big.tar");
            File.WriteAllBytes(path, Old);
            fs.Fill(leaveBytes: 64 * 1024);
            using var file = AtomicFile.Create(path, overwrite: true);
            // Smaller than the stream's buffer: every write succeeds, and the disk is met only by Commit's flush.
            file.Stream.Write(new byte[512 * 1024], 0, 512 * 1024);
            var e = Assert.ThrowsAny<IOException>(() => file.Commit());
            Assert.Contains("space", e.Message, StringComparison.OrdinalIgnoreCase);
            Assert.False(File.Exists(file.TempPath), "the temporary file is gone before Dispose");
            Assert.Equal(new[] { "big.tar", "filler" }, Names(fs.Path));
            Assert.Equal(Old, File.ReadAllBytes(path));
            file.Dispose();
        }

        [Fact]
        public void AtomicFile_whose_rename_is_refused_removes_its_temporary_file()
        {
            var dir = Directory.CreateTempSubdirectory("moby-atomic-").FullName;
            try
            {
                var path = Path.Combine(dir, "out.tar");
                using var file = AtomicFile.Create(path, overwrite: true);
                file.Stream.Write(Old, 0, Old.Length);
                // The destination became a folder while the file was written: the rename cannot replace it.
                Directory.CreateDirectory(path);
                Assert.ThrowsAny<IOException>(() => file.Commit());
                Assert.False(File.Exists(file.TempPath));
                Assert.Equal(new[] { "out.tar" }, Names(dir));
                Assert.True(Directory.Exists(path));
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        [Fact]
        public void AtomicFile_whose_destination_appears_meanwhile_without_overwrite_keeps_it_and_removes_its_temporary_file()
        {
            var dir = Directory.CreateTempSubdirectory("moby-atomic-").FullName;
            try
            {
                var path = Path.Combine(dir, "out.tar");
                using var file = AtomicFile.Create(path, overwrite: false);
                file.Stream.Write(new byte[10], 0, 10);
                File.WriteAllBytes(path, Old);
                Assert.ThrowsAny<IOException>(() => file.Commit());
                Assert.False(File.Exists(file.TempPath));
                Assert.Equal(Old, File.ReadAllBytes(path));
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        [SmallFileSystemFact]
        public async Task OciLayoutWriter_on_a_full_disk_leaves_no_temporary_blob_and_AtomicFile_WriteAllBytes_none_either()
        {
            using var fs = SmallFileSystem.Mount(2);
            var layoutDir = Path.Combine(fs.Path, "layout");
            var blob = new byte[3 * 1024 * 1024];
            new Random(5).NextBytes(blob);
            using (var layout = OciLayoutWriter.ToDirectory(layoutDir))
            {
                await Assert.ThrowsAnyAsync<IOException>(() => layout.AddBlobAsync(blob));
                Assert.False(layout.Contains(Digest.Compute(blob)));
            }
            Assert.Empty(Directory.EnumerateFiles(layoutDir, "*.partial", SearchOption.AllDirectories));
            Assert.False(File.Exists(Path.Combine(layoutDir, "blobs", "sha256", Digest.Compute(blob).Hex)));

            // The small files of a layout (index.json, oci-layout) go through the same all-or-nothing write.
            fs.Fill(leaveBytes: 4096);
            var index = Path.Combine(layoutDir, "index.json");
            Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllBytes(index, new byte[256 * 1024], overwrite: true));
            Assert.False(File.Exists(index));
            Assert.Equal(new[] { "oci-layout" }, Names(layoutDir).Where(n => n != "blobs"));
        }

        private static string[] Names(string dir) =>
            Directory.EnumerateFileSystemEntries(dir).Select(p => Path.GetFileName(p)!).OrderBy(n => n, StringComparer.Ordinal).ToArray();
    }
}
