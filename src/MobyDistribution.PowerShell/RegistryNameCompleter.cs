using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell
{
    /// <summary>Tab completion of registry names from the sessions of this process.</summary>
    public sealed class RegistryNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc />
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var pattern = WildcardPattern.Get((wordToComplete ?? string.Empty).Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
            return RegistryConnections.Shared.Sessions
                .Where(s => pattern.IsMatch(s.Registry))
                .Select(s => new CompletionResult(s.Registry, s.Registry, CompletionResultType.ParameterValue, s.ToString()));
        }
    }
}
