using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using MobyDistribution.Operations;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Makes a destination repository's tags match a source repository's, copying only what changed.</para>
    /// <para type="description">
    /// The equivalent of skopeo sync and regsync. Each selected tag of the source costs one HEAD request on each side when
    /// the destination already points at the same manifest (Unchanged); a new or changed tag is copied as Copy-RegistryImage
    /// copies (blobs skipped, mounted within a registry, or streamed), keeping its digest. Tags are handled -ThrottleLimit at
    /// a time within one retry budget; a tag that fails gets an error record and the others go on. -Include and -Exclude
    /// select tags by wildcard. -Prune removes destination tags that are within the selection but missing from the source
    /// (each removal is confirmed as a high-impact change unless -Force or -Confirm:$false). -Shard i/n takes a stable share
    /// of the repository:tag pairs, so that several agents can split one mirror with no coordination. Repositories piped
    /// from Get-RegistryCatalog land under -Destination (a registry or a prefix: reg2/mirror/&lt;repository&gt;); with one
    /// -Source, -Destination is the repository (or a registry alone: the same repository path there). -WhatIf prints
    /// what would happen to each tag and changes nothing. Writes one MobyDistribution.SyncResult per tag.
    /// </para>
    /// </summary>
    /// <example><code>Sync-RegistryRepository -Source localhost:5000/team/app -Destination registry.example.com/team/app</code></example>
    /// <example><code>Get-RegistryCatalog localhost:5000 | Sync-RegistryRepository -Destination localhost:5001/mirror -Prune -Force</code></example>
    [Cmdlet(VerbsData.Sync, "RegistryRepository", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(SyncResult))]
    public sealed class SyncRegistryRepositoryCommand : RegistryRequestCmdletBase
    {
        private SyncShard? _shard;
        // One tag grammar for Get-RegistryTag and the sync (Core's TagSelector): the patterns decide what is in scope (and so
        // what -Prune may touch), the versions choose among the tags in scope.
        private TagSelector? _patterns;
        private TagSelector? _versions;
        private bool _yesToAll;
        private bool _noToAll;

        /// <summary>
        /// <para type="description">The source repository (registry/repository), or one tag of it (registry/repository:tag: that tag
        /// alone); repositories from Get-RegistryCatalog and tags from Get-RegistryTag can be piped in.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Reference")]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Source { get; set; } = null!;

        /// <summary>
        /// <para type="description">Where the tags go. With -Source given as a parameter: the destination repository (registry/repository),
        /// or a registry alone (the source's repository path there). With repositories piped in: a registry or a prefix
        /// (registry/path), under which each repository keeps its path (reg2/mirror/team/app).</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string Destination { get; set; } = null!;

        /// <summary>
        /// <para type="description">Only tags that match one of these wildcard patterns (e.g. 'v*', 'release-?.*').</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? Include { get; set; }

        /// <summary>
        /// <para type="description">No tag that matches one of these wildcard patterns (e.g. '*-rc*', 'pr-*'). Exclude wins over -Include.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? Exclude { get; set; }

        /// <summary>
        /// <para type="description">Copies each tag's referrers too (signatures, SBOMs, attestations), recursively and under
        /// their own digests, also for tags that are unchanged (a signature may be new); at a destination without the
        /// referrers API their tag-schema indexes are written there. Costs the referrer discovery of every tag.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter IncludeReferrers { get; set; }

        /// <summary>
        /// <para type="description">Only tags that are versions in this range, in npm's syntax ('>=1.2.0 &lt;2', '^1.2', '~1.25',
        /// '1.x') or NuGet's ('[1.2,2)'); a v prefix and short forms (1.25) are accepted; a tag that is not a version is not
        /// synced (and, with -Prune, is removed from the destination). As Get-RegistryTag -SemVer.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? SemVer { get; set; }

        /// <summary>
        /// <para type="description">Only the newest N tags in scope: by version where the tags are versions, else by the
        /// creation time in each image's config. As Get-RegistryTag -Latest.</para>
        /// </summary>
        [Parameter]
        [ValidateRange(1, int.MaxValue)]
        public int Latest { get; set; }


        /// <summary>
        /// <para type="description">Copy only these platforms of multi-platform indexes (e.g. linux/amd64) into new indexes. A resync
        /// compares the destination with the subset the copy would push, so an unchanged subset stays Unchanged.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public Platform[]? Platform { get; set; }

        /// <summary>
        /// <para type="description">Also remove destination tags that are within the selection (-Include, -Exclude, -Shard) but missing
        /// from the source. Each removal is a high-impact change: it is confirmed unless -Force, -Confirm:$false, or a host
        /// that cannot prompt. Tags outside the selection are never removed.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter Prune { get; set; }

        /// <summary>
        /// <para type="description">Prune without asking for each tag (-WhatIf still only describes).</para>
        /// </summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>
        /// <para type="description">How many tags are handled at once; each copy also moves its blobs several at a time. The default is 8.</para>
        /// </summary>
        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = RepositorySyncOptions.DefaultThrottleLimit;

        /// <summary>
        /// <para type="description">Only share i of n (i/n, e.g. 2/8) of the repository:tag pairs: a stable hash (FNV-1a) of
        /// repository:tag modulo n, the same on every machine, so n agents with 1/n … n/n split a mirror between them with
        /// no overlap and nothing left out.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Shard { get; set; }

        /// <inheritdoc />
        protected override void BeginProcessing()
        {
            if (Shard != null)
            {
                try
                {
                    _shard = SyncShard.Parse(Shard);
                }
                catch (FormatException e)
                {
                    ThrowTerminatingError(new ErrorRecord(new PSArgumentException(e.Message, nameof(Shard)), "InvalidShard", ErrorCategory.InvalidArgument, Shard));
                }
            }
            try
            {
                if (Include != null || Exclude != null)
                    _patterns = new TagSelector { Include = Include ?? Array.Empty<string>(), Exclude = Exclude ?? Array.Empty<string>() };
                var bound = MyInvocation.BoundParameters;
                if (bound.ContainsKey(nameof(SemVer)) || bound.ContainsKey(nameof(Latest)))
                    _versions = new TagSelector { SemVer = SemVer, Latest = bound.ContainsKey(nameof(Latest)) ? Latest : (int?)null };
            }
            catch (Exception e) when (e is FormatException || e is ArgumentException)
            {
                ThrowTerminatingError(new ErrorRecord(e, "InvalidTagSelection", ErrorCategory.InvalidArgument, SemVer ?? (object?)Include ?? Exclude));
            }
        }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            ImageReference destination;
            try
            {
                // Repositories that arrive through the pipeline (a catalog) land under -Destination as a prefix.
                destination = RepositorySync.MapDestination(Destination, Source, asPrefix: MyInvocation.ExpectingInput);
            }
            catch (FormatException e)
            {
                WriteError(e, "InvalidDestination", ErrorCategory.InvalidArgument, Destination);
                return;
            }

            bool showPlan = WillShowPlan();
            var options = Options(showPlan);
            var sync = new RepositorySync(Connections);
            if (!TryRun(ct => sync.PlanAsync(Source, destination, options, ct), "Repository", Source, out var plan)) return;
            WriteVerbose($"Sync {plan.Source} to {plan.Destination}: {plan.Tags.Count(t => t.Action != SyncAction.Pruned)} of {plan.SourceTagCount} tags selected"
                + (_shard != null ? $" (share {_shard})" : string.Empty) + $"; {string.Join(", ", plan.Tags.GroupBy(t => t.Action).Select(g => $"{g.Count()} {g.Key}"))}.");
            if (plan.Tags.Any(t => t.CopyPlan?.DigestChanges == true))
                WriteWarning($"Only {string.Join(", ", Platform!.Select(p => p.ToString()))} of the indexes of {plan.Source} are copied: those tags get digests of their own at {plan.Destination}.");

            // Every question is asked here, on the pipeline thread, before any work starts.
            var approved = new System.Collections.Generic.HashSet<TagSyncPlan>();
            bool whatIf = IsWhatIf();
            foreach (var tag in plan.Tags)
            {
                switch (tag.Action)
                {
                    case SyncAction.Copied:
                    case SyncAction.Updated:
                        if (ShouldProcess(tag.Destination.ToString(), Describe(tag))) approved.Add(tag);
                        break;
                    case SyncAction.Pruned:
                        if (ConfirmPrune(tag)) approved.Add(tag);
                        break;
                    case SyncAction.Unchanged:
                        // -WhatIf shows the whole plan; it never prompts, so asking here only prints.
                        if (whatIf) ShouldProcess(tag.Destination.ToString(), Describe(tag));
                        break;
                }
            }
            if (whatIf)
            {
                foreach (var failed in plan.Tags.Where(t => t.Action == SyncAction.Failed)) WriteError(TagError(failed.Error!, failed));
                return;
            }

            var finished = new ConcurrentQueue<TagSyncResult>();
            int done = 0;
            // Results are written in the plan's order (by tag), each as soon as those before it are done.
            var order = plan.Tags.Where(t => !t.ChangesDestination || approved.Contains(t)).ToList();
            var ready = new System.Collections.Generic.Dictionary<TagSyncPlan, TagSyncResult>();
            int next = 0;
            int total = order.Count;
            var activity = $"Sync {plan.Source} to {plan.Destination}";
            void WriteReady()
            {
                while (finished.TryDequeue(out var r)) ready[r.Plan] = r;
                while (next < order.Count && ready.TryGetValue(order[next], out var r))
                {
                    ready.Remove(order[next++]);
                    Write(r);
                }
            }
            void Drain()
            {
                WriteReady();
                WriteProgress(new ProgressRecord(1, activity, $"{Volatile.Read(ref done)} of {total} tags")
                {
                    PercentComplete = total == 0 ? 100 : Math.Min(100, Volatile.Read(ref done) * 100 / total),
                });
            }
            var progress = new QueueProgress(r => { finished.Enqueue(r); Interlocked.Increment(ref done); });
            try
            {
                TryRun(ct => sync.ExecuteAsync(plan, options, approved.Contains, progress, ct), "Repository", Source, out _, Drain);
                WriteReady();
            }
            finally
            {
                WriteProgress(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
            }
        }

        private RepositorySyncOptions Options(bool detailedPlan) => new RepositorySyncOptions
        {
            Platforms = Platform,
            ThrottleLimit = ThrottleLimit,
            Prune = Prune,
            Shard = _shard,
            TagFilter = _patterns == null ? null : (Func<string, bool>)(tag => _patterns.Filter(new[] { tag }).Count > 0),
            Selector = _versions,
            IncludeReferrers = IncludeReferrers.IsPresent,
            DetailedPlan = detailedPlan,
        };

        private void Write(TagSyncResult result)
        {
            if (result.Action == SyncAction.Failed) WriteError(TagError(result.Error!, result.Plan));
            else WriteVerbose($"{result.Action} {result.Destination} {result.Digest}" + (result.Copy != null
                ? $": {result.Copy.TransferredCount} blobs transferred ({DisplayFormat.Size(result.BytesTransferred)}), {result.Copy.MountedCount} mounted, {result.Copy.SkippedCount} skipped."
                : "."));
            var output = PSObject.AsPSObject(new SyncResult(result));
            output.TypeNames.Insert(0, SyncResult.TypeName);
            WriteObject(output);
        }

        /// <summary>The engine's own error (its id and category), with the tag it happened to; an unexpected failure is SyncTagFailed.</summary>
        private static ErrorRecord TagError(Exception e, TagSyncPlan tag)
        {
            var message = $"Syncing {tag.Source} to {tag.Destination} failed: {e.Message}";
            if (!RegistryErrors.IsExpected(e))
                return new ErrorRecord(e, "SyncTagFailed", ErrorCategory.NotSpecified, tag.Source) { ErrorDetails = new ErrorDetails(message) };
            var record = RegistryErrors.Create(e, "Tag", tag.Source);
            record.ErrorDetails = new ErrorDetails(message) { RecommendedAction = record.ErrorDetails?.RecommendedAction };
            return record;
        }

        private static string Describe(TagSyncPlan tag)
        {
            var what = tag.Action switch
            {
                SyncAction.Copied => tag.Digest != null ? $"Copy {tag.Digest} from {tag.Source} (new tag)" : $"Copy from {tag.Source} (new tag)",
                SyncAction.Updated => $"Update from {tag.DestinationDigest} to {tag.Digest} (copy from {tag.Source})",
                SyncAction.Unchanged => $"Leave unchanged at {tag.Digest}",
                SyncAction.Pruned => $"Prune: remove the tag (at {tag.DestinationDigest?.ToString() ?? "no manifest"}), missing from {tag.Source.WithoutReference()}",
                _ => tag.Action.ToString(),
            };
            var copy = tag.CopyPlan;
            if (copy != null && copy.DestinationChecked)
                what += $"; transfer {copy.TransferCount} blobs ({DisplayFormat.Size(copy.BytesToTransfer)}), mount {copy.MountCount}, skip {copy.SkipCount}";
            if (tag.Referrers != null)
                what += tag.Referrers.Count == 0
                    ? "; no referrers"
                    : $"; with {tag.Referrers.Count} referrer{(tag.Referrers.Count == 1 ? string.Empty : "s")}: "
                        + string.Join(", ", tag.Referrers.Select(r => $"{r.Referrer.Digest} ({r.Referrer.ArtifactType ?? r.Referrer.Kind.ToString()})"));
            return what;
        }

        /// <summary>
        /// A removal is high-impact: ShouldProcess (for -WhatIf and -Confirm), then, unless the user settled it already (-Force,
        /// -Confirm given either way, a confirm preference that asked at ShouldProcess or never asks, a host that cannot
        /// prompt), ShouldContinue.
        /// </summary>
        private bool ConfirmPrune(TagSyncPlan tag)
        {
            var target = tag.Destination.ToString();
            if (!ShouldProcess(target, Describe(tag))) return false;
            if (Force || MyInvocation.BoundParameters.ContainsKey("Confirm")) return true;
            var preference = GetVariableValue("ConfirmPreference") is ConfirmImpact p ? p : ConfirmImpact.High;
            if (preference == ConfirmImpact.None || preference <= ConfirmImpact.Medium) return true;
            if (HostCannotPrompt())
            {
                WriteVerbose($"Pruning {target} without confirmation: this host cannot prompt.");
                return true;
            }
            return ShouldContinue($"Remove tag {target}? It is missing from {tag.Source.WithoutReference()}.", "Prune", ref _yesToAll, ref _noToAll);
        }

        private bool IsWhatIf()
        {
            if (MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w)) return ((SwitchParameter)w).IsPresent;
            return LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));
        }

        /// <summary>True when ShouldProcess will show the plan or ask about it (then each copy is planned in full).</summary>
        private bool WillShowPlan()
        {
            if (IsWhatIf() || MyInvocation.BoundParameters.ContainsKey("Confirm") && LanguagePrimitives.IsTrue(MyInvocation.BoundParameters["Confirm"])) return true;
            return GetVariableValue("ConfirmPreference") is ConfirmImpact impact && impact != ConfirmImpact.None && impact <= ConfirmImpact.Medium;
        }

        /// <summary>Counts and queues results reported from Core's worker threads; the pipeline thread writes them.</summary>
        private sealed class QueueProgress : IProgress<TagSyncResult>
        {
            private readonly Action<TagSyncResult> _report;

            public QueueProgress(Action<TagSyncResult> report) => _report = report;

            public void Report(TagSyncResult value) => _report(value);
        }
    }
}
