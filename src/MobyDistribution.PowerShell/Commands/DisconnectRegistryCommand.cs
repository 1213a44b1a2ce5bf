using System;
using System.Linq;
using System.Management.Automation;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Forgets the session of a registry: its credentials and tokens.</para>
    /// <para type="description">The next command that uses the registry starts a new session from Docker's config or anonymously.</para>
    /// </summary>
    /// <example><code>Disconnect-Registry localhost:5000</code></example>
    /// <example><code>Get-RegistrySession | Disconnect-Registry</code></example>
    [Cmdlet(VerbsCommunications.Disconnect, "Registry")]
    [OutputType(typeof(RegistrySession))]
    public sealed class DisconnectRegistryCommand : RegistryCmdletBase
    {
        /// <summary>
        /// <para type="description">The registries to disconnect; wildcards match the names of current sessions.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(RegistrySessionNameCompleter))]
        public string[] Registry { get; set; } = null!;

        /// <summary>
        /// <para type="description">Writes the sessions that were forgotten.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            foreach (var name in Registry)
            {
                if (WildcardPattern.ContainsWildcardCharacters(name))
                {
                    var pattern = WildcardPattern.Get(name, WildcardOptions.IgnoreCase);
                    foreach (var session in Connections.Sessions.Where(s => pattern.IsMatch(s.Registry))) Disconnect(session);
                    continue;
                }
                RegistrySession? found;
                try
                {
                    found = Connections.Find(name);
                }
                catch (FormatException e)
                {
                    WriteError(e, "InvalidRegistry", ErrorCategory.InvalidArgument, name);
                    continue;
                }
                if (found != null)
                    Disconnect(found);
                else
                    WriteError(new ItemNotFoundException($"There is no session for registry '{name}'."), "RegistrySessionNotFound", ErrorCategory.ObjectNotFound, name);
            }
        }

        private void Disconnect(RegistrySession session)
        {
            if (!Connections.Disconnect(session.Registry)) return;
            WriteVerbose($"Disconnected from {session.Registry}.");
            if (PassThru) WriteObject(session);
        }
    }
}
