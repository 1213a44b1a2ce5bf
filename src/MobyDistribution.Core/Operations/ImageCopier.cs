using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>What a copy does with one blob.</summary>
    public enum BlobCopyAction
    {
        /// <summary>Streamed from the source registry to the destination.</summary>
        Transfer,
        /// <summary>Mounted from the source repository (same registry); nothing is transferred.</summary>
        Mount,
        /// <summary>Already at the destination.</summary>
        Skip,
        /// <summary>A foreign (non-distributable) layer with URLs of its own: left where it is, as docker does.</summary>
        Foreign,
    }

    /// <summary>One blob of a copy plan.</summary>
    public sealed class BlobCopyStep
    {
        internal BlobCopyStep(Descriptor descriptor, BlobCopyAction action)
        {
            Descriptor = descriptor;
            Action = action;
        }

        public Descriptor Descriptor { get; }
        public Digest Digest => Descriptor.Digest;
        public long Size => Descriptor.Size;
        public string MediaType => Descriptor.MediaType;
        /// <summary>What the plan expects; a mount the registry refuses becomes a transfer (<see cref="ImageCopyResult.Outcomes"/> says what happened).</summary>
        public BlobCopyAction Action { get; }

        public override string ToString() => $"{Action} {Digest} ({Size} bytes)";
    }

    /// <summary>One manifest a copy pushes, in push order (children before the index that names them).</summary>
    public sealed class ManifestCopyStep
    {
        internal ManifestCopyStep(ManifestContent content, string reference, Platform? platform)
        {
            Content = content;
            Reference = reference;
            Platform = platform;
        }

        internal ManifestContent Content { get; }
        public Digest Digest => Content.Digest;
        public string MediaType => Content.MediaType;
        public long Size => Content.Bytes.Length;

        /// <summary>The tag or digest it is pushed under.</summary>
        public string Reference { get; }

        public Platform? Platform { get; }
    }

    /// <summary>Options of a copy.</summary>
    public sealed class ImageCopyOptions
    {
        /// <summary>Copy only these platforms of an index, into a new index (whose digest differs from the source's).</summary>
        public IReadOnlyList<Platform>? Platforms { get; set; }

        /// <summary>Blobs transferred at once.</summary>
        public int ThrottleLimit { get; set; } = DefaultThrottleLimit;

        /// <summary>The default of <see cref="ThrottleLimit"/>, chosen from the latency-bound copy in bench/results.md.</summary>
        public const int DefaultThrottleLimit = 8;

        /// <summary>
        /// Ask the destination in the plan which blobs it has (so the plan shows what will be skipped). When false, the
        /// plan lists every blob as a transfer or mount, and each blob's transfer asks while it opens its upload session,
        /// which saves the round trip of a separate question: the way to copy when nobody looks at the plan first.
        /// </summary>
        public bool CheckDestination { get; set; } = true;

        /// <summary>
        /// Ask the destination (one HEAD, sent with the source's manifest GET) whether its tag or digest already names the
        /// manifest the copy would push; when it does, nothing is copied or pushed (as crane does). A caller that compared
        /// the digests already (a sync) turns it off.
        /// </summary>
        public bool SkipWhenPresent { get; set; } = true;

        /// <summary>Blob transfers shared with the other copies of a batch (a sync's tags), so that each blob is moved once.</summary>
        internal SharedBlobTransfers? SharedTransfers { get; set; }
    }

    /// <summary>What a copy will do: the blobs and their actions, the manifests to push, and the resulting digest.</summary>
    public sealed class ImageCopyPlan
    {
        internal ImageCopyPlan(ImageReference source, ImageReference destination, Descriptor sourceDescriptor,
            IReadOnlyList<BlobCopyStep> blobs, IReadOnlyList<ManifestCopyStep> manifests, bool digestChanges, bool destinationChecked,
            Descriptor? present = null)
        {
            DestinationChecked = destinationChecked;
            Present = present;
            Source = source;
            Destination = destination;
            SourceDescriptor = sourceDescriptor;
            Blobs = blobs;
            Manifests = manifests;
            DigestChanges = digestChanges;
        }

        public ImageReference Source { get; }

        /// <summary>Where the copy goes, with the tag or digest it is pushed under.</summary>
        public ImageReference Destination { get; }

        public Descriptor SourceDescriptor { get; }
        public IReadOnlyList<BlobCopyStep> Blobs { get; }
        public IReadOnlyList<ManifestCopyStep> Manifests { get; }

        /// <summary>The manifest pushed last (the one the destination tag points at).</summary>
        public ManifestCopyStep Root => Manifests[Manifests.Count - 1];

        /// <summary>True when a platform subset makes a new index, so the destination digest differs from the source's.</summary>
        public bool DigestChanges { get; }

        /// <summary>True when the destination was asked which blobs it has (<see cref="ImageCopyOptions.CheckDestination"/>).</summary>
        public bool DestinationChecked { get; }

        /// <summary>
        /// The destination's manifest when its tag or digest already names the manifest the copy would push
        /// (<see cref="ImageCopyOptions.SkipWhenPresent"/>): then every blob is skipped and nothing is pushed. Null otherwise.
        /// </summary>
        public Descriptor? Present { get; }

        /// <summary>True when the destination has the image already: carrying the plan out changes nothing.</summary>
        public bool UpToDate => Present != null;

        public long BytesToTransfer => Blobs.Where(b => b.Action == BlobCopyAction.Transfer).Sum(b => Math.Max(0, b.Size));
        public int TransferCount => Blobs.Count(b => b.Action == BlobCopyAction.Transfer);
        public int MountCount => Blobs.Count(b => b.Action == BlobCopyAction.Mount);
        public int SkipCount => Blobs.Count(b => b.Action == BlobCopyAction.Skip || b.Action == BlobCopyAction.Foreign);
    }

    /// <summary>The outcome of a copy.</summary>
    public sealed class ImageCopyResult
    {
        internal ImageCopyResult(ImageCopyPlan plan, Descriptor destination, long bytesTransferred, IReadOnlyDictionary<Digest, BlobUploadOutcome> outcomes)
        {
            Plan = plan;
            Descriptor = destination;
            BytesTransferred = bytesTransferred;
            Outcomes = outcomes;
        }

        /// <summary>How each blob the plan did not skip got to the destination.</summary>
        public IReadOnlyDictionary<Digest, BlobUploadOutcome> Outcomes { get; }

        /// <summary>Blobs whose bytes were sent.</summary>
        public int TransferredCount => Outcomes.Values.Count(o => o == BlobUploadOutcome.Uploaded);

        /// <summary>Blobs mounted from the source repository.</summary>
        public int MountedCount => Outcomes.Values.Count(o => o == BlobUploadOutcome.Mounted);

        /// <summary>Blobs that were there already (found by the plan or by the transfer), and foreign layers.</summary>
        public int SkippedCount => Plan.SkipCount + Outcomes.Values.Count(o => o == BlobUploadOutcome.Existed);

        public ImageCopyPlan Plan { get; }

        /// <summary>The destination manifest's descriptor; its Source is the destination reference pinned to the digest.</summary>
        public Descriptor Descriptor { get; }

        public long BytesTransferred { get; }
    }

    /// <summary>
    /// Copies an image between repositories and registries (the seed's <c>ImageRef.from_image</c> + <c>push</c>, crane copy):
    /// manifests byte for byte (the digest is kept), blobs skipped when present, mounted within a registry, otherwise
    /// streamed registry to registry with no temporary file, several at once.
    /// </summary>
    public sealed class ImageCopier
    {
        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>A copier using the clients of <paramref name="connections"/> (credentials per registry).</summary>
        public ImageCopier(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>A copier with a client for each reference's registry.</summary>
        public ImageCopier(Func<ImageReference, RegistryClient> clients) => _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>
        /// Works out what a copy would do without changing anything: reads the source manifests and asks the destination
        /// which blobs it has. A destination without tag or digest takes the source's tag (or digest).
        /// </summary>
        public async Task<ImageCopyPlan> PlanAsync(ImageReference source, ImageReference destination, ImageCopyOptions? options = null, CancellationToken cancellationToken = default)
        {
            options ??= new ImageCopyOptions();
            var src = _clients(source);
            var dst = _clients(destination);
            // Is it there already? Asked with the source's manifest GET, so it costs no round trip of its own.
            var destinationRef = destination.Tag ?? destination.Digest?.ToString() ?? source.Tag ?? source.Digest?.ToString();
            var presentAtDestination = options.SkipWhenPresent && destinationRef != null
                ? TryGetPresentAsync(dst, destination.Repository, destinationRef, cancellationToken)
                : Task.FromResult<Descriptor?>(null);
            ManifestContent root;
            try
            {
                root = await src.Manifests.GetContentAsync(source.Repository, source.Reference, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                _ = presentAtDestination.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                throw;
            }
            var manifest = Parse(root, source);
            var manifests = new List<ManifestCopyStep>();
            var blobs = new List<Descriptor>();
            bool digestChanges = false;
            ManifestContent rootToPush = root;

            if (manifest is ImageIndex index)
            {
                var children = index.Manifests.ToList();
                if (options.Platforms != null && options.Platforms.Count > 0)
                {
                    var images = ImageResolver.SelectPlatforms(index, options.Platforms, source);
                    // The buildx attestations of the chosen images travel with them: they are those images' referrers.
                    var chosen = images.Concat(children.Where(c => ReferrerDiscovery.AttestedImage(c) is Digest attested && images.Any(x => x.Digest == attested))).ToList();
                    if (chosen.Count != children.Count)
                    {
                        var subset = index.WithManifests(children.Where(c => chosen.Any(x => x.Digest == c.Digest)));
                        rootToPush = new ManifestContent(subset.RawBytes, subset.MediaType, subset.Digest, null);
                        digestChanges = true;
                    }
                    children = children.Where(c => chosen.Any(x => x.Digest == c.Digest)).ToList();
                }
                await Task.WhenAll(children.Select(c => FetchChildAsync(src, source, c, blobs, manifests, cancellationToken))).ConfigureAwait(false);
            }
            else if (manifest is ImageManifest image)
            {
                blobs.AddRange(image.Blobs);
            }
            else
            {
                throw new RegistryException(RegistryErrorKind.Unsupported, $"{source} is a Docker schema1 manifest; registries no longer accept it, so it cannot be copied.");
            }

            var target = Target(source, destination, rootToPush.Digest);
            manifests.Add(new ManifestCopyStep(rootToPush, target.Tag ?? rootToPush.Digest.ToString(), null));
            var present = await presentAtDestination.ConfigureAwait(false);
            if (present != null && present.Digest == rootToPush.Digest)
            {
                // The destination names this very manifest: the registry took it only with all its blobs, so none is asked about.
                var skipped = blobs.GroupBy(b => b.Digest).Select(g => new BlobCopyStep(g.First(), BlobCopyAction.Skip)).ToList();
                return new ImageCopyPlan(source, target, root.ToDescriptor(), skipped, manifests, digestChanges, options.CheckDestination,
                    present.WithSource(target.WithDigest(present.Digest)));
            }
            var steps = await PlanBlobsAsync(src, source, dst, destination, blobs, options.CheckDestination, cancellationToken).ConfigureAwait(false);
            return new ImageCopyPlan(source, target, root.ToDescriptor(), steps, manifests, digestChanges, options.CheckDestination);
        }

        /// <summary>The destination's manifest for a tag or digest, or null when it has none or will not say (a push-only repository).</summary>
        private static async Task<Descriptor?> TryGetPresentAsync(RegistryClient dst, string repository, string reference, CancellationToken cancellationToken)
        {
            try
            {
                return await dst.Manifests.TryGetDescriptorAsync(repository, reference, cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unauthorized || e.Kind == RegistryErrorKind.Denied || e.Kind == RegistryErrorKind.NotFound)
            {
                return null;
            }
        }

        private static Manifest Parse(ManifestContent content, ImageReference where)
        {
            try { return Manifest.Parse(content.Bytes, content.MediaType); }
            catch (InvalidDataException e)
            {
                throw new RegistryException(RegistryErrorKind.Unsupported, $"The manifest of {where} cannot be copied: {e.Message}", e);
            }
        }

        private static async Task<bool> FetchChildAsync(RegistryClient src, ImageReference source, Descriptor child,
            List<Descriptor> blobs, List<ManifestCopyStep> manifests, CancellationToken cancellationToken)
        {
            var content = await src.Manifests.GetContentAsync(source.Repository, child.Digest.ToString(), cancellationToken).ConfigureAwait(false);
            var parsed = Parse(content, source.WithDigest(child.Digest));
            if (!(parsed is ImageManifest image))
                throw new RegistryException(RegistryErrorKind.Unsupported, $"{source} nests a {parsed.MediaType} in its index; only image manifests are copied.");
            lock (manifests)
            {
                blobs.AddRange(image.Blobs);
                manifests.Add(new ManifestCopyStep(content, content.Digest.ToString(), child.Platform));
            }
            return true;
        }

        /// <summary>The destination with the tag or digest it is pushed under.</summary>
        private static ImageReference Target(ImageReference source, ImageReference destination, Digest rootDigest)
        {
            if (destination.Digest != null && destination.Digest != rootDigest)
                throw new RegistryException(RegistryErrorKind.InvalidRequest,
                    $"The destination names digest {destination.Digest}, but the manifest copied is {rootDigest}.");
            if (destination.Tag != null) return destination.WithDigest(null).WithTag(destination.Tag);
            if (destination.Digest != null) return destination.WithoutReference().WithDigest(rootDigest);
            return source.Tag != null ? destination.WithTag(source.Tag) : destination.WithoutReference().WithDigest(rootDigest);
        }

        private static async Task<List<BlobCopyStep>> PlanBlobsAsync(RegistryClient src, ImageReference source, RegistryClient dst, ImageReference destination,
            List<Descriptor> blobs, bool checkDestination, CancellationToken cancellationToken)
        {
            var unique = new List<Descriptor>();
            foreach (var b in blobs) if (!unique.Any(u => u.Digest == b.Digest)) unique.Add(b);
            bool sameRegistry = string.Equals(source.Registry, destination.Registry, StringComparison.OrdinalIgnoreCase);
            using var throttle = new SemaphoreSlim(8);
            var steps = await Task.WhenAll(unique.Select(async d =>
            {
                if (d.Urls != null && d.Urls.Count > 0 && (d.MediaType.Contains("foreign") || d.MediaType.Contains("nondistributable")))
                    return new BlobCopyStep(d, BlobCopyAction.Foreign);
                if (!checkDestination) return new BlobCopyStep(d, sameRegistry ? BlobCopyAction.Mount : BlobCopyAction.Transfer);
                await throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    var exists = await dst.Blobs.TryGetDescriptorAsync(destination.Repository, d.Digest, cancellationToken).ConfigureAwait(false);
                    if (exists != null) return new BlobCopyStep(d, BlobCopyAction.Skip);
                }
                catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unauthorized || e.Kind == RegistryErrorKind.Denied)
                {
                    // A push-only or fresh repository may refuse HEAD; the transfer will tell.
                }
                finally
                {
                    throttle.Release();
                }
                return new BlobCopyStep(d, sameRegistry ? BlobCopyAction.Mount : BlobCopyAction.Transfer);
            })).ConfigureAwait(false);
            return steps.ToList();
        }

        /// <summary>Copies an image; see <see cref="PlanAsync"/> for how the destination reference is completed.</summary>
        public async Task<ImageCopyResult> CopyAsync(ImageReference source, ImageReference destination, ImageCopyOptions? options = null,
            IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            var plan = await PlanAsync(source, destination, options, cancellationToken).ConfigureAwait(false);
            return await ExecuteAsync(plan, options, progress, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Carries out a plan: blobs first (in parallel), then manifests, children before their index.</summary>
        public async Task<ImageCopyResult> ExecuteAsync(ImageCopyPlan plan, ImageCopyOptions? options = null,
            IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            options ??= new ImageCopyOptions();
            if (plan.Present != null)
            {
                foreach (var step in plan.Blobs) progress?.Report(new TransferProgress(step.Digest, "Exists", step.Size, step.Size, true));
                return new ImageCopyResult(plan, plan.Present, 0, new Dictionary<Digest, BlobUploadOutcome>());
            }
            var src = _clients(plan.Source);
            var dst = _clients(plan.Destination);
            long transferred = 0;
            var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<Digest, BlobUploadOutcome>();
            using var throttle = new SemaphoreSlim(Math.Max(1, options.ThrottleLimit));
            using var failFast = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            // The largest first: a big blob started last would run alone at the end.
            var tasks = plan.Blobs.OrderByDescending(b => b.Size).Select(async step =>
            {
                if (step.Action == BlobCopyAction.Skip || step.Action == BlobCopyAction.Foreign)
                {
                    progress?.Report(new TransferProgress(step.Digest, step.Action == BlobCopyAction.Skip ? "Exists" : "Foreign", step.Size, step.Size, true));
                    return;
                }
                await throttle.WaitAsync(failFast.Token).ConfigureAwait(false);
                try
                {
                    progress?.Report(new TransferProgress(step.Digest, step.Action == BlobCopyAction.Mount ? "Mounting" : "Copying", 0, step.Size, false));
                    Func<Task<BlobUploadResult>> move = () => BlobTransfer.CopyAsync(src, plan.Source.Repository, step.Descriptor, dst, plan.Destination.Repository,
                        new BlobTransferOptions { KnownMissing = plan.DestinationChecked }, progress == null ? null : new Progress(step, progress), failFast.Token);
                    var result = options.SharedTransfers != null
                        ? await options.SharedTransfers.RunAsync(plan.Destination, step.Digest, move, failFast.Token).ConfigureAwait(false)
                        : await move().ConfigureAwait(false);
                    outcomes[step.Digest] = result.Outcome;
                    if (result.Outcome == BlobUploadOutcome.Uploaded) Interlocked.Add(ref transferred, Math.Max(0, step.Size));
                    var state = result.Outcome == BlobUploadOutcome.Mounted ? "Mounted" : result.Outcome == BlobUploadOutcome.Existed ? "Exists" : "Copied";
                    progress?.Report(new TransferProgress(step.Digest, state, step.Size, step.Size, true));
                }
                catch
                {
                    failFast.Cancel();
                    throw;
                }
                finally
                {
                    throttle.Release();
                }
            }).ToList();
            try
            {
                await Task.WhenAll(tasks).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // One blob failed and cancelled the others: report that failure, not the cancellations.
                var first = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException).FirstOrDefault();
                if (first != null) throw first;
                throw;
            }
            Descriptor? pushed = null;
            foreach (var m in plan.Manifests)
            {
                pushed = await dst.Manifests.PutAsync(plan.Destination.Repository, m.Reference, m.Content.Bytes, m.Content.MediaType, cancellationToken).ConfigureAwait(false);
            }
            var descriptor = pushed!.WithSource(plan.Destination.WithDigest(pushed!.Digest));
            return new ImageCopyResult(plan, descriptor, transferred, outcomes);
        }

        private sealed class Progress : IProgress<long>
        {
            private readonly BlobCopyStep _step;
            private readonly IProgress<TransferProgress> _inner;

            public Progress(BlobCopyStep step, IProgress<TransferProgress> inner)
            {
                _step = step;
                _inner = inner;
            }

            public void Report(long value) => _inner.Report(new TransferProgress(_step.Digest, "Copying", value, _step.Size, false));
        }
    }
}
