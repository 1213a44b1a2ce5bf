using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using MobyDistribution.Formats;
using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Builds a new image from a base image plus layers made from folders, tar files or plain files, and pushes it.</para>
    /// <para type="description">
    /// Takes the base image (-Reference; scratch for none), adds one layer per -Path (a folder, packed as a reproducible tar:
    /// entries sorted, timestamps fixed unless -PreserveTimestamps, owner 0:0; a tar file, plain or compressed; or any other
    /// file, as the layer's only file), under -Prefix for folders and plain files, updates the config's rootfs.diff_ids and
    /// history, applies -Label, -Environment, -Entrypoint, -Command and -WorkingDirectory, and pushes the result to
    /// -Destination. Config fields this module does not know are kept exactly. The manifest has the base's kind (OCI for
    /// scratch). Base layers are mounted when the base is in the same registry, copied otherwise.
    /// </para>
    /// </summary>
    /// <example><code>Add-ImageLayer -Reference localhost:5000/base/debian:12 -Path ./app -Destination localhost:5000/team/app:v2 -Command '/app/run'</code></example>
    /// <example><code>Add-ImageLayer -Reference scratch -Path ./rootfs.tar -Destination localhost:5000/tools/static:v1 -Label @{ 'org.opencontainers.image.title' = 'static' }</code></example>
    /// <example><code>Add-ImageLayer -Reference localhost:5000/team/app:v1 -Path ./app.conf -Prefix /etc/app -Destination localhost:5000/team/app:v2</code></example>
    [Cmdlet(VerbsCommon.Add, "ImageLayer", SupportsShouldProcess = true)]
    [OutputType(typeof(ImageLayerResult))]
    public sealed class AddImageLayerCommand : ImageConfigCmdletBase
    {
        /// <summary>
        /// <para type="description">The base image, or scratch to start from nothing.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">Folders, tar files or plain files, one layer each, in order.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[] Path { get; set; } = null!;

        /// <summary>
        /// <para type="description">Where to push the new image (registry/repository[:tag]; tag latest when none).</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 2)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Destination { get; set; } = null!;






        /// <summary>
        /// <para type="description">The platform to take from a multi-platform base index; the default is this machine's
        /// platform if the index has it, else linux/&lt;this architecture&gt;, else linux/amd64 (for scratch: this machine's).
        /// A platform the index lacks is a PlatformNotFound error naming those it has.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Platform? Platform { get; set; }

        /// <summary>
        /// <para type="description">Keeps the files' modification times in layers made from folders (otherwise they are fixed, so the same folder gives the same layer).</para>
        /// </summary>
        [Parameter]
        public SwitchParameter PreserveTimestamps { get; set; }

        /// <summary>
        /// <para type="description">The folder inside the image that folders' content and plain files go into, such as /app; the image's root by default. Not for tar files.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Prefix { get; set; }


        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var paths = new List<string>();
            foreach (var pattern in Path)
            {
                var resolved = ResolveExistingPaths(pattern);
                if (resolved.Length == 0) return; // reported; a layer missing would make another image than asked
                paths.AddRange(resolved);
            }
            var baseName = ImageLayerAdder.IsScratch(Reference) ? "scratch" : Reference.ToString();
            if (!ShouldProcess(Destination.ToString(), $"Push {baseName} plus {paths.Count} layer{(paths.Count == 1 ? string.Empty : "s")} from {string.Join(", ", paths)}")) return;

            var options = new ImageLayerOptions
            {
                Labels = ToDictionary(Label),
                Environment = Environment,
                Entrypoint = Entrypoint,
                Command = Command,
                WorkingDirectory = WorkingDirectory,
                Platform = Platform,
                PreserveTimestamps = PreserveTimestamps,
                Prefix = Prefix,
                Created = CreatedIfGiven,
            };
            var adder = new ImageLayerAdder(Connections);
            var tracker = new BlobProgressTracker();
            var view = new TransferProgressView($"Push {Destination}", tracker.Snapshot);
            try
            {
                ImageLayerResult result;
                try
                {
                    result = Run(ct => adder.AddLayersAsync(ImageLayerAdder.IsScratch(Reference) ? null : Reference, paths, Destination, options, tracker, ct), () => view.Write(this));
                }
                catch (LayerSourceException e) when (!Stopping && e.Kind != Errors.RegistryErrorKind.Security)
                {
                    // A file that is not the archive its name says, or a damaged archive: the user's input, not the registry's.
                    WriteError(new ErrorRecord(e, "LayerSourceInvalid", ErrorCategory.InvalidData, e.SourcePath));
                    return;
                }
                catch (System.Exception e) when (RegistryErrors.IsExpected(e) && !Stopping)
                {
                    WriteError(RegistryErrors.Create(e, "Image", Destination));
                    return;
                }
                WriteVerbose($"Pushed {result.Reference}: {result.AddedLayers.Count} new layers, config {result.ConfigDigest.Short}.");
                WriteObject(result);
            }
            finally
            {
                view.Complete(this);
            }
        }
    }
}
