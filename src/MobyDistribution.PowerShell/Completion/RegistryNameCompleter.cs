using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MobyDistribution.PowerShell
{
    /// <summary>Tab completion of registry names: the sessions of this process, then the registries in Docker's config.</summary>
    public sealed class RegistryNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc />
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters) => Complete(wordToComplete, includeDockerConfig: true);

        internal static IEnumerable<CompletionResult> Complete(string? wordToComplete, bool includeDockerConfig)
        {
            try
            {
                var word = new CompletionWord(wordToComplete);
                return KnownRegistries.List(includeDockerConfig)
                    .Where(r => word.Matches(r.Key))
                    .Take(RegistryListingCache.MaxResults)
                    .Select(r => word.Result(r.Key, toolTip: r.Value))
                    .ToList();
            }
            catch (Exception)
            {
                // A completer must never fail the prompt.
                return Array.Empty<CompletionResult>();
            }
        }
    }

    /// <summary>Tab completion of the registries that have a session (for Get-RegistrySession and Disconnect-Registry).</summary>
    public sealed class RegistrySessionNameCompleter : IArgumentCompleter
    {
        /// <inheritdoc />
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters) => RegistryNameCompleter.Complete(wordToComplete, includeDockerConfig: false);
    }
}
