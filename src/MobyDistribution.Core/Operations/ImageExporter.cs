using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Formats;
using MobyDistribution.IO;
using MobyDistribution.Manifests;
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

        /// <summary>
        /// Also writes the referrers of each image written (signatures, SBOMs, attestations that name it as their subject, and
        /// their own referrers, recursively) into the layout: their manifests and blobs in <c>blobs/</c>, each manifest listed in
        /// <c>index.json</c> with its artifact type and annotations, as oras keeps referrers in a layout. Only for
        /// <see cref="ImageExportFormat.OciLayout"/>: a docker archive has no place for them (that is an
        /// <see cref="ArgumentException"/>, before anything is written).
        /// </summary>
        public bool IncludeReferrers { get; set; }
    }

    /// <summary>
    /// What an export will write, resolved before a byte is written (<see cref="ImageExporter.PlanAsync"/>): each image by its
    /// manifest, and with <see cref="ImageExportOptions.IncludeReferrers"/> the referrers that go with them.
    /// </summary>
    public sealed class ImageExportPlan
    {
        internal ImageExportPlan(ImageExportOptions options, IReadOnlyList<ImageSource> sources, IReadOnlyList<(ImageReferrer Referrer, RegistryClient Client)> referrers)
        {
            Options = options;
            Sources = sources;
            ReferrerSources = referrers;
            Referrers = referrers.Select(r => r.Referrer).ToList();
        }

        internal IReadOnlyList<ImageSource> Sources { get; }

        /// <summary>Each referrer with the client of the registry it is read from (that of the image it hangs off).</summary>
        internal IReadOnlyList<(ImageReferrer Referrer, RegistryClient Client)> ReferrerSources { get; }

        /// <summary>The options the plan was made with.</summary>
        public ImageExportOptions Options { get; }

        /// <summary>The image manifests to write, one per reference (for an index: the chosen platform's).</summary>
        public IReadOnlyList<Descriptor> Manifests => Sources.Select(s => s.Manifest.ToDescriptor()).ToList();

        /// <summary>
        /// The referrers to write, each once, a subject before its referrers; empty without
        /// <see cref="ImageExportOptions.IncludeReferrers"/>.
        /// </summary>
        public IReadOnlyList<ImageReferrer> Referrers { get; }
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
        internal ImageExportResult(string path, ImageExportFormat format, IReadOnlyList<ExportedImage> images, IReadOnlyList<ImageReferrer> referrers, long bytesWritten)
        {
            Path = path;
            Format = format;
            Images = images;
            Referrers = referrers;
            BytesWritten = bytesWritten;
        }

        /// <summary>The full path written.</summary>
        public string Path { get; }

        public ImageExportFormat Format { get; }

        public IReadOnlyList<ExportedImage> Images { get; }

        /// <summary>The referrers written into the layout (empty without <see cref="ImageExportOptions.IncludeReferrers"/>).</summary>
        public IReadOnlyList<ImageReferrer> Referrers { get; }

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
            options ??= new ImageExportOptions();
            var refs = references.ToList();
            if (refs.Count == 0) throw new ArgumentException("No image to export.", nameof(references));
            CheckOptions(options);
            var full = CheckPath(path, options);
            var plan = await PlanAsync(refs, options, cancellationToken).ConfigureAwait(false);
            return await WriteAsync(plan, full, progress, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Writes what <paramref name="plan"/> resolved to <paramref name="path"/> (the path is checked again: it may have
        /// appeared since).
        /// </summary>
        public Task<ImageExportResult> ExportAsync(ImageExportPlan plan, string path, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            if (plan == null) throw new ArgumentNullException(nameof(plan));
            return WriteAsync(plan, CheckPath(path, plan.Options), progress, cancellationToken);
        }

        /// <summary>
        /// Resolves <paramref name="references"/> (a missing image or platform fails here) and, with
        /// <see cref="ImageExportOptions.IncludeReferrers"/>, finds the referrers of each image manifest, recursively. The
        /// referrers of an index stay behind: only the chosen platform's image is written, so their subject is not in the
        /// layout; buildx attestations live inside that index and stay with it.
        /// </summary>
        public async Task<ImageExportPlan> PlanAsync(IEnumerable<ImageReference> references, ImageExportOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (references == null) throw new ArgumentNullException(nameof(references));
            options ??= new ImageExportOptions();
            CheckOptions(options);
            var sources = new List<ImageSource>();
            foreach (var r in references)
                sources.Add(await ImageSource.ResolveAsync(_clients(r), r, options.Platform, cancellationToken).ConfigureAwait(false));
            if (sources.Count == 0) throw new ArgumentException("No image to export.", nameof(references));

            var referrers = new List<(ImageReferrer, RegistryClient)>();
            if (options.IncludeReferrers)
            {
                var seen = new HashSet<Digest>(sources.Select(s => s.Manifest.Digest));
                foreach (var source in sources)
                {
                    var discovery = new ReferrerDiscovery(_ => source.Client);
                    var subject = source.Reference.WithoutReference().WithDigest(source.Manifest.Digest);
                    var graph = await discovery.FindAsync(subject, new ReferrerQuery { Recurse = true }, cancellationToken).ConfigureAwait(false);
                    // Depth first: a referrer's subject is always before it. Asked by digest, there is no index, so no buildx attestation.
                    foreach (var referrer in graph.Referrers)
                        if (referrer.Kind != ReferrerKind.Attestation && seen.Add(referrer.Digest)) referrers.Add((referrer, source.Client));
                }
            }
            return new ImageExportPlan(options, sources, referrers);
        }

        private static void CheckOptions(ImageExportOptions options)
        {
            if (options.IncludeReferrers && options.Format != ImageExportFormat.OciLayout)
                throw new ArgumentException("Referrers can only be kept in an OCI image layout: a docker archive has no place for them.", nameof(options));
        }

        /// <summary>The full path, refused when something is there (without overwrite) or is of the other kind.</summary>
        private static string CheckPath(string path, ImageExportOptions options)
        {
            if (string.IsNullOrEmpty(path)) throw new ArgumentException("A path is required.", nameof(path));
            var full = Path.GetFullPath(path);
            bool toDirectory = options.Format == ImageExportFormat.OciLayout && !IsTar(full);
            if (!options.Overwrite && (File.Exists(full) || Directory.Exists(full)))
                throw new IOException($"'{full}' exists already, and overwriting it was not asked for.");
            if (!toDirectory && Directory.Exists(full)) throw new IOException($"'{full}' is a directory.");
            if (toDirectory && File.Exists(full)) throw new IOException($"'{full}' is a file; an OCI layout directory was asked for.");
            return full;
        }

        private static bool IsTar(string full) => full.EndsWith(".tar", StringComparison.OrdinalIgnoreCase);

        private async Task<ImageExportResult> WriteAsync(ImageExportPlan plan, string full, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            var options = plan.Options;
            var sources = plan.Sources;
            if (options.Format == ImageExportFormat.DockerArchive)
            {
                using var file = AtomicFile.Create(full, options.Overwrite);
                var images = await WriteDockerArchiveAsync(file.Stream, sources, progress, cancellationToken).ConfigureAwait(false);
                long size = file.Stream.Length;
                file.Commit();
                return new ImageExportResult(full, options.Format, images, plan.Referrers, size);
            }
            if (IsTar(full))
            {
                using var file = AtomicFile.Create(full, options.Overwrite);
                List<ExportedImage> images;
                using (var layout = OciLayoutWriter.ToTar(file.Stream, leaveOpen: true))
                    images = await WriteOciLayoutAsync(layout, plan, progress, cancellationToken).ConfigureAwait(false);
                long size = file.Stream.Length;
                file.Commit();
                return new ImageExportResult(full, options.Format, images, plan.Referrers, size);
            }
            return await WriteOciDirectoryAsync(full, plan, progress, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Exports one image.</summary>
        public Task<ImageExportResult> ExportAsync(ImageReference reference, string path, ImageExportOptions? options = null,
            IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default) =>
            ExportAsync(new[] { reference ?? throw new ArgumentNullException(nameof(reference)) }, path, options, progress, cancellationToken);

        private static async Task<List<ExportedImage>> WriteDockerArchiveAsync(Stream output, IReadOnlyList<ImageSource> sources, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
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

        private static async Task<List<ExportedImage>> WriteOciLayoutAsync(OciLayoutWriter layout, ImageExportPlan plan, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            var result = new List<ExportedImage>();
            foreach (var source in plan.Sources)
            {
                foreach (var d in source.Manifest.Layers)
                    await AddBlobAsync(layout, source.Client, source.Repository, d, progress, cancellationToken).ConfigureAwait(false);
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
            foreach (var (referrer, client) in plan.ReferrerSources)
                await AddReferrerAsync(layout, client, referrer, progress, cancellationToken).ConfigureAwait(false);
            await layout.FinishAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }

        /// <summary>Streams a blob from the registry into the layout (once), verified by its digest and size.</summary>
        private static async Task AddBlobAsync(OciLayoutWriter layout, RegistryClient client, string repository, Descriptor d, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            if (layout.Contains(d.Digest)) return;
            using var blob = await client.Blobs.OpenReadAsync(repository, d.Digest, d.Size, cancellationToken).ConfigureAwait(false);
            var report = progress == null ? null : new ActionProgress(n => progress.Report(new TransferProgress(d.Digest, "Exporting", n, d.Size, false)));
            await layout.AddBlobAsync(d.Digest, d.Size, blob, report, cancellationToken).ConfigureAwait(false);
            progress?.Report(new TransferProgress(d.Digest, "Exporting", d.Size, d.Size, true));
        }

        /// <summary>
        /// Writes a referrer's manifest and what it names into the layout and lists it in <c>index.json</c>, as oras does: media
        /// type, digest, size, artifact type and the manifest's annotations; a name (<c>org.opencontainers.image.ref.name</c>)
        /// only for a cosign tag, which is found by that name.
        /// </summary>
        private static async Task AddReferrerAsync(OciLayoutWriter layout, RegistryClient client, ImageReferrer referrer, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            var repository = referrer.Reference.Repository;
            var manifest = await AddManifestTreeAsync(layout, client, repository, referrer.Descriptor, progress, cancellationToken).ConfigureAwait(false);
            var annotations = manifest.Annotations?.ToDictionary(kv => kv.Key, kv => kv.Value);
            if (referrer.Kind == ReferrerKind.CosignTag && referrer.Tag != null)
                (annotations ??= new Dictionary<string, string>())[OciLayoutWriter.RefNameAnnotation] = referrer.Tag;
            layout.AddManifest(new Descriptor(manifest.MediaType, referrer.Digest, referrer.Size)
            {
                ArtifactType = ReferrerDiscovery.ArtifactTypeOf(manifest),
                Annotations = annotations,
            });
        }

        /// <summary>Writes a manifest, its config and layers, or for an index its manifests, each checked against its digest.</summary>
        private static async Task<Manifest> AddManifestTreeAsync(OciLayoutWriter layout, RegistryClient client, string repository, Descriptor descriptor, IProgress<TransferProgress>? progress, CancellationToken cancellationToken, int depth = 0)
        {
            // An index naming itself through its children would never end; real ones are two levels deep.
            if (depth > ReferrerQuery.DefaultMaxDepth)
                throw new RegistryException(RegistryErrorKind.Protocol, $"{repository}@{descriptor.Digest} nests indexes more than {ReferrerQuery.DefaultMaxDepth} deep.");
            var manifest = await client.Manifests.GetAsync(repository, descriptor.Digest.ToString(), cancellationToken).ConfigureAwait(false);
            var raw = manifest.GetRawBytes();
            var actual = Digest.Compute(raw);
            if (actual != descriptor.Digest || raw.Length != descriptor.Size)
                throw new DigestMismatchException($"Manifest {repository}@{descriptor.Digest} has {raw.Length} bytes hashing to {actual}; expected {descriptor.Size} bytes.", descriptor.Digest, actual);
            switch (manifest)
            {
                case ImageManifest image:
                    foreach (var d in image.Blobs) await AddBlobAsync(layout, client, repository, d, progress, cancellationToken).ConfigureAwait(false);
                    break;
                case ImageIndex index:
                    foreach (var child in index.Manifests)
                        if (!layout.Contains(child.Digest))
                            await AddManifestTreeAsync(layout, client, repository, child, progress, cancellationToken, depth + 1).ConfigureAwait(false);
                    break;
                default:
                    throw new RegistryException(RegistryErrorKind.Unsupported, $"{repository}@{descriptor.Digest} is a {manifest.MediaType}, which an OCI layout cannot hold.");
            }
            await layout.AddBlobAsync(raw, cancellationToken).ConfigureAwait(false);
            return manifest;
        }

        private static async Task<ImageExportResult> WriteOciDirectoryAsync(string full, ImageExportPlan plan, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            bool overwrite = plan.Options.Overwrite;
            var parent = Path.GetDirectoryName(full)!;
            if (!Directory.Exists(parent)) throw new DirectoryNotFoundException($"The folder '{parent}' does not exist.");
            var temp = Path.Combine(parent, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N").Substring(0, 12) + ".partial");
            try
            {
                List<ExportedImage> images;
                using (var layout = OciLayoutWriter.ToDirectory(temp))
                    images = await WriteOciLayoutAsync(layout, plan, progress, cancellationToken).ConfigureAwait(false);
                long size = new DirectoryInfo(temp).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                if (Directory.Exists(full))
                {
                    if (!overwrite) throw new IOException($"'{full}' appeared while it was being written; it was left as it is.");
                    Directory.Delete(full, recursive: true);
                }
                Directory.Move(temp, full);
                return new ImageExportResult(full, ImageExportFormat.OciLayout, images, plan.Referrers, size);
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
