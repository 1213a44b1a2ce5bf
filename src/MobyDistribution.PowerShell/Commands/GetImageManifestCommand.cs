using System;
using System.Management.Automation;
using System.Text;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Gets image manifests and indexes from a registry.</para>
    /// <para type="description">
    /// Writes the manifest as an object: an image manifest (DockerManifestV2, OciImageManifest) with Config and Layers,
    /// an index (DockerManifestList, OciImageIndex) with Manifests, or a schema1 manifest; each with Reference (pinned to
    /// the digest), Digest, MediaType and Size. Every manifest is checked against its digest. -Platform picks one image of
    /// an index. -Descriptor only asks for the descriptor (a HEAD request). -Raw writes the exact bytes as text.
    /// Tags from Get-RegistryTag and strings can be piped in.
    /// </para>
    /// </summary>
    /// <example><code>Get-ImageManifest localhost:5000/app:v1</code></example>
    /// <example><code>Get-ImageManifest docker.io/library/alpine:3.20 -Platform linux/arm64</code></example>
    /// <example><code>Get-RegistryCatalog localhost:5000 | Get-RegistryTag | Get-ImageManifest</code></example>
    [Cmdlet(VerbsCommon.Get, "ImageManifest", DefaultParameterSetName = ManifestSet)]
    [OutputType(typeof(Manifest), ParameterSetName = new[] { ManifestSet })]
    [OutputType(typeof(Descriptor), ParameterSetName = new[] { DescriptorSet })]
    [OutputType(typeof(string), ParameterSetName = new[] { RawSet })]
    public sealed class GetImageManifestCommand : RegistryRequestCmdletBase
    {
        private const string ManifestSet = "Manifest";
        private const string DescriptorSet = "Descriptor";
        private const string RawSet = "Raw";

        /// <summary>
        /// <para type="description">The images: <c>registry/repository:tag</c> or <c>registry/repository@digest</c>. Without tag
        /// or digest, <c>latest</c>.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference[] Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">For an index, the platform to resolve to, e.g. <c>linux/amd64</c> or <c>linux/arm64/v8</c>.
        /// A platform the index lacks is a PlatformNotFound error naming those it has. A single-image manifest is written as it is.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Platform? Platform { get; set; }

        /// <summary>
        /// <para type="description">Writes only the descriptor (media type, digest, size), from a HEAD request.</para>
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = DescriptorSet)]
        public SwitchParameter Descriptor { get; set; }

        /// <summary>
        /// <para type="description">Writes the manifest's exact bytes as a string (UTF-8), as the registry served them.</para>
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = RawSet)]
        public SwitchParameter Raw { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            foreach (var reference in Reference) Get(reference);
        }

        private void Get(ImageReference reference)
        {
            var client = ClientFor(reference);
            var repository = reference.Repository;

            if (Platform == null)
            {
                if (Descriptor)
                {
                    if (TryRun(ct => client.Manifests.GetDescriptorAsync(repository, reference.Reference, ct), "Manifest", reference, out Descriptor descriptor))
                        WriteObject(descriptor);
                }
                else if (Raw)
                {
                    if (TryRun(ct => client.Manifests.GetContentAsync(repository, reference.Reference, ct), "Manifest", reference, out ManifestContent content))
                        WriteObject(Encoding.UTF8.GetString(content.Bytes));
                }
                else if (TryRun(ct => client.Manifests.GetAsync(repository, reference.Reference, ct), "Manifest", reference, out Manifest manifest))
                {
                    WriteObject(manifest);
                }
                return;
            }

            var resolver = new ImageResolver(Connections);
            if (!TryRun(ct => resolver.ResolveAsync(reference, Platform, ct), "Manifest", reference, out ResolvedManifest resolved)) return;
            if (resolved.Index == null)
            {
                WriteVerbose($"{reference} is a single image ({resolved.Manifest.MediaType}), not an index; -Platform {Platform} does not apply.");
                Write(resolved.Manifest);
                return;
            }
            WriteVerbose($"Platform {Platform} of {reference}: {resolved.Entry!.Digest} ({resolved.Platform}).");
            // The index entry, not the child's own descriptor: it carries the platform.
            if (Descriptor) WriteObject(resolved.Entry);
            else Write(resolved.Manifest);
        }

        private void Write(Manifest manifest)
        {
            if (Descriptor) WriteObject(manifest.ToDescriptor());
            else if (Raw) WriteObject(manifest.RawText);
            else WriteObject(manifest);
        }
    }
}
