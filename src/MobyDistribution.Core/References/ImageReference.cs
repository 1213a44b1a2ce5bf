using System;
using System.Diagnostics.CodeAnalysis;

namespace MobyDistribution
{
    /// <summary>
    /// A normalized image reference: registry, repository, optional tag and optional digest.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Parsing follows Docker's reference grammar and normalization (the rules of
    /// <c>ParseNormalizedNamed</c> in the <c>distribution/reference</c> Go package), except that a
    /// reference carrying both a tag and a digest keeps both:
    /// </para>
    /// <code>
    /// reference        := name [ ":" tag ] [ "@" digest ]
    /// name             := [domain "/"] path
    /// domain           := host [":" port]
    /// host             := domain-name | "[" IPv6 hex digits and colons "]"
    /// domain-name      := domain-component ["." domain-component]*
    /// domain-component := /[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]/
    /// port             := /[0-9]+/
    /// path             := path-component ["/" path-component]*
    /// path-component   := /[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*/
    /// tag              := /[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}/
    /// digest           := "sha256:" 64 lowercase hex | "sha512:" 128 lowercase hex
    /// </code>
    /// <para>
    /// The first path element is a registry only when it contains <c>.</c> or <c>:</c>, is exactly
    /// <c>localhost</c>, or contains an uppercase letter; otherwise the registry is <c>docker.io</c>.
    /// <c>index.docker.io</c> becomes <c>docker.io</c>, and a Docker Hub repository with a single path
    /// component gets the <c>library/</c> prefix. The repository (path) may be at most 255 characters.
    /// </para>
    /// </remarks>
    public sealed class ImageReference : IEquatable<ImageReference>
    {
        /// <summary>The canonical name of Docker Hub in references.</summary>
        public const string DockerHubRegistry = DockerHub.Registry;

        /// <summary>The host that actually serves Docker Hub's registry API.</summary>
        public const string DockerHubApiHost = DockerHub.ApiHost;

        /// <summary>The legacy name of Docker Hub ("the Docker Index"); normalized to <see cref="DockerHubRegistry"/>.</summary>
        public const string LegacyDockerHubRegistry = DockerHub.LegacyRegistry;

        /// <summary>The namespace of Docker Hub's official images, added to single-component Docker Hub repositories.</summary>
        public const string OfficialRepositoryPrefix = DockerHub.OfficialRepositoryPrefix;

        /// <summary>The maximum length of a repository (the path, without registry, tag or digest).</summary>
        public const int MaxRepositoryLength = 255;

        /// <summary>The maximum length of a tag.</summary>
        public const int MaxTagLength = 128;

        private const string Localhost = "localhost";
        private const int MaxQuotedLength = 256;

        private readonly string _string;

        private ImageReference(string registry, string repository, string? tag, Digest? digest)
        {
            Registry = registry;
            Repository = repository;
            Tag = tag;
            Digest = digest;
            _string = registry + "/" + repository
                + (tag != null ? ":" + tag : string.Empty)
                + (digest is not null ? "@" + digest.ToString() : string.Empty);
        }

        /// <summary>
        /// The registry (Docker's "domain"): <c>docker.io</c>, <c>localhost:5000</c>, <c>[::1]:5000</c>,
        /// <c>registry.example.com</c>. Its case is preserved.
        /// </summary>
        public string Registry { get; }

        /// <summary>The repository path within the registry, e.g. <c>library/ubuntu</c> or <c>user/app</c>.</summary>
        public string Repository { get; }

        /// <summary>The tag, or <c>null</c> when the reference has none (no default is applied).</summary>
        public string? Tag { get; }

        /// <summary>The digest, or <c>null</c> when the reference has none.</summary>
        public Digest? Digest { get; }

        /// <summary>The host to send registry API requests to: <see cref="DockerHubApiHost"/> for Docker Hub, else <see cref="Registry"/>.</summary>
        public string ApiHost => DockerHub.ApiHostOf(Registry);

        /// <summary>The fully qualified name without tag or digest: <see cref="Registry"/> + "/" + <see cref="Repository"/>.</summary>
        public string Name => Registry + "/" + Repository;

        /// <summary>What to ask the registry for: the digest if present, else the tag, else <c>latest</c>.</summary>
        public string Reference => Digest?.ToString() ?? Tag ?? "latest";

        /// <summary>
        /// Docker's familiar form of the name: <c>docker.io/</c> is dropped, and so is <c>library/</c> when
        /// what follows has no further <c>/</c> (<c>ubuntu</c>, <c>user/app</c>, <c>localhost:5000/app</c>).
        /// </summary>
        /// <remarks>
        /// As in Docker, the familiar form of a Docker Hub repository whose first component looks like a
        /// registry (for example <c>docker.io/foo.com/app</c>) is ambiguous: it parses back as another registry.
        /// </remarks>
        public string FamiliarName
        {
            get
            {
                if (Registry != DockerHubRegistry) return Name;
                if (Repository.StartsWith(OfficialRepositoryPrefix, StringComparison.Ordinal))
                {
                    var rest = Repository.Substring(OfficialRepositoryPrefix.Length);
                    if (rest.IndexOf('/') < 0) return rest;
                }
                return Repository;
            }
        }

        /// <summary>
        /// Parses a reference the way <c>docker pull</c> does, normalizing familiar names
        /// (<c>ubuntu</c> → <c>docker.io/library/ubuntu</c>). A tag and a digest may both be given and are both kept.
        /// </summary>
        /// <param name="value">The reference, e.g. <c>ubuntu:22.04</c> or <c>localhost:5000/app@sha256:…</c>.</param>
        /// <returns>The normalized reference.</returns>
        /// <exception cref="FormatException">The reference is not valid; the message names the problem and the input.</exception>
        public static ImageReference Parse(string value)
        {
            var reference = ParseCore(value, out var error);
            if (reference is null) throw new FormatException(error);
            return reference;
        }

        /// <summary>Parses a reference like <see cref="Parse"/>, returning <c>false</c> instead of throwing.</summary>
        /// <param name="value">The reference; <c>null</c> or invalid input gives <c>false</c>.</param>
        /// <param name="reference">The normalized reference, or <c>null</c> when parsing failed.</param>
        /// <returns>Whether <paramref name="value"/> is a valid reference.</returns>
        public static bool TryParse(string? value, [NotNullWhen(true)] out ImageReference? reference)
        {
            reference = ParseCore(value, out _);
            return reference is not null;
        }

        /// <summary>
        /// Builds a reference from its parts, validating each with the reference grammar.
        /// <c>index.docker.io</c> becomes <c>docker.io</c>, and a single-component Docker Hub repository gets <c>library/</c>.
        /// </summary>
        /// <param name="registry">The registry, <c>host[:port]</c>. It must be recognizable as a registry when the reference
        /// is written out: contain <c>.</c> or <c>:</c>, be <c>localhost</c>, or contain an uppercase letter.</param>
        /// <param name="repository">The repository path, lowercase.</param>
        /// <param name="tag">An optional tag.</param>
        /// <param name="digest">An optional digest.</param>
        /// <returns>The normalized reference.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="registry"/> or <paramref name="repository"/> is null.</exception>
        /// <exception cref="FormatException">A part is not valid.</exception>
        public static ImageReference Create(string registry, string repository, string? tag = null, Digest? digest = null)
        {
            if (registry is null) throw new ArgumentNullException(nameof(registry));
            if (repository is null) throw new ArgumentNullException(nameof(repository));

            if (DockerHub.IsLegacyReferenceDomain(registry)) registry = DockerHubRegistry;
            var problem = CheckRegistry(registry);
            if (problem == null && !LooksLikeRegistry(registry))
            {
                problem = $"registry '{Shorten(registry)}' would be read as a Docker Hub namespace: "
                    + "a registry must contain '.' or ':', be 'localhost', or contain an uppercase letter";
            }
            if (problem != null) throw new FormatException("invalid registry: " + problem);

            repository = NormalizeRepository(registry, repository);
            problem = CheckRepository(repository);
            if (problem != null) throw new FormatException($"invalid repository: {problem} in '{Shorten(repository)}'");

            if (tag != null)
            {
                problem = CheckTag(tag);
                if (problem != null) throw new FormatException("invalid tag: " + problem);
            }
            return new ImageReference(registry, repository, tag, digest);
        }

        /// <summary>Returns this reference with another tag and no digest.</summary>
        /// <param name="tag">The new tag, or <c>null</c> for none.</param>
        /// <exception cref="FormatException">The tag is not valid.</exception>
        public ImageReference WithTag(string? tag)
        {
            if (tag != null)
            {
                var problem = CheckTag(tag);
                if (problem != null) throw new FormatException("invalid tag: " + problem);
            }
            return new ImageReference(Registry, Repository, tag, null);
        }

        /// <summary>Returns this reference with another digest (or none), keeping the tag.</summary>
        /// <param name="digest">The new digest, or <c>null</c> for none.</param>
        public ImageReference WithDigest(Digest? digest) => new ImageReference(Registry, Repository, Tag, digest);

        /// <summary>
        /// Returns this reference with another repository in the same registry, keeping tag and digest.
        /// The repository is validated and normalized like in <see cref="Create"/>.
        /// </summary>
        /// <param name="repository">The new repository path.</param>
        /// <exception cref="ArgumentNullException"><paramref name="repository"/> is null.</exception>
        /// <exception cref="FormatException">The repository is not valid.</exception>
        public ImageReference WithRepository(string repository) => Create(Registry, repository, Tag, Digest);

        /// <summary>Returns the bare name: this registry and repository, with no tag and no digest.</summary>
        public ImageReference WithoutReference() => new ImageReference(Registry, Repository, null, null);

        /// <summary>
        /// Docker's familiar string: <see cref="FamiliarName"/>, then <c>:tag</c> and <c>@digest</c> when present
        /// (<c>ubuntu:22.04</c>, <c>user/app@sha256:…</c>).
        /// </summary>
        public string ToFamiliarString()
            => FamiliarName + (Tag != null ? ":" + Tag : string.Empty) + (Digest is not null ? "@" + Digest.ToString() : string.Empty);

        /// <summary>The fully qualified reference, e.g. <c>docker.io/library/ubuntu:22.04@sha256:…</c>.</summary>
        public override string ToString() => _string;

        /// <summary>Whether both references have the same fully qualified string.</summary>
        public bool Equals(ImageReference? other) => other is not null && string.Equals(_string, other._string, StringComparison.Ordinal);

        /// <inheritdoc />
        public override bool Equals(object? obj) => obj is ImageReference r && Equals(r);

        /// <inheritdoc />
        public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_string);

        /// <summary>Whether two references are equal (both null, or the same fully qualified string).</summary>
        public static bool operator ==(ImageReference? left, ImageReference? right) => left is null ? right is null : left.Equals(right);

        /// <summary>Whether two references differ.</summary>
        public static bool operator !=(ImageReference? left, ImageReference? right) => !(left == right);

        // ---------------------------------------------------------------- parsing

        private static ImageReference? ParseCore(string? value, out string error)
        {
            if (value is null)
            {
                error = "invalid reference format: the reference is null";
                return null;
            }
            if (value.Length == 0)
            {
                error = "invalid reference format: the reference is empty";
                return null;
            }
            if (IsImageId(value))
            {
                error = $"invalid repository name ({value}), cannot specify 64-byte hexadecimal strings";
                return null;
            }

            SplitDockerDomain(value, out var registry, out var remainder);

            // Like Docker, the lowercase check covers everything up to the first ':' after the registry.
            int firstColon = remainder.IndexOf(':');
            var remote = firstColon >= 0 ? remainder.Substring(0, firstColon) : remainder;
            if (HasUppercase(remote))
            {
                error = Fail("repository name must be lowercase", value);
                return null;
            }

            // remainder := path [":" tag] ["@" digest]; neither path nor tag can hold ':' or '@'.
            string? digestText = null;
            var pathAndTag = remainder;
            int at = remainder.IndexOf('@');
            if (at >= 0)
            {
                digestText = remainder.Substring(at + 1);
                pathAndTag = remainder.Substring(0, at);
            }
            string path = pathAndTag;
            string? tag = null;
            int colon = pathAndTag.IndexOf(':');
            if (colon >= 0)
            {
                tag = pathAndTag.Substring(colon + 1);
                path = pathAndTag.Substring(0, colon);
            }

            var problem = CheckRegistry(registry)
                ?? CheckRepository(path)
                ?? (tag != null ? CheckTag(tag) : null);
            if (problem != null)
            {
                error = Fail(problem, value);
                return null;
            }

            Digest? digest = null;
            if (digestText != null)
            {
                if (digestText.Length == 0)
                {
                    error = Fail("digest must not be empty after '@'", value);
                    return null;
                }
                if (!MobyDistribution.Digest.TryParse(digestText, out digest))
                {
                    error = Fail("digest is not valid: " + DigestProblem(digestText), value);
                    return null;
                }
            }

            error = string.Empty;
            return new ImageReference(registry, path, tag, digest);
        }

        /// <summary>
        /// Splits off the registry as Docker does: the first path element is a registry when it is
        /// <c>localhost</c>, contains '.' or ':', or has uppercase letters; otherwise the registry is Docker Hub.
        /// </summary>
        private static void SplitDockerDomain(string value, out string registry, out string remainder)
        {
            int slash = value.IndexOf('/');
            if (slash < 0)
            {
                // A single element ("ubuntu", "ubuntu:22.04", even "localhost:5000") is a Docker Hub official image.
                registry = DockerHubRegistry;
                remainder = DockerHub.QualifyRepository(value);
                return;
            }

            var first = value.Substring(0, slash);
            var rest = value.Substring(slash + 1);
            if (DockerHub.IsLegacyReferenceDomain(first))
            {
                registry = DockerHubRegistry;
                remainder = rest;
            }
            else if (LooksLikeRegistry(first))
            {
                registry = first;
                remainder = rest;
            }
            else
            {
                registry = DockerHubRegistry;
                remainder = value;
            }

            if (registry == DockerHubRegistry) remainder = DockerHub.QualifyRepository(remainder);
        }

        private static bool LooksLikeRegistry(string first)
            => first == Localhost || first.IndexOf('.') >= 0 || first.IndexOf(':') >= 0 || HasUppercase(first);

        private static string NormalizeRepository(string registry, string repository)
            => registry == DockerHubRegistry ? DockerHub.QualifyRepository(repository) : repository;

        // ---------------------------------------------------------------- the grammar, for other callers

        /// <summary>Whether <paramref name="repository"/> is a repository path by the grammar: lowercase path components
        /// joined by <c>/</c>, at most <see cref="MaxRepositoryLength"/> characters.</summary>
        public static bool IsValidRepository(string? repository) => repository != null && CheckRepository(repository) == null;

        /// <summary>Whether <paramref name="tag"/> is a tag by the grammar: <c>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}</c>.</summary>
        public static bool IsValidTag(string? tag) => tag != null && CheckTag(tag) == null;

        /// <summary>Why <paramref name="repository"/> is not a repository path, or null when it is one.</summary>
        internal static string? RepositoryProblem(string? repository) =>
            repository == null ? "repository name must not be null"
            : CheckRepository(repository) is string problem ? $"invalid repository: {problem} in '{Shorten(repository)}'" : null;

        /// <summary>
        /// Why <paramref name="reference"/> is neither a tag nor a digest (what follows <c>/manifests/</c>), or null when it
        /// is one. Anything holding ':' is read as a digest, as neither a tag nor a repository can hold one.
        /// </summary>
        internal static string? TagOrDigestProblem(string? reference)
        {
            if (string.IsNullOrEmpty(reference)) return "a tag or digest is required";
            if (reference!.IndexOf(':') >= 0)
                return MobyDistribution.Digest.TryParse(reference, out _) ? null : "invalid digest: " + DigestProblem(reference);
            return CheckTag(reference) is string problem ? "invalid tag: " + problem : null;
        }

        // ---------------------------------------------------------------- grammar checks (null = valid)

        /// <summary>host[":" port]: a domain name or a bracketed IPv6 address, then an optional decimal port.</summary>
        private static string? CheckRegistry(string registry)
        {
            if (registry.Length == 0) return "registry must not be empty";

            int portColon;
            bool hostOk;
            if (registry[0] == '[')
            {
                int close = registry.IndexOf(']');
                hostOk = close > 1;
                for (int i = 1; hostOk && i < close; i++) hostOk = IsHex(registry[i]) || registry[i] == ':';
                portColon = close + 1;
                if (hostOk && portColon < registry.Length && registry[portColon] != ':') hostOk = false;
            }
            else
            {
                portColon = registry.IndexOf(':');
                if (portColon < 0) portColon = registry.Length;
                hostOk = IsDomainName(registry, 0, portColon);
            }

            bool portOk = true;
            if (hostOk && portColon < registry.Length)
            {
                // registry[portColon] == ':'; one or more ASCII digits must follow.
                portOk = portColon + 1 < registry.Length;
                for (int i = portColon + 1; portOk && i < registry.Length; i++) portOk = registry[i] >= '0' && registry[i] <= '9';
            }

            if (hostOk && portOk) return null;
            return $"registry '{Shorten(registry)}' is not valid: expected a host name, an IPv4 address or a bracketed IPv6 address, "
                + "optionally followed by ':' and a port number";
        }

        /// <summary>Components of [a-zA-Z0-9] with inner '-', joined by '.'.</summary>
        private static bool IsDomainName(string s, int start, int end)
        {
            if (start >= end) return false;
            int componentStart = start;
            for (int i = start; i <= end; i++)
            {
                if (i < end && s[i] != '.')
                {
                    if (!IsAsciiLetterOrDigit(s[i]) && s[i] != '-') return false;
                    continue;
                }
                // component s[componentStart, i)
                if (i == componentStart) return false;
                if (s[componentStart] == '-' || s[i - 1] == '-') return false;
                componentStart = i + 1;
            }
            return true;
        }

        /// <summary>path-component ["/" path-component]*, at most 255 characters.</summary>
        private static string? CheckRepository(string path)
        {
            if (path.Length == 0) return "repository name must not be empty";

            int start = 0;
            for (int i = 0; i <= path.Length; i++)
            {
                if (i < path.Length && path[i] != '/') continue;
                if (i == start)
                {
                    return $"repository name '{Shorten(path)}' has an empty path component "
                        + "(it must not start or end with '/' or contain '//')";
                }
                var component = path.Substring(start, i - start);
                if (!IsPathComponent(component))
                {
                    if (HasUppercase(component) && IsPathComponent(component.ToLowerInvariant()))
                        return "repository name must be lowercase";
                    return $"repository path component '{Shorten(component)}' is not valid: it must be lowercase letters and digits, "
                        + "separated by one '.', one or two '_', or any number of '-'";
                }
                start = i + 1;
            }

            if (path.Length > MaxRepositoryLength)
                return $"repository name must not be longer than {MaxRepositoryLength} characters (it has {path.Length})";
            return null;
        }

        /// <summary>[a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*</summary>
        private static bool IsPathComponent(string s)
        {
            if (s.Length == 0 || !IsLowerAlnum(s[0]) || !IsLowerAlnum(s[s.Length - 1])) return false;
            int i = 0;
            while (i < s.Length)
            {
                if (IsLowerAlnum(s[i])) { i++; continue; }

                // A run of separator characters between two alphanumerics.
                int runStart = i;
                while (i < s.Length && !IsLowerAlnum(s[i]))
                {
                    char c = s[i];
                    if (c != '.' && c != '_' && c != '-') return false;
                    i++;
                }
                var run = s.Substring(runStart, i - runStart);
                if (run == "." || run == "_" || run == "__") continue;
                foreach (var c in run)
                {
                    if (c != '-') return false;
                }
            }
            return true;
        }

        /// <summary>[\w][\w.-]{0,127} with ASCII \w.</summary>
        private static string? CheckTag(string tag)
        {
            if (tag.Length == 0) return "tag must not be empty";
            if (tag.Length > MaxTagLength) return $"tag '{Shorten(tag)}' is too long (at most {MaxTagLength} characters, it has {tag.Length})";
            bool ok = IsWordChar(tag[0]);
            for (int i = 1; ok && i < tag.Length; i++) ok = IsWordChar(tag[i]) || tag[i] == '.' || tag[i] == '-';
            if (ok) return null;
            return $"tag '{Shorten(tag)}' is not valid: it must start with a letter, digit or '_' "
                + "and contain only letters, digits, '_', '.' and '-'";
        }

        private static string DigestProblem(string digestText)
        {
            try
            {
                MobyDistribution.Digest.Parse(digestText);
                return "'" + Shorten(digestText) + "'";
            }
            catch (FormatException e)
            {
                return e.Message;
            }
        }

        // ---------------------------------------------------------------- helpers

        /// <summary>Exactly 64 lowercase hex digits: an image ID, which Docker refuses as a name.</summary>
        private static bool IsImageId(string s)
        {
            if (s.Length != 64) return false;
            foreach (var c in s)
            {
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
            }
            return true;
        }

        private static bool HasUppercase(string s) => !string.Equals(s, s.ToLowerInvariant(), StringComparison.Ordinal);

        private static bool IsLowerAlnum(char c) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        private static bool IsAsciiLetterOrDigit(char c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        private static bool IsWordChar(char c) => IsAsciiLetterOrDigit(c) || c == '_';

        private static bool IsHex(char c) => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

        private static string Fail(string problem, string input) => $"invalid reference format: {problem} in '{Shorten(input)}'";

        private static string Shorten(string s) => s.Length > MaxQuotedLength ? s.Substring(0, MaxQuotedLength - 3) + "..." : s;
    }
}
