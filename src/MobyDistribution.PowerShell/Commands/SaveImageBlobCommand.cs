using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Downloads blobs (layers, configs) from a registry to files.</para>
    /// <para type="description">
    /// Each blob is written to a temporary file beside its destination and renamed into place only once its size and
    /// digest are verified: a blob that does not match (BlobDigestMismatch) leaves no file. When -Path is an existing
    /// folder, each blob is saved in it as <c>&lt;algorithm&gt;-&lt;hex&gt;</c> (e.g. <c>sha256-0123…</c>); otherwise -Path is
    /// the file to write, for a single blob. An existing file is an error (DestinationExists) unless -Force is given.
    /// Descriptors (their Source names the repository and their Size is checked) and image manifests (their config and
    /// layers are saved, up to three at a time) can be piped in.
    /// </para>
    /// </summary>
    /// <example><code>Get-ImageManifest localhost:5000/app:v1 | Save-ImageBlob -Path ./blobs</code></example>
    /// <example><code>Save-ImageBlob -Repository localhost:5000/app -Digest sha256:0123… -Path ./layer.tar.gz</code></example>
    [Cmdlet(VerbsData.Save, "ImageBlob", DefaultParameterSetName = DigestSet, SupportsShouldProcess = true)]
    [OutputType(typeof(FileInfo))]
    public sealed class SaveImageBlobCommand : RegistryRequestCmdletBase
    {
        private const string DigestSet = "Digest";
        private const string DescriptorSet = "Descriptor";
        private const string ManifestSet = "Manifest";
        private const int MaxConcurrentDownloads = BlobDownloads.DefaultThrottleLimit;

        private int _blobsToFile;

        /// <summary>
        /// <para type="description">The repository to read from, e.g. <c>localhost:5000/app</c>. With descriptors or manifests,
        /// overrides where they were read.</para>
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = DigestSet)]
        [Parameter(ParameterSetName = DescriptorSet)]
        [Parameter(ParameterSetName = ManifestSet)]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference? Repository { get; set; }

        /// <summary>
        /// <para type="description">The digests of the blobs.</para>
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = DigestSet)]
        [ValidateNotNullOrEmpty]
        public Digest[] Digest { get; set; } = null!;

        /// <summary>
        /// <para type="description">Descriptors of the blobs, e.g. a manifest's Layers; their Size is checked.</para>
        /// </summary>
        [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = DescriptorSet)]
        [ValidateNotNullOrEmpty]
        public Descriptor[] Descriptor { get; set; } = null!;

        /// <summary>
        /// <para type="description">An image manifest, from Get-ImageManifest: its config and layers are saved. For an index,
        /// pick an image first with Get-ImageManifest -Platform.</para>
        /// </summary>
        [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = ManifestSet)]
        [ValidateNotNull]
        public Manifest Manifest { get; set; } = null!;

        /// <summary>
        /// <para type="description">An existing folder to save the blobs in, or the file to write for a single blob.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0)]
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
            var blobs = Collect();
            if (blobs.Count == 0) return;

            string destination;
            try
            {
                destination = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
            }
            catch (Exception e) when (e is ItemNotFoundException || e is ProviderNotFoundException || e is System.Management.Automation.DriveNotFoundException || e is NotSupportedException)
            {
                ThrowTerminatingError(new ErrorRecord(e, "InvalidPath", ErrorCategory.InvalidArgument, Path));
                return;
            }
            bool intoFolder = Directory.Exists(destination);

            var jobs = new List<Download>();
            var planned = new HashSet<string>(StringComparer.Ordinal);
            foreach (var blob in blobs)
            {
                var file = intoFolder ? System.IO.Path.Combine(destination, blob.Digest.Algorithm + "-" + blob.Digest.Hex) : destination;
                // A manifest may list the same layer twice; one file is enough.
                if (intoFolder && !planned.Add(file)) continue;
                if (!intoFolder && ++_blobsToFile > 1)
                {
                    WriteError(new ArgumentException($"'{destination}' is not a folder, and it can hold only one blob; {blob.Digest} was not saved. Give an existing folder to save several blobs."),
                        "DestinationNotAFolder", ErrorCategory.InvalidArgument, blob.Digest);
                    continue;
                }
                if (File.Exists(file) && !Force)
                {
                    WriteError(new IOException($"'{file}' exists already; use -Force to overwrite it."), "DestinationExists", ErrorCategory.ResourceExists, file);
                    continue;
                }
                if (!ShouldProcess(file, $"Save blob {blob.Source.WithoutReference()}@{blob.Digest}")) continue;
                jobs.Add(new Download(blob.Source, blob.Digest, blob.Size, file, Force));
            }
            if (jobs.Count > 0) DownloadAll(jobs);
        }

        /// <summary>The blobs of this pipeline input, with where to read each; unusable inputs are reported.</summary>
        private List<(ImageReference Source, Digest Digest, long? Size)> Collect()
        {
            var blobs = new List<(ImageReference, Digest, long?)>();
            switch (ParameterSetName)
            {
                case DigestSet:
                    foreach (var digest in Digest) blobs.Add((Repository!.WithoutReference(), digest, null));
                    break;
                case DescriptorSet:
                    foreach (var d in Descriptor) Add(blobs, d, d);
                    break;
                default:
                    IEnumerable<Descriptor> referenced;
                    switch (Manifest)
                    {
                        case ImageManifest image: referenced = new[] { image.Config }.Concat(image.Layers); break;
                        case ImageIndex _:
                            WriteError(new ArgumentException($"{Manifest.Reference?.ToString() ?? Manifest.Digest.ToString()} is an index: it lists manifests, not blobs. Pick an image with Get-ImageManifest -Platform."),
                                "ManifestIsIndex", ErrorCategory.InvalidArgument, Manifest);
                            return blobs;
                        default: referenced = Manifest.References(); break;
                    }
                    foreach (var d in referenced) Add(blobs, d, Manifest);
                    break;
            }
            return blobs;
        }

        private void Add(List<(ImageReference, Digest, long?)> blobs, Descriptor descriptor, object target)
        {
            var source = Repository?.WithoutReference() ?? descriptor.Source?.WithoutReference();
            if (source == null)
            {
                WriteError(new ArgumentException($"Blob {descriptor.Digest} does not say which repository it is in; give -Repository."),
                    "BlobSourceUnknown", ErrorCategory.InvalidArgument, target);
                return;
            }
            blobs.Add((source, descriptor.Digest, descriptor.Size >= 0 ? descriptor.Size : (long?)null));
        }

        /// <summary>Downloads a batch a few at a time (Core's batch); results and errors are written in input order.</summary>
        private void DownloadAll(List<Download> jobs)
        {
            var view = new TransferProgressView("Save-ImageBlob", jobs.Select(j => j.Progress).ToList());
            var batch = jobs.Select(j => new BlobDownloadJob(j.Source, j.Digest, j.Size, j.File, j.Overwrite, j.Progress)).ToList();
            try
            {
                Run(async ct =>
                {
                    await BlobDownloads.DownloadAllAsync(ClientFor, batch, MaxConcurrentDownloads, ct).ConfigureAwait(false);
                    return true;
                }, () =>
                {
                    // A blob is done once it has its outcome: the view counts it then, not only at the end of the batch.
                    for (int i = 0; i < jobs.Count; i++)
                        if (batch[i].Result != null || batch[i].Error != null) jobs[i].Progress.Finish();
                    view.Write(this);
                });
            }
            finally
            {
                foreach (var job in jobs) job.Progress.Finish();
                view.Complete(this);
            }
            for (int i = 0; i < jobs.Count; i++)
            {
                var job = jobs[i];
                var done = batch[i];
                if (done.Error != null)
                {
                    WriteError(RegistryErrors.Create(done.Error, "Blob", job.Source.WithDigest(job.Digest)));
                    continue;
                }
                WriteVerbose($"Saved {job.Digest} ({job.Progress.Done} bytes) to {job.File}.");
                if (PassThru) WriteObject(new FileInfo(job.File));
            }
        }

        private sealed class Download
        {
            public Download(ImageReference source, Digest digest, long? size, string file, bool overwrite)
            {
                Overwrite = overwrite;
                Source = source;
                Digest = digest;
                Size = size;
                File = file;
                Progress = new TransferProgress("Blob " + DisplayFormat.Digest(digest), size);
            }

            public ImageReference Source { get; }
            public Digest Digest { get; }
            public long? Size { get; }
            public string File { get; }
            public bool Overwrite { get; }
            public TransferProgress Progress { get; }
        }
    }
}
