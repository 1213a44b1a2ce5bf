using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Formats;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

using MobyDistribution.IO;

namespace MobyDistribution.Operations
{
    /// <summary>Options of adding layers to an image.</summary>
    public sealed class ImageLayerOptions
    {
        /// <summary>Labels to set (added to, or replacing, the base image's).</summary>
        public IDictionary<string, string>? Labels { get; set; }

        /// <summary>Environment variables to set, as <c>NAME=value</c> (replacing a base variable of the same name).</summary>
        public IList<string>? Environment { get; set; }

        /// <summary>The entrypoint, replacing the base image's.</summary>
        public IList<string>? Entrypoint { get; set; }

        /// <summary>The command, replacing the base image's.</summary>
        public IList<string>? Command { get; set; }

        /// <summary>The working directory.</summary>
        public string? WorkingDirectory { get; set; }

        /// <summary>Keep the files' modification times in layers made from directories and plain files (the layer is then not reproducible).</summary>
        public bool PreserveTimestamps { get; set; }

        /// <summary>
        /// The folder inside the image that directories' content and plain files go into, such as <c>/app</c> (a file
        /// <c>run.sh</c> lands at <c>/app/run.sh</c>, a directory's <c>bin/x</c> at <c>/app/bin/x</c>); the root when null. Tar
        /// archives name their own places: a prefix with a tar archive is refused.
        /// </summary>
        public string? Prefix { get; set; }

        /// <summary>The image to take from a multi-platform base; the current OS and architecture when null. Also the platform of a scratch image.</summary>
        public Platform? Platform { get; set; }

        /// <summary>
        /// The time written into the config's <c>created</c> and the new history entries. Null: the time
        /// <see cref="SourceDateEpoch"/> gives, else the base image's <c>created</c> (kept byte for byte), else the Unix epoch.
        /// Each of these keeps the result reproducible: the same base and content give the same digest.
        /// </summary>
        public DateTimeOffset? Created { get; set; }

        /// <summary>
        /// The <c>SOURCE_DATE_EPOCH</c> of reproducible builds (reproducible-builds.org): whole seconds since 1970-01-01 UTC, used
        /// as <see cref="Created"/> when that is null, ahead of the base's time. Defaults to the environment variable of that
        /// name when these options are made; null or empty for none. Anything but digits is refused.
        /// </summary>
        public string? SourceDateEpoch { get; set; } = System.Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");

        /// <summary>
        /// The <c>created_by</c> text of the new history entries; null for a neutral description of each layer, such as
        /// <c>ADD dir:app in /srv</c>, <c>ADD file:run.sh in /</c> or <c>ADD tar:rootfs.tar in /</c>.
        /// </summary>
        public string? CreatedBy { get; set; }

        /// <summary>Where temporary compressed layers go; the system's temporary folder when null.</summary>
        public string? TemporaryDirectory { get; set; }
    }

    /// <summary>The image an add-layer pushed.</summary>
    public sealed class ImageLayerResult
    {
        internal ImageLayerResult(ImageReference reference, Descriptor descriptor, Digest configDigest, IReadOnlyList<Descriptor> addedLayers, IReadOnlyList<Digest> addedDiffIds)
        {
            Reference = reference;
            Descriptor = descriptor;
            ConfigDigest = configDigest;
            AddedLayers = addedLayers;
            AddedDiffIds = addedDiffIds;
        }

        /// <summary>The destination, with the new manifest's digest.</summary>
        public ImageReference Reference { get; }

        /// <summary>The new manifest's descriptor.</summary>
        public Descriptor Descriptor { get; }

        public Digest ConfigDigest { get; }

        /// <summary>The new layer blobs, in order.</summary>
        public IReadOnlyList<Descriptor> AddedLayers { get; }

        /// <summary>The new layers' uncompressed digests (appended to <c>rootfs.diff_ids</c>).</summary>
        public IReadOnlyList<Digest> AddedDiffIds { get; }
    }

    /// <summary>
    /// Builds a new image from a base image (or from nothing: <c>scratch</c>) plus layers made from directories or files, and
    /// pushes it (the seed's <c>add_layer</c>): the engine of Add-ImageLayer.
    /// </summary>
    /// <remarks>
    /// The config is edited with <see cref="ImageConfig"/>: only <c>rootfs.diff_ids</c>, <c>history</c>, <c>created</c> (when it
    /// differs from the base's) and the options given change; every other field keeps its bytes. The manifest has the base's kind
    /// (Docker schema2 or OCI; OCI for scratch) and the base's layer descriptors unchanged. Base layers are mounted when the base
    /// is in the same registry, streamed otherwise; blobs already at the destination are skipped. New layers are compressed to
    /// temporary files first (the source folder may change; the digest must be known before the upload), deleted afterwards.
    /// </remarks>
    public sealed class ImageLayerAdder
    {
        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>An adder using the clients (sessions) of <paramref name="connections"/>.</summary>
        public ImageLayerAdder(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>An adder using the client <paramref name="clients"/> gives for each reference.</summary>
        public ImageLayerAdder(Func<ImageReference, RegistryClient> clients) => _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>True for docker's reserved empty base image name, <c>scratch</c>.</summary>
        public static bool IsScratch(ImageReference? reference) =>
            reference == null || (reference.Registry == ImageReference.DockerHubRegistry && reference.Repository == "library/scratch");

        /// <summary>
        /// Makes the image <paramref name="baseImage"/> (null or <c>scratch</c>: none) + one layer per entry of <paramref name="paths"/>
        /// (a directory, a tar archive: plain, gzip or zstd, or any other file; see <see cref="LayerBuilder.BuildAsync"/>), and pushes
        /// it to <paramref name="destination"/> (tag <c>latest</c> when it has none). Progress reports each blob's upload.
        /// </summary>
        public async Task<ImageLayerResult> AddLayersAsync(ImageReference? baseImage, IEnumerable<string> paths, ImageReference destination,
            ImageLayerOptions? options = null, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            if (paths == null) throw new ArgumentNullException(nameof(paths));
            if (destination == null) throw new ArgumentNullException(nameof(destination));
            if (destination.Digest is not null) throw new ArgumentException($"Give the destination a tag, not a digest ({destination}).", nameof(destination));
            options ??= new ImageLayerOptions();
            var sources = paths.Select(p => Path.GetFullPath(p)).ToList();
            foreach (var p in sources)
                if (!Directory.Exists(p) && !File.Exists(p)) throw new FileNotFoundException($"'{p}' is neither a folder nor a file.", p);
            if (options.Environment != null)
                foreach (var e in options.Environment)
                    if (string.IsNullOrEmpty(e) || e.IndexOf('=') <= 0) throw new ArgumentException($"Environment entry '{e}' is not NAME=value.", nameof(options));
            var sourceDateEpoch = ParseSourceDateEpoch(options.SourceDateEpoch);

            ImageSource? source = IsScratch(baseImage) ? null
                : await ImageSource.ResolveAsync(_clients(baseImage!), baseImage!, options.Platform, cancellationToken).ConfigureAwait(false);

            var built = new List<BuiltLayer>();
            try
            {
                var buildOptions = new LayerBuildOptions { PreserveTimestamps = options.PreserveTimestamps, TemporaryDirectory = options.TemporaryDirectory, Prefix = options.Prefix };
                foreach (var p in sources)
                {
                    built.Add(await LayerBuilder.BuildAsync(p, buildOptions, null, cancellationToken).ConfigureAwait(false));
                }

                bool oci = source == null || source.Manifest.MediaType == MediaTypes.OciManifest;
                var layerMediaType = oci ? MediaTypes.OciLayerGzip : MediaTypes.DockerLayerGzip;
                var edited = EditConfig(source?.Config, built, options, sourceDateEpoch);
                var config = edited.Bytes;
                var configDigest = edited.Digest;

                var client = _clients(destination);
                var repo = destination.Repository;
                if (source != null)
                {
                    // The base's layers, several at a time: skipped, mounted or streamed by the one engine.
                    using var throttle = new SemaphoreSlim(ImageCopyOptions.DefaultThrottleLimit);
                    await Task.WhenAll(source.Manifest.Layers.Where(d => d.Urls == null || d.Urls.Count == 0).Select(async d => // foreign layers stay where they are
                    {
                        await throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
                        try
                        {
                            var result = await BlobTransfer.CopyAsync(source.Client, source.Repository, d, client, repo, null,
                                Report(progress, d.Digest, d.Size), cancellationToken).ConfigureAwait(false);
                            progress?.Report(new TransferProgress(d.Digest, result.Outcome.ToString(), d.Size, d.Size, true));
                        }
                        finally
                        {
                            throttle.Release();
                        }
                    })).ConfigureAwait(false);
                }
                var added = new List<Descriptor>();
                foreach (var layer in built)
                {
                    var descriptor = new Descriptor(layerMediaType, layer.Digest, layer.Size);
                    var path = layer.BlobPath;
                    var result = await BlobTransfer.PushAsync(
                        _ => Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.Asynchronous)),
                        descriptor, client, repo, null, Report(progress, layer.Digest, layer.Size), cancellationToken).ConfigureAwait(false);
                    progress?.Report(new TransferProgress(layer.Digest, result.Outcome.ToString(), layer.Size, layer.Size, true));
                    added.Add(descriptor);
                }
                var configMediaType = oci ? MediaTypes.OciConfig : MediaTypes.DockerContainerConfig;
                await BlobTransfer.PushAsync(_ => Task.FromResult<Stream>(new MemoryStream(config, writable: false)),
                    new Descriptor(configMediaType, configDigest, config.Length), client, repo, null, null, cancellationToken).ConfigureAwait(false);
                var configDescriptor = new Descriptor(configMediaType, configDigest, config.Length);
                var layers = (source?.Manifest.Layers ?? Array.Empty<Descriptor>()).Concat(added).ToList();
                ImageManifest manifest = oci ? OciImageManifest.Create(configDescriptor, layers) : DockerManifestV2.Create(configDescriptor, layers);
                var pushed = await client.Manifests.PutAsync(repo, destination.Tag ?? "latest", manifest, cancellationToken).ConfigureAwait(false);
                return new ImageLayerResult(destination.WithTag(destination.Tag ?? "latest").WithDigest(pushed.Digest), pushed, configDigest, added, built.Select(b => b.DiffId).ToList());
            }
            finally
            {
                foreach (var b in built) b.Dispose();
            }
        }

        private static IProgress<long>? Report(IProgress<TransferProgress>? progress, Digest digest, long size) =>
            progress == null ? null : new ActionProgress(n => progress.Report(new TransferProgress(digest, "Pushing", n, size, false)));

        /// <summary>
        /// The new config: the base's (every field nobody edits kept byte for byte) or a new one for scratch, with the layers,
        /// their history entries and the options applied.
        /// </summary>
        internal static ImageConfig EditConfig(ImageConfig? baseConfig, IReadOnlyList<BuiltLayer> layers, ImageLayerOptions options, DateTimeOffset? sourceDateEpoch)
        {
            var config = baseConfig ?? ImageConfig.Create(options.Platform ?? Platform.Current);
            var created = options.Created ?? sourceDateEpoch ?? baseConfig?.Created ?? DateTimeOffset.FromUnixTimeSeconds(0);
            config = config.WithLayersAppended(layers.Select(l => l.DiffId),
                layers.Select(l => new ImageHistoryEntry(created, options.CreatedBy ?? Describe(l), comment: "MobyDistribution")));
            if (config.Created != created) config = config.WithCreated(created);
            return new ImageConfigChanges
            {
                Labels = options.Labels, Environment = options.Environment, Entrypoint = options.Entrypoint, Command = options.Command,
                WorkingDirectory = options.WorkingDirectory,
            }.Apply(config);
        }

        /// <summary>A history <c>created_by</c> in the style of docker's <c>ADD file:… in /</c>, naming the source's kind and name.</summary>
        private static string Describe(BuiltLayer layer)
        {
            var kind = layer.Kind switch { LayerSourceKind.Directory => "dir", LayerSourceKind.TarArchive => "tar", _ => "file" };
            var name = Path.GetFileName(layer.Source.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
            return $"ADD {kind}:{name} in {layer.Target}";
        }

        /// <summary>The time a <c>SOURCE_DATE_EPOCH</c> value names; null when it is null or empty.</summary>
        internal static DateTimeOffset? ParseSourceDateEpoch(string? value)
        {
            if (string.IsNullOrEmpty(value)) return null;
            if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 253402300799)
                throw new ArgumentException($"SOURCE_DATE_EPOCH is '{value}', not a whole number of seconds since 1970-01-01 UTC.", nameof(value));
            return DateTimeOffset.FromUnixTimeSeconds(seconds);
        }
    }
}
