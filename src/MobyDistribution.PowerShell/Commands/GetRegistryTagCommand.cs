using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Lists the tags of a repository, gets tags by name, or selects tags by pattern, version range or age.</para>
    /// <para type="description">
    /// Without -Name, writes one object per tag (sorted) with Registry, Repository, Tag and Reference. With -Name, a name
    /// without wildcards is looked up with a HEAD request and its Digest, MediaType and Size are filled in; a missing
    /// tag is a non-terminating TagNotFound error. Names with wildcards filter the listing. A repository reference that
    /// carries a tag (<c>localhost:5000/app:v1</c>) means -Name v1. Repositories from Get-RegistryCatalog can be piped in.
    /// -Include, -Exclude, -SemVer and -Latest select from the listing (in that order; -Name, when given with them, is one
    /// more -Include): the result is sorted by name, except with -Latest, which writes the newest first.
    /// </para>
    /// </summary>
    /// <example><code>Get-RegistryTag localhost:5000/app</code></example>
    /// <example><code>Get-RegistryTag localhost:5000/app -Name v1, 'v2*'</code></example>
    /// <example><code>Get-RegistryTag localhost:5000/app -SemVer '>=1.2.0 &lt;2' -Latest 3</code></example>
    /// <example><code>Get-RegistryCatalog localhost:5000 | Get-RegistryTag -Exclude latest, 'pr-*'</code></example>
    [Cmdlet(VerbsCommon.Get, "RegistryTag")]
    [OutputType(typeof(RegistryTag))]
    public sealed class GetRegistryTagCommand : RegistryRequestCmdletBase
    {
        private TagSelector? _selector;

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

        /// <summary>
        /// <para type="description">Keeps only tags that match one of these wildcard patterns (case-sensitive, as tags are).</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? Include { get; set; }

        /// <summary>
        /// <para type="description">Leaves out tags that match one of these wildcard patterns, e.g. <c>latest</c>, <c>pr-*</c>.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        public string[]? Exclude { get; set; }

        /// <summary>
        /// <para type="description">Keeps only tags that are versions in this range: npm's syntax (<c>'>=1.2.0 &lt;2'</c>, <c>^1.2</c>,
        /// <c>~1.25</c>, <c>1.x</c>, <c>'1.2 - 1.4'</c>, <c>'&lt;1 || >=3'</c>) or NuGet's (<c>[1.2,2)</c>). Tags may carry a v prefix
        /// and be short (<c>v1.25</c> is 1.25.0); a tag that is not a version (<c>latest</c>) is not selected, nor a pre-release
        /// (<c>2.0.0-rc.1</c>, <c>1.25-alpine</c>) unless the range names a pre-release of the same version.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? SemVer { get; set; }

        /// <summary>
        /// <para type="description">Keeps the newest N tags, newest first: by version when every tag selected is a version,
        /// otherwise by the created time of each tag's image config (read several at a time; an index gives the image of the
        /// default platform; an image without a created time counts as oldest).</para>
        /// </summary>
        [Parameter]
        [ValidateRange(1, int.MaxValue)]
        public int Latest { get; set; }

        /// <inheritdoc />
        protected override void BeginProcessing()
        {
            var bound = MyInvocation.BoundParameters;
            if (!bound.ContainsKey(nameof(Include)) && !bound.ContainsKey(nameof(Exclude)) && !bound.ContainsKey(nameof(SemVer)) && !bound.ContainsKey(nameof(Latest)))
                return;
            try
            {
                _selector = new TagSelector
                {
                    Include = Include ?? Array.Empty<string>(),
                    Exclude = Exclude ?? Array.Empty<string>(),
                    SemVer = SemVer,
                    Latest = bound.ContainsKey(nameof(Latest)) ? Latest : (int?)null,
                };
            }
            catch (FormatException e)
            {
                ThrowTerminatingError(new ErrorRecord(e, "InvalidTagSelection", ErrorCategory.InvalidArgument, SemVer ?? (object?)Include ?? Exclude));
            }
        }

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

            if (_selector != null)
            {
                if (!List()) return;
                var candidates = listing!;
                if (names != null)
                {
                    // -Name is one more include: the tags it names, by pattern or exactly.
                    var byName = new TagSelector { Include = names.Select(n => WildcardPattern.ContainsWildcardCharacters(n) ? n : WildcardPattern.Escape(n)).ToArray() };
                    candidates = byName.Filter(candidates);
                }
                if (_selector.Latest.HasValue && _selector.NeedsCreated(_selector.Filter(candidates)))
                    WriteVerbose($"Ordering the tags of {repository} by the created time of their images: not every tag selected is a version.");
                if (!TryRun(ct => _selector.SelectAsync(client, repository.Repository, candidates, ct), "Repository", repository, out IReadOnlyList<string> selected)) return;
                foreach (var tag in selected) WriteObject(new RegistryTag(repository, tag));
                return;
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
