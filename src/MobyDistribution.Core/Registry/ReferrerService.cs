using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Transport;

namespace MobyDistribution.Registry
{
    /// <summary>Where a list of referrers came from.</summary>
    public enum ReferrerListSource
    {
        /// <summary>The registry's OCI 1.1 referrers API (<c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;</c>).</summary>
        Api,
        /// <summary>The registry has no referrers API: the index under the tag-schema tag (<c>sha256-&lt;hex&gt;</c>).</summary>
        TagSchema,
    }

    /// <summary>The referrers of one subject, as the registry listed them.</summary>
    public sealed class ReferrerList
    {
        internal ReferrerList(IReadOnlyList<Descriptor> referrers, ReferrerListSource source, Descriptor? tagSchemaIndex)
        {
            Referrers = referrers;
            Source = source;
            TagSchemaIndex = tagSchemaIndex;
        }

        /// <summary>The referrers' descriptors (media type, digest, size, artifactType, annotations), each once.</summary>
        public IReadOnlyList<Descriptor> Referrers { get; }

        /// <summary>API or tag schema.</summary>
        public ReferrerListSource Source { get; }

        /// <summary>With <see cref="ReferrerListSource.TagSchema"/>, the index the tag points at (null when there is no such tag).</summary>
        public Descriptor? TagSchemaIndex { get; }
    }

    /// <summary>
    /// OCI referrers of a repository's manifests (distribution-spec 1.1): the referrers API where the registry has it, else the
    /// referrers tag schema, where a tag named after the subject's digest holds an index of its referrers.
    /// </summary>
    public sealed class ReferrerService
    {
        /// <summary>The longest algorithm and encoded parts of a tag-schema tag (the spec truncates to fit a tag's 128 characters).</summary>
        private const int MaxTagAlgorithm = 32, MaxTagEncoded = 64;
        private const int MaxPages = 10_000;

        private readonly RegistryClient _client;

        internal ReferrerService(RegistryClient client) => _client = client;

        /// <summary>
        /// The tag of the referrers tag schema for <paramref name="subject"/>: <c>&lt;alg&gt;-&lt;hex&gt;</c>, the algorithm cut
        /// to 32 characters and the hex to 64 (so <c>sha256:abc…</c> is <c>sha256-abc…</c>).
        /// </summary>
        public static string TagSchemaTag(Digest subject)
        {
            if (subject == null) throw new ArgumentNullException(nameof(subject));
            var algorithm = subject.Algorithm.Length > MaxTagAlgorithm ? subject.Algorithm.Substring(0, MaxTagAlgorithm) : subject.Algorithm;
            var hex = subject.Hex.Length > MaxTagEncoded ? subject.Hex.Substring(0, MaxTagEncoded) : subject.Hex;
            return algorithm + "-" + hex;
        }

        private static readonly System.Text.RegularExpressions.Regex ReferrerTagPattern = new System.Text.RegularExpressions.Regex(
            @"^[a-z0-9]{1,32}-[a-f0-9]{32,64}(\.(sig|att|sbom))?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

        /// <summary>
        /// True for a tag that stands for referrers rather than an image: a tag-schema index (<c>sha256-&lt;hex&gt;</c>) or
        /// cosign's legacy <c>sha256-&lt;hex&gt;.sig</c>, <c>.att</c>, <c>.sbom</c>.
        /// </summary>
        public static bool IsReferrerTag(string tag) => tag != null && ReferrerTagPattern.IsMatch(tag);

        /// <summary>
        /// The referrers of <paramref name="subject"/> in <paramref name="repository"/>: from the referrers API (every
        /// <c>Link</c> page), or, where the registry answers 404 for it, from the tag-schema index. With
        /// <paramref name="artifactType"/>, only referrers of that type: filtered by the registry when it says so
        /// (<c>OCI-Filters-Applied</c>), else here.
        /// </summary>
        public async Task<ReferrerList> ListAsync(string repository, Digest subject, string? artifactType = null, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            if (subject == null) throw new ArgumentNullException(nameof(subject));
            var fromApi = await TryListFromApiAsync(repository, subject, artifactType, cancellationToken).ConfigureAwait(false);
            if (fromApi != null) return new ReferrerList(fromApi, ReferrerListSource.Api, null);
            var index = await TryGetTagSchemaIndexAsync(repository, subject, cancellationToken).ConfigureAwait(false);
            var referrers = index == null ? new List<Descriptor>() : Distinct(index.Manifests).Where(d => Matches(d, artifactType)).ToList();
            return new ReferrerList(referrers, ReferrerListSource.TagSchema, index?.ToDescriptor());
        }

        /// <summary>
        /// The referrers from the registry's referrers API, or null when it has none: a 404, whatever its body, means no API
        /// (the spec forbids a registry with the API to answer 404, and tells clients to fall back to the tag schema then;
        /// distribution 2.8 answers its plain-text "404 page not found" for the unknown route).
        /// </summary>
        public async Task<IReadOnlyList<Descriptor>?> TryListFromApiAsync(string repository, Digest subject, string? artifactType = null, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            if (subject == null) throw new ArgumentNullException(nameof(subject));
            var what = $"Referrers of {_client.Endpoint.Registry}/{repository}@{subject}";
            var baseUri = await _client.Transport.GetBaseUriAsync(cancellationToken).ConfigureAwait(false);
            var path = $"v2/{repository}/referrers/{subject}" + (artifactType != null ? "?artifactType=" + Uri.EscapeDataString(artifactType) : string.Empty);
            Uri? next = new Uri(baseUri, path);
            var visited = new HashSet<string>(StringComparer.Ordinal);
            var result = new List<Descriptor>();
            for (int page = 0; next != null; page++)
            {
                if (page >= MaxPages || !visited.Add(next.PathAndQuery))
                    throw new RegistryException(RegistryErrorKind.Protocol, $"{what}: the registry's pagination goes round in circles.");
                var request = new RegistryRequest(HttpMethod.Get, next, Scopes.Repository(repository, false))
                {
                    Idempotent = true,
                    Headers = h => h.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciIndex)),
                    Description = what,
                };
                using var response = await _client.Transport.SendBufferedAsync(request, Manifest.MaxSize, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    // A later page that is gone is not a missing API: the registry said it has one.
                    if (page == 0) return null;
                    throw await ErrorResponse.CreateAsync(response, what, cancellationToken).ConfigureAwait(false);
                }
                if (!response.IsSuccessStatusCode)
                    throw await ErrorResponse.CreateAsync(response, what, cancellationToken).ConfigureAwait(false);
                var body = await HttpContentReader.ReadCappedAsync(response.Content, Manifest.MaxSize, truncate: false, cancellationToken).ConfigureAwait(false);
                OciImageIndex index;
                try
                {
                    index = Manifest.Parse(body, MediaTypes.OciIndex) as OciImageIndex
                        ?? throw new InvalidDataException("The answer is not an OCI image index.");
                }
                catch (InvalidDataException e)
                {
                    throw new RegistryException(RegistryErrorKind.Protocol, $"{what}: the registry's answer is not valid: {Redaction.Shorten(e.Message, 300)}", e);
                }
                bool filtered = artifactType != null && FiltersApplied(response).Contains("artifactType");
                result.AddRange(index.Manifests.Where(d => filtered || Matches(d, artifactType)));
                next = Paging.NextLink(response, next, baseUri);
            }
            return Distinct(result).ToList();
        }

        /// <summary>The index under the tag-schema tag of <paramref name="subject"/>, or null when there is no such tag (or it holds no OCI index).</summary>
        public async Task<OciImageIndex?> TryGetTagSchemaIndexAsync(string repository, Digest subject, CancellationToken cancellationToken = default) =>
            await ReadTagSchemaAsync(repository, subject, cancellationToken).ConfigureAwait(false) as OciImageIndex;

        private async Task<Manifest?> ReadTagSchemaAsync(string repository, Digest subject, CancellationToken cancellationToken)
        {
            try
            {
                return await _client.Manifests.GetAsync(repository, TagSchemaTag(subject), cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
            {
                return null;
            }
        }

        /// <summary>Attempts at a tag-schema update before it gives up (each one re-reads, merges and writes again).</summary>
        public const int TagSchemaAttempts = 10;

        /// <summary>
        /// How long a tag-schema update waits after its write before reading the tag back: a concurrent writer that read the
        /// old index has written over it by then, and the lost entry is merged again.
        /// </summary>
        public TimeSpan TagSchemaSettleDelay { get; set; } = TimeSpan.FromMilliseconds(250);

        /// <summary>
        /// Adds <paramref name="referrer"/> to the tag-schema index of <paramref name="subject"/> (for a registry without the
        /// referrers API): reads the index, adds the entry, writes it back, then reads it again after
        /// <see cref="TagSchemaSettleDelay"/> and, when a concurrent writer's index replaced it without the entry, merges again
        /// (at most <see cref="TagSchemaAttempts"/> times). Entries already there are kept, and an entry already there is not
        /// written twice. Returns the index written (or found holding the entry). A tag that holds something other than an OCI
        /// index is not overwritten (InvalidRequest).
        /// </summary>
        /// <remarks>
        /// A registry offers no compare-and-swap on tags, so this is optimistic: the read-back catches a write that lost a race
        /// to one whose merge did not see it, which is what concurrent attaches do.
        /// </remarks>
        public Task<Descriptor> AddToTagSchemaAsync(string repository, Digest subject, Descriptor referrer, CancellationToken cancellationToken = default) =>
            AddToTagSchemaAsync(repository, subject, new[] { referrer ?? throw new ArgumentNullException(nameof(referrer)) }, cancellationToken);

        /// <summary>Adds several referrers of one subject to its tag-schema index in one update (see the single-referrer overload).</summary>
        public async Task<Descriptor> AddToTagSchemaAsync(string repository, Digest subject, IReadOnlyList<Descriptor> referrers, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            if (subject == null) throw new ArgumentNullException(nameof(subject));
            if (referrers == null || referrers.Count == 0) throw new ArgumentException("No referrers to add.", nameof(referrers));
            var tag = TagSchemaTag(subject);
            var entries = Distinct(referrers.Select(r => new Descriptor(r.MediaType, r.Digest, r.Size) { ArtifactType = r.ArtifactType, Annotations = r.Annotations })).ToList();
            var random = new Random(unchecked(Environment.TickCount ^ entries[0].Digest.GetHashCode()));
            for (int attempt = 1; attempt <= TagSchemaAttempts; attempt++)
            {
                var current = await ReadTagSchemaAsync(repository, subject, cancellationToken).ConfigureAwait(false);
                if (current != null && !(current is OciImageIndex))
                    throw new RegistryException(RegistryErrorKind.InvalidRequest,
                        $"The tag {_client.Endpoint.Registry}/{repository}:{tag} holds a {current.MediaType}, not the OCI index of {subject}'s referrers; it was left as it is.");
                var index = (OciImageIndex?)current;
                var missing = entries.Where(e => index == null || !index.Manifests.Any(m => m.Digest == e.Digest)).ToList();
                if (index != null && missing.Count == 0) return index.ToDescriptor();
                var manifests = (index?.Manifests ?? (IReadOnlyList<Descriptor>)Array.Empty<Descriptor>()).Concat(missing);
                var updated = ImageIndex.Create(MediaTypes.OciIndex, manifests, index?.Annotations);
                await _client.Manifests.PutAsync(repository, tag, updated, cancellationToken).ConfigureAwait(false);

                if (TagSchemaSettleDelay > TimeSpan.Zero)
                    await Task.Delay(TimeSpan.FromMilliseconds(TagSchemaSettleDelay.TotalMilliseconds * (0.5 + random.NextDouble())), cancellationToken).ConfigureAwait(false);
                var check = await ReadTagSchemaAsync(repository, subject, cancellationToken).ConfigureAwait(false) as OciImageIndex;
                if (check != null && entries.All(e => check.Manifests.Any(m => m.Digest == e.Digest))) return check.ToDescriptor();
                _client.Options.Log?.Invoke($"The referrers index {repository}:{tag} lost an entry to a concurrent update (attempt {attempt}); merging again.");
            }
            throw new RegistryException(RegistryErrorKind.Protocol,
                $"The referrers index {_client.Endpoint.Registry}/{repository}:{tag} kept being replaced by concurrent updates; {entries[0].Digest} was not added after {TagSchemaAttempts} attempts.");
        }

        private static IEnumerable<string> FiltersApplied(HttpResponseMessage response) =>
            response.Headers.TryGetValues("OCI-Filters-Applied", out var values)
                ? values.SelectMany(v => v.Split(',')).Select(v => v.Trim())
                : Enumerable.Empty<string>();

        private static bool Matches(Descriptor d, string? artifactType) =>
            artifactType == null || string.Equals(d.ArtifactType, artifactType, StringComparison.Ordinal);

        private static IEnumerable<Descriptor> Distinct(IEnumerable<Descriptor> descriptors)
        {
            var seen = new HashSet<Digest>();
            foreach (var d in descriptors)
                if (seen.Add(d.Digest)) yield return d;
        }
    }
}
