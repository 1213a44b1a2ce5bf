using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using MobyDistribution.Errors;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Lists the repositories of a registry (its catalog).</para>
    /// <para type="description">
    /// Writes one object per repository, sorted, with Registry, Repository and Reference; pipe them to Get-RegistryTag.
    /// Registries that do not serve the catalog (Docker Hub, most cloud registries) answer with an error.
    /// </para>
    /// </summary>
    /// <example><code>Get-RegistryCatalog localhost:5000 | Get-RegistryTag | Get-ImageManifest</code></example>
    [Cmdlet(VerbsCommon.Get, "RegistryCatalog")]
    [OutputType(typeof(RegistryRepository))]
    public sealed class GetRegistryCatalogCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The registry: <c>host[:port]</c> or a URL.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(RegistryNameCompleter))]
        public string Registry { get; set; } = null!;

        /// <summary>
        /// <para type="description">Only repositories matching these names (wildcards allowed). A name without wildcards
        /// that is not in the catalog is an error (RepositoryNotFound).</para>
        /// </summary>
        [Parameter(Position = 1)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(RepositoryNameCompleter))]
        public string[]? Name { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            RegistryClient client;
            try
            {
                client = Connections.GetClient(Registry);
            }
            catch (Exception e) when (e is FormatException || e is ArgumentException)
            {
                WriteError(e, "InvalidRegistry", ErrorCategory.InvalidArgument, Registry);
                return;
            }
            if (!TryRun(ct => client.Catalog.ListAsync(null, ct), "Catalog", Registry, out IReadOnlyList<string> repositories)) return;

            var registry = client.Endpoint.Registry;
            var patterns = (Name ?? new[] { "*" }).Select(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase)).ToList();
            foreach (var repository in repositories)
            {
                if (patterns.Any(p => p.IsMatch(repository))) WriteObject(new RegistryRepository(registry, repository));
            }
            foreach (var name in (Name ?? Array.Empty<string>()).Where(n => !WildcardPattern.ContainsWildcardCharacters(n)))
            {
                if (!repositories.Contains(name, StringComparer.OrdinalIgnoreCase))
                {
                    WriteError(new RegistryException(RegistryErrorKind.NotFound, $"Repository '{name}' is not in the catalog of {registry}."),
                        "RepositoryNotFound", ErrorCategory.ObjectNotFound, name);
                }
            }
        }
    }
}
