using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
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

        /// <summary>Keep the files' modification times in layers made from directories (the layer is then not reproducible).</summary>
        public bool PreserveTimestamps { get; set; }

        /// <summary>The image to take from a multi-platform base; the current OS and architecture when null. Also the platform of a scratch image.</summary>
        public Platform? Platform { get; set; }

        /// <summary>
        /// The time written into the config's <c>created</c> and the new history entries. Null: the Unix epoch, which keeps the
        /// result reproducible (the same base and content give the same digest), as reproducible-build tools do.
        /// </summary>
        public DateTimeOffset? Created { get; set; }

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
    /// Builds a new image from a base image (or from nothing: <c>scratch</c>) plus layers made from directories or tar files, and
    /// pushes it (the seed's <c>add_layer</c>): the engine of Add-ImageLayer.
    /// </summary>
    /// <remarks>
    /// The config is edited as a JSON tree: fields this client does not know are kept with their values (only
    /// <c>rootfs.diff_ids</c>, <c>history</c>, <c>created</c> and the options given change). The manifest has the base's kind
    /// (Docker schema2 or OCI; OCI for scratch) and the base's layer descriptors unchanged. Base layers are mounted when the base
    /// is in the same registry, streamed otherwise; blobs already at the destination are skipped. New layers are compressed to
    /// temporary files first (the source folder may change; the digest must be known before the upload), deleted afterwards.
    /// </remarks>
    public sealed class ImageLayerAdder
    {
        private static readonly JsonSerializerOptions ConfigJson = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
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
        /// (a directory, or a tar file: plain, gzip or zstd), and pushes it to <paramref name="destination"/> (tag <c>latest</c> when
        /// it has none). Progress reports each blob's upload.
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

            ImageSource? source = IsScratch(baseImage) ? null
                : await ImageSource.ResolveAsync(_clients(baseImage!), baseImage!, options.Platform, cancellationToken).ConfigureAwait(false);

            var built = new List<BuiltLayer>();
            try
            {
                var buildOptions = new LayerBuildOptions { PreserveTimestamps = options.PreserveTimestamps, TemporaryDirectory = options.TemporaryDirectory };
                foreach (var p in sources)
                {
                    built.Add(await LayerBuilder.BuildAsync(p, buildOptions, null, cancellationToken).ConfigureAwait(false));
                }

                bool oci = source == null || source.Manifest.MediaType == MediaTypes.OciManifest;
                var layerMediaType = oci ? MediaTypes.OciLayerGzip : MediaTypes.DockerLayerGzip;
                var config = EditConfig(source?.Config, built, sources, options);
                var configDigest = Digest.Compute(config);

                var client = _clients(destination);
                var repo = destination.Repository;
                if (source != null)
                {
                    bool sameRegistry = string.Equals(source.Client.Endpoint.Registry, client.Endpoint.Registry, StringComparison.OrdinalIgnoreCase);
                    foreach (var d in source.Manifest.Layers)
                    {
                        if (d.Urls != null && d.Urls.Count > 0) continue; // foreign layers stay where they are
                        using var lazy = new LazyReadStream(ct => source.Client.Blobs.OpenReadAsync(source.Repository, d.Digest, d.Size, ct));
                        var result = await client.Blobs.UploadAsync(repo, lazy, new BlobUploadOptions
                        {
                            Digest = d.Digest, Length = d.Size, MediaType = d.MediaType,
                            MountFrom = sameRegistry && source.Repository != repo ? source.Repository : null,
                        }, Report(progress, d.Digest, d.Size), cancellationToken).ConfigureAwait(false);
                        progress?.Report(new TransferProgress(d.Digest, result.Outcome.ToString(), d.Size, d.Size, true));
                    }
                }
                var added = new List<Descriptor>();
                foreach (var layer in built)
                {
                    using var file = new FileStream(layer.BlobPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.Asynchronous);
                    var result = await client.Blobs.UploadAsync(repo, file, new BlobUploadOptions
                    {
                        Digest = layer.Digest, Length = layer.Size, MediaType = layerMediaType, Monolithic = true,
                    }, Report(progress, layer.Digest, layer.Size), cancellationToken).ConfigureAwait(false);
                    progress?.Report(new TransferProgress(layer.Digest, result.Outcome.ToString(), layer.Size, layer.Size, true));
                    added.Add(new Descriptor(layerMediaType, layer.Digest, layer.Size));
                }
                var configMediaType = oci ? MediaTypes.OciConfig : MediaTypes.DockerContainerConfig;
                using (var stream = new MemoryStream(config, writable: false))
                {
                    await client.Blobs.UploadAsync(repo, stream, new BlobUploadOptions { Digest = configDigest, Length = config.Length, Monolithic = true, MediaType = configMediaType },
                        null, cancellationToken).ConfigureAwait(false);
                }
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

        /// <summary>The new config: the base's JSON tree (all fields kept) with layers, history and the options applied.</summary>
        internal static byte[] EditConfig(byte[]? baseConfig, IReadOnlyList<BuiltLayer> layers, IReadOnlyList<string> sources, ImageLayerOptions options)
        {
            JsonObject root;
            if (baseConfig != null)
            {
                root = JsonNode.Parse(baseConfig) as JsonObject ?? throw new RegistryException(RegistryErrorKind.Protocol, "The base image's config is not a JSON object.");
            }
            else
            {
                var platform = options.Platform ?? Platform.Current;
                root = new JsonObject { ["architecture"] = platform.Architecture, ["os"] = platform.OS };
                if (platform.Variant != null) root["variant"] = platform.Variant;
                root["config"] = new JsonObject();
            }
            var created = (options.Created ?? DateTimeOffset.FromUnixTimeSeconds(0)).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            root["created"] = created;

            var rootfs = root["rootfs"] as JsonObject;
            if (rootfs == null) root["rootfs"] = rootfs = new JsonObject { ["type"] = "layers" };
            var diffIds = rootfs["diff_ids"] as JsonArray;
            if (diffIds == null) rootfs["diff_ids"] = diffIds = new JsonArray();
            var history = root["history"] as JsonArray;
            if (history == null) root["history"] = history = new JsonArray();
            for (int i = 0; i < layers.Count; i++)
            {
                diffIds.Add(layers[i].DiffId.ToString());
                var what = Directory.Exists(sources[i]) ? "directory" : "tar";
                history.Add(new JsonObject
                {
                    ["created"] = created,
                    ["created_by"] = $"Add-ImageLayer {what} {Path.GetFileName(sources[i].TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar))} ({layers[i].DiffId.Short})",
                    ["comment"] = "MobyDistribution",
                });
            }

            bool anyConfig = options.Labels != null || options.Environment != null || options.Entrypoint != null || options.Command != null || options.WorkingDirectory != null;
            if (anyConfig)
            {
                var config = root["config"] as JsonObject;
                if (config == null) root["config"] = config = new JsonObject();
                if (options.Labels != null && options.Labels.Count > 0)
                {
                    var labels = config["Labels"] as JsonObject;
                    if (labels == null) config["Labels"] = labels = new JsonObject();
                    foreach (var kv in options.Labels) labels[kv.Key] = kv.Value;
                }
                if (options.Environment != null && options.Environment.Count > 0)
                {
                    var env = config["Env"] as JsonArray;
                    if (env == null) config["Env"] = env = new JsonArray();
                    foreach (var e in options.Environment)
                    {
                        var name = e.Substring(0, e.IndexOf('=') + 1);
                        var existing = env.Select((n, i) => (n, i)).FirstOrDefault(x => x.n is JsonValue v && v.TryGetValue<string>(out var s) && s.StartsWith(name, StringComparison.Ordinal));
                        if (existing.n != null) env[existing.i] = e;
                        else env.Add(e);
                    }
                }
                if (options.Entrypoint != null) config["Entrypoint"] = new JsonArray(options.Entrypoint.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
                if (options.Command != null) config["Cmd"] = new JsonArray(options.Command.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
                if (options.WorkingDirectory != null) config["WorkingDir"] = options.WorkingDirectory;
            }
            return JsonSerializer.SerializeToUtf8Bytes(root, ConfigJson);
        }

        /// <summary>Opens its source on first read, so that a blob the registry already has (or mounts) is never fetched.</summary>
        private sealed class LazyReadStream : ReadOnlyStream
        {
            private readonly Func<CancellationToken, Task<Stream>> _open;
            private Stream? _inner;

            public LazyReadStream(Func<CancellationToken, Task<Stream>> open) => _open = open;

            public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                _inner ??= await _open(cancellationToken).ConfigureAwait(false);
                return await _inner.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            }


            protected override void Dispose(bool disposing)
            {
                if (disposing) _inner?.Dispose();
                base.Dispose(disposing);
            }
        }
    }
}
