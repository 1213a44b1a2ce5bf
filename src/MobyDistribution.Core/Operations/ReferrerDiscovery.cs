using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>How a referrer was found.</summary>
    public enum ReferrerKind
    {
        /// <summary>Listed by the registry's OCI referrers API.</summary>
        Referrer,
        /// <summary>Listed in the referrers tag-schema index (<c>sha256-&lt;hex&gt;</c>), on a registry without the API.</summary>
        TagSchema,
        /// <summary>A cosign legacy tag: <c>sha256-&lt;hex&gt;.sig</c>, <c>.att</c> or <c>.sbom</c>.</summary>
        CosignTag,
        /// <summary>A Docker buildx attestation manifest: an index entry for platform unknown/unknown naming its image.</summary>
        Attestation,
    }

    /// <summary>
    /// A manifest that refers to another (its subject): a signature, an SBOM, an attestation. <see cref="Reference"/> names
    /// where it is, so it can be passed on to whatever reads a manifest by reference.
    /// </summary>
    public sealed class ImageReferrer
    {
        internal ImageReferrer(Descriptor descriptor, Descriptor subject, ReferrerKind kind, string? tag, int depth)
        {
            Descriptor = descriptor;
            Subject = subject;
            Kind = kind;
            Tag = tag;
            Depth = depth;
        }

        /// <summary>The referrer's own descriptor, with its Source (repository@digest).</summary>
        public Descriptor Descriptor { get; }

        /// <summary>Where the referrer is: repository@digest.</summary>
        public ImageReference Reference => Descriptor.Source!;

        public string MediaType => Descriptor.MediaType;

        public Digest Digest => Descriptor.Digest;

        public long Size => Descriptor.Size;

        /// <summary>The artifact's type: its manifest's <c>artifactType</c>, else its config's media type.</summary>
        public string? ArtifactType => Descriptor.ArtifactType;

        public IDictionary<string, string>? Annotations => Descriptor.Annotations;

        /// <summary>The manifest this one refers to (for a buildx attestation, the index entry of its image).</summary>
        public Descriptor Subject { get; }

        /// <summary>How it was found: API, tag schema, cosign tag or buildx attestation.</summary>
        public ReferrerKind Kind { get; }

        /// <summary>For a cosign tag, the tag (<c>sha256-&lt;hex&gt;.sig</c>); else null.</summary>
        public string? Tag { get; }

        /// <summary>0 for a referrer of the manifest asked about, 1 for a referrer of that referrer, and so on.</summary>
        public int Depth { get; }

        /// <inheritdoc />
        public override string ToString() => $"{Kind} {ArtifactType ?? MediaType} {Digest} -> {Subject.Digest}";
    }

    /// <summary>What <see cref="ReferrerDiscovery.FindAsync"/> looks for.</summary>
    public sealed class ReferrerQuery
    {
        /// <summary>The deepest level walked with <see cref="Recurse"/>.</summary>
        public const int DefaultMaxDepth = 16;

        /// <summary>Only referrers of this artifact type are reported (with <see cref="Recurse"/>, the walk still goes through the others).</summary>
        public string? ArtifactType { get; set; }

        /// <summary>Also the referrers of referrers (a signature on an SBOM), down to <see cref="MaxDepth"/>.</summary>
        public bool Recurse { get; set; }

        /// <summary>How many levels <see cref="Recurse"/> walks at most.</summary>
        public int MaxDepth { get; set; } = DefaultMaxDepth;

        /// <summary>For an index, the referrers of this platform's image (and its buildx attestation) instead of the index's.</summary>
        public Platform? Platform { get; set; }
    }

    /// <summary>The subject asked about and what refers to it.</summary>
    public sealed class ReferrerGraph
    {
        internal ReferrerGraph(Descriptor subject, IReadOnlyList<ImageReferrer> referrers, bool depthLimitReached, bool usedApi)
        {
            Subject = subject;
            Referrers = referrers;
            DepthLimitReached = depthLimitReached;
            UsedApi = usedApi;
        }

        /// <summary>The manifest the referrers hang off.</summary>
        public Descriptor Subject { get; }

        /// <summary>Every referrer found, depth first (a referrer is followed by its own referrers), each once.</summary>
        public IReadOnlyList<ImageReferrer> Referrers { get; }

        /// <summary>True when the walk stopped at <see cref="ReferrerQuery.MaxDepth"/> with referrers left below.</summary>
        public bool DepthLimitReached { get; }

        /// <summary>True when the registry answered the referrers API (false: the tag schema was read).</summary>
        public bool UsedApi { get; }
    }

    /// <summary>
    /// Finds the referrers of a manifest (oras discover): the OCI referrers API or the tag schema (<see cref="ReferrerService"/>),
    /// cosign's legacy tags, and Docker buildx attestation entries of an index.
    /// </summary>
    public sealed class ReferrerDiscovery
    {
        /// <summary>Cosign's legacy tag suffixes: signatures, attestations, SBOMs.</summary>
        public static IReadOnlyList<string> CosignSuffixes { get; } = new[] { ".sig", ".att", ".sbom" };

        /// <summary>The annotation buildx puts on an attestation's index entry: its value is <see cref="AttestationManifestType"/>.</summary>
        public const string ReferenceTypeAnnotation = "vnd.docker.reference.type";

        /// <summary>The annotation buildx puts on an attestation's index entry: the digest of the image it is about.</summary>
        public const string ReferenceDigestAnnotation = "vnd.docker.reference.digest";

        /// <summary>The <see cref="ReferenceTypeAnnotation"/> value of an attestation manifest.</summary>
        public const string AttestationManifestType = "attestation-manifest";

        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>A discovery using the sessions of <paramref name="connections"/>.</summary>
        public ReferrerDiscovery(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>A discovery using the client <paramref name="clients"/> gives for each reference.</summary>
        public ReferrerDiscovery(Func<ImageReference, RegistryClient> clients) =>
            _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>The referrers of the manifest <paramref name="reference"/> names.</summary>
        public async Task<ReferrerGraph> FindAsync(ImageReference reference, ReferrerQuery? query = null, CancellationToken cancellationToken = default)
        {
            if (reference == null) throw new ArgumentNullException(nameof(reference));
            query ??= new ReferrerQuery();
            if (query.MaxDepth < 1) throw new ArgumentOutOfRangeException(nameof(query), "MaxDepth must be at least 1.");
            var client = _clients(reference);
            var repository = reference.Repository;
            var top = await client.Manifests.GetAsync(repository, reference.Reference, cancellationToken).ConfigureAwait(false);
            Manifest subject = top;
            ImageIndex? index = top as ImageIndex;
            if (index != null && query.Platform != null)
            {
                var entry = ImageResolver.SelectPlatform(index, query.Platform, Platform.Current, reference);
                subject = await client.Manifests.GetAsync(repository, entry.Digest.ToString(), cancellationToken).ConfigureAwait(false);
            }

            var walk = new Walk(client, repository, query, cancellationToken);
            walk.Visited.Add(subject.Digest);
            await walk.VisitAsync(subject.ToDescriptor(), subject, index, 0).ConfigureAwait(false);
            return new ReferrerGraph(subject.ToDescriptor(), walk.Found, walk.DepthLimitReached, walk.UsedApi);
        }

        /// <summary>The artifact type of a manifest by the spec's rule: its <c>artifactType</c>, else its config's media type.</summary>
        public static string? ArtifactTypeOf(Manifest manifest) => manifest switch
        {
            OciImageManifest oci => oci.ArtifactType ?? oci.Config.MediaType,
            ImageManifest image => image.Config.MediaType,
            OciImageIndex ociIndex => ociIndex.ArtifactType,
            _ => null,
        };

        /// <summary>True for a buildx attestation entry of an index.</summary>
        public static bool IsAttestation(Descriptor entry) =>
            entry.Annotations != null && entry.Annotations.TryGetValue(ReferenceTypeAnnotation, out var type)
            && string.Equals(type, AttestationManifestType, StringComparison.Ordinal);

        /// <summary>The image a buildx attestation entry is about, or null when it names no valid digest.</summary>
        public static Digest? AttestedImage(Descriptor entry) =>
            IsAttestation(entry) && entry.Annotations!.TryGetValue(ReferenceDigestAnnotation, out var text) && Digest.TryParse(text, out var digest)
                ? digest : null;

        private sealed class Walk
        {
            private readonly RegistryClient _client;
            private readonly string _repository;
            private readonly ReferrerQuery _query;
            private readonly CancellationToken _ct;
            private readonly ImageReference _repo;

            public Walk(RegistryClient client, string repository, ReferrerQuery query, CancellationToken ct)
            {
                _client = client;
                _repository = repository;
                _query = query;
                _ct = ct;
                _repo = ImageReference.Create(client.Endpoint.Registry, repository);
            }

            public HashSet<Digest> Visited { get; } = new HashSet<Digest>();
            public List<ImageReferrer> Found { get; } = new List<ImageReferrer>();
            public bool DepthLimitReached { get; private set; }
            public bool UsedApi { get; private set; }

            /// <summary>Reports the referrers of <paramref name="subject"/> at <paramref name="depth"/>, each followed by its own when recursing.</summary>
            public async Task VisitAsync(Descriptor subject, Manifest? manifest, ImageIndex? index, int depth)
            {
                var level = new List<ImageReferrer>();
                // With recursion the whole graph is walked and the filter only decides what is reported; without it the registry may filter.
                var filter = _query.Recurse ? null : _query.ArtifactType;
                var listed = await _client.Referrers.ListAsync(_repository, subject.Digest, filter, _ct).ConfigureAwait(false);
                if (listed.Source == ReferrerListSource.Api) UsedApi = true;
                var kind = listed.Source == ReferrerListSource.Api ? ReferrerKind.Referrer : ReferrerKind.TagSchema;
                foreach (var d in listed.Referrers) level.Add(new ImageReferrer(d.WithSource(_repo.WithDigest(d.Digest)), subject, kind, null, depth));

                var cosignBase = ReferrerService.TagSchemaTag(subject.Digest);
                foreach (var suffix in CosignSuffixes)
                {
                    var tag = cosignBase + suffix;
                    var found = await _client.Manifests.TryGetDescriptorAsync(_repository, tag, _ct).ConfigureAwait(false);
                    if (found == null) continue;
                    var signature = await _client.Manifests.GetAsync(_repository, found.Digest.ToString(), _ct).ConfigureAwait(false);
                    var descriptor = new Descriptor(found.MediaType, found.Digest, found.Size)
                    {
                        ArtifactType = ArtifactTypeOf(signature),
                        Annotations = signature.Annotations?.ToDictionary(kv => kv.Key, kv => kv.Value),
                        Source = _repo.WithDigest(found.Digest),
                    };
                    level.Add(new ImageReferrer(descriptor, subject, ReferrerKind.CosignTag, tag, depth));
                }

                // Buildx attestations: listed in the index beside the images they are about.
                if (index != null)
                {
                    bool indexIsSubject = index.Digest == subject.Digest;
                    foreach (var entry in index.Manifests)
                    {
                        var image = AttestedImage(entry);
                        if (image == null || (!indexIsSubject && image != subject.Digest)) continue;
                        var imageEntry = indexIsSubject ? index.Manifests.FirstOrDefault(m => m.Digest == image) : subject;
                        if (imageEntry == null) continue;
                        var attestation = await _client.Manifests.GetAsync(_repository, entry.Digest.ToString(), _ct).ConfigureAwait(false);
                        var descriptor = new Descriptor(entry.MediaType, entry.Digest, entry.Size)
                        {
                            ArtifactType = entry.ArtifactType ?? ArtifactTypeOf(attestation),
                            Annotations = entry.Annotations,
                            Platform = entry.Platform,
                            Source = _repo.WithDigest(entry.Digest),
                        };
                        level.Add(new ImageReferrer(descriptor, imageEntry.WithSource(_repo.WithDigest(imageEntry.Digest)), ReferrerKind.Attestation, null, depth));
                    }
                }

                foreach (var referrer in level)
                {
                    if (!Visited.Add(referrer.Digest)) continue;
                    if (_query.ArtifactType == null || string.Equals(referrer.ArtifactType, _query.ArtifactType, StringComparison.Ordinal))
                        Found.Add(referrer);
                    if (!_query.Recurse) continue;
                    if (depth + 1 >= _query.MaxDepth)
                    {
                        var below = await _client.Referrers.ListAsync(_repository, referrer.Digest, null, _ct).ConfigureAwait(false);
                        if (below.Referrers.Count > 0) DepthLimitReached = true;
                        continue;
                    }
                    await VisitAsync(referrer.Descriptor, null, null, depth + 1).ConfigureAwait(false);
                }
            }
        }
    }
}
