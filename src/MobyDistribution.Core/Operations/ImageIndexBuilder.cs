using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>Options of an index build.</summary>
    public sealed class ImageIndexOptions
    {
        /// <summary>
        /// <see cref="MediaTypes.OciIndex"/> or <see cref="MediaTypes.DockerManifestList"/>; null to follow the children
        /// (a Docker manifest list when every child has a Docker media type, else an OCI index).
        /// </summary>
        public string? MediaType { get; set; }

        /// <summary>Blobs transferred at once while a child image is copied; also how many inputs (and children) are read and planned at once.</summary>
        public int ThrottleLimit { get; set; } = ImageCopyOptions.DefaultThrottleLimit;

        /// <summary>
        /// Ask the destination in the plan which blobs of each child it lacks (so the plan shows what will be skipped);
        /// see <see cref="ImageCopyOptions.CheckDestination"/>.
        /// </summary>
        public bool CheckDestination { get; set; } = true;
    }

    /// <summary>One entry of the index being built, and how its image gets into the destination repository.</summary>
    public sealed class ImageIndexEntry
    {
        internal ImageIndexEntry(ImageReference input, ImageReference source, Descriptor descriptor, bool fromIndex)
        {
            Input = input;
            Source = source;
            Descriptor = descriptor;
            FromIndex = fromIndex;
        }

        /// <summary>The reference given: the image itself, or the index the entry was taken from.</summary>
        public ImageReference Input { get; }

        /// <summary>Where the entry's manifest is read: the input's repository, pinned to the entry's digest.</summary>
        public ImageReference Source { get; }

        /// <summary>The entry as the index lists it (media type, digest, size, platform).</summary>
        public Descriptor Descriptor { get; }

        public Digest Digest => Descriptor.Digest;

        /// <summary>The platform: the image config's, or, for an entry of an input index, the one that index gave it.</summary>
        public Platform? Platform => Descriptor.Platform;

        /// <summary>True when the entry was taken as it is from an index given as input.</summary>
        public bool FromIndex { get; }

        /// <summary>True when the destination repository has the manifest already: nothing is copied for it.</summary>
        public bool Present => Copy == null;

        /// <summary>The copy that brings the image (manifest and blobs) into the destination repository; null when <see cref="Present"/>.</summary>
        public ImageCopyPlan? Copy { get; internal set; }
    }

    /// <summary>What an index build will do: the entries, the copies of the children, and the index pushed last.</summary>
    public sealed class ImageIndexPlan
    {
        internal ImageIndexPlan(ImageReference destination, ImageIndex index, IReadOnlyList<ImageIndexEntry> entries, IReadOnlyList<string> notes, IReadOnlyList<string> warnings)
        {
            Destination = destination;
            Index = index;
            Entries = entries;
            Notes = notes;
            Warnings = warnings;
        }

        /// <summary>Where the index is pushed, with the tag or digest it is pushed under.</summary>
        public ImageReference Destination { get; }

        /// <summary>The index that will be pushed (its bytes, and so its digest, are final).</summary>
        public ImageIndex Index { get; }

        /// <summary>The entries in index order, each digest once.</summary>
        public IReadOnlyList<ImageIndexEntry> Entries { get; }

        /// <summary>How choices were made (the media type, duplicates dropped): for a verbose log.</summary>
        public IReadOnlyList<string> Notes { get; }

        /// <summary>What the user should be told before the push (an index that some clients will not read).</summary>
        public IReadOnlyList<string> Warnings { get; }

        /// <summary>The entries whose images are copied into the destination repository.</summary>
        public IEnumerable<ImageIndexEntry> Copies => Entries.Where(e => e.Copy != null);
    }

    /// <summary>The outcome of an index build.</summary>
    public sealed class ImageIndexResult
    {
        internal ImageIndexResult(ImageIndexPlan plan, ImageIndex index, Descriptor descriptor, IReadOnlyList<ImageCopyResult> copies)
        {
            Plan = plan;
            Index = index;
            Descriptor = descriptor;
            Copies = copies;
        }

        public ImageIndexPlan Plan { get; }

        /// <summary>The index pushed; its <see cref="Manifest.Reference"/> is the destination pinned to its digest.</summary>
        public ImageIndex Index { get; }

        /// <summary>The descriptor the registry answered the push with; its Source is the destination (with its tag, if any).</summary>
        public Descriptor Descriptor { get; }

        /// <summary>The children copied, in index order.</summary>
        public IReadOnlyList<ImageCopyResult> Copies { get; }

        public long BytesTransferred => Copies.Sum(c => c.BytesTransferred);
    }

    /// <summary>
    /// Builds one multi-platform index from images and indexes (crane index append, docker manifest create): each image's
    /// platform comes from its config; an index given as input is flattened (its entries taken as they are). Children that
    /// live elsewhere are copied into the destination repository by digest (<see cref="ImageCopier"/>: skip, mount, stream)
    /// before the index is pushed, so the index never names a manifest the repository lacks.
    /// </summary>
    public sealed class ImageIndexBuilder
    {
        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>A builder using the clients of <paramref name="connections"/> (credentials per registry).</summary>
        public ImageIndexBuilder(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>A builder with a client for each reference's registry.</summary>
        public ImageIndexBuilder(Func<ImageReference, RegistryClient> clients) => _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>
        /// Works out the index and what must be copied, changing nothing: reads each input's manifest (and an image's config),
        /// asks the destination which children it has, and plans the copies of the others.
        /// </summary>
        /// <param name="references">The images and indexes to combine, in the order their entries are listed.</param>
        /// <param name="destination">Where the index goes: with a tag, or with the digest it must have; without either, <c>latest</c>.</param>
        /// <param name="options">The media type and the copies' settings.</param>
        /// <param name="cancellationToken">Cancels the reads.</param>
        /// <exception cref="DuplicatePlatformException">Two different images are for the same platform.</exception>
        /// <exception cref="RegistryException">An input cannot go into an index (schema1, an artifact that is not an image), or the destination digest is not the index's.</exception>
        public async Task<ImageIndexPlan> PlanAsync(IEnumerable<ImageReference> references, ImageReference destination, ImageIndexOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            if (references == null) throw new ArgumentNullException(nameof(references));
            if (destination == null) throw new ArgumentNullException(nameof(destination));
            options ??= new ImageIndexOptions();
            if (options.MediaType != null && !MediaTypes.IsIndex(options.MediaType))
                throw new ArgumentException($"'{options.MediaType}' is not an index media type.", nameof(options));
            var inputs = references.ToList();
            if (inputs.Count == 0) throw new ArgumentException("An index needs at least one image.", nameof(references));
            if (inputs.Any(r => r == null)) throw new ArgumentException("A reference is null.", nameof(references));

            // Inputs piped from a tag listing may be hundreds: a few requests at a time, as a copy sends its blobs.
            using var throttle = new SemaphoreSlim(Math.Max(1, options.ThrottleLimit));
            var read = await Task.WhenAll(inputs.Select(r => Throttled(throttle, () => ReadEntriesAsync(r, cancellationToken), cancellationToken))).ConfigureAwait(false);
            var notes = new List<string>();
            var warnings = new List<string>();
            var entries = Deduplicate(read.SelectMany(e => e), notes);
            CheckPlatforms(entries);

            var mediaType = ChooseMediaType(entries, options.MediaType, notes, warnings);
            var index = ImageIndex.Create(mediaType, entries.Select(e => e.Descriptor));
            var target = Target(destination, index.Digest);

            var copier = new ImageCopier(_clients);
            var dst = _clients(destination);
            var copyOptions = CopyOptions(options);
            await Task.WhenAll(entries.Select(e => Throttled(throttle, async () =>
            {
                if (await IsPresentAsync(dst, e, destination, cancellationToken).ConfigureAwait(false)) return true;
                e.Copy = await copier.PlanAsync(e.Source, destination.WithoutReference().WithDigest(e.Digest), copyOptions, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken))).ConfigureAwait(false);
            return new ImageIndexPlan(target, index, entries, notes, warnings);
        }

        /// <summary>Carries out a plan: copies the children that are not there (one after another), then pushes the index.</summary>
        public async Task<ImageIndexResult> ExecuteAsync(ImageIndexPlan plan, ImageIndexOptions? options = null, IProgress<TransferProgress>? progress = null,
            CancellationToken cancellationToken = default)
        {
            if (plan == null) throw new ArgumentNullException(nameof(plan));
            options ??= new ImageIndexOptions();
            var copier = new ImageCopier(_clients);
            var copyOptions = CopyOptions(options);
            var copies = new List<ImageCopyResult>();
            // One child at a time: children of one build usually share base layers, and a blob copied for the first is then
            // found by the next instead of being sent twice at once.
            foreach (var entry in plan.Copies)
                copies.Add(await copier.ExecuteAsync(entry.Copy!, copyOptions, progress, cancellationToken).ConfigureAwait(false));

            var dst = _clients(plan.Destination);
            var index = plan.Index;
            var pushed = await dst.Manifests.PutAsync(plan.Destination.Repository, plan.Destination.Reference, index, cancellationToken).ConfigureAwait(false);
            var result = (ImageIndex)Manifest.Parse(index.RawBytes, index.MediaType);
            result.AttachSource(plan.Destination.WithoutReference());
            return new ImageIndexResult(plan, result, pushed.WithSource(plan.Destination.WithDigest(pushed.Digest)), copies);
        }

        /// <summary>Plans and carries out a build; see <see cref="PlanAsync"/>.</summary>
        public async Task<ImageIndexResult> BuildAsync(IEnumerable<ImageReference> references, ImageReference destination, ImageIndexOptions? options = null,
            IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            var plan = await PlanAsync(references, destination, options, cancellationToken).ConfigureAwait(false);
            return await ExecuteAsync(plan, options, progress, cancellationToken).ConfigureAwait(false);
        }

        private static async Task<T> Throttled<T>(SemaphoreSlim throttle, Func<Task<T>> work, CancellationToken cancellationToken)
        {
            await throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
            try { return await work().ConfigureAwait(false); }
            finally { throttle.Release(); }
        }

        private static ImageCopyOptions CopyOptions(ImageIndexOptions options) =>
            new ImageCopyOptions { ThrottleLimit = options.ThrottleLimit, CheckDestination = options.CheckDestination };

        /// <summary>The entries one input gives: an image with the platform of its config, or an index's entries as they are.</summary>
        private async Task<IReadOnlyList<ImageIndexEntry>> ReadEntriesAsync(ImageReference input, CancellationToken cancellationToken)
        {
            var client = _clients(input);
            var repository = input.WithoutReference();
            var manifest = await client.Manifests.GetAsync(input.Repository, input.Reference, cancellationToken).ConfigureAwait(false);
            switch (manifest)
            {
                case ImageIndex index:
                    return index.Manifests.Select(m => new ImageIndexEntry(input, repository.WithDigest(m.Digest), m, fromIndex: true)).ToList();
                case ImageManifest image:
                    if (image.Config.MediaType != MediaTypes.DockerContainerConfig && image.Config.MediaType != MediaTypes.OciConfig)
                        throw new RegistryException(RegistryErrorKind.Unsupported,
                            $"{input} is not a container image (its config is {Transport.Redaction.Shorten(image.Config.MediaType, Manifest.MaxMediaTypeLength)}): it has no platform to list it under.");
                    // Pinned to the digest just read, so a tag that moves meanwhile cannot give the config of another image.
                    var pinned = repository.WithDigest(image.Digest);
                    var source = await ImageSource.ResolveAsync(client, pinned, null, cancellationToken).ConfigureAwait(false);
                    return new[] { new ImageIndexEntry(input, pinned, image.ToDescriptor().WithPlatform(source.Config.Platform), fromIndex: false) };
                default:
                    throw new RegistryException(RegistryErrorKind.Unsupported, $"{input} is a Docker schema1 manifest ({manifest.MediaType}); an index cannot list it.");
            }
        }

        /// <summary>Each digest once, the first occurrence kept: the same image given twice (or also inside an index) is one entry.</summary>
        private static List<ImageIndexEntry> Deduplicate(IEnumerable<ImageIndexEntry> entries, List<string> notes)
        {
            var kept = new List<ImageIndexEntry>();
            foreach (var e in entries)
            {
                var first = kept.FirstOrDefault(k => k.Digest == e.Digest);
                if (first == null) kept.Add(e);
                else notes.Add($"{e.Digest} from {e.Input} is listed once: {first.Input} gave it already.");
            }
            return kept;
        }

        /// <summary>Two different images for one platform would leave the choice to chance: refused, naming both.</summary>
        private static void CheckPlatforms(IReadOnlyList<ImageIndexEntry> entries)
        {
            var seen = new Dictionary<string, ImageIndexEntry>(StringComparer.Ordinal);
            foreach (var e in entries)
            {
                // Entries without a platform and attestations (unknown/unknown) are not chosen by platform: any number may share one.
                var key = PlatformKey(e.Platform);
                if (key == null) continue;
                if (seen.TryGetValue(key, out var first))
                    throw new DuplicatePlatformException(e.Platform!, first.Input, first.Digest, e.Input, e.Digest);
                seen[key] = e;
            }
        }

        /// <summary>What makes two platforms the same to a puller: os, normalized architecture and variant (arm64 = arm64/v8), OS version and features.</summary>
        private static string? PlatformKey(Platform? p)
        {
            if (p == null || string.IsNullOrEmpty(p.OS) || string.IsNullOrEmpty(p.Architecture)) return null;
            if (string.Equals(p.OS, "unknown", StringComparison.OrdinalIgnoreCase) || string.Equals(p.Architecture, "unknown", StringComparison.OrdinalIgnoreCase)) return null;
            var (arch, variant) = Platform.NormalizeArch(p.Architecture, p.Variant);
            var features = p.OSFeatures == null ? string.Empty : string.Join(",", p.OSFeatures.Select(f => f.ToLowerInvariant()).OrderBy(f => f, StringComparer.Ordinal));
            return string.Join("|", p.OS.ToLowerInvariant(), arch, variant ?? string.Empty, (p.OSVersion ?? string.Empty).ToLowerInvariant(), features);
        }

        /// <summary>
        /// The index's media type. Following the children: a Docker manifest list only when all are Docker manifests (or lists),
        /// else an OCI index, as buildx imagetools does for a mix. A Docker list asked for over OCI children is written, with a
        /// warning: the Docker spec says its entries are "generally" Docker manifests (not "must"), distribution 2.8 accepts it and
        /// skopeo reads it (both checked in ImageIndexBuilderTests), but older Docker engines cannot pull OCI manifests from it.
        /// </summary>
        private static string ChooseMediaType(IReadOnlyList<ImageIndexEntry> entries, string? requested, List<string> notes, List<string> warnings)
        {
            var oci = entries.Where(e => !IsDockerType(e.Descriptor.MediaType)).ToList();
            if (requested == MediaTypes.DockerManifestList)
            {
                if (oci.Count > 0)
                    warnings.Add($"A Docker manifest list is made over {oci.Count} OCI manifest{(oci.Count == 1 ? string.Empty : "s")} ({string.Join(", ", oci.Select(e => e.Input).Distinct())}): "
                        + "older Docker engines and registries that expect Docker types in a list may refuse it; an OCI index is the type for OCI images.");
                return requested;
            }
            if (requested != null) return requested;
            if (oci.Count == 0)
            {
                notes.Add("Every child has a Docker media type: the index is a Docker manifest list.");
                return MediaTypes.DockerManifestList;
            }
            if (oci.Count < entries.Count)
                notes.Add($"The children mix Docker and OCI media types ({entries.Count - oci.Count} Docker, {oci.Count} OCI): the index is an OCI index, which may list both.");
            else
                notes.Add("Every child has an OCI media type: the index is an OCI index.");
            return MediaTypes.OciIndex;
        }

        private static bool IsDockerType(string mediaType) => mediaType.StartsWith("application/vnd.docker.", StringComparison.Ordinal);

        /// <summary>The destination with the tag or digest the index is pushed under.</summary>
        private static ImageReference Target(ImageReference destination, Digest indexDigest)
        {
            if (destination.Digest != null && destination.Digest != indexDigest)
                throw new RegistryException(RegistryErrorKind.InvalidRequest, $"The destination names digest {destination.Digest}, but the index built is {indexDigest}.");
            if (destination.Tag != null) return destination.WithDigest(null);
            if (destination.Digest != null) return destination;
            return destination.WithTag("latest");
        }

        /// <summary>True when the destination repository holds the entry's manifest already (so, the registry guarantees, everything it names).</summary>
        private static async Task<bool> IsPresentAsync(RegistryClient dst, ImageIndexEntry entry, ImageReference destination, CancellationToken cancellationToken)
        {
            if (string.Equals(entry.Source.Registry, destination.Registry, StringComparison.OrdinalIgnoreCase)
                && string.Equals(entry.Source.Repository, destination.Repository, StringComparison.Ordinal))
                return true;
            try
            {
                return await dst.Manifests.TryGetDescriptorAsync(destination.Repository, entry.Digest.ToString(), cancellationToken).ConfigureAwait(false) != null;
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unauthorized || e.Kind == RegistryErrorKind.Denied)
            {
                // A push-only or fresh repository may refuse to be read; the copy will tell.
                return false;
            }
        }
    }
}
