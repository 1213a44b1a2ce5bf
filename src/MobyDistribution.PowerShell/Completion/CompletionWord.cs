using System.Linq;
using System.Management.Automation;

namespace MobyDistribution.PowerShell
{
    /// <summary>The word a completer completes, without the quote the user may have opened, and results that keep it.</summary>
    internal readonly struct CompletionWord
    {
        private static readonly char[] NeedQuotes = { ' ', '\t', '$', '`', ';', ',', '(', ')', '{', '}', '|', '&', '<', '>', '#', '\'', '"', '@' };

        private readonly char? _quote;

        public CompletionWord(string? word)
        {
            var text = word ?? string.Empty;
            _quote = null;
            if (text.Length > 0 && (text[0] == '\'' || text[0] == '"'))
            {
                _quote = text[0];
                text = text.Substring(1);
                if (text.Length > 0 && text[text.Length - 1] == _quote) text = text.Substring(0, text.Length - 1);
            }
            Text = text;
        }

        /// <summary>What the user typed, unquoted.</summary>
        public string Text { get; }

        /// <summary>A parameter value to offer, quoted as the user started it, or when PowerShell needs quotes around it.</summary>
        public CompletionResult Result(string value, string? listItem = null, string? toolTip = null)
        {
            string text;
            if (_quote.HasValue) text = _quote.Value + value + _quote.Value;
            else if (value.IndexOfAny(NeedQuotes) >= 0) text = "'" + value.Replace("'", "''") + "'";
            else text = value;
            return new CompletionResult(text, listItem ?? value, CompletionResultType.ParameterValue, string.IsNullOrEmpty(toolTip) ? value : toolTip);
        }

        /// <summary>Whether <paramref name="candidate"/> completes the word: a prefix, or a wildcard pattern the user typed.</summary>
        public bool Matches(string candidate) => Matches(Text, candidate);

        public static bool Matches(string typed, string candidate) =>
            WildcardPattern.ContainsWildcardCharacters(typed)
                ? WildcardPattern.Get(typed + "*", WildcardOptions.IgnoreCase).IsMatch(candidate)
                : candidate.StartsWith(typed, System.StringComparison.OrdinalIgnoreCase);
    }
}
