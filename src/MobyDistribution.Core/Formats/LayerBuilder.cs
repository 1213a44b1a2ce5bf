using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.IO;

namespace MobyDistribution.Formats
{
    /// <summary>How a layer is made from a directory.</summary>
    public sealed class LayerBuildOptions
    {
        /// <summary>Keep the files' modification times; by default every entry has mtime 0, so the layer is reproducible.</summary>
        public bool PreserveTimestamps { get; set; }

        /// <summary>Where temporary compressed layers go; the system's temporary folder when null.</summary>
        public string? TemporaryDirectory { get; set; }
    }

    /// <summary>
    /// A gzip-compressed layer blob ready to push: its file, digest and size, and the digest of its uncompressed tar (the
    /// config's <c>diff_ids</c> entry). Disposing it deletes the file when it is a temporary one.
    /// </summary>
    public sealed class BuiltLayer : IDisposable
    {
        internal BuiltLayer(string source, string blobPath, bool temporary, Digest digest, long size, Digest diffId)
        {
            Source = source;
            BlobPath = blobPath;
            IsTemporary = temporary;
            Digest = digest;
            Size = size;
            DiffId = diffId;
        }

        /// <summary>The directory or tar file it was made from.</summary>
        public string Source { get; }

        /// <summary>The compressed blob: a temporary file, or the source itself when that was gzip-compressed already.</summary>
        public string BlobPath { get; }

        public bool IsTemporary { get; }

        public Digest Digest { get; }

        public long Size { get; }

        public Digest DiffId { get; }

        public void Dispose()
        {
            if (!IsTemporary) return;
            try { File.Delete(BlobPath); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// Makes layers: reproducible tars from directories (entries sorted by ordinal path, mtime 0 unless asked otherwise, uid/gid 0,
    /// empty user and group names, permission bits kept where the OS has them, symbolic links kept as links and not followed),
    /// and gzip-compressed blobs (deterministic, see <see cref="LayerCompression.CreateGzipStream"/>) from directories or tar files.
    /// </summary>
    public static class LayerBuilder
    {
        private static readonly MethodInfo? GetUnixFileMode = typeof(File).GetMethod("GetUnixFileMode", new[] { typeof(string) });
        private static readonly PropertyInfo? LinkTarget = typeof(FileSystemInfo).GetProperty("LinkTarget");
        private static readonly int DefaultFileMode = Convert.ToInt32("644", 8);
        private static readonly int DefaultDirectoryMode = Convert.ToInt32("755", 8);

        /// <summary>Writes the reproducible tar of <paramref name="directory"/>'s content (paths relative to it) into <paramref name="output"/>.</summary>
        public static async Task WriteDirectoryTarAsync(string directory, Stream output, LayerBuildOptions? options = null, IProgress<long>? progress = null,
            CancellationToken cancellationToken = default)
        {
            options ??= new LayerBuildOptions();
            var root = new DirectoryInfo(Path.GetFullPath(directory));
            if (!root.Exists) throw new DirectoryNotFoundException($"The folder '{root.FullName}' does not exist.");
            using var tar = new TarWriter(output, leaveOpen: true);
            long done = 0;
            await WriteChildrenAsync(tar, root, string.Empty, options, cancellationToken, n => progress?.Report(done += n)).ConfigureAwait(false);
            await tar.FinishAsync(cancellationToken).ConfigureAwait(false);
        }

        private static async Task WriteChildrenAsync(TarWriter tar, DirectoryInfo dir, string prefix, LayerBuildOptions options, CancellationToken cancellationToken, Action<long> advanced)
        {
            var children = dir.EnumerateFileSystemInfos().OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
            foreach (var child in children)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var name = prefix + child.Name;
                var entry = new TarEntry
                {
                    Name = name,
                    ModificationTime = options.PreserveTimestamps ? ToUnixSeconds(child.LastWriteTimeUtc) : 0,
                };
                var target = (child.Attributes & FileAttributes.ReparsePoint) != 0 ? LinkTarget?.GetValue(child) as string : null;
                if (target != null)
                {
                    entry.Type = TarEntryType.SymbolicLink;
                    entry.LinkName = target.Replace('\\', '/');
                    entry.Mode = Convert.ToInt32("777", 8);
                    await tar.WriteEntryAsync(entry, null, null, cancellationToken).ConfigureAwait(false);
                }
                else if (child is DirectoryInfo sub)
                {
                    entry.Type = TarEntryType.Directory;
                    entry.Mode = ModeOf(sub.FullName) ?? DefaultDirectoryMode;
                    await tar.WriteEntryAsync(entry, null, null, cancellationToken).ConfigureAwait(false);
                    await WriteChildrenAsync(tar, sub, name + "/", options, cancellationToken, advanced).ConfigureAwait(false);
                }
                else if (child is FileInfo file)
                {
                    entry.Type = TarEntryType.RegularFile;
                    entry.Mode = ModeOf(file.FullName) ?? DefaultFileMode;
                    entry.Size = file.Length;
                    using var data = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
                    await tar.WriteEntryAsync(entry, data, null, cancellationToken).ConfigureAwait(false);
                    advanced(entry.Size);
                }
            }
        }

        /// <summary>
        /// Makes a compressed layer from a directory (its reproducible tar) or a tar file (plain: compressed; gzip: used as it is;
        /// zstd: recompressed as gzip). A tar file's entries are checked: names that escape are refused. The caller disposes the
        /// result, which deletes its temporary file.
        /// </summary>
        public static async Task<BuiltLayer> BuildAsync(string path, LayerBuildOptions? options = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            options ??= new LayerBuildOptions();
            var full = Path.GetFullPath(path);
            if (Directory.Exists(full))
                return await CompressToTemporaryAsync(full, options, (s, ct) => WriteDirectoryTarAsync(full, s, options, progress, ct), cancellationToken).ConfigureAwait(false);
            if (!File.Exists(full)) throw new FileNotFoundException($"'{full}' is neither a folder nor a file.", full);

            LayerCompressionKind kind;
            using (var probe = File.OpenRead(full))
            {
                var head = new byte[4];
                int n = probe.Read(head, 0, head.Length);
                kind = LayerCompression.Detect(head, n);
            }
            if (kind == LayerCompressionKind.Gzip)
            {
                // Used as it is: one pass hashes the blob, checks the tar inside and hashes it (the diff_id).
                using var file = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
                using var raw = new HashingReadStream(file, "sha256", progress);
                using var gunzip = LayerCompression.Decompress(new NonClosingStream(raw), LayerCompressionKind.Gzip);
                using var content = new HashingReadStream(gunzip, "sha256", null);
                await CheckLayerTarAsync(content, full, cancellationToken).ConfigureAwait(false);
                await DrainAsync(content, cancellationToken).ConfigureAwait(false);
                await DrainAsync(raw, cancellationToken).ConfigureAwait(false);
                return new BuiltLayer(full, full, false, raw.Finish(), raw.BytesRead, content.Finish());
            }

            using (var check = kind == LayerCompressionKind.None
                ? (Stream)new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous)
                : LayerCompression.Decompress(File.OpenRead(full), kind))
            {
                await CheckLayerTarAsync(check, full, cancellationToken).ConfigureAwait(false);
            }
            return await CompressToTemporaryAsync(full, options, async (s, ct) =>
            {
                using var source = LayerCompression.Decompress(new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan), kind);
                var buffer = new byte[1024 * 1024];
                long done = 0;
                int n;
                while ((n = await source.ReadAsync(buffer, 0, buffer.Length, ct).ConfigureAwait(false)) > 0)
                {
                    await s.WriteAsync(buffer, 0, n, ct).ConfigureAwait(false);
                    progress?.Report(done += n);
                }
            }, cancellationToken).ConfigureAwait(false);
        }

        private static async Task<BuiltLayer> CompressToTemporaryAsync(string source, LayerBuildOptions options, Func<Stream, CancellationToken, Task> writeTar, CancellationToken cancellationToken)
        {
            var dir = options.TemporaryDirectory ?? Path.GetTempPath();
            var temp = Path.Combine(dir, "moby-layer-" + Guid.NewGuid().ToString("N").Substring(0, 12) + ".tar.gz");
            try
            {
                Digest blob, diff;
                long size;
                using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1024 * 1024, FileOptions.Asynchronous))
                {
                    using var blobHash = new HashingWriteStream(file);
                    using (var gzip = LayerCompression.CreateGzipStream(blobHash))
                    using (var diffHash = new HashingWriteStream(gzip))
                    {
                        await writeTar(diffHash, cancellationToken).ConfigureAwait(false);
                        diff = diffHash.Finish();
                    }
                    blob = blobHash.Finish();
                    size = blobHash.BytesWritten;
                    await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                return new BuiltLayer(source, temp, true, blob, size, diff);
            }
            catch
            {
                try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                throw;
            }
        }

        /// <summary>Reads a layer tar through, refusing entries whose names escape (absolute symbolic link targets are fine in a layer).</summary>
        private static async Task CheckLayerTarAsync(Stream content, string source, CancellationToken cancellationToken)
        {
            var options = new TarReaderOptions { RefuseEscapingLinks = false, RefuseSpecialEntries = false };
            try
            {
                using var reader = new TarReader(content, options, leaveOpen: true);
                while (await reader.GetNextEntryAsync(cancellationToken).ConfigureAwait(false) != null) { }
            }
            catch (ImageArchiveException e)
            {
                throw new ImageArchiveException(e.Kind, $"Layer '{source}': {e.Message}", e.EntryName, e);
            }
        }

        private static async Task DrainAsync(Stream stream, CancellationToken cancellationToken)
        {
            var buffer = new byte[81920];
            while (await stream.ReadAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false) > 0) { }
        }

        private static int? ModeOf(string path)
        {
            if (GetUnixFileMode == null || RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) return null;
            try { return Convert.ToInt32(GetUnixFileMode.Invoke(null, new object[] { path })) & 0xFFF; }
            catch (TargetInvocationException) { return null; }
        }

        private static long ToUnixSeconds(DateTime utc) => (long)Math.Floor((utc - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds);

    }
}
