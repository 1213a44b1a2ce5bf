using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text;
using MobyDistribution.Operations;
using CoreProgress = MobyDistribution.Operations.TransferProgress;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Copies an image between repositories and registries, keeping its digest.</para>
    /// <para type="description">
    /// The equivalent of docker tag + docker push, and of crane copy. Manifests are pushed byte for byte, so the
    /// destination digest equals the source digest. A multi-platform index is copied whole; -Platform copies only some
    /// platforms into a new index (whose digest then differs, which the cmdlet says). Blobs the destination has are
    /// skipped; within one registry they are mounted; otherwise they are streamed from registry to registry with no
    /// temporary file, several at once (-ThrottleLimit). -WhatIf shows the plan: which blobs would be transferred,
    /// mounted or skipped, and how many bytes. A destination without a tag takes the source's tag, so tags piped
    /// from Get-RegistryTag mirror a repository. -IncludeReferrers copies the image's signatures, SBOMs and attestations
    /// too, each written after the image.
    /// </para>
    /// </summary>
    /// <example><code>Copy-RegistryImage -Source localhost:5000/team/app:v1 -Destination registry.example.com/team/app:v1</code></example>
    /// <example><code>Get-RegistryTag localhost:5000/team/app | Copy-RegistryImage -Destination localhost:5001/mirror/app</code></example>
    [Cmdlet(VerbsCommon.Copy, "RegistryImage", SupportsShouldProcess = true)]
    [OutputType(typeof(CopiedImage))]
    public sealed class CopyRegistryImageCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The image to copy: a tag or digest reference, or what Get-RegistryTag and Get-ImageManifest write.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Reference")]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Source { get; set; } = null!;

        /// <summary>
        /// <para type="description">Where to copy it: registry/repository[:tag]. Without a tag, the source's tag (or digest) is used.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Destination { get; set; } = null!;

        /// <summary>
        /// <para type="description">Copy only these platforms of a multi-platform index (e.g. linux/amd64, linux/arm64/v8) into a new index.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public Platform[]? Platform { get; set; }

        /// <summary>
        /// <para type="description">How many blobs are transferred at once. The default is 8 (measured: bench/results.md).</para>
        /// </summary>
        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = ImageCopyOptions.DefaultThrottleLimit;

        /// <summary>
        /// <para type="description">Also copies the image's referrers (signatures, SBOMs, attestations, and their own referrers),
        /// for the index and each platform image, keeping their digests; at a destination without the referrers API the
        /// tag-schema indexes are kept there. -WhatIf lists the referrers that would travel.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter IncludeReferrers { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            // The plan asks the destination which blobs it has only when someone will look at it (-WhatIf, -Confirm); otherwise
            // each blob's transfer asks while it opens its upload session, a round trip less per blob on a far registry.
            var options = new ImageCopyOptions { Platforms = Platform, ThrottleLimit = ThrottleLimit, CheckDestination = WillShowPlan() };
            var copier = new ImageCopier(Connections);
            if (!TryRun(ct => copier.PlanAsync(Source, Destination, options, ct), "Image", Source, out var plan)) return;

            if (plan.DigestChanges)
                WriteWarning($"Only {string.Join(", ", Platform!.Select(p => p.ToString()))} of {Source} are copied: the new index has a digest of its own, not {plan.SourceDescriptor.Digest}."
                    + (IncludeReferrers ? " The referrers of the source index stay behind; those of the platform images travel." : string.Empty));
            var referrerCopier = new ReferrerCopier(Connections);
            IReadOnlyList<ReferrerCopyStep> referrers = Array.Empty<ReferrerCopyStep>();
            if (IncludeReferrers && !TryRun(ct => referrerCopier.PlanAsync(plan, ct), "Image", Source, out referrers)) return;
            if (!ShouldProcess(Describe(plan, referrers), $"Copy {plan.Source} to {plan.Destination}?", "Copy-RegistryImage")) return;

            var transfers = plan.Blobs.Where(b => b.Action == BlobCopyAction.Transfer || b.Action == BlobCopyAction.Mount)
                .ToDictionary(b => b.Digest, b => new TransferProgress("Blob " + b.Digest.Short, b.Size));
            var view = new TransferProgressView($"Copy {plan.Source} to {plan.Destination}", transfers.Values.ToList());
            var progress = new CopyProgress(transfers);
            ImageCopyResult result;
            try
            {
                if (!TryRun(ct => copier.ExecuteAsync(plan, options, progress, ct), "Image", Source, out result, () => view.Write(this))) return;
            }
            finally
            {
                view.Complete(this);
            }
            WriteVerbose(plan.UpToDate
                ? $"{result.Descriptor.Source} is there already: nothing copied."
                : $"Copied {plan.Source} to {result.Descriptor.Source}: {result.TransferredCount} blobs transferred ({DisplayFormat.Size(result.BytesTransferred)}), {result.MountedCount} mounted, {result.SkippedCount} skipped.");
            WriteObject(new CopiedImage(result));
            if (referrers.Count == 0) return;

            // The referrers follow the image: a signature is only pushed once what it signs is there.
            if (!TryRun(ct => referrerCopier.CopyAsync(referrers, options, null, ct), "Referrer", Source, out IReadOnlyList<ImageCopyResult> copied)) return;
            WriteVerbose($"Copied {copied.Count} referrers of {plan.Source} to {plan.Destination.WithoutReference()}.");
            foreach (var r in copied) WriteObject(new CopiedImage(r));
        }

        /// <summary>True when ShouldProcess will show the plan or ask about it.</summary>
        private bool WillShowPlan()
        {
            if (MyInvocation.BoundParameters.ContainsKey("WhatIf") || MyInvocation.BoundParameters.ContainsKey("Confirm")) return true;
            var whatIf = SessionState.PSVariable.GetValue("WhatIfPreference");
            if (whatIf is SwitchParameter sw ? sw.IsPresent : whatIf is bool b ? b : false) return true;
            // ConfirmImpact is Medium: a preference of Medium or Low asks.
            return SessionState.PSVariable.GetValue("ConfirmPreference") is ConfirmImpact impact && impact != ConfirmImpact.None && impact <= ConfirmImpact.Medium;
        }

        /// <summary>The plan as -WhatIf shows it.</summary>
        private static string Describe(ImageCopyPlan plan, IReadOnlyList<ReferrerCopyStep> referrers)
        {
            if (plan.UpToDate) return $"{plan.Destination} has {plan.Present!.Digest} already: nothing to copy or push.";
            var text = new StringBuilder();
            text.Append($"Copy {plan.Source} to {plan.Destination}: transfer {plan.TransferCount} blobs ({DisplayFormat.Size(plan.BytesToTransfer)}), ")
                .Append($"mount {plan.MountCount}, skip {plan.SkipCount}; push {plan.Manifests.Count} manifest{(plan.Manifests.Count == 1 ? string.Empty : "s")}.");
            foreach (var blob in plan.Blobs)
                text.AppendLine().Append($"  {blob.Action,-8} {blob.Digest} {DisplayFormat.Size(blob.Size),10}  {blob.MediaType}");
            foreach (var manifest in plan.Manifests)
                text.AppendLine().Append($"  Push     {manifest.Digest} as {manifest.Reference}  {manifest.MediaType}{(manifest.Platform != null ? " (" + manifest.Platform + ")" : string.Empty)}");
            foreach (var step in referrers)
                text.AppendLine().Append($"  Referrer {step.Referrer.Digest} {step.Referrer.ArtifactType ?? step.Referrer.MediaType} ({step.Referrer.Kind}) of {step.Referrer.Subject.Digest} to {step.Destination}");
            return text.ToString();
        }

        /// <summary>Core reports per blob from worker threads; only counters are touched here.</summary>
        private sealed class CopyProgress : IProgress<CoreProgress>
        {
            private readonly IReadOnlyDictionary<Digest, TransferProgress> _transfers;

            public CopyProgress(IReadOnlyDictionary<Digest, TransferProgress> transfers) => _transfers = transfers;

            public void Report(CoreProgress value)
            {
                if (!_transfers.TryGetValue(value.Digest, out var t)) return;
                t.Report(value.BytesDone);
                if (value.Completed) t.Finish();
            }
        }
    }
}
