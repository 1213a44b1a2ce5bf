using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text;
using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Changes an image's config (labels, environment, entrypoint, command, working directory, user, created time) and manifest annotations, and pushes the result.</para>
    /// <para type="description">
    /// The equivalent of crane mutate. Reads the image -Reference names, edits its config (every field not asked for keeps its
    /// exact bytes, unknown fields too), writes a manifest with the same layers pointing at the new config (with -Annotation
    /// merged into its annotations; OCI images only), and pushes config and manifest to -Destination, the manifest last. For a
    /// multi-platform index, every image is rewritten, or only those of -Platform, and a new index of the same media type is
    /// pushed, with the same entries, platforms and annotations, only the rewritten entries' digests and sizes new. Layers are
    /// mounted within a registry and copied between registries; in the source's own repository nothing but the config and
    /// manifests is pushed. A destination without a tag takes the source's. Writes the new manifest's descriptor, whose Source
    /// is the destination with its digest. -WhatIf shows the new digests and pushes nothing.
    /// </para>
    /// </summary>
    /// <example><code>Set-ImageConfig -Reference localhost:5000/team/app:v1 -Destination localhost:5000/team/app:v1-labelled -Label @{ 'org.opencontainers.image.version' = '1.0.0' }</code></example>
    /// <example><code>Set-ImageConfig localhost:5000/team/app:v2 localhost:5000/team/app -Entrypoint '/app/run' -User '1000:1000' -Environment 'MODE=production'</code></example>
    [Cmdlet(VerbsCommon.Set, "ImageConfig", SupportsShouldProcess = true)]
    [OutputType(typeof(Descriptor))]
    public sealed class SetImageConfigCommand : ImageConfigCmdletBase
    {
        /// <summary>
        /// <para type="description">The image or index to change: a tag or digest reference, or what Get-RegistryTag, Get-ImageManifest and Get-ImageConfig write.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">Where to push the result: registry/repository[:tag]. Without a tag, the source's tag. It may be the source itself, to change a tag in place.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Destination { get; set; } = null!;


        /// <summary>
        /// <para type="description">Labels to remove; a name the image lacks is ignored.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string[]? RemoveLabel { get; set; }





        /// <summary>
        /// <para type="description">The user containers run as: user, uid, user:group or uid:gid.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? User { get; set; }


        /// <summary>
        /// <para type="description">Annotations to merge into each rewritten image manifest (OCI images only: a Docker schema2 manifest has none, and is refused).</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Hashtable? Annotation { get; set; }

        /// <summary>
        /// <para type="description">For an index, rewrite only the images of these platforms (e.g. linux/amd64, linux/arm64/v8); the
        /// others keep their manifests and digests. A platform the index lacks is a PlatformNotFound error. A single image is
        /// changed whatever its platform.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public Platform[]? Platform { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var changes = new ImageConfigChanges
            {
                Labels = ToDictionary(Label),
                RemoveLabels = RemoveLabel,
                Environment = Environment,
                Entrypoint = Entrypoint,
                Command = Command,
                WorkingDirectory = WorkingDirectory,
                User = User,
                Created = CreatedIfGiven,
                Annotations = ToDictionary(Annotation),
                Platforms = Platform,
            };
            var editor = new ImageConfigEditor(Connections);
            if (!TryRun(ct => editor.PlanAsync(Reference, Destination, changes, ct), "Image", Reference, out var plan)) return;
            if (!ShouldProcess(Describe(plan), $"Push {plan.Source} with a changed config to {plan.Destination}?", "Set-ImageConfig")) return;

            var tracker = new BlobProgressTracker();
            var view = new TransferProgressView($"Push {plan.Destination}", tracker.Snapshot);
            try
            {
                if (!TryRun(ct => editor.ExecuteAsync(plan, tracker, ct), "Image", plan.Destination, out Descriptor pushed, () => view.Write(this))) return;
                WriteVerbose($"Pushed {pushed.Source}: {plan.Images.Count(i => i.Changed)} of {plan.Images.Count} image manifests changed.");
                WriteObject(pushed);
            }
            finally
            {
                view.Complete(this);
            }
        }

        /// <summary>The plan as -WhatIf shows it: each image's new config and manifest, and the manifest the tag will name.</summary>
        private static string Describe(ImageConfigEditPlan plan)
        {
            var text = new StringBuilder($"Push {plan.Result.Digest} to {plan.Destination} (from {plan.Source}, {plan.SourceManifest.Digest}):");
            foreach (var image in plan.Images)
            {
                var platform = image.Platform != null ? image.Platform + ": " : string.Empty;
                text.AppendLine().Append(image.Rewritten
                    ? $"  {platform}config {image.SourceManifest.Config.Digest.Short} -> {image.Manifest.Config.Digest.Short}, manifest {image.SourceManifest.Digest.Short} -> {image.Manifest.Digest.Short}"
                    : $"  {platform}kept as it is, manifest {image.Manifest.Digest.Short}");
            }
            return text.ToString();
        }
    }
}
