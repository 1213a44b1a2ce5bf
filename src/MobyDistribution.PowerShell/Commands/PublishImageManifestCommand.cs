using System;
using System.IO;
using System.Management.Automation;
using System.Text;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Pushes a manifest or index to a registry.</para>
    /// <para type="description">
    /// Sends the manifest's exact bytes, with its media type as Content-Type, under the reference's tag; a reference with
    /// neither tag nor digest pushes by digest only (no tag). A reference with a digest must match the manifest's. The
    /// blobs and child manifests it refers to must already be in the repository. Writes the pushed manifest's descriptor.
    /// </para>
    /// </summary>
    /// <example><code>Get-ImageManifest localhost:5000/app:v1 | Publish-ImageManifest -Reference localhost:5000/app:stable</code></example>
    /// <example><code>Publish-ImageManifest -Reference localhost:5000/app:v2 -Path ./manifest.json</code></example>
    [Cmdlet(VerbsData.Publish, "ImageManifest", DefaultParameterSetName = InputObjectSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(Descriptor))]
    public sealed class PublishImageManifestCommand : RegistryRequestCmdletBase
    {
        private const string InputObjectSet = "InputObject";
        private const string PathSet = "Path";
        private const string JsonSet = "Json";

        /// <summary>
        /// <para type="description">Where to push: <c>registry/repository:tag</c>, or <c>registry/repository@digest</c>.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">A manifest object, e.g. from Get-ImageManifest; its exact bytes are pushed.</para>
        /// </summary>
        [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
        [ValidateNotNull]
        public Manifest InputObject { get; set; } = null!;

        /// <summary>
        /// <para type="description">A file holding the manifest's JSON; its bytes are pushed unchanged.</para>
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = PathSet)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = null!;

        /// <summary>
        /// <para type="description">The manifest's JSON as a string; pushed as UTF-8.</para>
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = JsonSet)]
        [ValidateNotNullOrEmpty]
        public string Json { get; set; } = null!;

        /// <summary>
        /// <para type="description">The media type to push with. By default the manifest's own (its mediaType field or its
        /// shape). Needed for a manifest kind this module does not read, which is then pushed as it is.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? MediaType { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            if (!TryReadManifest(out var raw, out var parsed)) return;
            var mediaType = MediaType ?? parsed!.MediaType;
            var digest = parsed?.Digest ?? Digest.Compute(raw);

            if (Reference.Digest is not null && Reference.Digest != digest)
            {
                var mismatch = new DigestMismatchException($"The manifest's digest is {digest}, not {Reference.Digest} as the reference says.", Reference.Digest, digest);
                WriteError(mismatch, "ManifestDigestMismatch", ErrorCategory.InvalidData, Reference);
                return;
            }
            // A tag if there is one; otherwise the digest, which pushes without tagging.
            var target = Reference.Tag ?? digest.ToString();
            var shown = Reference.WithoutReference() + (Reference.Tag != null ? ":" + Reference.Tag : "@" + digest);
            if (!ShouldProcess(shown, $"Publish manifest {digest} ({mediaType}, {raw.Length} bytes)")) return;

            var client = ClientFor(Reference);
            if (TryRun(ct => client.Manifests.PutAsync(Reference.Repository, target, raw, mediaType, ct), "Manifest", Reference, out Descriptor pushed))
                WriteObject(pushed);
        }

        private bool TryReadManifest(out byte[] raw, out Manifest? parsed)
        {
            parsed = null;
            switch (ParameterSetName)
            {
                case InputObjectSet:
                    raw = InputObject.GetRawBytes();
                    parsed = InputObject;
                    return true;
                case PathSet:
                    try
                    {
                        raw = File.ReadAllBytes(SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path));
                    }
                    catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is NotSupportedException || e is ArgumentException)
                    {
                        var (id, category) = e is FileNotFoundException || e is DirectoryNotFoundException
                            ? ("FileNotFound", ErrorCategory.ObjectNotFound)
                            : ("ManifestReadFailed", ErrorCategory.ReadError);
                        WriteError(e, id, category, Path);
                        raw = null!;
                        return false;
                    }
                    break;
                default:
                    raw = new UTF8Encoding(false).GetBytes(Json);
                    break;
            }
            try
            {
                parsed = Manifest.Parse(raw, MediaType);
            }
            catch (InvalidDataException e)
            {
                if (MediaType != null)
                {
                    WriteVerbose($"The manifest is not one this module reads ({e.Message}); pushing it as {MediaType} unchanged.");
                    return true;
                }
                WriteError(e, "ManifestInvalid", ErrorCategory.InvalidData, ParameterSetName == PathSet ? Path : (object)Json);
                return false;
            }
            return true;
        }
    }
}
