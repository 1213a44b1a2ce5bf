using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Operations;
using NuGet.Versioning;

namespace MobyDistribution.Registry
{
    /// <summary>
    /// Chooses tags of one repository: by wildcard (<see cref="Include"/>, <see cref="Exclude"/>), by a semantic-version range
    /// (<see cref="SemVer"/>) and the newest few (<see cref="Latest"/>). Used by listing and by repository sync, so that both
    /// select the same tags for the same criteria.
    /// </summary>
    /// <remarks>
    /// Order of the steps: Include, then Exclude, then SemVer, then Latest. The result is in ordinal order of the tag names,
    /// except with <see cref="Latest"/>, where it is newest first. A selector with no criteria selects every tag.
    /// </remarks>
    /// <example><code>
    /// var selector = new TagSelector { Exclude = new[] { "latest" }, SemVer = "&gt;=1.2 &lt;2", Latest = 3 };
    /// var tags = await selector.SelectAsync(client, "team/app", await client.Tags.ListAsync("team/app"));
    /// </code></example>
    public sealed class TagSelector
    {
        private IReadOnlyList<string> _include = Array.Empty<string>();
        private IReadOnlyList<string> _exclude = Array.Empty<string>();
        private Regex[] _includePatterns = Array.Empty<Regex>();
        private Regex[] _excludePatterns = Array.Empty<Regex>();
        private string? _semVer;
        private VersionRangeSet? _range;
        private int? _latest;

        /// <summary>
        /// Wildcard patterns (<c>*</c>, <c>?</c>, <c>[a-z]</c>; a backtick escapes the next character), case-sensitive as
        /// tags are: a tag is kept when it matches one of them. Empty: every tag is kept.
        /// </summary>
        public IReadOnlyList<string> Include
        {
            get => _include;
            set { _include = value ?? Array.Empty<string>(); _includePatterns = _include.Select(Wildcard.ToRegex).ToArray(); }
        }

        /// <summary>Wildcard patterns, as <see cref="Include"/>: a tag that matches one of them is left out.</summary>
        public IReadOnlyList<string> Exclude
        {
            get => _exclude;
            set { _exclude = value ?? Array.Empty<string>(); _excludePatterns = _exclude.Select(Wildcard.ToRegex).ToArray(); }
        }

        /// <summary>
        /// A version range in npm's syntax (<c>&gt;=1.2.0 &lt;2</c>, <c>^1.2</c>, <c>~1.25</c>, <c>1.x</c>, <c>1.2 - 1.4</c>,
        /// <c>&lt;1 || &gt;=3</c>) or NuGet's interval syntax (<c>[1.2,2)</c>). Versions may have a <c>v</c> prefix and be
        /// short (<c>1.25</c> is 1.25.0; in a range, <c>1.25</c> alone is every 1.25.x). Only tags that are versions are kept;
        /// a pre-release tag (<c>2.0.0-rc.1</c>, also <c>1.25-alpine</c>) only when a comparator of the range names a
        /// pre-release of the same major.minor.patch (npm's rule). Null: no version filter. Setting an invalid range throws
        /// <see cref="FormatException"/>.
        /// </summary>
        public string? SemVer
        {
            get => _semVer;
            set { _range = value == null ? null : VersionRangeSet.Parse(value); _semVer = value; }
        }

        /// <summary>
        /// Keeps only the newest N (1 or more): by version when every tag left is a version, otherwise by the <c>created</c>
        /// time of each tag's image config (an image without one counts as oldest; ties go by name, descending). Null: all.
        /// </summary>
        public int? Latest
        {
            get => _latest;
            set
            {
                if (value.HasValue && value.Value < 1) throw new ArgumentOutOfRangeException(nameof(value), "Latest must be 1 or more.");
                _latest = value;
            }
        }

        /// <summary>How many image configs <see cref="SelectAsync(RegistryClient, string, IEnumerable{string}, CancellationToken)"/> reads at a time (default 4).</summary>
        public int MaxConcurrency { get; set; } = 4;

        /// <summary>True when some criterion is set; false when every tag is selected.</summary>
        public bool HasCriteria => _include.Count > 0 || _exclude.Count > 0 || _range != null || _latest.HasValue;

        /// <summary>
        /// Applies <see cref="Include"/>, <see cref="Exclude"/> and <see cref="SemVer"/> (not <see cref="Latest"/>): no request
        /// is made. Returns distinct tags in ordinal order.
        /// </summary>
        public IReadOnlyList<string> Filter(IEnumerable<string> tags)
        {
            if (tags == null) throw new ArgumentNullException(nameof(tags));
            var kept = new List<string>();
            foreach (var tag in tags.Where(t => !string.IsNullOrEmpty(t)).Distinct(StringComparer.Ordinal))
            {
                if (_includePatterns.Length > 0 && !_includePatterns.Any(p => p.IsMatch(tag))) continue;
                if (_excludePatterns.Any(p => p.IsMatch(tag))) continue;
                if (_range != null && !(TryParseVersion(tag, out var version) && _range.Satisfies(version))) continue;
                kept.Add(tag);
            }
            kept.Sort(StringComparer.Ordinal);
            return kept;
        }

        /// <summary>
        /// True when <see cref="Latest"/> must know when the images of <paramref name="filtered"/> (the output of
        /// <see cref="Filter"/>) were created: it is set and not all of them are versions.
        /// </summary>
        public bool NeedsCreated(IReadOnlyCollection<string> filtered) =>
            _latest.HasValue && filtered.Count > 0 && !filtered.All(t => TryParseVersion(t, out _));

        /// <summary>
        /// The selected tags. <paramref name="createdOf"/> gives the creation time of a tag's image (null when unknown); it is
        /// called, several at a time (<see cref="MaxConcurrency"/>), only when <see cref="NeedsCreated"/> is true.
        /// </summary>
        public async Task<IReadOnlyList<string>> SelectAsync(IEnumerable<string> tags, Func<string, CancellationToken, Task<DateTimeOffset?>> createdOf,
            CancellationToken cancellationToken = default)
        {
            if (createdOf == null) throw new ArgumentNullException(nameof(createdOf));
            var filtered = Filter(tags);
            if (!_latest.HasValue) return filtered;
            var n = _latest.Value;
            if (!NeedsCreated(filtered))
            {
                return filtered
                    .Select(t => (Tag: t, Version: TryParseVersion(t, out var v) ? v : null!))
                    .OrderByDescending(x => x.Version, VersionComparer.Default)
                    .ThenByDescending(x => x.Tag, StringComparer.Ordinal)
                    .Take(n).Select(x => x.Tag).ToList();
            }
            var created = new DateTimeOffset?[filtered.Count];
            using (var gate = new SemaphoreSlim(Math.Max(1, MaxConcurrency)))
            {
                var jobs = filtered.Select(async (tag, i) =>
                {
                    await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try { created[i] = await createdOf(tag, cancellationToken).ConfigureAwait(false); }
                    finally { gate.Release(); }
                }).ToList();
                await Task.WhenAll(jobs).ConfigureAwait(false);
            }
            return filtered
                .Select((t, i) => (Tag: t, Created: created[i]))
                .OrderByDescending(x => x.Created.HasValue)
                .ThenByDescending(x => x.Created ?? DateTimeOffset.MinValue)
                .ThenByDescending(x => x.Tag, StringComparer.Ordinal)
                .Take(n).Select(x => x.Tag).ToList();
        }

        /// <summary>
        /// The selected tags of <paramref name="repository"/> among <paramref name="tags"/> (usually its whole listing). When
        /// <see cref="Latest"/> orders by creation time, each tag's config is read (an index gives the image of the default
        /// platform rule, as <see cref="ImageResolver"/> has it); a tag that is gone meanwhile is left out, and an artifact, an
        /// index without a usable image or an image whose config is missing counts as oldest. Other failures are thrown.
        /// </summary>
        public async Task<IReadOnlyList<string>> SelectAsync(RegistryClient client, string repository, IEnumerable<string> tags, CancellationToken cancellationToken = default)
        {
            if (client == null) throw new ArgumentNullException(nameof(client));
            RegistryClient.CheckRepository(repository);
            var gone = new HashSet<string>(StringComparer.Ordinal);
            var selected = await SelectAsync(tags, async (tag, ct) =>
            {
                var reference = ImageReference.Create(client.Endpoint.Registry, repository, tag, null);
                try
                {
                    var source = await ImageSource.ResolveAsync(client, reference, null, ct).ConfigureAwait(false);
                    return source.Config.Created;
                }
                catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound && !(e is PlatformNotFoundException) && IsManifestUnknown(e))
                {
                    lock (gone) gone.Add(tag);
                    return null;
                }
                // An artifact, an index without a usable image, a config blob that is missing: no created time.
                catch (RegistryException e) when (e is PlatformNotFoundException || e.Kind == RegistryErrorKind.Unsupported || e.Kind == RegistryErrorKind.NotFound)
                {
                    return null;
                }
            }, cancellationToken).ConfigureAwait(false);
            return gone.Count == 0 ? selected : selected.Where(t => !gone.Contains(t)).ToList();
        }

        private static bool IsManifestUnknown(RegistryException e) =>
            e.Errors.Count == 0 || e.Errors.Any(x => x.Code == "MANIFEST_UNKNOWN" || x.Code == "NAME_UNKNOWN");

        /// <summary>
        /// Reads a tag as a version: an optional <c>v</c>/<c>V</c> prefix, then 1 to 4 numbers and an optional pre-release
        /// (<c>v1</c>, <c>1.25</c>, <c>1.2.3-rc.1</c>, <c>1.25-alpine</c>). Anything else (<c>latest</c>, <c>main</c>) is not a version.
        /// </summary>
        public static bool TryParseVersion(string tag, out NuGetVersion version)
        {
            version = null!;
            if (string.IsNullOrEmpty(tag)) return false;
            var text = tag.Length > 1 && (tag[0] == 'v' || tag[0] == 'V') && char.IsDigit(tag[1]) ? tag.Substring(1) : tag;
            if (!PlainVersion.IsMatch(text)) return false;
            // NuGet wants at least major.minor: "3" and "3-alpine" are 3.0.
            var dash = text.IndexOf('-');
            var core = dash < 0 ? text : text.Substring(0, dash);
            if (core.IndexOf('.') < 0) text = core + ".0" + (dash < 0 ? string.Empty : text.Substring(dash));
            if (!NuGetVersion.TryParse(text, out var parsed)) return false;
            version = parsed;
            return true;
        }

        // Numbers without leading zeros, then a dot-separated pre-release; no build metadata ('+' is not allowed in a tag).
        private static readonly Regex PlainVersion = new Regex(@"^(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8})){0,3}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$", RegexOptions.CultureInvariant);
    }

    /// <summary>PowerShell-style wildcards, without PowerShell: <c>*</c>, <c>?</c>, <c>[abc]</c>, <c>[a-z]</c>, backtick escapes.</summary>
    internal static class Wildcard
    {
        public static Regex ToRegex(string pattern)
        {
            if (pattern == null) throw new ArgumentNullException(nameof(pattern));
            var sb = new StringBuilder("^");
            for (int i = 0; i < pattern.Length; i++)
            {
                char c = pattern[i];
                switch (c)
                {
                    case '`' when i + 1 < pattern.Length: sb.Append(Regex.Escape(pattern[++i].ToString())); break;
                    case '*': sb.Append(".*"); break;
                    case '?': sb.Append('.'); break;
                    case '[':
                        int end = pattern.IndexOf(']', i + 1);
                        if (end < 0) throw new FormatException($"The wildcard pattern '{pattern}' has a '[' without its ']'.");
                        var set = pattern.Substring(i + 1, end - i - 1);
                        if (set.Length == 0) throw new FormatException($"The wildcard pattern '{pattern}' has an empty '[]'.");
                        sb.Append('[');
                        foreach (var s in set) sb.Append(s == '-' ? "-" : Regex.Escape(s.ToString()).Replace("]", "\\]"));
                        sb.Append(']');
                        i = end;
                        break;
                    default: sb.Append(Regex.Escape(c.ToString())); break;
                }
            }
            return new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline);
        }
    }

    /// <summary>A union (<c>||</c>) of comparator sets; each set is one interval of <see cref="NuGetVersion"/>s.</summary>
    internal sealed class VersionRangeSet
    {
        private readonly IReadOnlyList<ComparatorSet> _sets;

        private VersionRangeSet(IReadOnlyList<ComparatorSet> sets) => _sets = sets;

        public bool Satisfies(NuGetVersion version) => _sets.Any(s => s.Satisfies(version));

        public static VersionRangeSet Parse(string text)
        {
            if (string.IsNullOrWhiteSpace(text)) throw new FormatException("The version range is empty.");
            var sets = new List<ComparatorSet>();
            foreach (var alternative in text.Split(new[] { "||" }, StringSplitOptions.None))
            {
                var part = alternative.Trim();
                if (part.Length > 0 && (part[0] == '[' || part[0] == '('))
                {
                    if (!VersionRange.TryParse(part, out var interval))
                        throw new FormatException($"'{part}' is not a version interval like [1.2,2).");
                    sets.Add(new ComparatorSet(interval));
                    continue;
                }
                sets.Add(ComparatorSet.ParseNpm(part, text));
            }
            return new VersionRangeSet(sets);
        }

        internal sealed class ComparatorSet
        {
            private readonly VersionRange _range;
            // major.minor.patch of the pre-releases the set names: only their pre-releases match (npm's rule).
            private readonly HashSet<(int, int, int)> _prereleaseOf = new HashSet<(int, int, int)>();

            public ComparatorSet(VersionRange range)
            {
                _range = range;
                foreach (var v in new[] { range.MinVersion, range.MaxVersion })
                    if (v != null && v.IsPrerelease) _prereleaseOf.Add((v.Major, v.Minor, v.Patch));
            }

            private ComparatorSet(VersionRange range, IEnumerable<(int, int, int)> prereleaseOf) : this(range)
            {
                foreach (var p in prereleaseOf) _prereleaseOf.Add(p);
            }

            public bool Satisfies(NuGetVersion version)
            {
                if (version.IsPrerelease && !_prereleaseOf.Contains((version.Major, version.Minor, version.Patch))) return false;
                return _range.Satisfies(version, VersionComparison.VersionRelease);
            }

            public static ComparatorSet ParseNpm(string part, string whole)
            {
                NuGetVersion? min = null, max = null;
                bool minInclusive = true, maxInclusive = false;
                var prereleases = new List<(int, int, int)>();

                void Lower(NuGetVersion v, bool inclusive)
                {
                    int c = min == null ? 1 : VersionComparer.VersionRelease.Compare(v, min);
                    if (c > 0 || (c == 0 && !inclusive)) { min = v; minInclusive = inclusive; }
                }
                void Upper(NuGetVersion v, bool inclusive)
                {
                    int c = max == null ? -1 : VersionComparer.VersionRelease.Compare(v, max);
                    if (c < 0 || (c == 0 && !inclusive)) { max = v; maxInclusive = inclusive; }
                }

                // ">= 1.2" is ">=1.2"; then the set is comparators separated by spaces, or "A - B".
                var normalized = Regex.Replace(part, @"(>=|<=|>|<|=|\^|~>|~)\s+", "$1");
                var tokens = normalized.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries);
                if (tokens.Length == 3 && tokens[1] == "-")
                {
                    var from = Partial.Parse(tokens[0], whole);
                    var to = Partial.Parse(tokens[2], whole);
                    if (from.Major != null) Lower(from.Floor(), true);
                    if (to.IsFull) Upper(to.Floor(), true);
                    else if (to.Major != null) Upper(to.Next(), false);
                    Note(from); Note(to);
                    return Build();
                }
                foreach (var token in tokens)
                {
                    var m = Regex.Match(token, @"^(>=|<=|>|<|=|\^|~>|~)?(.+)$");
                    var op = m.Groups[1].Value;
                    var p = Partial.Parse(m.Groups[2].Value, whole);
                    Note(p);
                    if (p.Major == null)
                    {
                        // "*", "x": any version; "<*" or ">*" matches nothing.
                        if (op == "<" || op == ">") { Lower(new NuGetVersion(int.MaxValue, 0, 0), true); }
                        continue;
                    }
                    switch (op)
                    {
                        case ">=": Lower(p.Floor(), true); break;
                        case ">": if (p.IsFull) Lower(p.Floor(), false); else Lower(p.Next(), true); break;
                        case "<": Upper(p.Floor(), false); break;
                        case "<=": if (p.IsFull) Upper(p.Floor(), true); else Upper(p.Next(), false); break;
                        case "^":
                            Lower(p.Floor(), true);
                            var major = p.Major.Value;
                            var minor = p.Minor ?? 0;
                            if (major > 0 || p.Minor == null) Upper(new NuGetVersion(major + 1, 0, 0), false);
                            else if (minor > 0 || p.Patch == null) Upper(new NuGetVersion(0, minor + 1, 0), false);
                            else Upper(new NuGetVersion(0, 0, p.Patch!.Value + 1), false);
                            break;
                        case "~":
                        case "~>":
                            Lower(p.Floor(), true);
                            Upper(p.Minor == null ? new NuGetVersion(p.Major.Value + 1, 0, 0) : new NuGetVersion(p.Major.Value, p.Minor.Value + 1, 0), false);
                            break;
                        default:
                            if (p.IsFull) { Lower(p.Floor(), true); Upper(p.Floor(), true); }
                            else { Lower(p.Floor(), true); Upper(p.Next(), false); }
                            break;
                    }
                }
                return Build();

                void Note(Partial p)
                {
                    if (p.Prerelease != null) prereleases.Add((p.Major ?? 0, p.Minor ?? 0, p.Patch ?? 0));
                }

                ComparatorSet Build()
                {
                    if (min != null && max != null)
                    {
                        int c = VersionComparer.VersionRelease.Compare(min, max);
                        if (c > 0 || (c == 0 && !(minInclusive && maxInclusive)))
                            return new ComparatorSet(VersionRange.None, prereleases);
                    }
                    return new ComparatorSet(new VersionRange(min, minInclusive, max, maxInclusive), prereleases);
                }
            }
        }

        /// <summary>A version in a range: short (<c>1</c>, <c>1.2</c>), with <c>x</c>/<c>*</c> parts, a <c>v</c> prefix.</summary>
        private sealed class Partial
        {
            public int? Major, Minor, Patch;
            public string? Prerelease;

            public bool IsFull => Patch != null;

            public NuGetVersion Floor() => new NuGetVersion(Major ?? 0, Minor ?? 0, Patch ?? 0, Prerelease ?? string.Empty);

            /// <summary>The first version past this partial one: 1.2 → 1.3.0, 1 → 2.0.0.</summary>
            public NuGetVersion Next() => Minor == null ? new NuGetVersion(Major!.Value + 1, 0, 0) : new NuGetVersion(Major!.Value, Minor.Value + 1, 0);

            public static Partial Parse(string text, string whole)
            {
                var m = Regex.Match(text, @"^[vV=]?(?<a>[0-9]+|[xX*])(\.(?<b>[0-9]+|[xX*]))?(\.(?<c>[0-9]+|[xX*]))?(-(?<pre>[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?$");
                if (!m.Success) throw new FormatException($"'{whole}' is not a version range: '{text}' is not a version (e.g. 1.2.3, v1.25, 1.x, ^1.2, >=1.2.0 <2).");
                var result = new Partial();
                int? Number(Group g)
                {
                    if (!g.Success || g.Value == "x" || g.Value == "X" || g.Value == "*") return null;
                    if (!int.TryParse(g.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
                        throw new FormatException($"'{whole}' is not a version range: '{g.Value}' is too large a number.");
                    return n;
                }
                result.Major = Number(m.Groups["a"]);
                result.Minor = Number(m.Groups["b"]);
                result.Patch = Number(m.Groups["c"]);
                // "1.x.2" means nothing: after a wildcard part, only wildcards.
                if ((result.Major == null && (result.Minor != null || result.Patch != null)) || (result.Minor == null && result.Patch != null))
                    throw new FormatException($"'{whole}' is not a version range: in '{text}' a number follows a wildcard.");
                if (m.Groups["pre"].Success)
                {
                    if (result.Patch == null) throw new FormatException($"'{whole}' is not a version range: a pre-release needs a full version (1.2.3-rc.1), not '{text}'.");
                    result.Prerelease = m.Groups["pre"].Value;
                }
                return result;
            }
        }
    }
}
