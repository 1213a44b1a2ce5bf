using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Uploads files to a repository as blobs (layers, configs).</para>
    /// <para type="description">
    /// Uploads in chunks by default, or in one request with -Monolithic. With -MountFrom, the registry is first asked
    /// to mount the blob from another repository of the same registry, so nothing is sent. When the digest is known
    /// (-Digest, -Monolithic or -MountFrom) and the repository already has the blob, nothing is sent either.
    /// Content that does not match -Digest is never committed (BlobDigestMismatch). Writes what was published with its
    /// Outcome: Uploaded, Mounted or Existed. Files from Get-ChildItem can be piped in.
    /// </para>
    /// </summary>
    /// <example><code>Publish-ImageBlob -Repository localhost:5000/app -Path ./layer.tar.gz -MediaType application/vnd.oci.image.layer.v1.tar+gzip</code></example>
    /// <example><code>Publish-ImageBlob localhost:5000/app ./layer.tar.gz -MountFrom base/image</code></example>
    [Cmdlet(VerbsData.Publish, "ImageBlob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(PublishedBlob))]
    public sealed class PublishImageBlobCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The repository to upload to, e.g. <c>localhost:5000/app</c>.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Repository { get; set; } = null!;

        /// <summary>
        /// <para type="description">The files to upload.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "PSPath")]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[] Path { get; set; } = null!;

        /// <summary>
        /// <para type="description">The digest the content must have (with a single file). Lets the upload be skipped when the
        /// blob is there, and guards against a changed file.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Digest? Digest { get; set; }

        /// <summary>
        /// <para type="description">Sends each file in one request instead of chunks.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter Monolithic { get; set; }

        /// <summary>
        /// <para type="description">A repository of the same registry to mount the blob from (<c>base/image</c> or
        /// <c>localhost:5000/base/image</c>). When the registry cannot mount, the file is uploaded.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(RepositoryNameCompleter))]
        public string? MountFrom { get; set; }

        /// <summary>
        /// <para type="description">The media type to put in the written descriptor (default application/octet-stream).</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? MediaType { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var repository = Repository.WithoutReference();
            var mountFrom = MountFrom == null ? null : MountRepository(MountFrom, repository);
            foreach (var pattern in Path)
            {
                foreach (var file in ResolveExistingPaths(pattern))
                {
                    Publish(repository, file, mountFrom);
                }
            }
        }

        private void Publish(ImageReference repository, string file, string? mountFrom)
        {
            if (!ShouldProcess(repository.ToString(), $"Publish blob from '{file}'")) return;
            var client = ClientFor(repository);
            FileStream stream;
            try
            {
                stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                WriteError(e, e is FileNotFoundException ? "FileNotFound" : "FileReadFailed",
                    e is FileNotFoundException ? ErrorCategory.ObjectNotFound : ErrorCategory.ReadError, file);
                return;
            }
            using (stream)
            {
                var options = new BlobUploadOptions
                {
                    Digest = Digest,
                    Length = stream.Length,
                    Monolithic = Monolithic.IsPresent,
                    MountFrom = mountFrom,
                };
                if (MediaType != null) options.MediaType = MediaType;
                var progress = new TransferProgress("Blob from " + System.IO.Path.GetFileName(file), stream.Length);
                var view = new TransferProgressView("Publish-ImageBlob", new[] { progress });
                try
                {
                    if (TryRun(ct => client.Blobs.UploadAsync(repository.Repository, stream, options, progress, ct), "Blob", repository, out BlobUploadResult result,
                            () => view.Write(this)))
                    {
                        WriteVerbose($"{result.Outcome}: {result.Descriptor.Digest} ({result.Descriptor.Size} bytes) in {repository}.");
                        WriteObject(new PublishedBlob(result, file));
                    }
                }
                finally
                {
                    progress.Finish();
                    view.Complete(this);
                }
            }
        }

        /// <summary>A repository of the same registry, given as a path or as a reference on this registry.</summary>
        private static string MountRepository(string value, ImageReference target)
        {
            var prefix = target.Registry + "/";
            return value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? value.Substring(prefix.Length) : value;
        }
    }
}
