using System;
using System.Management.Automation;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Removes a tag from a repository; the image and its other tags stay.</para>
    /// <para type="description">
    /// Removes only the named tag. Where the registry deletes tags (distribution-spec v1.1, DELETE by tag) it is asked to;
    /// elsewhere (distribution 2.8 and other registries that only delete by digest) a small placeholder manifest, unique by
    /// construction, is pushed to the tag and then deleted by its digest, which takes only that tag with it. The manifest the
    /// tag pointed at stays, reachable by digest and by its other tags (one left with no tag at all may be collected by the
    /// registry's garbage collection). The placeholder's config is the 2-byte empty blob ({}), which stays in the repository:
    /// it is harmless and shared, and the registry's garbage collection removes it. The tag is checked again just before it is
    /// moved: a tag that points at another manifest than the one confirmed is not removed (TagMoved). If the placeholder was
    /// pushed but could not be deleted, the error (TagRemovalIncomplete) says which digest to delete to finish.
    /// With -DeleteManifest, deletes the manifest itself (by the digest shown in the confirmation), and every tag on it goes too.
    /// The registry must allow deletes either way. ConfirmImpact is High: scripts pass -Confirm:$false.
    /// With -PassThru, writes the removed tag with the digest it pointed at.
    /// </para>
    /// </summary>
    /// <example><code>Remove-RegistryTag localhost:5000/app -Name old</code></example>
    /// <example><code>Get-RegistryTag localhost:5000/app -Include 'pr-*' | Remove-RegistryTag -Confirm:$false</code></example>
    /// <example><code>Remove-RegistryTag localhost:5000/app:v2 -DeleteManifest</code></example>
    [Cmdlet(VerbsCommon.Remove, "RegistryTag", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(RegistryTag))]
    public sealed class RemoveRegistryTagCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The repository; a reference with a tag (<c>localhost:5000/app:old</c>) names the tag too.
        /// Takes tags from Get-RegistryTag, and any object with a Reference property (an image reference with its tag).</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Reference")]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Repository { get; set; } = null!;

        /// <summary>
        /// <para type="description">The tags to remove; by default the tag of -Repository. Binds a Tag property of piped objects.</para>
        /// </summary>
        [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [Alias("Tag")]
        [ArgumentCompleter(typeof(TagNameCompleter))]
        public string[]? Name { get; set; }

        /// <summary>
        /// <para type="description">Deletes the manifest the tag points at instead, and with it every tag on that manifest (what
        /// the registry API's delete does; the seed's Tags.untag).</para>
        /// </summary>
        [Parameter]
        public SwitchParameter DeleteManifest { get; set; }

        /// <summary>
        /// <para type="description">Writes each removed tag, with the digest of the manifest it pointed at.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var repository = Repository.WithoutReference();
            var names = Name ?? (Repository.Tag != null ? new[] { Repository.Tag } : null);
            if (names == null)
            {
                WriteError(new ArgumentException($"Name the tag to remove from {repository}: -Name, or a reference with a tag."),
                    "TagNameMissing", ErrorCategory.InvalidArgument, Repository);
                return;
            }
            var client = ClientFor(repository);
            foreach (var name in names)
            {
                if (!TryResolveTag(client, repository, name, out var tagged, out var descriptor)) continue;
                if (DeleteManifest)
                {
                    if (!ShouldProcessUnattended(tagged.ToString(), $"Delete manifest {descriptor.Digest}; every tag that points at it goes too")) continue;
                    WriteWarning($"Deleting manifest {descriptor.Digest} of {tagged}: every tag that points at it goes too.");
                    // Deleted by the digest just confirmed, not by the tag, which may have moved since.
                    if (TryRun(ct => client.Manifests.DeleteAsync(repository.Repository, descriptor.Digest.ToString(), ct), "Tag", tagged, out Digest _) && PassThru)
                        WriteObject(new RegistryTag(repository, name, descriptor));
                    continue;
                }
                if (!ShouldProcessUnattended(tagged.ToString(), $"Remove tag (manifest {descriptor.Digest} and its other tags stay)")) continue;
                if (!TryRun(ct => client.Tags.UntagAsync(repository.Repository, name, descriptor.Digest, ct), "Tag", tagged, out UntagResult result)) continue;
                if (result.ManifestDeleted)
                    WriteWarning($"The registry, asked to delete tag {tagged}, deleted manifest {descriptor.Digest} too: every tag that pointed at it is gone.");
                WriteVerbose(result.Method == UntagMethod.TagDeleted
                    ? $"Removed tag {tagged}: the registry deleted the tag."
                    : $"Removed tag {tagged}: pushed placeholder manifest {result.PlaceholderDigest} to it and deleted that by digest.");
                if (PassThru) WriteObject(new RegistryTag(repository, name, descriptor));
            }
        }
    }
}
