using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>What to change in an image's config and manifest (crane mutate). Every field left null changes nothing.</summary>
    public sealed class ImageConfigChanges
    {
        /// <summary>Labels to set (added, or replacing one of the same name where it stands).</summary>
        public IDictionary<string, string>? Labels { get; set; }

        /// <summary>Labels to remove; a name the config lacks is ignored. A name may not be both set and removed.</summary>
        public IList<string>? RemoveLabels { get; set; }

        /// <summary>Environment variables to set, as <c>NAME=value</c> (a variable of the same name is replaced where it stands).</summary>
        public IList<string>? Environment { get; set; }

        /// <summary>The entrypoint, replacing the config's.</summary>
        public IList<string>? Entrypoint { get; set; }

        /// <summary>The command (<c>Cmd</c>), replacing the config's.</summary>
        public IList<string>? Command { get; set; }

        /// <summary>The working directory.</summary>
        public string? WorkingDirectory { get; set; }

        /// <summary>The user (<c>user</c>, <c>uid</c>, <c>user:group</c> or <c>uid:gid</c>).</summary>
        public string? User { get; set; }

        /// <summary>The config's <c>created</c> time.</summary>
        public DateTimeOffset? Created { get; set; }

        /// <summary>Annotations to merge into each rewritten image manifest (OCI only: Docker schema2 has no annotations).</summary>
        public IDictionary<string, string>? Annotations { get; set; }

        /// <summary>For an index: rewrite only the images of these platforms, leaving the others as they are; null for all.</summary>
        public IReadOnlyList<Platform>? Platforms { get; set; }

        /// <summary>The config with these changes applied; fields not named keep their bytes (see <see cref="ImageConfig"/>).</summary>
        /// <exception cref="ArgumentException">A label is both set and removed, or an environment entry is not <c>NAME=value</c>.</exception>
        public ImageConfig Apply(ImageConfig config)
        {
            if (config == null) throw new ArgumentNullException(nameof(config));
            if (Labels != null && RemoveLabels != null)
            {
                var both = RemoveLabels.Where(n => n != null && Labels.ContainsKey(n)).ToList();
                if (both.Count > 0) throw new ArgumentException($"Label '{both[0]}' is both set and removed.");
            }
            if (RemoveLabels != null && RemoveLabels.Count > 0) config = config.WithoutLabels(RemoveLabels);
            if (Labels != null && Labels.Count > 0) config = config.WithLabels(Labels);
            if (Environment != null && Environment.Count > 0) config = config.WithEnvironment(Environment);
            if (Entrypoint != null) config = config.WithEntrypoint(Entrypoint);
            if (Command != null) config = config.WithCommand(Command);
            if (WorkingDirectory != null) config = config.WithWorkingDirectory(WorkingDirectory);
            if (User != null) config = config.WithUser(User);
            if (Created != null && config.Created != Created) config = config.WithCreated(Created.Value);
            return config;
        }
    }

    /// <summary>One image of a config edit: as it was, and as it will be pushed.</summary>
    public sealed class ImageConfigEdit
    {
        internal ImageConfigEdit(Descriptor? entry, ImageManifest sourceManifest, ImageConfig? sourceConfig, ImageManifest manifest, ImageConfig? config, bool rewritten)
        {
            Entry = entry;
            SourceManifest = sourceManifest;
            SourceConfig = sourceConfig;
            Manifest = manifest;
            Config = config;
            Rewritten = rewritten;
        }

        /// <summary>The image's index entry; null for a single image.</summary>
        public Descriptor? Entry { get; }

        /// <summary>The platform of the index entry (null for a single image or an entry without one).</summary>
        public Platform? Platform => Entry?.Platform;

        /// <summary>The manifest as it is at the source.</summary>
        public ImageManifest SourceManifest { get; }

        /// <summary>The source's config; null for an image that is not rewritten (its config is copied, not read).</summary>
        public ImageConfig? SourceConfig { get; }

        /// <summary>The manifest to push: rewritten, or the source's bytes for an image left as it is.</summary>
        public ImageManifest Manifest { get; }

        /// <summary>The config to push; null for an image that is not rewritten.</summary>
        public ImageConfig? Config { get; }

        /// <summary>True when the image was chosen for the edit (every image, unless platforms were named).</summary>
        public bool Rewritten { get; }

        /// <summary>True when the manifest pushed differs from the source's.</summary>
        public bool Changed => Manifest.Digest != SourceManifest.Digest;
    }

    /// <summary>What a config edit will push: read and computed, nothing written yet.</summary>
    public sealed class ImageConfigEditPlan
    {
        internal ImageConfigEditPlan(ImageReference source, ImageReference destination, Manifest sourceTop, IReadOnlyList<ImageConfigEdit> images,
            IReadOnlyList<Manifest> otherEntries, ImageIndex? index, RegistryClient sourceClient, RegistryClient destinationClient)
        {
            Source = source;
            Destination = destination;
            SourceManifest = sourceTop;
            Images = images;
            OtherEntries = otherEntries;
            Index = index;
            SourceClient = sourceClient;
            DestinationClient = destinationClient;
        }

        /// <summary>The image (or index) edited.</summary>
        public ImageReference Source { get; }

        /// <summary>Where the result goes, with its tag.</summary>
        public ImageReference Destination { get; }

        /// <summary>The manifest or index the source names.</summary>
        public Manifest SourceManifest { get; }

        /// <summary>The images: the one of a single image, or each image entry of an index in its order.</summary>
        public IReadOnlyList<ImageConfigEdit> Images { get; }

        /// <summary>Index entries that are not images (attestations, artifacts), copied as they are when the repository differs.</summary>
        public IReadOnlyList<Manifest> OtherEntries { get; }

        /// <summary>The new index; null when the source is a single image.</summary>
        public ImageIndex? Index { get; }

        /// <summary>The manifest pushed to the destination's tag: the new index, or the one image's manifest.</summary>
        public Manifest Result => (Manifest?)Index ?? Images[0].Manifest;

        /// <summary>True when the destination is the source's repository, so its blobs and untouched manifests are there already.</summary>
        public bool SameRepository =>
            string.Equals(Source.Registry, Destination.Registry, StringComparison.OrdinalIgnoreCase) && Source.Repository == Destination.Repository;

        internal RegistryClient SourceClient { get; }

        internal RegistryClient DestinationClient { get; }
    }

    /// <summary>
    /// Edits an image's config and manifest and pushes the result (crane mutate): the engine of Set-ImageConfig.
    /// </summary>
    /// <remarks>
    /// <para>The config is edited with <see cref="ImageConfig"/>'s <c>With…</c> methods, so every field not edited keeps its
    /// bytes. The manifest keeps its kind, its layers and every field but the config descriptor's digest and size (and its
    /// <c>data</c>, which would be stale) and the annotations merged in. An index keeps its media type, its order and each
    /// entry's platform and annotations; only rewritten entries get new digests and sizes. A config that comes out unchanged
    /// (and no annotation to merge) keeps its manifest's exact bytes, so its digest too.</para>
    /// <para>Pushing goes in the order that leaves nothing half-made: blobs (layers copied by <see cref="BlobTransfer.CopyAsync"/>,
    /// mounted within a registry, skipped in the source's own repository), then configs (<see cref="BlobTransfer.PushAsync"/>), then
    /// each image manifest by digest, and the manifest (or index) the tag names last.</para>
    /// </remarks>
    public sealed class ImageConfigEditor
    {
        private static readonly JsonSerializerOptions WriteOptions = new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>An editor using the clients (sessions) of <paramref name="connections"/>.</summary>
        public ImageConfigEditor(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>An editor using the client <paramref name="clients"/> gives for each reference.</summary>
        public ImageConfigEditor(Func<ImageReference, RegistryClient> clients) => _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>How many blobs, configs and manifests move at once.</summary>
        public int ThrottleLimit { get; set; } = ImageCopyOptions.DefaultThrottleLimit;

        /// <summary>
        /// The destination an edit of <paramref name="source"/> pushes to: <paramref name="destination"/>, with the source's tag
        /// when it has none (<c>latest</c> when the source names neither tag nor digest).
        /// </summary>
        /// <exception cref="ArgumentException">The destination has a digest, or neither it nor the source has a tag.</exception>
        public static ImageReference DestinationFor(ImageReference source, ImageReference destination)
        {
            if (source == null) throw new ArgumentNullException(nameof(source));
            if (destination == null) throw new ArgumentNullException(nameof(destination));
            if (destination.Digest is not null)
                throw new ArgumentException($"The destination {destination} has a digest; an edited image has a new one. Give it a tag.", nameof(destination));
            if (destination.Tag != null) return destination;
            var tag = source.Tag ?? (source.Digest is null ? "latest" : null)
                ?? throw new ArgumentException($"The destination {destination} has no tag and the source {source} has none to lend it. Give it a tag.", nameof(destination));
            return destination.WithTag(tag);
        }

        /// <summary>
        /// Reads the source and computes what the edit pushes, writing nothing: the new configs and manifests and, for an index,
        /// the new index. For an index, reads the configs of the images to rewrite several at a time; when the destination is
        /// another repository, also the manifests of the entries left as they are (they are copied).
        /// </summary>
        /// <exception cref="PlatformNotFoundException">The index lacks one of <see cref="ImageConfigChanges.Platforms"/>.</exception>
        /// <exception cref="ArgumentException">A change cannot be made (see <see cref="ImageConfigChanges.Apply"/>; annotations on a Docker schema2 manifest).</exception>
        public async Task<ImageConfigEditPlan> PlanAsync(ImageReference source, ImageReference destination, ImageConfigChanges changes, CancellationToken cancellationToken = default)
        {
            if (source == null) throw new ArgumentNullException(nameof(source));
            if (changes == null) throw new ArgumentNullException(nameof(changes));
            var target = DestinationFor(source, destination);
            var client = _clients(source);
            var destinationClient = _clients(target);
            bool sameRepository = string.Equals(source.Registry, target.Registry, StringComparison.OrdinalIgnoreCase) && source.Repository == target.Repository;
            var top = await client.Manifests.GetAsync(source.Repository, source.Reference, cancellationToken).ConfigureAwait(false);

            if (!(top is ImageIndex index))
            {
                var image = ImageConfigReader.RequireImage(top, source);
                var edit = await EditAsync(client, source, null, image, changes, cancellationToken).ConfigureAwait(false);
                return new ImageConfigEditPlan(source, target, top, new[] { edit }, Array.Empty<Manifest>(), null, client, destinationClient);
            }

            var entries = ImageConfigReader.ImageEntries(index);
            var chosen = changes.Platforms == null || changes.Platforms.Count == 0
                ? entries
                : ImageResolver.SelectPlatforms(index, changes.Platforms, source);
            var images = await ImageConfigReader.ForEachAsync(entries, ThrottleLimit, async entry =>
            {
                bool rewrite = chosen.Any(c => c.Digest == entry.Digest);
                if (!rewrite && sameRepository) return null; // there already, and not pushed again
                var child = ImageConfigReader.RequireImage(
                    await client.Manifests.GetAsync(source.Repository, entry.Digest.ToString(), cancellationToken).ConfigureAwait(false), source);
                return rewrite
                    ? await EditAsync(client, source, entry, child, changes, cancellationToken).ConfigureAwait(false)
                    : new ImageConfigEdit(entry, child, null, child, null, rewritten: false);
            }, cancellationToken).ConfigureAwait(false);

            var others = new List<Manifest>();
            if (!sameRepository)
            {
                foreach (var entry in index.Manifests.Where(m => !entries.Contains(m)))
                {
                    var other = await client.Manifests.GetAsync(source.Repository, entry.Digest.ToString(), cancellationToken).ConfigureAwait(false);
                    if (!(other is ImageManifest))
                        throw new RegistryException(RegistryErrorKind.Unsupported, $"The index {source} holds a {other.MediaType} ({entry.Digest}); only image manifests can be copied with it to another repository.");
                    others.Add(other);
                }
            }

            var newIndex = RewriteIndex(index, images.Where(i => i != null && i.Changed).ToDictionary(i => i!.Entry!, i => i!.Manifest));
            var kept = images.Where(i => i != null).Select(i => i!).ToList();
            return new ImageConfigEditPlan(source, target, top, kept, others, newIndex, client, destinationClient);
        }

        /// <summary>
        /// Pushes what <paramref name="plan"/> computed: blobs, then configs, then image manifests by digest, then the manifest
        /// (or index) by the destination's tag. Returns its descriptor, whose <see cref="Descriptor.Source"/> is the destination
        /// with tag and digest. Progress reports each blob moved (bytes done; completed once with its outcome).
        /// </summary>
        public async Task<Descriptor> ExecuteAsync(ImageConfigEditPlan plan, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            if (plan == null) throw new ArgumentNullException(nameof(plan));
            var destination = plan.DestinationClient;
            var repository = plan.Destination.Repository;

            // Blobs the destination needs from the source: every layer (foreign ones stay where they are), and the configs of
            // images left as they are. Nothing to move within the source's own repository.
            var copies = new Dictionary<Digest, Descriptor>();
            if (!plan.SameRepository)
            {
                foreach (var image in plan.Images)
                {
                    foreach (var layer in image.Manifest.Layers.Where(l => l.Urls == null || l.Urls.Count == 0)) copies[layer.Digest] = layer;
                    if (image.Config == null) copies[image.Manifest.Config.Digest] = image.Manifest.Config;
                }
                foreach (var other in plan.OtherEntries.OfType<ImageManifest>())
                    foreach (var blob in new[] { other.Config }.Concat(other.Layers).Where(l => l.Urls == null || l.Urls.Count == 0)) copies[blob.Digest] = blob;
            }
            await ImageConfigReader.ForEachAsync(copies.Values.ToList(), ThrottleLimit, async blob =>
            {
                var result = await BlobTransfer.CopyAsync(plan.SourceClient, plan.Source.Repository, blob, destination, repository, null,
                    Report(progress, blob), cancellationToken).ConfigureAwait(false);
                progress?.Report(new TransferProgress(blob.Digest, result.Outcome.ToString(), blob.Size, blob.Size, true));
                return result;
            }, cancellationToken).ConfigureAwait(false);

            var configs = plan.Images.Where(i => i.Config != null).GroupBy(i => i.Config!.Digest).Select(g => g.First()).ToList();
            await ImageConfigReader.ForEachAsync(configs, ThrottleLimit, async image =>
            {
                var bytes = image.Config!.Bytes;
                var blob = new Descriptor(image.Manifest.Config.MediaType, image.Config.Digest, bytes.Length);
                var result = await BlobTransfer.PushAsync(_ => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)), blob, destination, repository,
                    null, Report(progress, blob), cancellationToken).ConfigureAwait(false);
                progress?.Report(new TransferProgress(blob.Digest, result.Outcome.ToString(), blob.Size, blob.Size, true));
                return result;
            }, cancellationToken).ConfigureAwait(false);

            if (plan.Index == null)
                return await destination.Manifests.PutAsync(repository, plan.Destination.Tag!, plan.Images[0].Manifest, cancellationToken).ConfigureAwait(false);

            // Children first, by digest: the index must not name a manifest the repository lacks.
            var children = plan.Images.Where(i => i.Changed || !plan.SameRepository).Select(i => (Manifest)i.Manifest).Concat(plan.OtherEntries)
                .GroupBy(m => m.Digest).Select(g => g.First()).ToList();
            await ImageConfigReader.ForEachAsync(children, ThrottleLimit,
                m => destination.Manifests.PutAsync(repository, m.Digest.ToString(), m, cancellationToken), cancellationToken).ConfigureAwait(false);
            return await destination.Manifests.PutAsync(repository, plan.Destination.Tag!, plan.Index, cancellationToken).ConfigureAwait(false);
        }

        private static async Task<ImageConfigEdit> EditAsync(RegistryClient client, ImageReference source, Descriptor? entry, ImageManifest manifest,
            ImageConfigChanges changes, CancellationToken cancellationToken)
        {
            var config = await ImageConfigReader.ReadConfigAsync(client, source, manifest, cancellationToken).ConfigureAwait(false);
            var edited = changes.Apply(config);
            var rewritten = RewriteManifest(manifest, edited, changes.Annotations, source);
            return new ImageConfigEdit(entry, manifest, config, rewritten, edited, rewritten: true);
        }

        /// <summary>
        /// The manifest with the config descriptor pointing at <paramref name="config"/> and <paramref name="annotations"/> merged
        /// in; every other field kept. The same manifest when neither changes anything.
        /// </summary>
        internal static ImageManifest RewriteManifest(ImageManifest manifest, ImageConfig config, IDictionary<string, string>? annotations, ImageReference? source = null)
        {
            bool annotate = annotations != null && annotations.Count > 0
                && annotations.Any(kv => manifest.Annotations == null || !manifest.Annotations.TryGetValue(kv.Key, out var v) || v != kv.Value);
            if (annotate && manifest is DockerManifestV2)
                throw new ArgumentException($"{(object?)source ?? "The image"} is a Docker schema2 image, whose manifest has no annotations; only OCI manifests carry them.");
            if (config.Digest == manifest.Config.Digest && !annotate) return manifest;

            var root = JsonNode.Parse(manifest.RawBytes)!.AsObject();
            var descriptor = root["config"]!.AsObject();
            descriptor["digest"] = config.Digest.ToString();
            descriptor["size"] = config.Bytes.LongLength;
            descriptor.Remove("data"); // embedded bytes of the old config
            if (annotate)
            {
                if (!(root["annotations"] is JsonObject merged))
                {
                    root.Remove("annotations");
                    root["annotations"] = merged = new JsonObject();
                }
                foreach (var kv in annotations!)
                {
                    if (string.IsNullOrEmpty(kv.Key)) throw new ArgumentException("An annotation has an empty name.");
                    merged[kv.Key] = kv.Value ?? throw new ArgumentException($"Annotation '{kv.Key}' has no value.");
                }
            }
            return (ImageManifest)Manifest.Parse(Encoding.UTF8.GetBytes(root.ToJsonString(WriteOptions)));
        }

        /// <summary>
        /// The index with each entry of <paramref name="replaced"/> pointing at its new manifest (digest and size; stale
        /// <c>data</c> dropped); everything else, order and entry annotations included, kept. The same index when nothing is replaced.
        /// </summary>
        internal static ImageIndex RewriteIndex(ImageIndex index, IReadOnlyDictionary<Descriptor, ImageManifest> replaced)
        {
            if (replaced.Count == 0) return index;
            var root = JsonNode.Parse(index.RawBytes)!.AsObject();
            var entries = root["manifests"]!.AsArray();
            for (int i = 0; i < index.Manifests.Count; i++)
            {
                if (!replaced.TryGetValue(index.Manifests[i], out var manifest)) continue;
                var entry = entries[i]!.AsObject();
                entry["digest"] = manifest.Digest.ToString();
                entry["size"] = manifest.Size;
                entry.Remove("data");
            }
            return (ImageIndex)Manifest.Parse(Encoding.UTF8.GetBytes(root.ToJsonString(WriteOptions)));
        }

        private static IProgress<long>? Report(IProgress<TransferProgress>? progress, Descriptor blob) =>
            progress == null ? null : new ActionProgress(n => progress.Report(new TransferProgress(blob.Digest, "Pushing", n, blob.Size, false)));
    }
}
