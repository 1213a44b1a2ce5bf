using System;
using System.IO;

namespace MobyDistribution.IO
{
    /// <summary>
    /// A file written to a temporary name beside its destination and renamed into place by <see cref="Commit"/>.
    /// Disposed without a commit, the temporary file is deleted: nothing partial is ever left at the destination,
    /// and an existing destination is untouched.
    /// </summary>
    public sealed class AtomicFile : IDisposable
    {
        private readonly FileStream _stream;
        private bool _committed;

        private AtomicFile(string path, string tempPath, FileStream stream, bool overwrite)
        {
            Path = path;
            TempPath = tempPath;
            _stream = stream;
            Overwrite = overwrite;
        }

        /// <summary>The destination.</summary>
        public string Path { get; }

        /// <summary>The temporary file being written.</summary>
        public string TempPath { get; }

        public bool Overwrite { get; }

        public Stream Stream => _stream;

        /// <summary>
        /// Starts writing <paramref name="path"/>. Throws <see cref="IOException"/> when it exists and
        /// <paramref name="overwrite"/> is false, or when it is a directory.
        /// </summary>
        public static AtomicFile Create(string path, bool overwrite)
        {
            if (string.IsNullOrEmpty(path)) throw new ArgumentException("A path is required.", nameof(path));
            var full = System.IO.Path.GetFullPath(path);
            if (Directory.Exists(full)) throw new IOException($"'{full}' is a directory.");
            if (!overwrite && File.Exists(full)) throw new IOException($"'{full}' exists already; overwrite it explicitly (-Force).");
            var dir = System.IO.Path.GetDirectoryName(full)!;
            if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"The folder '{dir}' does not exist.");
            var temp = System.IO.Path.Combine(dir, "." + System.IO.Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N").Substring(0, 12) + ".partial");
            var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1024 * 1024, FileOptions.Asynchronous);
            return new AtomicFile(full, temp, stream, overwrite);
        }

        /// <summary>Flushes and renames the temporary file into place.</summary>
        public void Commit()
        {
            if (_committed) return;
            _stream.Flush(true);
            _stream.Dispose();
            if (File.Exists(Path))
            {
                if (!Overwrite) throw new IOException($"'{Path}' appeared while it was being written; it was left as it is.");
                File.Replace(TempPath, Path, null);
            }
            else
            {
                File.Move(TempPath, Path);
            }
            _committed = true;
        }

        public void Dispose()
        {
            _stream.Dispose();
            if (!_committed)
            {
                try { File.Delete(TempPath); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
    }
}
