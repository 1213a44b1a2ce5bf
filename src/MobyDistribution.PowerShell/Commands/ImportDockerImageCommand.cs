using System.Management.Automation;
using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Pushes the images of a docker save tarball to a registry.</para>
    /// <para type="description">
    /// Reads a docker save tar (Docker image spec v1.2, and Docker 25+ archives that carry an OCI layout) and pushes each image:
    /// to -Destination when given (the archive must then hold one image; tag latest when it names none), else to the names in
    /// the archive's RepoTags. The archive is checked before anything is pushed: entries that escape (absolute paths, .., links
    /// pointing outside) are refused (ArchiveEntryUnsafe), and every layer must match the config's diff_ids. Uncompressed layers
    /// are gzip-compressed on the way, deterministically, so the same tar always gives the same digests; compressed ones go as
    /// they are. The config is pushed unchanged, so the image ID (config digest) is kept.
    /// </para>
    /// </summary>
    /// <example><code>Import-DockerImage -Path ./app.tar -Destination localhost:5000/team/app:v1</code></example>
    /// <example><code>Get-ChildItem ./images/*.tar | Import-DockerImage</code></example>
    [Cmdlet(VerbsData.Import, "DockerImage", SupportsShouldProcess = true)]
    [OutputType(typeof(ImportedImage))]
    public sealed class ImportDockerImageCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The docker save tar files to import (wildcards allowed).</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "PSPath")]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[] Path { get; set; } = null!;

        /// <summary>
        /// <para type="description">Where to push the image (registry/repository[:tag]); without it, the archive's RepoTags.</para>
        /// </summary>
        [Parameter(Position = 1)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference? Destination { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            foreach (var pattern in Path)
            {
                foreach (var file in ResolveExistingPaths(pattern))
                {
                    var target = Destination?.ToString() ?? "the archive's RepoTags";
                    if (!ShouldProcess(file, $"Push the images of the archive to {target}")) continue;
                    var importer = new ImageImporter(Connections);
                    var tracker = new BlobProgressTracker();
                    var view = new TransferProgressView($"Import {System.IO.Path.GetFileName(file)}", tracker.Snapshot);
                    try
                    {
                        if (!TryRunArchive(ct => importer.ImportAsync(file, Destination, tracker, ct), file, out var images, () => view.Write(this))) continue;
                        foreach (var image in images)
                        {
                            WriteVerbose($"Pushed {image.Reference} (config {image.ConfigDigest.Short}, {image.Layers.Count} layers).");
                            WriteObject(image);
                        }
                    }
                    finally
                    {
                        view.Complete(this);
                    }
                }
            }
        }

        /// <summary>Like TryRun, with archive problems reported under archive ids.</summary>
        private bool TryRunArchive<T>(System.Func<System.Threading.CancellationToken, System.Threading.Tasks.Task<T>> work, string file, out T result, System.Action onTick)
        {
            try
            {
                result = Run(work, onTick);
                return true;
            }
            catch (Formats.ImageArchiveException e) when (!Stopping)
            {
                var (id, category) = e.Kind switch
                {
                    Errors.RegistryErrorKind.Security => ("ArchiveEntryUnsafe", ErrorCategory.SecurityError),
                    Errors.RegistryErrorKind.LimitExceeded => ("ArchiveTooLarge", ErrorCategory.LimitsExceeded),
                    _ => ("ArchiveInvalid", ErrorCategory.InvalidData),
                };
                WriteError(new ErrorRecord(e, id, category, file));
            }
            catch (System.Exception e) when (RegistryErrors.IsExpected(e) && !Stopping)
            {
                WriteError(RegistryErrors.Create(e, "Archive", file));
            }
            result = default!;
            return false;
        }
    }
}
