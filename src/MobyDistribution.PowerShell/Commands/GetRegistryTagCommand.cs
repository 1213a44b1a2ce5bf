using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Lists the tags of a repository, or gets tags by name.</para>
    /// <para type="description">
    /// Without -Name, writes one object per tag (sorted) with Registry, Repository, Tag and Reference. With -Name, a name
    /// without wildcards is looked up with a HEAD request and its Digest, MediaType and Size are filled in; a missing
    /// tag is a non-terminating TagNotFound error. Names with wildcards filter the listing. A repository reference that
    /// carries a tag (<c>localhost:5000/app:v1</c>) means -Name v1. Repositories from Get-RegistryCatalog can be piped in.
    /// </para>
    /// </summary>
    /// <example><code>Get-RegistryTag localhost:5000/app</code></example>
    /// <example><code>Get-RegistryTag localhost:5000/app -Name v1, 'v2*'</code></example>
    /// <example><code>Get-RegistryCatalog localhost:5000 | Get-RegistryTag</code></example>
    [Cmdlet(VerbsCommon.Get, "RegistryTag")]
    [OutputType(typeof(RegistryTag))]
    public sealed class GetRegistryTagCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The repository, e.g. <c>localhost:5000/app</c> or <c>alpine</c> (docker.io/library/alpine).</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("Reference")]
        [ValidateNotNull]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference Repository { get; set; } = null!;

        /// <summary>
        /// <para type="description">Tags to get; wildcards filter the listing.</para>
        /// </summary>
        [Parameter(Position = 1)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [Alias("Tag")]
        [ArgumentCompleter(typeof(TagNameCompleter))]
        public string[]? Name { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var repository = Repository.WithoutReference();
            var names = Name ?? (Repository.Tag != null ? new[] { Repository.Tag } : null);
            var client = ClientFor(repository);
            IReadOnlyList<string>? listing = null;

            bool List()
            {
                if (listing != null) return true;
                return TryRun(ct => client.Tags.ListAsync(repository.Repository, null, ct), "Repository", repository, out listing);
            }

            if (names == null)
            {
                if (!List()) return;
                foreach (var tag in listing!) WriteObject(new RegistryTag(repository, tag).ToOutput());
                return;
            }

            foreach (var name in names)
            {
                if (WildcardPattern.ContainsWildcardCharacters(name))
                {
                    if (!List()) return;
                    var pattern = WildcardPattern.Get(name, WildcardOptions.None);
                    foreach (var tag in listing!.Where(t => pattern.IsMatch(t))) WriteObject(new RegistryTag(repository, tag).ToOutput());
                    continue;
                }
                if (!TryResolveTag(client, repository, name, out _, out var descriptor)) continue;
                WriteObject(new RegistryTag(repository, name, descriptor));
            }
        }
    }
}
