using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// Tab completion of repository names (no registry part) from the catalog of the registry already on the command
    /// line: its -Registry, or the registry of its -Repository or -Reference.
    /// </summary>
    public sealed class RepositoryNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc />
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            try
            {
                var registry = BoundValue.Text(fakeBoundParameters, "Registry");
                if (registry == null && BoundValue.Reference(fakeBoundParameters, "Repository", "Reference") is ImageReference reference)
                    registry = reference.Registry;
                if (registry == null) return Array.Empty<CompletionResult>();
                var word = new CompletionWord(wordToComplete);
                return RegistryListingCache.Repositories(registry)
                    .Where(word.Matches)
                    .Take(RegistryListingCache.MaxResults)
                    .Select(r => word.Result(r, toolTip: registry + "/" + r))
                    .ToList();
            }
            catch (Exception)
            {
                // A completer must never fail the prompt.
                return Array.Empty<CompletionResult>();
            }
        }
    }
}
