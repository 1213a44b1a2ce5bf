using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Formats;
using MobyDistribution.IO;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>One image pushed by an import.</summary>
    public sealed class ImportedImage
    {
        internal ImportedImage(ImageReference reference, Descriptor manifest, Digest configDigest, IReadOnlyList<Descriptor> layers)
        {
            Reference = reference;
            Manifest = manifest;
            ConfigDigest = configDigest;
            Layers = layers;
        }

        /// <summary>Where it was pushed (registry, repository, tag and the manifest's digest).</summary>
        public ImageReference Reference { get; }

        /// <summary>The Docker schema2 manifest pushed.</summary>
        public Descriptor Manifest { get; }

        /// <summary>The config's digest, the same as in the archive (the config is pushed unchanged).</summary>
        public Digest ConfigDigest { get; }

        /// <summary>The layer blobs (gzip) the manifest names.</summary>
        public IReadOnlyList<Descriptor> Layers { get; }
    }

    /// <summary>
    /// Imports a <c>docker save</c> tar into registries (the seed's <c>from_tarball</c>): the engine of Import-DockerImage.
    /// </summary>
    /// <remarks>
    /// <para>Order: the archive is opened and validated (see <see cref="DockerArchiveReader"/>), then every distinct layer is read once
    /// to verify its <c>diff_id</c> and to learn the digest and size of its compressed form; only then is anything sent. A failure
    /// before that point leaves the registries untouched.</para>
    /// <para>Uncompressed (and zstd) layers are gzip-compressed deterministically (<see cref="LayerCompression.CreateGzipStream"/>),
    /// so the same archive always gives the same digests; gzip layers go as they are. The digest is needed before the upload (for
    /// the existence check and the commit), and the archive is an immutable local file: so the layer is compressed twice, once
    /// to hash it and once while uploading, rather than into a temporary file, which would cost as much disk as the layers. The upload
    /// checks the digest again before it commits: a file changed in between is refused by the registry, not stored.</para>
    /// <para>Images are pushed as Docker schema2 manifests (config media type <c>application/vnd.docker.container.image.v1+json</c>,
    /// layers <c>…rootfs.diff.tar.gzip</c>) with the config's bytes unchanged, so its digest (docker's image ID) is kept.</para>
    /// </remarks>
    public sealed class ImageImporter
    {
        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>An importer using the clients (sessions) of <paramref name="connections"/>.</summary>
        public ImageImporter(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>An importer using the client <paramref name="clients"/> gives for each destination.</summary>
        public ImageImporter(Func<ImageReference, RegistryClient> clients) => _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>
        /// Pushes every image of the archive at <paramref name="path"/>: to <paramref name="destination"/> when given (the archive must
        /// then hold one image; tag <c>latest</c> when the destination has none), else to each of the image's <c>RepoTags</c>.
        /// </summary>
        public async Task<IReadOnlyList<ImportedImage>> ImportAsync(string path, ImageReference? destination = null,
            IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            if (string.IsNullOrEmpty(path)) throw new ArgumentException("A path is required.", nameof(path));
            if (destination?.Digest is not null)
                throw new ArgumentException($"Give the destination a tag, not a digest ({destination}): the manifest pushed is a new one.", nameof(destination));
            var archive = await DockerArchiveReader.OpenAsync(path, null, cancellationToken).ConfigureAwait(false);

            var targets = new List<(DockerArchiveImage Image, List<ImageReference> Refs)>();
            if (destination != null)
            {
                if (archive.Images.Count != 1)
                    throw ImageArchiveException.Invalid($"The archive holds {archive.Images.Count} images; import it without a destination to push each to its RepoTags.");
                targets.Add((archive.Images[0], new List<ImageReference> { destination.Tag == null ? destination.WithTag("latest") : destination }));
            }
            else
            {
                foreach (var image in archive.Images)
                {
                    if (image.RepoTags.Count == 0)
                        throw ImageArchiveException.Invalid($"The image with config {image.ConfigDigest} has no RepoTags; give a destination.");
                    targets.Add((image, image.RepoTags.Select(ImageReference.Parse).ToList()));
                }
            }

            // Pass 1: verify every layer and learn what will be pushed. Nothing has been sent yet.
            var prepared = new Dictionary<long, PreparedLayer>();
            foreach (var (image, _) in targets)
            {
                foreach (var layer in image.Layers)
                {
                    if (!prepared.TryGetValue(layer.Entry.DataOffset, out var p))
                    {
                        p = await PrepareAsync(archive, layer, progress, cancellationToken).ConfigureAwait(false);
                        prepared[layer.Entry.DataOffset] = p;
                    }
                    if (p.DiffId != layer.DiffId)
                        throw new DigestMismatchException($"Layer '{layer.Path}' uncompresses to {p.DiffId}, but the config's diff_ids says {layer.DiffId}; nothing was pushed.", layer.DiffId, p.DiffId);
                }
            }

            // Pass 2: push blobs, config and manifest per destination.
            var results = new List<ImportedImage>();
            var placed = new Dictionary<string, string>(StringComparer.Ordinal); // registry + digest → a repository holding it
            foreach (var (image, refs) in targets)
            {
                foreach (var target in refs)
                {
                    var client = _clients(target);
                    var repo = target.Repository;
                    var layers = new List<Descriptor>();
                    foreach (var layer in image.Layers)
                    {
                        var p = prepared[layer.Entry.DataOffset];
                        await PushLayerAsync(archive, client, target, p, placed, progress, cancellationToken).ConfigureAwait(false);
                        layers.Add(new Descriptor(MediaTypes.DockerLayerGzip, p.Digest, p.Size));
                    }
                    var configBytes = image.Config;
                    await BlobTransfer.PushAsync(_ => Task.FromResult<Stream>(new MemoryStream(configBytes, writable: false)),
                        new Descriptor(MediaTypes.DockerContainerConfig, image.ConfigDigest, configBytes.Length), client, repo, null, null, cancellationToken).ConfigureAwait(false);
                    var manifest = DockerManifestV2.Create(new Descriptor(MediaTypes.DockerContainerConfig, image.ConfigDigest, image.Config.Length), layers);
                    var pushed = await client.Manifests.PutAsync(repo, target.Tag ?? "latest", manifest, cancellationToken).ConfigureAwait(false);
                    results.Add(new ImportedImage(target.WithDigest(pushed.Digest), pushed, image.ConfigDigest, layers));
                }
            }
            return results;
        }

        private sealed class PreparedLayer
        {
            public PreparedLayer(TarEntry entry, LayerCompressionKind kind, Digest digest, long size, Digest diffId)
            {
                Entry = entry;
                Kind = kind;
                Digest = digest;
                Size = size;
                DiffId = diffId;
            }

            public TarEntry Entry { get; }

            /// <summary>The compression in the archive: gzip goes as it is; anything else is (re)compressed.</summary>
            public LayerCompressionKind Kind { get; }
            public Digest Digest { get; }
            public long Size { get; }
            public Digest DiffId { get; }
        }

        private static async Task<PreparedLayer> PrepareAsync(DockerArchiveReader archive, DockerArchiveLayer layer, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            var entry = layer.Entry;
            var report = progress == null ? null : new ActionProgress(n => progress.Report(new TransferProgress(layer.DiffId, "Verifying", n, entry.Size, false)));
            using var raw = archive.OpenEntry(entry);
            using var rawHash = new HashingReadStream(raw, "sha256", report);
            var (kind, detected) = await LayerCompression.DetectAsync(rawHash, cancellationToken).ConfigureAwait(false);
            using var content = new HashingReadStream(LayerCompression.Decompress(detected, kind), "sha256", null);
            var buffer = new byte[1024 * 1024];
            Digest digest;
            long size;
            if (kind == LayerCompressionKind.Gzip)
            {
                while (await content.ReadAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false) > 0) { }
                while (await rawHash.ReadAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false) > 0) { }
                digest = rawHash.Finish();
                size = rawHash.BytesRead;
            }
            else
            {
                using var sink = new HashingWriteStream(null);
                using (var compressing = LayerStreams.CompressForReading(new NonClosingStream(content)))
                {
                    int n;
                    while ((n = await compressing.ReadAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false)) > 0)
                        await sink.WriteAsync(buffer, 0, n, cancellationToken).ConfigureAwait(false);
                }
                digest = sink.Finish();
                size = sink.BytesWritten;
            }
            progress?.Report(new TransferProgress(layer.DiffId, "Verifying", entry.Size, entry.Size, true));
            return new PreparedLayer(entry, kind, digest, size, content.Finish());
        }

        private static async Task PushLayerAsync(DockerArchiveReader archive, RegistryClient client, ImageReference target, PreparedLayer layer,
            Dictionary<string, string> placed, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
        {
            var key = client.Endpoint.Registry + "|" + layer.Digest;
            placed.TryGetValue(key, out var mountFrom);
            if (mountFrom == target.Repository) return;
            var report = progress == null ? null : new ActionProgress(n => progress.Report(new TransferProgress(layer.Digest, "Pushing", n, layer.Size, false)));
            // Opened again for each new start: a compressing stream cannot be rewound, but it can be made again.
            var result = await BlobTransfer.PushAsync(_ => Task.FromResult(layer.Kind == LayerCompressionKind.Gzip
                    ? archive.OpenEntry(layer.Entry)
                    : LayerStreams.CompressForReading(LayerCompression.Decompress(archive.OpenEntry(layer.Entry), layer.Kind))),
                new Descriptor(MediaTypes.DockerLayerGzip, layer.Digest, layer.Size), client, target.Repository,
                new BlobTransferOptions { MountFrom = mountFrom }, report, cancellationToken).ConfigureAwait(false);
            progress?.Report(new TransferProgress(layer.Digest, result.Outcome == BlobUploadOutcome.Uploaded ? "Pushed" : result.Outcome.ToString(), layer.Size, layer.Size, true));
            if (mountFrom == null) placed[key] = target.Repository;
        }

    }
}
