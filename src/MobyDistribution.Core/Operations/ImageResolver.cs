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
    /// <summary>A reference resolved to one manifest: what it names, or, for an index, the image of one platform.</summary>
    public sealed class ResolvedManifest
    {
        internal ResolvedManifest(ImageReference reference, Manifest manifest, ImageIndex? index, Descriptor? entry)
        {
            Reference = reference;
            Manifest = manifest;
            Index = index;
            Entry = entry;
        }

        /// <summary>The reference as it was asked for.</summary>
        public ImageReference Reference { get; }

        /// <summary>The manifest resolved to: the one the reference names, or the platform's image of the index.</summary>
        public Manifest Manifest { get; }

        /// <summary>The index the image was chosen from; null when the reference named a single manifest.</summary>
        public ImageIndex? Index { get; }

        /// <summary>The index entry chosen (with its platform); null when the reference named a single manifest.</summary>
        public Descriptor? Entry { get; }

        /// <summary>The platform of the chosen index entry; null when the reference named a single manifest.</summary>
        public Platform? Platform => Entry?.Platform;
    }

    /// <summary>
    /// Turns a reference, plus an optional platform (or a set of platforms), into manifests: the one place that picks
    /// images out of a multi-platform index, for export, copy, add-layer and manifest reads alike.
    /// </summary>
    /// <remarks>
    /// <para>With a platform, the index entry matching it is taken (see <see cref="ImageIndex.FindPlatform"/>: arm64 matches
    /// arm64/v8, arm matches arm/v7, an exact variant wins). Without one, the <b>default rule</b> applies: this machine's
    /// platform (<see cref="Platform.Current"/>) if the index has it, else <c>linux/&lt;this machine's architecture&gt;</c>,
    /// else <c>linux/amd64</c>. So a Windows machine takes the Linux image of an index that has no Windows image, as
    /// Docker Desktop would, instead of failing.</para>
    /// <para>A platform the index lacks is a <see cref="PlatformNotFoundException"/> listing the platforms it has.</para>
    /// </remarks>
    public sealed class ImageResolver
    {
        private static readonly Platform LinuxAmd64 = new Platform("linux", "amd64");

        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>A resolver using the clients (sessions) of <paramref name="connections"/>.</summary>
        public ImageResolver(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>A resolver using the client <paramref name="clients"/> gives for each reference.</summary>
        /// <param name="clients">The client of a reference's registry.</param>
        /// <param name="hostPlatform">The platform the default rule starts from; <see cref="Platform.Current"/> when null.</param>
        public ImageResolver(Func<ImageReference, RegistryClient> clients, Platform? hostPlatform = null)
        {
            _clients = clients ?? throw new ArgumentNullException(nameof(clients));
            HostPlatform = hostPlatform ?? Platform.Current;
        }

        /// <summary>The platform the default rule starts from (this machine's, unless another was given).</summary>
        public Platform HostPlatform { get; }

        /// <summary>
        /// Reads the manifest <paramref name="reference"/> names; when it is an index, reads the image of
        /// <paramref name="platform"/> (or of the default rule, when null) from it. A single-image manifest is returned as it is,
        /// whatever the platform. Throws <see cref="PlatformNotFoundException"/> when the index has no such image.
        /// </summary>
        public async Task<ResolvedManifest> ResolveAsync(ImageReference reference, Platform? platform = null, CancellationToken cancellationToken = default)
        {
            if (reference == null) throw new ArgumentNullException(nameof(reference));
            var client = _clients(reference);
            var top = await client.Manifests.GetAsync(reference.Repository, reference.Reference, cancellationToken).ConfigureAwait(false);
            if (!(top is ImageIndex index)) return new ResolvedManifest(reference, top, null, null);
            var entry = SelectPlatform(index, platform, HostPlatform, reference);
            var manifest = await client.Manifests.GetAsync(reference.Repository, entry.Digest.ToString(), cancellationToken).ConfigureAwait(false);
            return new ResolvedManifest(reference, manifest, index, entry);
        }

        /// <summary>
        /// The platforms the default rule tries, in order: <paramref name="hostPlatform"/>, then linux with its architecture and
        /// variant, then <c>linux/amd64</c> (each once).
        /// </summary>
        public static IReadOnlyList<Platform> DefaultPlatforms(Platform hostPlatform)
        {
            if (hostPlatform == null) throw new ArgumentNullException(nameof(hostPlatform));
            var list = new List<Platform> { hostPlatform };
            void Add(Platform p)
            {
                if (!list.Any(q => q.Matches(p) && p.Matches(q))) list.Add(p);
            }
            Add(new Platform("linux", hostPlatform.Architecture, hostPlatform.Variant));
            Add(LinuxAmd64);
            return list;
        }

        /// <summary>
        /// The entry of <paramref name="index"/> for <paramref name="platform"/>; when it is null, the first of
        /// <see cref="DefaultPlatforms"/>(<paramref name="hostPlatform"/>) the index has. Reads nothing.
        /// </summary>
        /// <exception cref="PlatformNotFoundException">The index has no image for the platform (or for any default one).</exception>
        public static Descriptor SelectPlatform(ImageIndex index, Platform? platform, Platform hostPlatform, ImageReference? reference = null)
        {
            if (index == null) throw new ArgumentNullException(nameof(index));
            var wanted = platform != null ? new[] { platform } : DefaultPlatforms(hostPlatform ?? throw new ArgumentNullException(nameof(hostPlatform)));
            foreach (var p in wanted)
            {
                var entry = index.FindPlatform(p);
                if (entry != null) return entry;
            }
            throw new PlatformNotFoundException(reference, wanted, Available(index), byDefault: platform == null);
        }

        /// <summary>
        /// The entries of <paramref name="index"/> for each of <paramref name="platforms"/>, in the index's order, each once.
        /// Reads nothing.
        /// </summary>
        /// <exception cref="PlatformNotFoundException">The index lacks one or more of them; <see cref="PlatformNotFoundException.Wanted"/> lists those.</exception>
        public static IReadOnlyList<Descriptor> SelectPlatforms(ImageIndex index, IEnumerable<Platform> platforms, ImageReference? reference = null)
        {
            if (index == null) throw new ArgumentNullException(nameof(index));
            if (platforms == null) throw new ArgumentNullException(nameof(platforms));
            var chosen = new List<Descriptor>();
            var missing = new List<Platform>();
            foreach (var p in platforms)
            {
                var entry = index.FindPlatform(p);
                if (entry == null) missing.Add(p);
                else if (!chosen.Any(c => c.Digest == entry.Digest)) chosen.Add(entry);
            }
            if (missing.Count > 0) throw new PlatformNotFoundException(reference, missing, Available(index), byDefault: false);
            return index.Manifests.Where(m => chosen.Any(c => c.Digest == m.Digest)).ToList();
        }

        private static IReadOnlyList<Platform> Available(ImageIndex index) => index.Platforms.Distinct().ToList();
    }
}
