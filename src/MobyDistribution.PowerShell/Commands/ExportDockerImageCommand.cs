using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text;
using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Exports images from registries to a docker save tarball (or an OCI image layout).</para>
    /// <para type="description">
    /// Writes a tar that docker load accepts (Docker image spec v1.2: manifest.json, repositories, the config as
    /// &lt;hex&gt;.json, and per layer a folder with VERSION, json and the uncompressed layer.tar, checked against the config's
    /// diff_ids while it is written). Several images go into one tar, their shared layers stored once; RepoTags are written as
    /// docker writes them. From a multi-platform index the image of -Platform is taken (by default this machine's platform
    /// if the index has it, else linux with this machine's architecture, else linux/amd64). -Format OciLayout writes an OCI image layout instead: a folder, or a tar when -Path ends in .tar.
    /// Everything streams from the registry; the file is written under a temporary name beside -Path and renamed at the end,
    /// so a failure or Ctrl+C leaves nothing there. An existing file is an error (DestinationExists) unless -Force is given.
    /// -IncludeReferrers (OciLayout only) also writes each image's signatures, SBOMs and attestations into the layout, as oras does.
    /// </para>
    /// </summary>
    /// <example><code>Export-DockerImage -Reference localhost:5000/team/app:v1 -Path ./app.tar</code></example>
    /// <example><code>Get-RegistryTag localhost:5000/team/app | Export-DockerImage -Path ./all-tags.tar -Platform linux/arm64</code></example>
    /// <example><code>Export-DockerImage localhost:5000/team/app:v1 ./app-layout -Format OciLayout -IncludeReferrers</code></example>
    [Cmdlet(VerbsData.Export, "DockerImage", SupportsShouldProcess = true)]
    [OutputType(typeof(FileInfo), typeof(DirectoryInfo))]
    public sealed class ExportDockerImageCommand : RegistryRequestCmdletBase
    {
        private readonly List<ImageReference> _references = new List<ImageReference>();

        /// <summary>
        /// <para type="description">The images to export (tags or digests); several, or piped, go into one archive.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference[] Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">The tar file to write (for -Format OciLayout: a folder, or a tar when it ends in .tar).</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = null!;

        /// <summary>
        /// <para type="description">The platform to take from a multi-platform index, e.g. linux/arm64/v8. The default is this
        /// machine's platform if the index has it, else linux/&lt;this architecture&gt;, else linux/amd64. A platform the index
        /// lacks is a PlatformNotFound error naming those it has.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Platform? Platform { get; set; }

        /// <summary>
        /// <para type="description">DockerArchive (the default: a docker save tar) or OciLayout.</para>
        /// </summary>
        [Parameter]
        public ImageExportFormat Format { get; set; } = ImageExportFormat.DockerArchive;

        /// <summary>
        /// <para type="description">Also writes the referrers of each image (signatures, SBOMs, attestations naming it as their
        /// subject, and their own referrers, recursively; found by the OCI referrers API, the sha256-&lt;hex&gt; tag schema or
        /// cosign's .sig/.att/.sbom tags) into the OCI layout: their manifests and blobs in blobs/, verified by digest, each manifest
        /// listed in index.json with its artifactType and annotations (a name only for a cosign tag), as oras stores referrers and
        /// oras discover --oci-layout reads them. Only with -Format OciLayout (otherwise IncludeReferrersNeedsOciLayout, before
        /// anything is written). -WhatIf lists the referrers that would be written.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter IncludeReferrers { get; set; }

        /// <summary>
        /// <para type="description">Replaces an existing file (or layout folder) at -Path.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>
        /// <para type="description">Writes the file (or folder) written.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord() => _references.AddRange(Reference);

        /// <inheritdoc />
        protected override void EndProcessing()
        {
            if (_references.Count == 0) return;
            // Checked before the path and the registry: nothing is fetched or written for a combination that cannot work.
            if (IncludeReferrers && Format != ImageExportFormat.OciLayout)
            {
                WriteError(new ArgumentException("-IncludeReferrers needs -Format OciLayout: a docker save tar has no place for signatures, SBOMs or attestations (docker load would drop them)."),
                    "IncludeReferrersNeedsOciLayout", ErrorCategory.InvalidArgument, Format);
                return;
            }
            var path = ResolveOutputPath(Path);
            if (!Force && (File.Exists(path) || Directory.Exists(path)))
            {
                WriteError(new IOException($"'{path}' exists already; use -Force to replace it."), "DestinationExists", ErrorCategory.ResourceExists, path);
                return;
            }
            var names = string.Join(", ", _references.Select(r => r.ToString()));
            var action = $"Export {names} as {(Format == ImageExportFormat.DockerArchive ? "a docker save tar" : "an OCI image layout")}";
            var exporter = new ImageExporter(Connections);
            var options = new ImageExportOptions { Format = Format, Platform = Platform, Overwrite = Force, IncludeReferrers = IncludeReferrers };
            ImageExportPlan? plan = null;
            if (IncludeReferrers)
            {
                // The referrers are found first so that -WhatIf can name them.
                if (!TryRun(ct => exporter.PlanAsync(_references, options, ct), "Image", _references.Count == 1 ? _references[0] : (object)path, out plan)) return;
                if (!ShouldProcess(Describe(action, path, plan), $"{action} to {path}?", "Export-DockerImage")) return;
            }
            else if (!ShouldProcess(path, action)) return;

            var tracker = new BlobProgressTracker();
            var view = new TransferProgressView($"Export to {System.IO.Path.GetFileName(path)}", tracker.Snapshot);
            ImageExportResult result;
            try
            {
                if (!TryRun(ct => plan != null ? exporter.ExportAsync(plan, path, tracker, ct) : exporter.ExportAsync(_references, path, options, tracker, ct), "Image", _references.Count == 1 ? _references[0] : (object)path, out result, () => view.Write(this)))
                    return;
            }
            finally
            {
                view.Complete(this);
            }
            foreach (var image in result.Images)
                WriteVerbose($"Exported {image.Reference} ({image.Platform}, config {image.ConfigDigest.Short}, {image.DiffIds.Count} layers){(image.RepoTag != null ? " as " + image.RepoTag : string.Empty)}.");
            foreach (var referrer in result.Referrers)
                WriteVerbose($"Exported referrer {referrer.Digest} ({referrer.ArtifactType ?? referrer.MediaType}, {referrer.Kind}) of {referrer.Subject.Digest}.");
            WriteVerbose($"Wrote {DisplayFormat.Size(result.BytesWritten)} to {result.Path}.");
            if (PassThru)
                WriteObject(Directory.Exists(result.Path) ? new DirectoryInfo(result.Path) : (object)new FileInfo(result.Path));
        }

        private static string Describe(string action, string path, ImageExportPlan plan)
        {
            var text = new StringBuilder($"{action} to {path}, with {plan.Referrers.Count} referrer{(plan.Referrers.Count == 1 ? string.Empty : "s")}.");
            foreach (var manifest in plan.Manifests)
                text.AppendLine().Append($"  Image    {manifest.Digest}  {manifest.MediaType}");
            foreach (var referrer in plan.Referrers)
                text.AppendLine().Append($"  Referrer {referrer.Digest} {referrer.ArtifactType ?? referrer.MediaType} ({referrer.Kind}) of {referrer.Subject.Digest}");
            return text.ToString();
        }
    }
}
