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
    /// <summary>How a layer is made from a directory or a plain file.</summary>
    public sealed class LayerBuildOptions
    {
        /// <summary>Keep the files' modification times; by default every entry has mtime 0, so the layer is reproducible.</summary>
        public bool PreserveTimestamps { get; set; }

        /// <summary>
        /// The folder inside the image that a directory's content, or a plain file, goes into, such as <c>/app</c>; the root when
        /// null or <c>/</c>. The layer then also holds that folder and its parents (mode 755, owner 0:0). Tar archives name
        /// their own places, so a prefix is refused for them. <c>..</c> is refused.
        /// </summary>
        public string? Prefix { get; set; }

        /// <summary>Where temporary compressed layers go; the system's temporary folder when null.</summary>
        public string? TemporaryDirectory { get; set; }
    }

    /// <summary>What a layer was made from.</summary>
    public enum LayerSourceKind
    {
        /// <summary>A directory, packed as a reproducible tar of its content.</summary>
        Directory,

        /// <summary>A tar archive (plain, gzip or zstd), taken as the layer.</summary>
        TarArchive,

        /// <summary>Any other file, which becomes the layer's only file.</summary>
        File,
    }

    /// <summary>
    /// A file or folder a layer cannot be made from: a file named like a tar archive that is not one, or a tar archive that is
    /// damaged or holds entries that escape (<see cref="RegistryException.Kind"/> <see cref="RegistryErrorKind.Security"/>).
    /// </summary>
    public sealed class LayerSourceException : ImageArchiveException
    {
        public LayerSourceException(RegistryErrorKind kind, string message, string sourcePath, string? entryName = null, Exception? inner = null)
            : base(kind, message, entryName, inner)
        {
            SourcePath = sourcePath;
        }

        /// <summary>The file or folder at fault.</summary>
        public string SourcePath { get; }
    }

    /// <summary>
    /// A gzip-compressed layer blob ready to push: its file, digest and size, and the digest of its uncompressed tar (the
    /// config's <c>diff_ids</c> entry). Disposing it deletes the file when it is a temporary one.
    /// </summary>
    public sealed class BuiltLayer : IDisposable
    {
        internal BuiltLayer(string source, LayerSourceKind kind, string target, string blobPath, bool temporary, Digest digest, long size, Digest diffId)
        {
            Source = source;
            Kind = kind;
            Target = target;
            BlobPath = blobPath;
            IsTemporary = temporary;
            Digest = digest;
            Size = size;
            DiffId = diffId;
        }

        /// <summary>The directory or file it was made from.</summary>
        public string Source { get; }

        /// <summary>What <see cref="Source"/> was.</summary>
        public LayerSourceKind Kind { get; }

        /// <summary>The folder inside the image a directory's content or a plain file went into (<c>/</c>, <c>/app</c>); <c>/</c> for a tar archive.</summary>
        public string Target { get; }

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
    /// Makes layers: reproducible tars from directories and plain files (entries sorted by ordinal path, mtime 0 unless asked
    /// otherwise, uid/gid 0, empty user and group names, permission bits kept where the OS has them, symbolic links inside a
    /// directory kept as links and not followed), and gzip-compressed blobs (deterministic, see
    /// <see cref="LayerCompression.CreateGzipStream"/>) from those or from tar archives.
    /// </summary>
    /// <remarks>
    /// A file is a tar archive when its content says so, whatever its name: its first 512 bytes (after gunzip or zstd
    /// decompression when it starts with their magic numbers) are a tar header with a valid checksum. Any other file is a plain
    /// file, except one named like an archive (<c>.tar</c>, <c>.tar.gz</c>, <c>.tgz</c>, <c>.tar.zst</c>), which is refused
    /// rather than silently packed as a file.
    /// </remarks>
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
            var prefix = PrefixSegments(options.Prefix);
            using var tar = new TarWriter(output, leaveOpen: true);
            long done = 0;
            var inside = await WritePrefixAsync(tar, prefix, cancellationToken).ConfigureAwait(false);
            await WriteChildrenAsync(tar, root, inside, options, cancellationToken, n => progress?.Report(done += n)).ConfigureAwait(false);
            await tar.FinishAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Writes the reproducible tar of one file, as <c>&lt;prefix&gt;/&lt;file name&gt;</c>, into <paramref name="output"/>.</summary>
        public static async Task WriteFileTarAsync(string file, Stream output, LayerBuildOptions? options = null, IProgress<long>? progress = null,
            CancellationToken cancellationToken = default)
        {
            options ??= new LayerBuildOptions();
            var info = new FileInfo(Path.GetFullPath(file));
            if (!info.Exists) throw new FileNotFoundException($"The file '{info.FullName}' does not exist.", info.FullName);
            var prefix = PrefixSegments(options.Prefix);
            using var tar = new TarWriter(output, leaveOpen: true);
            var inside = await WritePrefixAsync(tar, prefix, cancellationToken).ConfigureAwait(false);
            using (var data = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan))
            {
                var entry = new TarEntry
                {
                    Name = inside + info.Name,
                    Type = TarEntryType.RegularFile,
                    Mode = ModeOf(info.FullName) ?? DefaultFileMode,
                    Size = data.Length,
                    ModificationTime = options.PreserveTimestamps ? ToUnixSeconds(info.LastWriteTimeUtc) : 0,
                };
                await tar.WriteEntryAsync(entry, data, progress, cancellationToken).ConfigureAwait(false);
            }
            await tar.FinishAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>The folders of a prefix, outermost first; empty for the root.</summary>
        private static IReadOnlyList<string> PrefixSegments(string? prefix)
        {
            if (string.IsNullOrEmpty(prefix)) return Array.Empty<string>();
            var segments = prefix!.Replace('\\', '/').Split(new[] { '/' }, StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToList();
            foreach (var p in segments)
            {
                if (p == "..") throw new ArgumentException($"The prefix '{prefix}' has '..'; give the folder inside the image, such as /app.", nameof(prefix));
                if (p.IndexOf('\0') >= 0) throw new ArgumentException("The prefix has a NUL character.", nameof(prefix));
            }
            return segments;
        }

        /// <summary>The normalized form of a prefix: <c>/</c> or <c>/a/b</c>.</summary>
        internal static string NormalizePrefix(string? prefix) => "/" + string.Join("/", PrefixSegments(prefix));

        /// <summary>Writes the folders of the prefix and returns the entry-name prefix under them (<c>app/</c>, or empty).</summary>
        private static async Task<string> WritePrefixAsync(TarWriter tar, IReadOnlyList<string> segments, CancellationToken cancellationToken)
        {
            var inside = string.Empty;
            foreach (var segment in segments)
            {
                inside += segment + "/";
                var entry = new TarEntry { Name = inside, Type = TarEntryType.Directory, Mode = DefaultDirectoryMode, ModificationTime = 0 };
                await tar.WriteEntryAsync(entry, null, null, cancellationToken).ConfigureAwait(false);
            }
            return inside;
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
                var target = (child.Attributes & FileAttributes.ReparsePoint) != 0 ? LinkTargetOf(child) : null;
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
        /// Makes a compressed layer from a directory (its reproducible tar, under <see cref="LayerBuildOptions.Prefix"/>), a tar
        /// archive (plain: compressed; gzip: used as it is; zstd: recompressed as gzip), or any other file (a layer holding just
        /// that file, under the prefix). A tar archive's entries are checked: names that escape are refused. Throws
        /// <see cref="LayerSourceException"/> for a file named like a tar archive that is not one, or a damaged archive. The
        /// caller disposes the result, which deletes its temporary file.
        /// </summary>
        public static async Task<BuiltLayer> BuildAsync(string path, LayerBuildOptions? options = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            options ??= new LayerBuildOptions();
            var full = Path.GetFullPath(path);
            var target = NormalizePrefix(options.Prefix);
            if (Directory.Exists(full))
                return await CompressToTemporaryAsync(full, LayerSourceKind.Directory, target, options, (s, ct) => WriteDirectoryTarAsync(full, s, options, progress, ct), cancellationToken).ConfigureAwait(false);
            if (!File.Exists(full)) throw new FileNotFoundException($"'{full}' is neither a folder nor a file.", full);

            var (isArchive, kind) = await ClassifyAsync(full, cancellationToken).ConfigureAwait(false);
            if (!isArchive)
                return await CompressToTemporaryAsync(full, LayerSourceKind.File, target, options, (s, ct) => WriteFileTarAsync(full, s, options, progress, ct), cancellationToken).ConfigureAwait(false);
            if (target != "/")
                throw new ArgumentException($"'{full}' is a tar archive, whose entries name their own places in the image; a prefix applies only to folders and plain files.", nameof(options));

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
                return new BuiltLayer(full, LayerSourceKind.TarArchive, "/", full, false, raw.Finish(), raw.BytesRead, content.Finish());
            }

            using (var check = kind == LayerCompressionKind.None
                ? (Stream)new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous)
                : LayerCompression.Decompress(File.OpenRead(full), kind))
            {
                await CheckLayerTarAsync(check, full, cancellationToken).ConfigureAwait(false);
            }
            return await CompressToTemporaryAsync(full, LayerSourceKind.TarArchive, "/", options, async (s, ct) =>
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

        private static readonly string[] ArchiveExtensions = { ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".tzst" };

        /// <summary>Whether a file is a tar archive (by content), and its compression; throws for an archive name on other content.</summary>
        private static async Task<(bool IsArchive, LayerCompressionKind Kind)> ClassifyAsync(string full, CancellationToken cancellationToken)
        {
            var head = new byte[TarBlock];
            int n;
            using (var probe = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.Asynchronous))
                n = await ReadFullyAsync(probe, head, cancellationToken).ConfigureAwait(false);
            var kind = LayerCompression.Detect(head, n);
            string what;
            if (kind == LayerCompressionKind.None)
            {
                if (IsTarHeader(head, n)) return (true, kind);
                // A block of zeros is an empty archive, or just zeros: only the name can tell.
                if (IsZeroBlock(head, n)) return (NamedLikeArchive(full), kind);
                what = n == 0 ? "an empty file" : "not a tar archive: its first 512 bytes are not a tar header";
            }
            else
            {
                var name = kind == LayerCompressionKind.Gzip ? "gzip" : "zstd";
                var inner = new byte[TarBlock];
                int m;
                try
                {
                    using var decompressed = LayerCompression.Decompress(new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous), kind);
                    m = await ReadFullyAsync(decompressed, inner, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!(e is OperationCanceledException))
                {
                    if (NamedLikeArchive(full))
                        throw NotAnArchive(full, $"{name}-compressed data that cannot be decompressed ({e.Message})", e);
                    return (false, kind);
                }
                if (IsTarHeader(inner, m) || IsZeroBlock(inner, m)) return (true, kind);
                what = $"{name}-compressed data that is not a tar archive";
            }
            if (NamedLikeArchive(full)) throw NotAnArchive(full, what, null);
            return (false, kind);
        }

        private static LayerSourceException NotAnArchive(string full, string what, Exception? inner) =>
            new LayerSourceException(RegistryErrorKind.InvalidRequest,
                $"'{full}' is named like a tar archive, but it is {what}. A layer is made from a folder, a tar archive (.tar, .tar.gz, .tgz, .tar.zst), "
                + "or any other file, which becomes the layer's only file (give it a name that does not end like an archive's).", full, null, inner);

        private static bool NamedLikeArchive(string path) =>
            ArchiveExtensions.Any(x => path.EndsWith(x, StringComparison.OrdinalIgnoreCase));

        private const int TarBlock = 512;

        private static bool IsZeroBlock(byte[] block, int count) => count == TarBlock && block.All(b => b == 0);

        /// <summary>A 512-byte block whose checksum field matches its bytes (ustar, GNU and v7 headers all have one).</summary>
        internal static bool IsTarHeader(byte[] block, int count)
        {
            if (count < TarBlock) return false;
            int i = 148, end = 156;
            while (i < end && block[i] == (byte)' ') i++;
            long stored = 0;
            int digits = 0;
            for (; i < end && block[i] >= (byte)'0' && block[i] <= (byte)'7'; i++, digits++) stored = stored * 8 + (block[i] - '0');
            if (digits == 0) return false;
            for (; i < end; i++) if (block[i] != 0 && block[i] != (byte)' ') return false;
            long unsigned = 0, signed = 0;
            for (int k = 0; k < TarBlock; k++)
            {
                byte b = k >= 148 && k < 156 ? (byte)' ' : block[k];
                unsigned += b;
                signed += (sbyte)b;
            }
            return stored == unsigned || stored == signed;
        }

        private static async Task<int> ReadFullyAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
        {
            int count = 0;
            while (count < buffer.Length)
            {
                int n = await stream.ReadAsync(buffer, count, buffer.Length - count, cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                count += n;
            }
            return count;
        }

        private static async Task<BuiltLayer> CompressToTemporaryAsync(string source, LayerSourceKind kind, string target, LayerBuildOptions options,
            Func<Stream, CancellationToken, Task> writeTar, CancellationToken cancellationToken)
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
                return new BuiltLayer(source, kind, target, temp, true, blob, size, diff);
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
                throw new LayerSourceException(e.Kind, $"Layer '{source}': {e.Message}", source, e.EntryName, e);
            }
        }

        private static async Task DrainAsync(Stream stream, CancellationToken cancellationToken)
        {
            var buffer = new byte[81920];
            while (await stream.ReadAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false) > 0) { }
        }

        /// <summary>
        /// Where a reparse point leads, to store it as a symbolic link: never followed, so a link out of the folder packs
        /// nothing from outside it and a link to its own parent cannot recurse. Null for a reparse point that is no link (a
        /// cloud placeholder, say, on .NET), which is then read as the file or folder it is. .NET Framework (Windows
        /// PowerShell 5.1) has no <c>LinkTarget</c> and no way to read a target without calling Windows itself, and would
        /// walk into a symbolic link or junction as into a folder: refused there, with what to do instead.
        /// </summary>
        private static string? LinkTargetOf(FileSystemInfo child)
        {
            if (LinkTarget == null)
                throw new LayerSourceException(RegistryErrorKind.InvalidRequest,
                    $"'{child.FullName}' is a symbolic link, junction or other reparse point, and this runtime ({RuntimeInformation.FrameworkDescription}) "
                    + "cannot read where it points, so it is neither followed nor stored. Build the layer in PowerShell 7, or replace the link by a copy of what it points to.",
                    child.FullName);
            return LinkTarget.GetValue(child) as string;
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
