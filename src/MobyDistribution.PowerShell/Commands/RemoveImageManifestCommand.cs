using System.Management.Automation;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Deletes a manifest from a registry.</para>
    /// <para type="description">
    /// Registries delete manifests by digest only, so a tag is first resolved to the digest it points at, and deleting
    /// that manifest removes every tag that points at it. The registry must allow deletes. With -PassThru, writes the
    /// descriptor of the deleted manifest. Manifests from Get-ImageManifest can be piped in.
    /// </para>
    /// </summary>
    /// <example><code>Remove-ImageManifest localhost:5000/app@sha256:0123…</code></example>
    [Cmdlet(VerbsCommon.Remove, "ImageManifest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(Descriptor))]
    public sealed class RemoveImageManifestCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The manifest: <c>registry/repository@digest</c>, or a tag to resolve.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">Writes the descriptor of the deleted manifest.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var client = ClientFor(Reference);
            var repository = Reference.Repository;
            if (!TryRun(ct => client.Manifests.GetDescriptorAsync(repository, Reference.Reference, ct), "Manifest", Reference, out Descriptor descriptor)) return;

            var target = Reference.WithoutReference().WithDigest(descriptor.Digest);
            var action = Reference.Digest is null
                ? $"Remove manifest {descriptor.Digest} that tag '{Reference.Reference}' points at, and with it every tag that points at it"
                : "Remove manifest, and with it every tag that points at it";
            if (!ShouldProcessUnattended(target.ToString(), action)) return;
            if (Reference.Digest is null)
                WriteWarning($"Deleting {Reference} deletes manifest {descriptor.Digest}: every tag that points at it goes too.");

            if (TryRun(ct => client.Manifests.DeleteAsync(repository, descriptor.Digest.ToString(), ct), "Manifest", target, out Digest _) && PassThru)
                WriteObject(descriptor);
        }
    }
}
