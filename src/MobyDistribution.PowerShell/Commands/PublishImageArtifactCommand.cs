using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Pushes files as an OCI artifact, attached to an image or standalone (oras push, oras attach).</para>
    /// <para type="description">
    /// Makes an OCI 1.1 artifact: an image manifest with -ArtifactType, the empty config (application/vnd.oci.empty.v1+json,
    /// the two bytes {}), and one layer per file with its media type and an org.opencontainers.image.title annotation naming
    /// the file. With -Subject, the artifact refers to that image (its subject) and is pushed into its repository by digest
    /// (or under -Destination's tag). On a registry without the referrers API, the subject's tag-schema index
    /// (sha256-&lt;hex&gt;) is updated as well; concurrent attaches to one image are merged, not lost. With only -Destination, a
    /// standalone artifact is pushed under its tag (latest unless given). Writes the artifact manifest's descriptor.
    /// Files from Get-ChildItem can be piped in: they make one artifact.
    /// </para>
    /// </summary>
    /// <example><code>Publish-ImageArtifact -Path ./sbom.spdx.json -ArtifactType application/spdx+json -MediaType application/spdx+json -Subject localhost:5000/app:v1</code></example>
    /// <example><code>Get-ChildItem ./config | Publish-ImageArtifact -ArtifactType application/vnd.example.config -Destination localhost:5000/app-config:v1</code></example>
    [Cmdlet(VerbsData.Publish, "ImageArtifact", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(Descriptor))]
    public sealed class PublishImageArtifactCommand : RegistryRequestCmdletBase
    {
        private readonly List<string> _files = new List<string>();

        /// <summary>
        /// <para type="description">The files of the artifact, one layer each; each file's name becomes its title. Wildcards are
        /// expanded. Files piped in make one artifact.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName", "PSPath")]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[] Path { get; set; } = null!;

        /// <summary>
        /// <para type="description">The artifact's type, its manifest's artifactType: e.g. <c>application/spdx+json</c> for an SPDX
        /// SBOM, <c>application/vnd.cyclonedx+json</c>, or a type of your own.</para>
        /// </summary>
        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string ArtifactType { get; set; } = null!;

        /// <summary>
        /// <para type="description">The image the artifact is attached to, e.g. <c>localhost:5000/app:v1</c>: it becomes the
        /// manifest's subject, and the artifact goes into its repository.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference? Subject { get; set; }

        /// <summary>
        /// <para type="description">Where to push: <c>registry/repository:tag</c>. Without -Subject, a standalone artifact
        /// (<c>latest</c> when no tag is given); with it, a tag for the attached artifact in the subject's repository.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference? Destination { get; set; }

        /// <summary>
        /// <para type="description">The media types of the files' layers: one for every file, or one per file in order. The
        /// default is <c>application/octet-stream</c>.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string[]? MediaType { get; set; }

        /// <summary>
        /// <para type="description">Annotations of the artifact manifest, e.g. <c>@{ 'org.opencontainers.image.created' = '2024-05-01T00:00:00Z' }</c>.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Hashtable? Annotation { get; set; }

        /// <inheritdoc />
        protected override void BeginProcessing()
        {
            if (Subject == null && Destination == null)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException("Give -Subject to attach the artifact to an image, -Destination to push it standalone, or both."),
                    "ArtifactTargetMissing", ErrorCategory.InvalidArgument, null));
        }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            foreach (var pattern in Path)
                foreach (var path in ResolveExistingPaths(pattern))
                {
                    // A folder is not a file of the artifact; Get-ChildItem without -File pipes them too.
                    if (System.IO.Directory.Exists(path))
                        WriteError(new ArgumentException($"'{path}' is a folder; an artifact's files are files."), "PathIsFolder", ErrorCategory.InvalidArgument, path);
                    else
                        _files.Add(path);
                }
        }

        /// <inheritdoc />
        protected override void EndProcessing()
        {
            if (_files.Count == 0) return;
            if (MediaType != null && MediaType.Length != 1 && MediaType.Length != _files.Count)
            {
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-MediaType has {MediaType.Length} values for {_files.Count} files; give one for all, or one per file."),
                    "MediaTypeCountMismatch", ErrorCategory.InvalidArgument, MediaType));
                return;
            }
            var request = new ArtifactPublishRequest { ArtifactType = ArtifactType, Subject = Subject, Destination = Destination };
            for (int i = 0; i < _files.Count; i++)
                request.Files.Add(new ArtifactFileSource(_files[i], MediaType == null ? null : MediaType[MediaType.Length == 1 ? 0 : i]));
            if (Annotation != null)
            {
                request.Annotations = new Dictionary<string, string>();
                foreach (DictionaryEntry e in Annotation) request.Annotations[e.Key?.ToString() ?? string.Empty] = e.Value?.ToString() ?? string.Empty;
            }

            var target = (Subject ?? Destination)!;
            var what = Subject != null ? $"Attach {ArtifactType} artifact ({_files.Count} files) to {Subject}" : $"Publish {ArtifactType} artifact ({_files.Count} files)";
            if (!ShouldProcess((Destination ?? Subject)!.ToString(), what)) return;
            var artifacts = new ImageArtifacts(Connections);
            if (!TryRun(ct => artifacts.PublishAsync(request, ct), "Manifest", target, out PublishedArtifact published)) return;
            WriteVerbose($"Pushed artifact {published.Descriptor.Source} ({published.Manifest.Layers.Count} files)" +
                (published.TagSchemaIndex != null ? $"; the registry has no referrers API, so the index under {published.Subject!.Digest.Algorithm}-{published.Subject.Digest.Hex} now lists it ({published.TagSchemaIndex.Digest})." : "."));
            WriteObject(published.Descriptor);
        }
    }
}
