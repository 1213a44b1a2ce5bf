using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Builds one multi-platform index from images and indexes, and pushes it.</para>
    /// <para type="description">
    /// The equivalent of docker manifest create + push and of crane index append. Each image is listed under the platform
    /// its config records (os, architecture, variant, os.version, os.features); an index given as input is flattened: its
    /// entries are taken as they are, with their platforms. An image given twice is listed once. Two different images for
    /// the same platform are a DuplicatePlatform error naming both, and nothing is pushed. The index is an OCI index unless
    /// every child has a Docker media type, when it is a Docker manifest list; -MediaType chooses. Images in other
    /// repositories or registries are first copied by digest into the destination repository (blobs skipped when there,
    /// mounted within a registry, streamed otherwise); the index is pushed last, once every child is there. -WhatIf shows
    /// what would be copied and pushed. References, tags from Get-RegistryTag and manifests from Get-ImageManifest can be
    /// piped in. Writes the index pushed, as Get-ImageManifest would read it.
    /// </para>
    /// </summary>
    /// <example><code>New-ImageIndex -Reference localhost:5000/app:v1-amd64, localhost:5000/app:v1-arm64 -Destination localhost:5000/app:v1</code></example>
    /// <example><code>Get-ImageManifest localhost:5000/build/app-amd64:v2, localhost:5001/build/app-arm64:v2 | New-ImageIndex -Destination registry.example.com/team/app:v2 -WhatIf</code></example>
    /// <example><code>New-ImageIndex localhost:5000/app:v1, localhost:5000/app-windows:v1 -Destination localhost:5000/app:v1-all -MediaType docker</code></example>
    [Cmdlet(VerbsCommon.New, "ImageIndex", SupportsShouldProcess = true)]
    [OutputType(typeof(ImageIndex))]
    public sealed class NewImageIndexCommand : RegistryRequestCmdletBase
    {
        private readonly List<ImageReference> _references = new List<ImageReference>();

        /// <summary>
        /// <para type="description">The images and indexes to combine, in the order their entries are listed: tag or digest references,
        /// or what Get-RegistryTag and Get-ImageManifest write.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference[] Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">Where to push the index: registry/repository:tag, or @digest when its digest is known. Without either, latest.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Destination { get; set; } = null!;

        /// <summary>
        /// <para type="description">oci for an OCI image index, docker for a Docker manifest list. The default follows the children: docker
        /// when all have Docker media types, else oci. A Docker list over OCI manifests is written with a warning: older Docker engines cannot read it.</para>
        /// </summary>
        [Parameter]
        [ValidateSet("oci", "docker", IgnoreCase = true)]
        public string? MediaType { get; set; }

        /// <summary>
        /// <para type="description">How many blobs are transferred at once while a child image is copied, and how many inputs are read at once. The default is 8.</para>
        /// </summary>
        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = ImageCopyOptions.DefaultThrottleLimit;

        /// <inheritdoc />
        protected override void ProcessRecord() => _references.AddRange(Reference);

        /// <inheritdoc />
        protected override void EndProcessing()
        {
            if (_references.Count == 0)
            {
                WriteError(new PSArgumentException("No image was given to list in the index."), "ImageIndexEmpty", ErrorCategory.InvalidArgument, Destination);
                return;
            }
            var options = new ImageIndexOptions
            {
                MediaType = MediaType == null ? null : MediaType.ToLowerInvariant() == "docker" ? MediaTypes.DockerManifestList : MediaTypes.OciIndex,
                ThrottleLimit = ThrottleLimit,
            };
            var builder = new ImageIndexBuilder(Connections);
            if (!TryRun(ct => builder.PlanAsync(_references, Destination, options, ct), "Image", Destination, out var plan)) return;
            foreach (var note in plan.Notes) WriteVerbose(note);
            foreach (var warning in plan.Warnings) WriteWarning(warning);
            if (!ShouldProcess(Describe(plan), $"Push index {plan.Index.Digest} of {plan.Entries.Count} images to {plan.Destination}?", "New-ImageIndex")) return;

            var tracker = new BlobProgressTracker();
            var view = new TransferProgressView($"Build index {plan.Destination}", tracker.Snapshot);
            ImageIndexResult result;
            try
            {
                if (!TryRun(ct => builder.ExecuteAsync(plan, options, tracker, ct), "Image", Destination, out result, () => view.Write(this))) return;
            }
            finally
            {
                view.Complete(this);
            }
            WriteVerbose($"Pushed {result.Index.MediaType} {result.Index.Digest} to {plan.Destination}: {result.Copies.Count} images copied "
                + $"({DisplayFormat.Size(result.BytesTransferred)} transferred), {plan.Entries.Count - result.Copies.Count} there already.");
            WriteObject(result.Index);
        }

        /// <summary>The plan as -WhatIf shows it.</summary>
        private static string Describe(ImageIndexPlan plan)
        {
            var copies = plan.Copies.Select(e => e.Copy!).ToList();
            var text = new StringBuilder();
            text.Append($"Build {plan.Index.MediaType} {plan.Index.Digest} of {plan.Entries.Count} images at {plan.Destination}: ")
                .Append($"copy {copies.Count} (transfer {copies.Sum(c => c.TransferCount)} blobs, {DisplayFormat.Size(copies.Sum(c => c.BytesToTransfer))}; ")
                .Append($"mount {copies.Sum(c => c.MountCount)}, skip {copies.Sum(c => c.SkipCount)}), {plan.Entries.Count - copies.Count} there already; push the index last.");
            foreach (var e in plan.Entries)
                text.AppendLine().Append($"  {(e.Present ? "Present" : "Copy"),-8} {e.Digest} {e.Platform?.ToString() ?? "(no platform)",-16} from {e.Source}");
            text.AppendLine().Append($"  Push     {plan.Index.Digest} as {plan.Destination.Reference}  {plan.Index.MediaType}");
            return text.ToString();
        }
    }
}
