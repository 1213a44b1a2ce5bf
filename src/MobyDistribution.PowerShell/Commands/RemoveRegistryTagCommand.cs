using System;
using System.Management.Automation;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Removes a tag from a repository.</para>
    /// <para type="description">
    /// The distribution API cannot delete a tag alone: the manifest it points at is deleted (by the digest shown in the
    /// confirmation, so a tag moved meanwhile does not take another manifest with it), and every other tag on that
    /// manifest goes too. The registry must allow deletes. With -PassThru, writes the removed tag with its digest.
    /// </para>
    /// </summary>
    /// <example><code>Remove-RegistryTag localhost:5000/app -Name old</code></example>
    /// <example><code>Get-RegistryTag localhost:5000/app -Name 'pr-*' | Remove-RegistryTag -Confirm:$false</code></example>
    [Cmdlet(VerbsCommon.Remove, "RegistryTag", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(RegistryTag))]
    public sealed class RemoveRegistryTagCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The repository; a reference with a tag (<c>localhost:5000/app:old</c>) names the tag too.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Reference")]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Repository { get; set; } = null!;

        /// <summary>
        /// <para type="description">The tags to remove; by default the tag of -Repository.</para>
        /// </summary>
        [Parameter(Position = 1)]
        [ValidateNotNullOrEmpty]
        [Alias("Tag")]
        [ArgumentCompleter(typeof(TagNameCompleter))]
        public string[]? Name { get; set; }

        /// <summary>
        /// <para type="description">Writes each removed tag, with the digest of the manifest deleted.</para>
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
                if (!ShouldProcessUnattended(tagged.ToString(), $"Remove tag by deleting manifest {descriptor.Digest}; every tag that points at it goes too")) continue;
                WriteWarning($"Removing tag {tagged} deletes manifest {descriptor.Digest}: every tag that points at it goes too.");
                // Deleted by the digest just confirmed, not by the tag, which may have moved since.
                if (TryRun(ct => client.Manifests.DeleteAsync(repository.Repository, descriptor.Digest.ToString(), ct), "Tag", tagged, out Digest _) && PassThru)
                    WriteObject(new RegistryTag(repository, name, descriptor));
            }
        }
    }
}
