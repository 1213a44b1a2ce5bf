using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>A referrer that travels with a copied image, and where it goes.</summary>
    public sealed class ReferrerCopyStep
    {
        internal ReferrerCopyStep(ImageReferrer referrer, ImageReference destination)
        {
            Referrer = referrer;
            Destination = destination;
        }

        /// <summary>The referrer at the source.</summary>
        public ImageReferrer Referrer { get; }

        /// <summary>Where it is pushed: the destination repository by its digest (a cosign tag keeps its tag).</summary>
        public ImageReference Destination { get; }

        /// <inheritdoc />
        public override string ToString() => $"{Referrer.Kind} {Referrer.ArtifactType ?? Referrer.MediaType} {Referrer.Digest} -> {Referrer.Subject.Digest}";
    }

    /// <summary>
    /// Copies the referrers graph of a copied image (signatures, SBOMs, attestations, and their own referrers), byte for
    /// byte with <see cref="ImageCopier"/>, for the index and for each of its platform manifests; at a destination without
    /// the referrers API it keeps the tag-schema indexes there.
    /// </summary>
    public sealed class ReferrerCopier
    {
        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>A copier over the sessions of <paramref name="connections"/>.</summary>
        public ReferrerCopier(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>A copier over the client <paramref name="clients"/> gives for each reference.</summary>
        public ReferrerCopier(Func<ImageReference, RegistryClient> clients) => _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>
        /// The referrers that travel with <paramref name="plan"/>: those of every manifest it pushes, recursively. The referrers
        /// of an index whose digest the copy changes (a platform subset) stay behind: their subject is not at the destination.
        /// Buildx attestations are not listed: they travel inside the index.
        /// </summary>
        public async Task<IReadOnlyList<ReferrerCopyStep>> PlanAsync(ImageCopyPlan plan, CancellationToken cancellationToken = default)
        {
            if (plan == null) throw new ArgumentNullException(nameof(plan));
            var discovery = new ReferrerDiscovery(_clients);
            var repository = plan.Source.WithoutReference();
            var destination = plan.Destination.WithoutReference();
            var steps = new List<ReferrerCopyStep>();
            var seen = new HashSet<Digest>(plan.Manifests.Select(m => m.Digest));
            foreach (var manifest in plan.Manifests)
            {
                if (plan.DigestChanges && manifest == plan.Root) continue;
                var graph = await discovery.FindAsync(repository.WithDigest(manifest.Digest), new ReferrerQuery { Recurse = true }, cancellationToken).ConfigureAwait(false);
                foreach (var referrer in graph.Referrers)
                {
                    if (referrer.Kind == ReferrerKind.Attestation || !seen.Add(referrer.Digest)) continue;
                    var target = referrer.Kind == ReferrerKind.CosignTag && referrer.Tag != null ? destination.WithTag(referrer.Tag) : destination.WithDigest(referrer.Digest);
                    steps.Add(new ReferrerCopyStep(referrer, target));
                }
            }
            return steps;
        }

        /// <summary>
        /// Copies each referrer (subjects before their referrers, as planned), then, when the destination has no referrers API,
        /// adds those with a subject to the tag-schema index of their subject there. Returns each referrer's copy.
        /// </summary>
        public async Task<IReadOnlyList<ImageCopyResult>> CopyAsync(IReadOnlyList<ReferrerCopyStep> steps, ImageCopyOptions? options = null,
            IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            if (steps == null) throw new ArgumentNullException(nameof(steps));
            var copier = new ImageCopier(_clients);
            var results = new List<ImageCopyResult>();
            var copyOptions = new ImageCopyOptions { ThrottleLimit = options?.ThrottleLimit ?? ImageCopyOptions.DefaultThrottleLimit, CheckDestination = false };
            foreach (var step in steps)
                results.Add(await copier.CopyAsync(step.Referrer.Reference, step.Destination, copyOptions, progress, cancellationToken).ConfigureAwait(false));

            // Cosign tags are found by name at the destination as at the source; the others need an index there without the API.
            var indexed = steps.Where(s => s.Referrer.Kind == ReferrerKind.Referrer || s.Referrer.Kind == ReferrerKind.TagSchema).ToList();
            if (indexed.Count == 0) return results;
            var destination = steps[0].Destination;
            var client = _clients(destination);
            foreach (var group in indexed.GroupBy(s => s.Referrer.Subject.Digest))
            {
                var api = await client.Referrers.TryListFromApiAsync(destination.Repository, group.Key, null, cancellationToken).ConfigureAwait(false);
                if (api != null) continue;
                await client.Referrers.AddToTagSchemaAsync(destination.Repository, group.Key, group.Select(s => s.Referrer.Descriptor).ToList(), cancellationToken).ConfigureAwait(false);
            }
            return results;
        }
    }
}
