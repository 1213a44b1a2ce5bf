using System.Collections.Generic;
using System.Management.Automation;
using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Gets the config of images in a registry: when they were made, their labels, entrypoint, environment and layers.</para>
    /// <para type="description">
    /// Reads each image's config blob (checked against its digest; at most 64 MiB) and writes it as a MobyDistribution.ImageConfig:
    /// Created, Author, Labels, Environment, Entrypoint, Command, WorkingDirectory, User, ExposedPorts, Volumes, StopSignal,
    /// History, DiffIds, the platform, the manifest and config digests, and Raw, the config's exact text. An index gives one
    /// object per image (attestations left out), read several at a time; -Platform picks one. Tags from Get-RegistryTag and
    /// manifests from Get-ImageManifest can be piped in, and the objects written bind by their Reference to
    /// Remove-RegistryTag and Copy-RegistryImage.
    /// </para>
    /// </summary>
    /// <example><code>Get-ImageConfig localhost:5000/team/app:v1 | Format-List</code></example>
    /// <example><code>Get-RegistryTag localhost:5000/team/app | Get-ImageConfig -Platform linux/amd64 | Where-Object Created -lt (Get-Date).AddDays(-90) | Remove-RegistryTag -WhatIf</code></example>
    [Cmdlet(VerbsCommon.Get, "ImageConfig")]
    [OutputType(typeof(ImageConfig))]
    public sealed class GetImageConfigCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The images: registry/repository:tag or registry/repository@digest (latest when neither), or
        /// what Get-RegistryTag and Get-ImageManifest write.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference[] Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">For an index, the one platform to read, e.g. linux/amd64 or linux/arm64/v8; without it, every
        /// image of the index is read. A platform the index lacks is a PlatformNotFound error naming those it has. A single
        /// image is read whatever its platform.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Platform? Platform { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var reader = new ImageConfigReader(Connections);
            foreach (var reference in Reference)
            {
                if (Platform != null)
                {
                    if (TryRun(ct => reader.ReadAsync(reference, Platform, ct), "Image", reference, out ImageConfigRead read))
                        WriteObject(new ImageConfig(read));
                }
                else if (TryRun(ct => reader.ReadAllAsync(reference, ct), "Image", reference, out IReadOnlyList<ImageConfigRead> reads))
                {
                    foreach (var r in reads) WriteObject(new ImageConfig(r));
                }
            }
        }
    }
}
