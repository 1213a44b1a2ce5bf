using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// Tab completion of image references, one part at a time: <c>loc</c> → <c>localhost:5000/</c> (known registries),
    /// <c>localhost:5000/te</c> → <c>localhost:5000/team/app</c> (the registry's catalog), <c>localhost:5000/team/app:v</c>
    /// → <c>localhost:5000/team/app:v1</c> (the repository's tags).
    /// </summary>
    public sealed class ImageReferenceCompleter : IArgumentCompleter
    {
        /// <inheritdoc />
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            try
            {
                return Complete(new CompletionWord(wordToComplete)).Take(RegistryListingCache.MaxResults).ToList();
            }
            catch (Exception)
            {
                // A completer must never fail the prompt.
                return Array.Empty<CompletionResult>();
            }
        }

        private static IEnumerable<CompletionResult> Complete(CompletionWord word)
        {
            var text = word.Text;
            // Digests are not listed anywhere; nothing to offer after '@'.
            if (text.IndexOf('@') >= 0) return Array.Empty<CompletionResult>();

            int slash = text.IndexOf('/');
            if (slash < 0)
            {
                return KnownRegistries.List(includeDockerConfig: true)
                    .Where(r => word.Matches(r.Key))
                    .Select(r => word.Result(r.Key + "/", r.Key + "/", r.Value));
            }

            var registry = text.Substring(0, slash);
            // Docker's rule: a first part without '.' or ':' that is not localhost is a Docker Hub namespace, whose catalog is not served.
            if (registry.IndexOf('.') < 0 && registry.IndexOf(':') < 0 && registry != "localhost") return Array.Empty<CompletionResult>();

            int colon = text.IndexOf(':', text.LastIndexOf('/') + 1);
            if (colon < 0)
            {
                var typed = text.Substring(slash + 1);
                return RegistryListingCache.Repositories(registry)
                    .Where(r => CompletionWord.Matches(typed, r))
                    .Select(r => word.Result(registry + "/" + r, r, registry + "/" + r));
            }

            var repositoryText = text.Substring(0, colon);
            if (!ImageReference.TryParse(repositoryText, out var repository)) return Array.Empty<CompletionResult>();
            var tagTyped = text.Substring(colon + 1);
            return RegistryListingCache.Tags(repository)
                .Where(t => CompletionWord.Matches(tagTyped, t))
                .Select(t => word.Result(repositoryText + ":" + t, t, repository.Name + ":" + t));
        }
    }
}
