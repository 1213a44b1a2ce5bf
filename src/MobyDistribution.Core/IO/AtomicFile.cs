using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.IO
{
    /// <summary>
    /// A file written to a temporary name beside its destination and renamed into place by <see cref="Commit"/>.
    /// Disposed without a commit, the temporary file is deleted: nothing partial is ever left at the destination,
    /// and an existing destination is untouched.
    /// </summary>
    /// <remarks>
    /// The content is flushed to disk before the rename (so that after a crash the destination holds either the old file or
    /// the complete new one). So that this flush does not cost a second pass at the end (about a second for a gigabyte), the
    /// data is also flushed in the background while it is written, every <see cref="BackgroundFlushBytes"/>, through a second
    /// handle: the final flush then has only the tail left.
    /// </remarks>
    public sealed class AtomicFile : IDisposable
    {
        /// <summary>How much is written between background flushes.</summary>
        internal const long BackgroundFlushBytes = 32L * 1024 * 1024;

        private readonly FileStream _stream;
        private readonly FlushingStream _writer;
        private bool _committed;

        private AtomicFile(string path, string tempPath, FileStream stream, bool overwrite)
        {
            Path = path;
            TempPath = tempPath;
            _stream = stream;
            _writer = new FlushingStream(stream, tempPath);
            Overwrite = overwrite;
        }

        /// <summary>The destination.</summary>
        public string Path { get; }

        /// <summary>The temporary file being written.</summary>
        public string TempPath { get; }

        public bool Overwrite { get; }

        public Stream Stream => _writer;

        /// <summary>
        /// Starts writing <paramref name="path"/>. Throws <see cref="IOException"/> when it exists and
        /// <paramref name="overwrite"/> is false, or when it is a directory.
        /// </summary>
        public static AtomicFile Create(string path, bool overwrite)
        {
            if (string.IsNullOrEmpty(path)) throw new ArgumentException("A path is required.", nameof(path));
            var full = System.IO.Path.GetFullPath(path);
            if (Directory.Exists(LongPath.For(full))) throw new IOException($"'{full}' is a directory.");
            if (!overwrite && File.Exists(LongPath.For(full))) throw new IOException($"'{full}' exists already, and overwriting it was not asked for.");
            var dir = System.IO.Path.GetDirectoryName(full)!;
            if (!Directory.Exists(LongPath.For(dir))) throw new DirectoryNotFoundException($"The folder '{dir}' does not exist.");
            var temp = System.IO.Path.Combine(dir, "." + System.IO.Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N").Substring(0, 12) + ".partial");
            // Shared for reading and writing so that the background flush can open a second handle (the name is random and hidden).
            var stream = new FileStream(LongPath.For(temp), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite, 1024 * 1024, FileOptions.Asynchronous);
            return new AtomicFile(full, temp, stream, overwrite);
        }

        /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> whole or not at all (see <see cref="Create"/>).</summary>
        public static void WriteAllBytes(string path, byte[] bytes, bool overwrite)
        {
            using var file = Create(path, overwrite);
            file.Stream.Write(bytes, 0, bytes.Length);
            file.Commit();
        }

        /// <summary>
        /// Flushes and renames the temporary file into place. When that fails (a full disk on the last flush, a rename refused),
        /// the temporary file is removed before the exception goes on: only the destination as it was remains.
        /// </summary>
        public void Commit()
        {
            if (_committed) return;
            try
            {
                _writer.EndBackgroundFlushes();
                _stream.Flush(true);
                _stream.Dispose();
                if (File.Exists(LongPath.For(Path)))
                {
                    if (!Overwrite) throw new IOException($"'{Path}' appeared while it was being written; it was left as it is.");
                    File.Replace(LongPath.For(TempPath), LongPath.For(Path), null);
                }
                else
                {
                    File.Move(LongPath.For(TempPath), LongPath.For(Path));
                }
            }
            catch
            {
                Discard();
                throw;
            }
            _committed = true;
        }

        /// <summary>Deletes the temporary file unless it was committed.</summary>
        public void Dispose()
        {
            if (!_committed) Discard();
        }

        /// <summary>
        /// Closes and deletes the temporary file. Its content is thrown away, so closing must not fail: a full disk makes the
        /// close flush the buffered tail and fail again, and that failure (which says nothing new) must not keep the delete from
        /// running, nor replace the error the caller is already handling.
        /// </summary>
        private void Discard()
        {
            try { _writer.EndBackgroundFlushes(); }
            catch (Exception e) when (IsFileError(e)) { }
            try { _stream.Dispose(); }
            catch (Exception e) when (IsFileError(e)) { }
            try { File.Delete(LongPath.For(TempPath)); }
            catch (Exception e) when (IsFileError(e)) { }
        }

        private static bool IsFileError(Exception e) => e is IOException || e is UnauthorizedAccessException || e is NotSupportedException;

        /// <summary>
        /// The file stream, plus a flush to disk in the background every <see cref="BackgroundFlushBytes"/> written (one at a time,
        /// through a second handle, so writing goes on meanwhile). A flush that fails only turns the background flushes off:
        /// <see cref="Commit"/> flushes everything anyway.
        /// </summary>
        private sealed class FlushingStream : Stream
        {
            private readonly FileStream _file;
            private readonly string _path;
            private long _unflushed;
            private Task? _flush;
            private FileStream? _flusher;
            private volatile bool _off;

            public FlushingStream(FileStream file, string path)
            {
                _file = file;
                _path = path;
            }

            public override void Write(byte[] buffer, int offset, int count)
            {
                _file.Write(buffer, offset, count);
                Written(count);
            }

            public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                await _file.WriteAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
                Written(count);
            }

            public override void WriteByte(byte value)
            {
                _file.WriteByte(value);
                Written(1);
            }

            private void Written(int count)
            {
                _unflushed += count;
                if (_off || _unflushed < BackgroundFlushBytes || (_flush != null && !_flush.IsCompleted)) return;
                _unflushed = 0;
                _flush = Task.Run(FlushToDisk);
            }

            private void FlushToDisk()
            {
                try
                {
                    _flusher ??= new FileStream(LongPath.For(_path), FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1);
                    _flusher.Flush(true);
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is NotSupportedException || e is ObjectDisposedException)
                {
                    _off = true;
                }
            }

            /// <summary>Waits for a background flush in progress and closes the second handle; no more start.</summary>
            public void EndBackgroundFlushes()
            {
                _off = true;
                try { _flush?.Wait(); }
                catch (AggregateException) { }
                _flusher?.Dispose();
                _flusher = null;
            }

            public override int Read(byte[] buffer, int offset, int count) => _file.Read(buffer, offset, count);
            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _file.ReadAsync(buffer, offset, count, cancellationToken);
            public override void Flush() => _file.Flush();
            public override Task FlushAsync(CancellationToken cancellationToken) => _file.FlushAsync(cancellationToken);
            public override long Seek(long offset, SeekOrigin origin) => _file.Seek(offset, origin);
            public override void SetLength(long value) => _file.SetLength(value);
            public override bool CanRead => _file.CanRead;
            public override bool CanSeek => _file.CanSeek;
            public override bool CanWrite => _file.CanWrite;
            public override long Length => _file.Length;

            public override long Position
            {
                get => _file.Position;
                set => _file.Position = value;
            }

            protected override void Dispose(bool disposing)
            {
                // The file belongs to the AtomicFile, which commits or deletes it.
                if (disposing) EndBackgroundFlushes();
                base.Dispose(disposing);
            }
        }
    }
}
