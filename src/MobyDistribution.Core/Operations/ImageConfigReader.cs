using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>One image's config as read from a registry, with the manifest it came from.</summary>
    public sealed class ImageConfigRead
    {
        internal ImageConfigRead(ImageReference reference, ImageManifest manifest, ImageIndex? index, Descriptor? entry, ImageConfig config)
        {
            Reference = reference;
            Manifest = manifest;
            Index = index;
            Entry = entry;
            Config = config;
        }

        /// <summary>The reference as it was asked for (for an index, the index's).</summary>
        public ImageReference Reference { get; }

        /// <summary>The image manifest the config belongs to.</summary>
        public ImageManifest Manifest { get; }

        /// <summary>The index the image was taken from; null when the reference named a single image.</summary>
        public ImageIndex? Index { get; }

        /// <summary>The index entry of the image (with its platform); null when the reference named a single image.</summary>
        public Descriptor? Entry { get; }

        /// <summary>The config, verified against the manifest's config descriptor.</summary>
        public ImageConfig Config { get; }

        /// <summary>The image's platform: the index entry's, else the one the config records.</summary>
        public Platform Platform => Entry?.Platform ?? Config.Platform;
    }

    /// <summary>
    /// Reads image configs: of the image a reference (and platform) resolves to, or of every image of an index. The one place
    /// a config blob is fetched and checked, for Get-ImageConfig, add-layer, export and config edits alike.
    /// </summary>
    /// <remarks>
    /// A config is at most <see cref="MaxConfigSize"/> bytes (a bigger one is refused before it is read), is verified against its
    /// digest and size by the blob downloader, and must parse as an <see cref="ImageConfig"/> (else a protocol error naming the
    /// image). The images of an index are read several at a time, in the index's order; attestation entries (platform
    /// <c>unknown/unknown</c>) and entries that are not image manifests are left out.
    /// </remarks>
    public sealed class ImageConfigReader
    {
        /// <summary>Configs larger than this are refused.</summary>
        public const long MaxConfigSize = 64L * 1024 * 1024;

        private readonly Func<ImageReference, RegistryClient> _clients;
        private readonly ImageResolver _resolver;

        /// <summary>A reader using the clients (sessions) of <paramref name="connections"/>.</summary>
        public ImageConfigReader(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>A reader using the client <paramref name="clients"/> gives for each reference.</summary>
        /// <param name="clients">The client of a reference's registry.</param>
        /// <param name="hostPlatform">The platform the resolver's default rule starts from; this machine's when null.</param>
        public ImageConfigReader(Func<ImageReference, RegistryClient> clients, Platform? hostPlatform = null)
        {
            _clients = clients ?? throw new ArgumentNullException(nameof(clients));
            _resolver = new ImageResolver(clients, hostPlatform);
        }

        /// <summary>How many images of an index are read at once.</summary>
        public int ThrottleLimit { get; set; } = ImageCopyOptions.DefaultThrottleLimit;

        /// <summary>
        /// The config of the image <paramref name="reference"/> resolves to (see <see cref="ImageResolver.ResolveAsync"/>: from an
        /// index, the image of <paramref name="platform"/>, or of the default rule when null).
        /// </summary>
        /// <exception cref="PlatformNotFoundException">The index has no image for the platform.</exception>
        public async Task<ImageConfigRead> ReadAsync(ImageReference reference, Platform? platform = null, CancellationToken cancellationToken = default)
        {
            if (reference == null) throw new ArgumentNullException(nameof(reference));
            var resolved = await _resolver.ResolveAsync(reference, platform, cancellationToken).ConfigureAwait(false);
            var image = RequireImage(resolved.Manifest, reference);
            var config = await ReadConfigAsync(_clients(reference), reference, image, cancellationToken).ConfigureAwait(false);
            return new ImageConfigRead(reference, image, resolved.Index, resolved.Entry, config);
        }

        /// <summary>
        /// The config of every image <paramref name="reference"/> names: one for a single image, one per image entry (in the
        /// index's order) for an index.
        /// </summary>
        public async Task<IReadOnlyList<ImageConfigRead>> ReadAllAsync(ImageReference reference, CancellationToken cancellationToken = default)
        {
            if (reference == null) throw new ArgumentNullException(nameof(reference));
            var client = _clients(reference);
            var top = await client.Manifests.GetAsync(reference.Repository, reference.Reference, cancellationToken).ConfigureAwait(false);
            if (!(top is ImageIndex index))
            {
                var image = RequireImage(top, reference);
                return new[] { new ImageConfigRead(reference, image, null, null, await ReadConfigAsync(client, reference, image, cancellationToken).ConfigureAwait(false)) };
            }
            var entries = ImageEntries(index);
            return await ForEachAsync(entries, ThrottleLimit, async entry =>
            {
                var child = await client.Manifests.GetAsync(reference.Repository, entry.Digest.ToString(), cancellationToken).ConfigureAwait(false);
                var image = RequireImage(child, reference);
                var config = await ReadConfigAsync(client, reference, image, cancellationToken).ConfigureAwait(false);
                return new ImageConfigRead(reference, image, index, entry, config);
            }, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>The entries of <paramref name="index"/> that are images: no attestations (<c>unknown/unknown</c>), no nested indexes or artifacts.</summary>
        public static IReadOnlyList<Descriptor> ImageEntries(ImageIndex index)
        {
            if (index == null) throw new ArgumentNullException(nameof(index));
            return index.Manifests.Where(m => MediaTypes.IsImageManifest(m.MediaType) && (m.Platform == null || ImageIndex.IsImagePlatform(m.Platform))).ToList();
        }

        /// <summary>
        /// Downloads and parses the config of <paramref name="image"/> from <paramref name="reference"/>'s repository: refused over
        /// <see cref="MaxConfigSize"/>, verified by digest and size, a protocol error when it does not parse.
        /// </summary>
        internal static async Task<ImageConfig> ReadConfigAsync(RegistryClient client, ImageReference reference, ImageManifest image, CancellationToken cancellationToken)
        {
            if (image.Config.Size > MaxConfigSize)
                throw new RegistryException(RegistryErrorKind.LimitExceeded, $"The config of {reference} is {image.Config.Size} bytes; at most {MaxConfigSize} are read.");
            using var buffer = new MemoryStream((int)Math.Max(0, image.Config.Size));
            await client.Blobs.DownloadAsync(reference.Repository, image.Config.Digest, buffer, image.Config.Size, null, cancellationToken).ConfigureAwait(false);
            try { return ImageConfig.Parse(buffer.ToArray()); }
            catch (InvalidDataException e) { throw new RegistryException(RegistryErrorKind.Protocol, $"The config of {reference} is unusable: {e.Message}", e); }
        }

        /// <summary>The manifest as an image manifest; an Unsupported error for schema1 (which has no config) or an index nested in an index.</summary>
        internal static ImageManifest RequireImage(Manifest manifest, ImageReference reference) =>
            manifest as ImageManifest
            ?? throw new RegistryException(RegistryErrorKind.Unsupported, $"{reference} is a {manifest.MediaType}; only schema2 and OCI images have a config to read.");

        /// <summary>Runs <paramref name="work"/> on each item, at most <paramref name="limit"/> at once; the results in the items' order.</summary>
        internal static async Task<IReadOnlyList<TResult>> ForEachAsync<TItem, TResult>(IReadOnlyList<TItem> items, int limit, Func<TItem, Task<TResult>> work, CancellationToken cancellationToken)
        {
            using var throttle = new SemaphoreSlim(Math.Max(1, limit));
            var tasks = items.Select(async item =>
            {
                await throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
                try { return await work(item).ConfigureAwait(false); }
                finally { throttle.Release(); }
            }).ToList();
            return await Task.WhenAll(tasks).ConfigureAwait(false);
        }
    }
}
