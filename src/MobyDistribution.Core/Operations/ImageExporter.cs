using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Formats;
using MobyDistribution.IO;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>What an export writes.</summary>
    public enum ImageExportFormat
    {
        /// <summary>A <c>docker save</c> tar (Docker image spec v1.2) that <c>docker load</c> reads; layers uncompressed.</summary>
        DockerArchive,

        /// <summary>
        /// An OCI image layout with the blobs as the registry has them: a directory, or a tar when the path ends with <c>.tar</c>.
        /// </summary>
        OciLayout,
    }

    /// <summary>Options of an export.</summary>
    public sealed class ImageExportOptions
    {
        public ImageExportFormat Format { get; set; } = ImageExportFormat.DockerArchive;

        /// <summary>The image to take from a multi-platform index; the current OS and architecture when null (as docker).</summary>
        public Platform? Platform { get; set; }

        /// <summary>Replace an existing file or directory at the path (otherwise that is an error, checked before anything is fetched).</summary>
        public bool Overwrite { get; set; }
    }

    /// <summary>One image written by an export.</summary>
    public sealed class ExportedImage
    {
        internal ExportedImage(ImageReference reference, Descriptor manifest, Digest configDigest, IReadOnlyList<Digest> diffIds, string? repoTag, Platform platform)
        {
            Reference = reference;
            Manifest = manifest;
            ConfigDigest = configDigest;
            DiffIds = diffIds;
            RepoTag = repoTag;
            Platform = platform;
        }

        /// <summary>The reference as asked.</summary>
        public ImageReference Reference { get; }

        /// <summary>The image manifest exported (for an index: the chosen platform's).</summary>
        public Descriptor Manifest { get; }

        /// <summary>The config's digest: docker's image ID.</summary>
        public Digest ConfigDigest { get; }

        /// <summary>The layers' uncompressed digests, as checked.</summary>
        public IReadOnlyList<Digest> DiffIds { get; }

        /// <summary>The tag recorded in the archive (<c>ubuntu:22.04</c>), or null for a reference by digest alone.</summary>
        public string? RepoTag { get; }

        public Platform Platform { get; }
    }

    /// <summary>The result of an export.</summary>
    public sealed class ImageExportResult
    {
        internal ImageExportResult(string path, ImageExportFormat format, IReadOnlyList<ExportedImage> images, long bytesWritten)
        {
            Path = path;
            Format = format;
            Images = images;
            BytesWritten = bytesWritten;
        }

        /// <summary>The full path written.</summary>
        public string Path { get; }

        public ImageExportFormat Format { get; }

        public IReadOnlyList<ExportedImage> Images { get; }

        /// <summary>Bytes of the archive (a tar) or of the blobs written (a layout directory).</summary>
        public long BytesWritten { get; }
    }

    /// <summary>
    /// Exports images from registries to a <c>docker save</c> tar or an OCI layout (the seed's <c>ImageRef.save</c>): the engine of
    /// Export-DockerImage. Blobs stream from the registry through digest-verifying streams (gzip and zstd layers are decompressed on
    /// the way for a docker archive, and checked against the config's <c>diff_ids</c>); nothing is buffered whole. The output is
    /// written to a temporary name beside the path and renamed at the end: a failure or cancellation leaves nothing there.
    /// </summary>
    public sealed class ImageExporter
    {
        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>An exporter using the clients (sessions) of <paramref name="connections"/>.</summary>
        public ImageExporter(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>An exporter using the client <paramref name="clients"/> gives for each reference.</summary>
        public ImageExporter(Func<ImageReference, RegistryClient> clients) => _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>
        /// Exports <paramref name="references"/> (several images go into one archive; layers they share are stored once) to
        /// <paramref name="path"/>. Progress is reported per blob in compressed bytes fetched.
        /// </summary>
        public async Task<ImageExportResult> ExportAsync(IEnumerable<ImageReference> references, string path, ImageExportOptions? options = null,
            IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            if (references == null) throw new ArgumentNullException(nameof(references));
            if (string.IsNullOrEmpty(path)) throw new ArgumentException("A path is required.", nameof(path));
            options ??= new ImageExportOptions();
            var refs = references.ToList();
            if (refs.Count == 0) throw new ArgumentException("No image to export.", nameof(references));
            var full = Path.GetFullPath(path);
            bool ociTar = options.Format == ImageExportFormat.OciLayout && full.EndsWith(".tar", StringComparison.OrdinalIgnoreCase);
            bool toDirectory = options.Format == ImageExportFormat.OciLayout && !ociTar;
            if (!options.Overwrite && (File.Exists(full) || Directory.Exists(full)))
                throw new IOException($"'{full}' exists already, and overwriting it was not asked for.");
            if (!toDirectory && Directory.Exists(full)) throw new IOException($"'{full}' is a directory.");
            if (toDirectory && File.Exists(full)) throw new IOException($"'{full}' is a file; an OCI layout directory was asked for.");

            // Everything is resolved first: a missing image or platform fails before a byte is written.
            var sources = new List<ImageSource>();
            foreach (var r in refs)
                sources.Add(await ImageSource.ResolveAsync(_clients(r), r, options.Platform, cancellationToken).ConfigureAwait(false));

            if (options.Format == ImageExportFormat.DockerArchive)
            {
                using var file = AtomicFile.Create(full, options.Overwrite);
                var images = await WriteDockerArchiveAsync(file.Stream, sources, progress, cancellationToken).ConfigureAwait(false);
                long size = file.Stream.Length;
                file.Commit();
                return new ImageExportResult(full, options.Format, images, size);
            }
            if (ociTar)
            {
                using var file = AtomicFile.Create(full, options.Overwrite);
                List<ExportedImage> images;
                using (var layout = OciLayoutWriter.ToTar(file.Stream, leaveOpen: true))
                    images = await WriteOciLayoutAsync(layout, sources, progress, cancellationToken).ConfigureAwait(false);
                long size = file.Stream.Length;
                file.Commit();
                return new ImageExportResult(full, options.Format, images, size);
            }
            return await WriteOciDirectoryAsync(full, sources, options.Overwrite, progress, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Exports one image.</summary>
        public Task<ImageExportResult> ExportAsync(ImageReference reference, string path, ImageExportOptions? options = null,
            IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default) =>
            ExportAsync(new[] { reference ?? throw new ArgumentNullException(nameof(reference)) }, path, options, progress, cancellationToken);

        private static async Task<List<ExportedImage>> WriteDockerArchiveAsync(Stream output, List<ImageSource> sources, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            var result = new List<ExportedImage>();
            using var writer = new DockerArchiveWriter(output, leaveOpen: true);
            foreach (var source in sources)
            {
                var tag = RepoTag(source.Reference);
                var layers = source.Manifest.Layers;
                var diffIds = source.Config.DiffIds;
                if (diffIds.Count != layers.Count)
                    throw new RegistryException(RegistryErrorKind.Protocol, $"{source.Reference} has {layers.Count} layers but its config has {diffIds.Count} diff_ids.");
                var entry = await writer.AddImageAsync(source.Config, tag == null ? Array.Empty<string>() : new[] { tag }, async (i, ct) =>
                {
                    var d = layers[i];
                    var kind = LayerCompression.FromMediaType(d.MediaType);
                    if (kind == null && !d.MediaType.StartsWith("application/vnd.docker.image.rootfs.", StringComparison.Ordinal))
                        throw new RegistryException(RegistryErrorKind.Unsupported, $"Layer {i} of {source.Reference} has media type {d.MediaType}, which is not a layer a docker archive can hold.");
                    var blob = await source.Client.Blobs.OpenReadAsync(source.Repository, d.Digest, d.Size, ct).ConfigureAwait(false);
                    var counted = new ProgressReadStream(blob, n => progress?.Report(new TransferProgress(d.Digest, "Exporting", n, d.Size, false)));
                    return await LayerStreams.OpenUncompressedAsync(counted, ct).ConfigureAwait(false);
                }, null, cancellationToken).ConfigureAwait(false);
                foreach (var d in layers) progress?.Report(new TransferProgress(d.Digest, "Exporting", d.Size, d.Size, true));
                result.Add(new ExportedImage(source.Reference, source.Manifest.ToDescriptor(), entry.ConfigDigest, entry.DiffIds, tag, source.ConfigPlatform()));
            }
            await writer.FinishAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }

        private static async Task<List<ExportedImage>> WriteOciLayoutAsync(OciLayoutWriter layout, List<ImageSource> sources, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            var result = new List<ExportedImage>();
            foreach (var source in sources)
            {
                foreach (var d in source.Manifest.Layers)
                {
                    if (layout.Contains(d.Digest)) continue;
                    using var blob = await source.Client.Blobs.OpenReadAsync(source.Repository, d.Digest, d.Size, cancellationToken).ConfigureAwait(false);
                    var report = progress == null ? null : new ActionProgress(n => progress.Report(new TransferProgress(d.Digest, "Exporting", n, d.Size, false)));
                    await layout.AddBlobAsync(d.Digest, d.Size, blob, report, cancellationToken).ConfigureAwait(false);
                    progress?.Report(new TransferProgress(d.Digest, "Exporting", d.Size, d.Size, true));
                }
                await layout.AddBlobAsync(source.Config.Bytes, cancellationToken).ConfigureAwait(false);
                var raw = source.Manifest.GetRawBytes();
                await layout.AddBlobAsync(raw, cancellationToken).ConfigureAwait(false);
                var platform = source.ConfigPlatform();
                var descriptor = source.Manifest.ToDescriptor();
                var annotations = new Dictionary<string, string> { [OciLayoutWriter.ImageNameAnnotation] = source.Reference.ToString() };
                if (source.Reference.Tag != null) annotations[OciLayoutWriter.RefNameAnnotation] = source.Reference.Tag;
                layout.AddManifest(new Descriptor(descriptor.MediaType, descriptor.Digest, descriptor.Size) { Platform = platform, Annotations = annotations });
                result.Add(new ExportedImage(source.Reference, descriptor, source.Config.Digest, source.Config.DiffIds, RepoTag(source.Reference), platform));
            }
            await layout.FinishAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }

        private static async Task<ImageExportResult> WriteOciDirectoryAsync(string full, List<ImageSource> sources, bool overwrite, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            var parent = Path.GetDirectoryName(full)!;
            if (!Directory.Exists(parent)) throw new DirectoryNotFoundException($"The folder '{parent}' does not exist.");
            var temp = Path.Combine(parent, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N").Substring(0, 12) + ".partial");
            try
            {
                List<ExportedImage> images;
                using (var layout = OciLayoutWriter.ToDirectory(temp))
                    images = await WriteOciLayoutAsync(layout, sources, progress, cancellationToken).ConfigureAwait(false);
                long size = new DirectoryInfo(temp).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                if (Directory.Exists(full))
                {
                    if (!overwrite) throw new IOException($"'{full}' appeared while it was being written; it was left as it is.");
                    Directory.Delete(full, recursive: true);
                }
                Directory.Move(temp, full);
                return new ImageExportResult(full, ImageExportFormat.OciLayout, images, size);
            }
            catch
            {
                try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
                throw;
            }
        }

        /// <summary>The tag docker records: familiar name and tag (<c>latest</c> when none); none for a reference by digest alone.</summary>
        private static string? RepoTag(ImageReference reference)
        {
            if (reference.Tag == null && reference.Digest is not null) return null;
            return reference.FamiliarName + ":" + (reference.Tag ?? "latest");
        }
    }
}
