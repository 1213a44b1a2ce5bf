using System.Linq;
using System.Management.Automation;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Lists the registry sessions of this process.</para>
    /// <para type="description">
    /// Sessions made by Connect-Registry and those made on first use. A session shows the user name and where the
    /// credentials came from, never a password or token.
    /// </para>
    /// </summary>
    /// <example><code>Get-RegistrySession</code></example>
    [Cmdlet(VerbsCommon.Get, "RegistrySession")]
    [OutputType(typeof(RegistrySession))]
    public sealed class GetRegistrySessionCommand : RegistryCmdletBase
    {
        /// <summary>
        /// <para type="description">Only the sessions of registries matching these names (wildcards allowed).</para>
        /// </summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(RegistrySessionNameCompleter))]
        public string[]? Registry { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var names = Registry ?? new[] { "*" };
            var patterns = names.Select(r => WildcardPattern.Get(r, WildcardOptions.IgnoreCase)).ToList();
            var sessions = Connections.Sessions;
            foreach (var session in sessions)
            {
                if (patterns.Any(p => p.IsMatch(session.Registry))) WriteObject(session);
            }
            // As Get-Variable does: a name without wildcards that matches nothing is an error, a pattern is not.
            foreach (var name in names.Where(n => !WildcardPattern.ContainsWildcardCharacters(n)))
            {
                if (!sessions.Any(s => string.Equals(s.Registry, name, System.StringComparison.OrdinalIgnoreCase)))
                    WriteError(new ItemNotFoundException($"There is no session for registry '{name}'."), "RegistrySessionNotFound", ErrorCategory.ObjectNotFound, name);
            }
        }
    }
}
