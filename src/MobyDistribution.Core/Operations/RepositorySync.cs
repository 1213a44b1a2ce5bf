using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.Transport;

namespace MobyDistribution.Operations
{
    /// <summary>What a sync does (or did) with one tag.</summary>
    public enum SyncAction
    {
        /// <summary>The destination had no such tag: the image was copied.</summary>
        Copied,
        /// <summary>The destination tag pointed at another manifest: the image was copied over it.</summary>
        Updated,
        /// <summary>The destination tag already points at the manifest the copy would push: nothing was sent.</summary>
        Unchanged,
        /// <summary>A destination tag the source's selection does not have was removed.</summary>
        Pruned,
        /// <summary>Planning or carrying out the tag failed (see the error); the other tags went on.</summary>
        Failed,
    }

    /// <summary>
    /// A stable share of a sync's repository:tag pairs (<c>2/8</c>: the second of eight), so that several agents can split one
    /// mirror with no coordination. A pair belongs to share <c>i</c> when FNV-1a (64 bits) of the UTF-8 text
    /// <c>repository:tag</c> (the source repository path, no registry) modulo <c>n</c> is <c>i - 1</c>: the same on every
    /// machine and in every process, unlike <see cref="string.GetHashCode()"/>.
    /// </summary>
    public sealed class SyncShard
    {
        /// <summary>Share <paramref name="index"/> (1-based) of <paramref name="count"/>.</summary>
        public SyncShard(int index, int count)
        {
            if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "A sync is split into at least one share.");
            if (index < 1 || index > count) throw new ArgumentOutOfRangeException(nameof(index), index, $"The share must be between 1 and {count}.");
            Index = index;
            Count = count;
        }

        /// <summary>The share, from 1 to <see cref="Count"/>.</summary>
        public int Index { get; }

        /// <summary>How many shares the sync is split into.</summary>
        public int Count { get; }

        /// <summary>Parses <c>i/n</c> with 1 ≤ i ≤ n; a <see cref="FormatException"/> says what is wrong.</summary>
        public static SyncShard Parse(string text)
        {
            var parts = (text ?? string.Empty).Trim().Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i)
                || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
                throw new FormatException($"'{text}' is not a share: write i/n, e.g. 2/8 for the second of eight.");
            if (n < 1 || i < 1 || i > n)
                throw new FormatException($"'{text}' is not a share: in i/n, n is at least 1 and i is between 1 and n.");
            return new SyncShard(i, n);
        }

        /// <summary>Whether the pair <paramref name="repository"/>:<paramref name="tag"/> is in this share.</summary>
        public bool Contains(string repository, string tag) => (int)(Hash(repository + ":" + tag) % (ulong)Count) == Index - 1;

        /// <summary>FNV-1a, 64 bits, of the UTF-8 bytes of <paramref name="text"/>.</summary>
        public static ulong Hash(string text)
        {
            ulong hash = 14695981039346656037UL;
            foreach (var b in Encoding.UTF8.GetBytes(text))
            {
                hash ^= b;
                hash *= 1099511628211UL;
            }
            return hash;
        }

        /// <inheritdoc />
        public override string ToString() => $"{Index}/{Count}";
    }

    /// <summary>Options of a repository sync.</summary>
    public sealed class RepositorySyncOptions
    {
        /// <summary>Copy only these platforms of an index (see <see cref="ImageCopyOptions.Platforms"/>).</summary>
        public IReadOnlyList<Platform>? Platforms { get; set; }

        /// <summary>Tags planned and copied at once; each copy moves its blobs <see cref="BlobThrottleLimit"/> at a time.</summary>
        public int ThrottleLimit { get; set; } = DefaultThrottleLimit;

        /// <summary>The default of <see cref="ThrottleLimit"/>.</summary>
        public const int DefaultThrottleLimit = 8;

        /// <summary>Blobs each copy transfers at once (<see cref="ImageCopyOptions.ThrottleLimit"/>).</summary>
        public int BlobThrottleLimit { get; set; } = ImageCopyOptions.DefaultThrottleLimit;

        /// <summary>Plan the removal of destination tags that are in scope but missing from the source's selection.</summary>
        public bool Prune { get; set; }

        /// <summary>
        /// Which tag names are in scope (include/exclude patterns); null for all. It narrows both the source's tags and the
        /// destination tags that <see cref="Prune"/> may remove: a tag outside it is never touched.
        /// </summary>
        public Func<string, bool>? TagFilter { get; set; }

        /// <summary>
        /// Chooses among the source's in-scope tags (<see cref="TagSelector.SemVer"/>, <see cref="TagSelector.Latest"/>; its
        /// patterns apply too); null keeps them all. Tags it leaves out are
        /// not copied, and with <see cref="Prune"/> they are removed from the destination.
        /// </summary>
        public TagSelector? Selector { get; set; }

        /// <summary>Only this share of the repository:tag pairs (source and prune candidates alike); null for all.</summary>
        public SyncShard? Shard { get; set; }

        /// <summary>
        /// Plan each copy in full, asking the destination which blobs it has, so that the plan shows what each copy would
        /// move. Costs requests; for a plan that someone reads (what-if), not for a sync that goes ahead.
        /// </summary>
        public bool DetailedPlan { get; set; }

        /// <summary>
        /// Copy each tag's referrers too (signatures, SBOMs, attestations: <see cref="ReferrerCopier"/>), also for a tag that
        /// is Unchanged, since a signature may be added to an image that did not change. Costs the referrer discovery of every
        /// tag (so an unchanged tag costs more than its two HEADs).
        /// </summary>
        public bool IncludeReferrers { get; set; }
    }

    /// <summary>What a sync will do with one tag.</summary>
    public sealed class TagSyncPlan
    {
        internal TagSyncPlan(ImageReference source, ImageReference destination, string tag, SyncAction action,
            Digest? sourceDigest, Digest? destinationDigest, Digest? digest, ImageCopyPlan? copyPlan, Exception? error)
        {
            Source = source;
            Destination = destination;
            Tag = tag;
            Action = action;
            SourceDigest = sourceDigest;
            DestinationDigest = destinationDigest;
            Digest = digest;
            CopyPlan = copyPlan;
            Error = error;
        }

        /// <summary>The source image, repository:tag.</summary>
        public ImageReference Source { get; }

        /// <summary>The destination, repository:tag.</summary>
        public ImageReference Destination { get; }

        /// <summary>The tag, the same on both sides.</summary>
        public string Tag { get; }

        /// <summary>Copied, Updated, Unchanged, Pruned, or Failed (when even planning failed).</summary>
        public SyncAction Action { get; }

        /// <summary>The manifest the source tag points at; null for a pruned tag, and for a new tag when the plan did not need to ask.</summary>
        public Digest? SourceDigest { get; }

        /// <summary>The manifest the destination tag points at now (null when it has no such tag).</summary>
        public Digest? DestinationDigest { get; }

        /// <summary>
        /// The manifest the destination tag will point at: the source's, or for a platform subset the new index's.
        /// For a pruned tag, the manifest it pointed at. Null for a new tag when the plan did not need to ask the source (the copy
        /// reads the manifest; <see cref="RepositorySyncOptions.DetailedPlan"/> asks while planning).
        /// </summary>
        public Digest? Digest { get; }

        /// <summary>The copy's plan, when it was made while planning (a platform subset, or <see cref="RepositorySyncOptions.DetailedPlan"/>).</summary>
        public ImageCopyPlan? CopyPlan { get; }

        /// <summary>Why planning failed, for <see cref="SyncAction.Failed"/>.</summary>
        public Exception? Error { get; }

        /// <summary>
        /// The referrers that would travel with the tag (<see cref="RepositorySyncOptions.IncludeReferrers"/> with
        /// <see cref="RepositorySyncOptions.DetailedPlan"/>); null when the plan did not look. Set while planning only.
        /// </summary>
        public IReadOnlyList<ReferrerCopyStep>? Referrers { get; internal set; }

        /// <summary>Whether carrying the plan out changes the destination.</summary>
        public bool ChangesDestination => Action == SyncAction.Copied || Action == SyncAction.Updated || Action == SyncAction.Pruned;
    }

    /// <summary>What a sync of one repository will do, tag by tag (sorted by tag; pruned tags last).</summary>
    public sealed class RepositorySyncPlan
    {
        internal RepositorySyncPlan(ImageReference source, ImageReference destination, IReadOnlyList<TagSyncPlan> tags, int sourceTagCount)
        {
            Source = source;
            Destination = destination;
            Tags = tags;
            SourceTagCount = sourceTagCount;
        }

        /// <summary>The source repository.</summary>
        public ImageReference Source { get; }

        /// <summary>The destination repository.</summary>
        public ImageReference Destination { get; }

        /// <summary>One entry per selected tag (sorted), then one per tag to prune.</summary>
        public IReadOnlyList<TagSyncPlan> Tags { get; }

        /// <summary>How many tags the source has in all, before selection and sharding.</summary>
        public int SourceTagCount { get; }
    }

    /// <summary>What a sync did with one tag.</summary>
    public sealed class TagSyncResult
    {
        internal TagSyncResult(TagSyncPlan plan, SyncAction action, Digest? digest, long bytesTransferred, ImageCopyResult? copy, Exception? error)
        {
            Plan = plan;
            Action = action;
            Digest = digest;
            BytesTransferred = bytesTransferred;
            Copy = copy;
            Error = error;
        }

        /// <summary>What was planned for the tag.</summary>
        public TagSyncPlan Plan { get; }

        /// <summary>The source image, repository:tag.</summary>
        public ImageReference Source => Plan.Source;

        /// <summary>The destination, repository:tag.</summary>
        public ImageReference Destination => Plan.Destination;

        /// <summary>The tag, the same on both sides.</summary>
        public string Tag => Plan.Tag;

        /// <summary>What was done: the plan's action, or Failed.</summary>
        public SyncAction Action { get; }

        /// <summary>The manifest the destination tag points at now (for a pruned tag: the one it pointed at).</summary>
        public Digest? Digest { get; }

        /// <summary>Blob bytes streamed from the source for this tag (mounted and skipped blobs cost none).</summary>
        public long BytesTransferred { get; }

        /// <summary>The copy, for Copied and Updated.</summary>
        public ImageCopyResult? Copy { get; }

        /// <summary>Why the tag failed, for <see cref="SyncAction.Failed"/>.</summary>
        public Exception? Error { get; }
    }

    /// <summary>
    /// Makes a destination repository's tags match a source repository's (skopeo sync, regsync): incremental, since a tag
    /// whose destination already points at the manifest the copy would push costs one HEAD on each side and nothing else;
    /// a changed tag is copied by <see cref="ImageCopier"/> (skip, mount or stream); optionally prunes destination tags the
    /// source no longer has. Tags are planned and carried out several at once, and a tag that fails does not stop the others.
    /// </summary>
    public sealed class RepositorySync
    {
        private readonly Func<ImageReference, RegistryClient> _clients;
        private readonly ImageCopier _copier;

        /// <summary>A sync using the clients of <paramref name="connections"/>.</summary>
        public RepositorySync(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>A sync with a client for each reference's registry.</summary>
        public RepositorySync(Func<ImageReference, RegistryClient> clients)
        {
            _clients = clients ?? throw new ArgumentNullException(nameof(clients));
            _copier = new ImageCopier(clients);
        }

        /// <summary>
        /// Where a source repository lands. <paramref name="destination"/> is a registry alone (<c>reg2:5000</c>: the same
        /// repository path there), or registry/path: with <paramref name="asPrefix"/> the path is a prefix under which the
        /// source repository path goes (<c>reg2/mirror</c> → <c>reg2/mirror/team/app</c>), else it is the repository itself.
        /// </summary>
        public static ImageReference MapDestination(string destination, ImageReference source, bool asPrefix)
        {
            if (string.IsNullOrWhiteSpace(destination)) throw new FormatException("The destination is empty.");
            destination = destination.Trim().TrimEnd('/');
            if (destination.IndexOf('/') < 0)
            {
                try { return ImageReference.Create(destination, source.Repository); }
                catch (FormatException) { /* not a registry: a Docker Hub repository, parsed below */ }
            }
            var parsed = ImageReference.Parse(destination);
            if (parsed.Tag != null || parsed.Digest != null)
                throw new FormatException($"The destination '{destination}' names a tag or digest; a sync's destination is a registry, a repository or a prefix.");
            return asPrefix ? ImageReference.Create(parsed.Registry, parsed.Repository + "/" + source.Repository) : parsed;
        }

        /// <summary>
        /// Works out what a sync would do, changing nothing: lists the tags of both repositories, selects the source's
        /// (<see cref="RepositorySyncOptions.TagFilter"/>, <see cref="RepositorySyncOptions.Selector"/>,
        /// <see cref="RepositorySyncOptions.Shard"/>), and asks each side what each tag points at. A source reference with a
        /// tag syncs that tag alone. A tag whose planning fails is in the plan as Failed; the others go on.
        /// </summary>
        public async Task<RepositorySyncPlan> PlanAsync(ImageReference source, ImageReference destination, RepositorySyncOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            options ??= new RepositorySyncOptions();
            if (source.Digest != null)
                throw new ArgumentException($"{source} names a digest; a sync copies tags: name the repository, or one tag.", nameof(source));
            var srcRepo = source.WithoutReference();
            var dstRepo = destination.WithoutReference();
            if (srcRepo == dstRepo) throw new ArgumentException($"The source and the destination are the same repository ({srcRepo}).", nameof(destination));
            var src = _clients(srcRepo);
            var dst = _clients(dstRepo);

            var listing = source.Tag != null ? null : src.Tags.ListAsync(srcRepo.Repository, null, cancellationToken);
            var destinationTags = new HashSet<string>(await ListOrEmptyAsync(dst, dstRepo, cancellationToken).ConfigureAwait(false), StringComparer.Ordinal);
            IReadOnlyList<string> all = listing != null ? await listing.ConfigureAwait(false) : new[] { source.Tag! };

            IReadOnlyList<string> selected;
            var pruned = new List<string>();
            if (source.Tag != null)
            {
                // One tag named: it is synced whatever the selection says, and nothing is pruned.
                selected = all;
            }
            else
            {
                bool InScope(string tag) => (options.TagFilter == null || options.TagFilter(tag)) && (options.Shard == null || options.Shard.Contains(srcRepo.Repository, tag))
                    && !(options.IncludeReferrers && ReferrerService.IsReferrerTag(tag));
                // With the referrers travelling with their images, the tags that stand for them are not tags to sync.
                var scoped = all.Where(t => (options.TagFilter == null || options.TagFilter(t)) && !(options.IncludeReferrers && ReferrerService.IsReferrerTag(t))).ToList();
                var chosen = options.Selector != null && options.Selector.HasCriteria
                    ? await options.Selector.SelectAsync(src, srcRepo.Repository, scoped, cancellationToken).ConfigureAwait(false)
                    : scoped;
                selected = chosen.Where(t => options.Shard == null || options.Shard.Contains(srcRepo.Repository, t)).Distinct(StringComparer.Ordinal)
                    .OrderBy(t => t, StringComparer.Ordinal).ToList();
                if (options.Prune)
                {
                    var keep = new HashSet<string>(selected, StringComparer.Ordinal);
                    pruned.AddRange(destinationTags.Where(t => InScope(t) && !keep.Contains(t)).OrderBy(t => t, StringComparer.Ordinal));
                }
            }

            var copyOptions = CopyOptions(options, options.DetailedPlan);
            using var throttle = new SemaphoreSlim(Math.Max(1, options.ThrottleLimit));
            var plans = selected.Select(tag => Throttled(throttle, () => PlanTagAsync(src, srcRepo, dst, dstRepo, tag, destinationTags.Contains(tag), options, copyOptions, cancellationToken), cancellationToken))
                .Concat(pruned.Select(tag => Throttled(throttle, () => PlanPruneAsync(dst, srcRepo, dstRepo, tag, cancellationToken), cancellationToken)))
                .ToList();
            var tags = await Task.WhenAll(plans).ConfigureAwait(false);
            if (options.IncludeReferrers && options.DetailedPlan)
            {
                // A plan that someone reads says which referrers would travel with each tag.
                var referrers = new ReferrerCopier(_clients);
                await Task.WhenAll(tags.Where(t => t.Action != SyncAction.Pruned && t.Action != SyncAction.Failed).Select(t => Throttled(throttle, async () =>
                {
                    var copyPlan = t.CopyPlan ?? await _copier.PlanAsync(t.SourceDigest != null ? t.Source.WithDigest(t.SourceDigest) : t.Source, t.Destination,
                        CopyOptions(options, false), cancellationToken).ConfigureAwait(false);
                    t.Referrers = await referrers.PlanAsync(copyPlan, cancellationToken).ConfigureAwait(false);
                    return true;
                }, cancellationToken))).ConfigureAwait(false);
            }
            return new RepositorySyncPlan(srcRepo, dstRepo, tags, all.Count);
        }

        /// <summary>
        /// Carries out the tags of a plan that <paramref name="approved"/> accepts (all by default; an Unchanged or Failed tag
        /// is reported as it is), several at once. Each finished tag is reported to <paramref name="progress"/> (from worker
        /// threads) as it ends. A tag that fails is reported as Failed, with its error, and the others go on; only
        /// cancellation stops the whole.
        /// </summary>
        public async Task<IReadOnlyList<TagSyncResult>> ExecuteAsync(RepositorySyncPlan plan, RepositorySyncOptions? options = null,
            Func<TagSyncPlan, bool>? approved = null, IProgress<TagSyncResult>? progress = null, CancellationToken cancellationToken = default)
        {
            options ??= new RepositorySyncOptions();
            var copyOptions = CopyOptions(options, false);
            // The tags of a repository share most of their blobs: each is moved once, the other copies wait for it.
            copyOptions.SharedTransfers = new SharedBlobTransfers();
            var dst = _clients(plan.Destination);
            var src = _clients(plan.Source);
            using var throttle = new SemaphoreSlim(Math.Max(1, options.ThrottleLimit));
            using var lowQuota = new SemaphoreSlim(1);
            int warned = 0;
            var work = plan.Tags.Where(t => !t.ChangesDestination || approved == null || approved(t)).Select(t => Throttled(throttle, async () =>
            {
                // A pull quota (Docker Hub) that is nearly spent: one copy at a time, so the last pulls are not raced away
                // and a 429 meets one request, not ThrottleLimit of them.
                bool low = t.Action != SyncAction.Unchanged && t.Action != SyncAction.Pruned && QuotaIsLow(src, options.ThrottleLimit);
                if (low)
                {
                    if (Interlocked.Exchange(ref warned, 1) == 0)
                        src.Transport.Log($"{plan.Source.Registry}'s pull quota is nearly spent ({src.RateLimit!.Remaining} left): copying one tag at a time.");
                    await lowQuota.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                try
                {
                    var result = await ExecuteTagAsync(t, dst, copyOptions, options.IncludeReferrers, cancellationToken).ConfigureAwait(false);
                    progress?.Report(result);
                    return result;
                }
                finally
                {
                    if (low) lowQuota.Release();
                }
            }, cancellationToken)).ToList();
            return await Task.WhenAll(work).ConfigureAwait(false);
        }

        /// <summary>Plans and carries out a sync of one repository; see <see cref="PlanAsync"/> and <see cref="ExecuteAsync"/>.</summary>
        public async Task<IReadOnlyList<TagSyncResult>> SyncAsync(ImageReference source, ImageReference destination, RepositorySyncOptions? options = null,
            IProgress<TagSyncResult>? progress = null, CancellationToken cancellationToken = default)
        {
            var plan = await PlanAsync(source, destination, options, cancellationToken).ConfigureAwait(false);
            return await ExecuteAsync(plan, options, null, progress, cancellationToken).ConfigureAwait(false);
        }

        private static ImageCopyOptions CopyOptions(RepositorySyncOptions options, bool checkDestination) => new ImageCopyOptions
        {
            Platforms = options.Platforms,
            ThrottleLimit = options.BlobThrottleLimit,
            // Each blob's transfer asks the destination while it opens its upload: a round trip less per blob than asking first.
            CheckDestination = checkDestination,
            // The plan compared the tag's digests already.
            SkipWhenPresent = false,
        };

        /// <summary>True when the source's last RateLimit answer leaves fewer pulls than two per tag copied at once.</summary>
        internal static bool QuotaIsLow(RegistryClient source, int throttleLimit) =>
            source.RateLimit is RateLimitStatus quota && quota.Remaining.HasValue && quota.Remaining.Value < 2L * Math.Max(1, throttleLimit);

        private static async Task<T> Throttled<T>(SemaphoreSlim throttle, Func<Task<T>> work, CancellationToken cancellationToken)
        {
            await throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
            try { return await work().ConfigureAwait(false); }
            finally { throttle.Release(); }
        }

        private static async Task<IReadOnlyList<string>> ListOrEmptyAsync(RegistryClient client, ImageReference repository, CancellationToken cancellationToken)
        {
            try
            {
                return await client.Tags.ListAsync(repository.Repository, null, cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
            {
                // A destination repository that does not exist yet has no tags.
                return Array.Empty<string>();
            }
        }

        private async Task<TagSyncPlan> PlanTagAsync(RegistryClient src, ImageReference srcRepo, RegistryClient dst, ImageReference dstRepo, string tag,
            bool destinationHasTag, RepositorySyncOptions options, ImageCopyOptions copyOptions, CancellationToken cancellationToken)
        {
            ImageReference source, destination;
            try
            {
                source = srcRepo.WithTag(tag);
                destination = dstRepo.WithTag(tag);
            }
            catch (FormatException e)
            {
                // A registry that lists a tag the grammar refuses: that tag fails, the others go on.
                return new TagSyncPlan(srcRepo, dstRepo, tag, SyncAction.Failed, null, null, null, null, e);
            }
            if (!destinationHasTag && (options.Platforms == null || options.Platforms.Count == 0) && !options.DetailedPlan)
            {
                // The destination has no such tag: it is a copy whatever the source's digest, and the copy reads the manifest
                // anyway, so asking the source first would be a request per tag for nothing.
                return new TagSyncPlan(source, destination, tag, SyncAction.Copied, null, null, null, null, null);
            }
            try
            {
                // Both sides at once: a tag's two questions cost one round trip, not two.
                var asked = destinationHasTag
                    ? dst.Manifests.TryGetDescriptorAsync(dstRepo.Repository, tag, cancellationToken)
                    : Task.FromResult<Descriptor?>(null);
                ImageCopyPlan? copyPlan = null;
                Digest sourceDigest, target;
                try
                {
                    if (options.Platforms != null && options.Platforms.Count > 0)
                    {
                        // A subset of an index gets a digest of its own: compare the destination with what the copy would push.
                        copyPlan = await _copier.PlanAsync(source, destination, copyOptions, cancellationToken).ConfigureAwait(false);
                        sourceDigest = copyPlan.SourceDescriptor.Digest;
                        target = copyPlan.Root.Digest;
                    }
                    else
                    {
                        sourceDigest = target = (await src.Tags.GetAsync(srcRepo.Repository, tag, cancellationToken).ConfigureAwait(false)).Digest;
                    }
                }
                catch
                {
                    // The source's failure is the one reported; the destination's answer is not waited for, only observed.
                    _ = asked.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    throw;
                }
                var current = (await asked.ConfigureAwait(false))?.Digest;
                var action = current == null ? SyncAction.Copied : current == target ? SyncAction.Unchanged : SyncAction.Updated;
                if (action != SyncAction.Unchanged && copyPlan == null && options.DetailedPlan)
                    copyPlan = await _copier.PlanAsync(source.WithDigest(sourceDigest), destination, copyOptions, cancellationToken).ConfigureAwait(false);
                return new TagSyncPlan(source, destination, tag, action, sourceDigest, current, target, copyPlan, null);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                return new TagSyncPlan(source, destination, tag, SyncAction.Failed, null, null, null, null, e);
            }
        }

        private static async Task<TagSyncPlan> PlanPruneAsync(RegistryClient dst, ImageReference srcRepo, ImageReference dstRepo, string tag, CancellationToken cancellationToken)
        {
            ImageReference source, destination;
            try
            {
                source = srcRepo.WithTag(tag);
                destination = dstRepo.WithTag(tag);
            }
            catch (FormatException e)
            {
                return new TagSyncPlan(srcRepo, dstRepo, tag, SyncAction.Failed, null, null, null, null, e);
            }
            try
            {
                var current = await dst.Manifests.TryGetDescriptorAsync(dstRepo.Repository, tag, cancellationToken).ConfigureAwait(false);
                return new TagSyncPlan(source, destination, tag, SyncAction.Pruned, null, current?.Digest, current?.Digest, null, null);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                return new TagSyncPlan(source, destination, tag, SyncAction.Failed, null, null, null, null, e);
            }
        }

        private async Task CopyReferrersAsync(ImageCopyPlan copyPlan, CancellationToken cancellationToken)
        {
            var referrers = new ReferrerCopier(_clients);
            var steps = await referrers.PlanAsync(copyPlan, cancellationToken).ConfigureAwait(false);
            if (steps.Count > 0) await referrers.CopyAsync(steps, null, null, cancellationToken).ConfigureAwait(false);
        }

        private async Task<TagSyncResult> ExecuteTagAsync(TagSyncPlan plan, RegistryClient dst, ImageCopyOptions copyOptions, bool includeReferrers,
            CancellationToken cancellationToken)
        {
            try
            {
                switch (plan.Action)
                {
                    case SyncAction.Copied:
                    case SyncAction.Updated:
                        // Pinned to the digest compared (when one was), so a tag that moves meanwhile is copied as planned.
                        var copyPlan = plan.CopyPlan
                            ?? await _copier.PlanAsync(plan.Source.WithDigest(plan.SourceDigest), plan.Destination, copyOptions, cancellationToken).ConfigureAwait(false);
                        var copy = await _copier.ExecuteAsync(copyPlan, copyOptions, null, cancellationToken).ConfigureAwait(false);
                        if (includeReferrers) await CopyReferrersAsync(copyPlan, cancellationToken).ConfigureAwait(false);
                        return new TagSyncResult(plan, plan.Action, copy.Descriptor.Digest, copy.BytesTransferred, copy, null);
                    case SyncAction.Unchanged when includeReferrers:
                        // The image is there; referrers added to it since the last sync are not, yet.
                        var unchanged = await _copier.PlanAsync(plan.Source.WithDigest(plan.SourceDigest), plan.Destination, copyOptions, cancellationToken).ConfigureAwait(false);
                        await CopyReferrersAsync(unchanged, cancellationToken).ConfigureAwait(false);
                        return new TagSyncResult(plan, plan.Action, plan.Digest, 0, null, null);
                    case SyncAction.Pruned:
                        // Only the tag goes (TagService.UntagAsync): an image other tags share stays. Pinned to the digest the
                        // plan saw, so a tag that moved meanwhile is not removed (TagMovedException).
                        await dst.Tags.UntagAsync(plan.Destination.Repository, plan.Tag, plan.DestinationDigest, cancellationToken).ConfigureAwait(false);
                        return new TagSyncResult(plan, SyncAction.Pruned, plan.DestinationDigest, 0, null, null);
                    case SyncAction.Failed:
                        return new TagSyncResult(plan, SyncAction.Failed, null, 0, null, plan.Error);
                    default:
                        return new TagSyncResult(plan, plan.Action, plan.Digest, 0, null, null);
                }
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                return new TagSyncResult(plan, SyncAction.Failed, null, 0, null, e);
            }
        }
    }
}
