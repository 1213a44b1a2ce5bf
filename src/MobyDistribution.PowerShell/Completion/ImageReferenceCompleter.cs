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
            int colon = text.IndexOf(':', text.LastIndexOf('/') + 1);
            if (slash < 0)
            {
                var registries = KnownRegistries.List(includeDockerConfig: true)
                    .Where(r => word.Matches(r.Key))
                    .Select(r => word.Result(r.Key + "/", r.Key + "/", r.Value))
                    .ToList();
                // 'alpine:3.' is a Docker Hub image and its tag; 'localhost:5' and 'registry.example.com:5' are registries being typed.
                if (registries.Count > 0 || colon < 0 || IsRegistryName(text.Substring(0, colon))) return registries;
                return Tags(word, text, colon);
            }

            if (colon >= 0) return Tags(word, text, colon);

            var registry = text.Substring(0, slash);
            // A Docker Hub namespace (no '.' or ':', not localhost): Docker Hub serves no catalog to list.
            if (!IsRegistryName(registry) && registry.IndexOf(':') < 0) return Array.Empty<CompletionResult>();
            var typed = text.Substring(slash + 1);
            return RegistryListingCache.Repositories(registry)
                .Where(r => CompletionWord.Matches(typed, r))
                .Select(r => word.Result(registry + "/" + r, r, registry + "/" + r));
        }

        /// <summary>The tags of the repository before the colon, as full references.</summary>
        private static IEnumerable<CompletionResult> Tags(CompletionWord word, string text, int colon)
        {
            var repositoryText = text.Substring(0, colon);
            if (!ImageReference.TryParse(repositoryText, out var repository)) return Array.Empty<CompletionResult>();
            var tagTyped = text.Substring(colon + 1);
            return RegistryListingCache.Tags(repository.WithoutReference())
                .Where(t => CompletionWord.Matches(tagTyped, t))
                .Select(t => word.Result(repositoryText + ":" + t, t, repository.Name + ":" + t));
        }

        private static bool IsRegistryName(string name) => name.IndexOf('.') >= 0 || name == "localhost";
    }
}
