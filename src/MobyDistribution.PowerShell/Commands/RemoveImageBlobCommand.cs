using System.Management.Automation;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Deletes a blob from a repository.</para>
    /// <para type="description">
    /// The registry must allow deletes. Manifests that still refer to the blob become unusable; registries usually
    /// reclaim storage only in garbage collection. Descriptors (their Source and Digest) can be piped in.
    /// </para>
    /// </summary>
    /// <example><code>Remove-ImageBlob -Repository localhost:5000/app -Digest sha256:0123…</code></example>
    [Cmdlet(VerbsCommon.Remove, "ImageBlob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(Descriptor))]
    public sealed class RemoveImageBlobCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The repository, e.g. <c>localhost:5000/app</c>.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [Alias("Source")]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Repository { get; set; } = null!;

        /// <summary>
        /// <para type="description">The blob's digest.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNull]
        public Digest Digest { get; set; } = null!;

        /// <summary>
        /// <para type="description">Writes the descriptor of the deleted blob.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var repository = Repository.WithoutReference();
            var target = repository.WithDigest(Digest);
            var client = ClientFor(repository);
            if (!TryRun(ct => client.Blobs.GetDescriptorAsync(repository.Repository, Digest, ct), "Blob", target, out Descriptor descriptor)) return;
            if (!ShouldProcessUnattended(target.ToString(), $"Remove blob ({descriptor.Size} bytes)")) return;
            if (TryRun(ct => client.Blobs.DeleteAsync(repository.Repository, Digest, ct), "Blob", target) && PassThru)
                WriteObject(descriptor);
        }
    }
}
