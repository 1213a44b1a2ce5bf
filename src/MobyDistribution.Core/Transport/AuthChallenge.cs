using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace MobyDistribution.Transport
{
    /// <summary>One parsed <c>WWW-Authenticate</c> challenge: a scheme and its parameters.</summary>
    public sealed class AuthChallenge
    {
        public AuthChallenge(string scheme, IReadOnlyDictionary<string, string> parameters)
        {
            Scheme = scheme;
            Parameters = parameters;
        }

        /// <summary><c>Bearer</c> or <c>Basic</c> (as sent).</summary>
        public string Scheme { get; }

        /// <summary>Parameters, keys lowercased.</summary>
        public IReadOnlyDictionary<string, string> Parameters { get; }

        public bool IsBearer => string.Equals(Scheme, "Bearer", StringComparison.OrdinalIgnoreCase);
        public bool IsBasic => string.Equals(Scheme, "Basic", StringComparison.OrdinalIgnoreCase);

        public string? Realm => Get("realm");
        public string? Service => Get("service");
        public string? Error => Get("error");

        /// <summary>The scopes of the challenge: the <c>scope</c> parameter split on spaces.</summary>
        public IReadOnlyList<string> Scopes =>
            (Get("scope") ?? string.Empty).Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);

        private string? Get(string key) => Parameters.TryGetValue(key, out var v) ? v : null;

        /// <summary>Parses every challenge of one or more <c>WWW-Authenticate</c> header values (RFC 7235).</summary>
        public static IReadOnlyList<AuthChallenge> Parse(IEnumerable<string> headerValues)
        {
            var result = new List<AuthChallenge>();
            foreach (var value in headerValues) ParseInto(value, result);
            return result;
        }

        private static void ParseInto(string header, List<AuthChallenge> result)
        {
            int i = 0;
            string? scheme = null;
            Dictionary<string, string>? parameters = null;
            while (i < header.Length)
            {
                SkipSpaceAndCommas(header, ref i);
                if (i >= header.Length) break;
                int tokenStart = i;
                while (i < header.Length && IsTokenChar(header[i])) i++;
                var token = header.Substring(tokenStart, i - tokenStart);
                if (token.Length == 0) { i++; continue; }
                int save = i;
                SkipSpace(header, ref i);
                if (i < header.Length && header[i] == '=' && scheme != null)
                {
                    // A parameter of the current challenge (token68 values like "abc==" are not used by registries).
                    i++;
                    SkipSpace(header, ref i);
                    string value;
                    if (i < header.Length && header[i] == '"')
                    {
                        i++;
                        var sb = new StringBuilder();
                        while (i < header.Length && header[i] != '"')
                        {
                            if (header[i] == '\\' && i + 1 < header.Length) i++;
                            sb.Append(header[i]);
                            i++;
                        }
                        i++; // closing quote
                        value = sb.ToString();
                    }
                    else
                    {
                        int vs = i;
                        while (i < header.Length && header[i] != ',' && !char.IsWhiteSpace(header[i])) i++;
                        value = header.Substring(vs, i - vs);
                    }
                    parameters![token.ToLowerInvariant()] = value;
                }
                else
                {
                    i = save;
                    if (scheme != null) result.Add(new AuthChallenge(scheme, parameters!));
                    scheme = token;
                    parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                }
            }
            if (scheme != null) result.Add(new AuthChallenge(scheme, parameters!));
        }

        private static bool IsTokenChar(char c) =>
            char.IsLetterOrDigit(c) || "!#$%&'*+-.^_`|~".IndexOf(c) >= 0;

        private static void SkipSpace(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t')) i++;
        }

        private static void SkipSpaceAndCommas(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) i++;
        }
    }

    /// <summary>Token scopes: <c>repository:NAME:ACTIONS</c>, merged so that each resource appears once with every action.</summary>
    internal static class Scopes
    {
        public static string Repository(string repository, bool push) =>
            "repository:" + repository + (push ? ":pull,push" : ":pull");

        public static string RepositoryDelete(string repository) => "repository:" + repository + ":delete";

        public const string Catalog = "registry:catalog:*";

        /// <summary>The most scopes taken from one challenge (registries name one or two; docker's client takes them all).</summary>
        internal const int MaxChallengeScopes = 32;

        /// <summary>The most characters the scopes taken from one challenge may add up to.</summary>
        internal const int MaxChallengeScopeChars = 4096;

        /// <summary>
        /// The scopes to ask a token for: the request's own and, when the registry refused them for insufficient_scope (or the
        /// request names none), those the challenge names. A challenge is the server's text: at most <see cref="MaxChallengeScopes"/>
        /// of its scopes and <see cref="MaxChallengeScopeChars"/> characters are taken, so that it cannot blow up the token request
        /// (and every message that shows its URL); the rest are logged as ignored. The request's own scopes are never dropped.
        /// </summary>
        public static IReadOnlyList<string> ForToken(IReadOnlyList<string> requestScopes, AuthChallenge challenge, bool refused, Action<string>? log)
        {
            bool askedForMore = refused && string.Equals(challenge.Error, "insufficient_scope", StringComparison.OrdinalIgnoreCase);
            if (!askedForMore && requestScopes.Count > 0) return Merge(requestScopes);
            var taken = new List<string>(requestScopes);
            var seen = new HashSet<string>(requestScopes, StringComparer.Ordinal);
            int count = 0, chars = 0, ignored = 0;
            foreach (var scope in challenge.Scopes)
            {
                if (!seen.Add(scope)) continue;
                if (count >= MaxChallengeScopes || chars + scope.Length > MaxChallengeScopeChars) { ignored++; continue; }
                taken.Add(scope);
                count++;
                chars += scope.Length;
            }
            if (ignored > 0)
                log?.Invoke($"The registry's challenge names {count + ignored} scopes besides the request's; took {count} ({chars} characters) and ignored the other {ignored}.");
            return Merge(taken);
        }

        /// <summary>Union of scopes, actions merged per resource, in a stable order.</summary>
        public static IReadOnlyList<string> Merge(IEnumerable<string> scopes)
        {
            var map = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
            foreach (var scope in scopes)
            {
                if (string.IsNullOrWhiteSpace(scope)) continue;
                int last = scope.LastIndexOf(':');
                if (last <= 0) { Add(map, scope, null); continue; }
                var resource = scope.Substring(0, last);
                foreach (var action in scope.Substring(last + 1).Split(','))
                    if (action.Length > 0) Add(map, resource, action);
            }
            return map.Select(kv => kv.Value.Count == 0 ? kv.Key : kv.Key + ":" + string.Join(",", kv.Value)).ToList();
        }

        private static void Add(SortedDictionary<string, SortedSet<string>> map, string resource, string? action)
        {
            if (!map.TryGetValue(resource, out var set)) map[resource] = set = new SortedSet<string>(StringComparer.Ordinal);
            if (action != null) set.Add(action);
        }

        /// <summary>True when every action of every scope in <paramref name="wanted"/> is in <paramref name="held"/>.</summary>
        public static bool Covers(IEnumerable<string> held, IEnumerable<string> wanted)
        {
            var merged = new HashSet<string>(Merge(held.Concat(wanted)));
            var heldSet = new HashSet<string>(Merge(held));
            return merged.SetEquals(heldSet);
        }
    }
}
