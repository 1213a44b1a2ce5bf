using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MobyDistribution.PowerShell
{
    /// <summary>Tab completion of tag names from the repository already on the command line (its -Repository).</summary>
    public sealed class TagNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc />
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            try
            {
                if (!(BoundValue.Reference(fakeBoundParameters, "Repository", "Reference") is ImageReference repository))
                    return Array.Empty<CompletionResult>();
                var word = new CompletionWord(wordToComplete);
                return RegistryListingCache.Tags(repository.WithoutReference())
                    .Where(word.Matches)
                    .Take(RegistryListingCache.MaxResults)
                    .Select(t => word.Result(t, toolTip: repository.Name + ":" + t))
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
