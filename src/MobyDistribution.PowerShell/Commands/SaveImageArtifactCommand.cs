using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using MobyDistribution.Operations;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Saves the files of an OCI artifact into a folder, under their titles (oras pull).</para>
    /// <para type="description">
    /// Reads the artifact's manifest and writes each layer that has an org.opencontainers.image.title annotation as a file of
    /// that name in -Path (created when missing). Every title is checked first: a title with a path separator, .., a colon,
    /// a control character or a name Windows reserves is refused (ArtifactInvalid) and nothing of that artifact is written.
    /// Each file is written under a temporary name and renamed only once its digest and size are verified. Layers without a
    /// title are skipped with a warning. An existing file is an error (DestinationExists) unless -Force is given.
    /// References, descriptors from Publish-ImageArtifact and referrers from Get-ImageReferrer can be piped in.
    /// </para>
    /// </summary>
    /// <example><code>Save-ImageArtifact localhost:5000/app-config:v1 -Path ./config</code></example>
    /// <example><code>Get-ImageReferrer localhost:5000/app:v1 -ArtifactType application/spdx+json | Save-ImageArtifact -Path ./sbom</code></example>
    [Cmdlet(VerbsData.Save, "ImageArtifact", SupportsShouldProcess = true)]
    [OutputType(typeof(FileInfo))]
    public sealed class SaveImageArtifactCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The artifacts: <c>registry/repository:tag</c> or <c>registry/repository@digest</c>.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference[] Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">The folder to write the files in; it is created when missing.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = null!;

        /// <summary>
        /// <para type="description">Overwrites existing files.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>
        /// <para type="description">Writes a FileInfo for each file saved.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            string folder;
            try { folder = ResolveOutputPath(Path); }
            catch (Exception e) when (e is ItemNotFoundException || e is ProviderNotFoundException || e is System.Management.Automation.DriveNotFoundException || e is NotSupportedException)
            {
                ThrowTerminatingError(new ErrorRecord(e, "InvalidPath", ErrorCategory.InvalidArgument, Path));
                return;
            }
            var artifacts = new ImageArtifacts(Connections);
            foreach (var reference in Reference) Save(artifacts, reference, folder);
        }

        private void Save(ImageArtifacts artifacts, ImageReference reference, string folder)
        {
            if (!TryRun(ct => artifacts.ReadAsync(reference, ct), "Artifact", reference, out ArtifactContents contents)) return;
            foreach (var layer in contents.Untitled)
                WriteWarning($"Layer {layer.Digest} of {reference} has no title ({ImageArtifacts.TitleAnnotation}); it is not a file and was not saved.");
            if (contents.Files.Count == 0) return;

            // Every path is settled before anything is written: a hostile title or a file in the way stops the artifact before its first file.
            var planned = new List<(ArtifactFile File, string Path)>();
            foreach (var file in contents.Files)
            {
                string path;
                try { path = ImageArtifacts.PathIn(folder, file); }
                catch (Exception e) when (e is InvalidDataException || e is Errors.RegistryException)
                {
                    WriteError(e, "ArtifactInvalid", ErrorCategory.InvalidData, reference);
                    return;
                }
                if (File.Exists(path) && !Force)
                {
                    WriteError(new IOException($"'{path}' exists already; use -Force to overwrite it. Nothing of {reference} was saved."), "DestinationExists", ErrorCategory.ResourceExists, path);
                    return;
                }
                planned.Add((file, path));
            }
            if (!ShouldProcess(folder, $"Save {planned.Count} files of artifact {reference}")) return;
            try { Directory.CreateDirectory(folder); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                WriteError(e, "DirectoryCreateFailed", ErrorCategory.WriteError, folder);
                return;
            }

            var source = contents.Manifest.Reference?.WithoutReference() ?? reference.WithoutReference();
            var progress = planned.Select(p => new TransferProgress(p.File.Title, p.File.Layer.Size)).ToList();
            var jobs = planned.Select((p, i) => new BlobDownloadJob(source, p.File.Layer.Digest, p.File.Layer.Size, p.Path, Force, progress[i])).ToList();
            var view = new TransferProgressView("Save-ImageArtifact", progress);
            try
            {
                Run(async ct =>
                {
                    await BlobDownloads.DownloadAllAsync(r => ClientFor(r), jobs, BlobDownloads.DefaultThrottleLimit, ct).ConfigureAwait(false);
                    return true;
                }, () => view.Write(this));
            }
            finally
            {
                foreach (var p in progress) p.Finish();
                view.Complete(this);
            }
            foreach (var job in jobs)
            {
                if (job.Error != null)
                {
                    WriteError(RegistryErrors.Create(job.Error, "Blob", source.WithDigest(job.Digest)));
                    continue;
                }
                WriteVerbose($"Saved {job.Digest} to {job.Path}.");
                if (PassThru) WriteObject(new FileInfo(job.Path));
            }
        }
    }
}
