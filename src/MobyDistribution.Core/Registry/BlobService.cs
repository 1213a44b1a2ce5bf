using System;
using System.IO;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Transport;

namespace MobyDistribution.Registry
{
    /// <summary>
    /// Blobs of a registry (the seed's Blob): HEAD and streaming reads (<see cref="BlobReader"/>), verified downloads
    /// (<see cref="BlobDownloader"/>), uploads and mounts (<see cref="BlobUploader"/>), delete. Moving a blob between
    /// repositories is <see cref="BlobTransfer"/>.
    /// </summary>
    public sealed class BlobService
    {
        private readonly RegistryClient _client;

        internal BlobService(RegistryClient client)
        {
            _client = client;
            Reader = new BlobReader(client);
            Downloader = new BlobDownloader(client, Reader);
            Uploader = new BlobUploader(client, Reader);
        }

        internal BlobReader Reader { get; }
        internal BlobDownloader Downloader { get; }
        internal BlobUploader Uploader { get; }

        /// <summary>The descriptor of a blob from a HEAD request; NotFound when there is none.</summary>
        public Task<Descriptor> GetDescriptorAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
            Reader.GetDescriptorAsync(repository, digest, cancellationToken);

        /// <summary>The descriptor of a blob, or null when the repository does not have it.</summary>
        public Task<Descriptor?> TryGetDescriptorAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
            Reader.TryGetDescriptorAsync(repository, digest, cancellationToken);

        /// <summary>True when the repository has the blob.</summary>
        public async Task<bool> ExistsAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
            await TryGetDescriptorAsync(repository, digest, cancellationToken).ConfigureAwait(false) != null;

        /// <summary>
        /// Streams a blob into <paramref name="destination"/>, hashing as it goes (the seed's <c>download</c> to a file object).
        /// A dropped connection resumes with a Range request; a server that ignores Range restarts cleanly when the destination
        /// can seek. A blob of unknown size is held to the size the registry's HEAD gives. Throws
        /// <see cref="DigestMismatchException"/> when size or digest differ; the destination then holds whatever was written,
        /// so prefer <see cref="DownloadToFileAsync"/> for files.
        /// </summary>
        public Task<Descriptor> DownloadAsync(string repository, Digest digest, Stream destination, long? expectedSize = null,
            IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
            Downloader.DownloadAsync(repository, digest, destination, expectedSize, progress, cancellationToken);

        /// <summary>
        /// Downloads a blob to a file (the seed's <c>download</c> to <c>local_path</c>): written to a temporary file beside
        /// <paramref name="path"/> and renamed only once size and digest are verified, so nothing partial is ever left there.
        /// </summary>
        public Task<Descriptor> DownloadToFileAsync(string repository, Digest digest, string path, long? expectedSize = null, bool overwrite = false,
            IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
            Downloader.DownloadToFileAsync(repository, digest, path, expectedSize, overwrite, progress, cancellationToken);

        /// <summary>
        /// Opens a blob for reading as a stream that hashes what passes and throws <see cref="DigestMismatchException"/>
        /// at the end when size or digest differ. For streaming a blob on (registry to registry) without a temporary file.
        /// </summary>
        public Task<Stream> OpenReadAsync(string repository, Digest digest, long? expectedSize = null, CancellationToken cancellationToken = default) =>
            Reader.OpenReadAsync(repository, digest, expectedSize, cancellationToken);

        /// <summary>
        /// Uploads a blob (the seed's <c>upload</c>, <c>upload_at_one_time</c> with <see cref="BlobUploadOptions.Monolithic"/>, and
        /// <c>mount_from</c> with <see cref="BlobUploadOptions.MountFrom"/>). When the digest is known and the blob is there, nothing is sent.
        /// A blob whose bytes do not match the expected digest is never committed. A seekable stream is sent again from its
        /// start when the session is lost.
        /// </summary>
        public async Task<BlobUploadResult> UploadAsync(string repository, Stream content, BlobUploadOptions? options = null,
            IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            if (content == null) throw new ArgumentNullException(nameof(content));
            using var source = UploadContent.FromStream(content);
            return await Uploader.UploadAsync(repository, source, options ?? new BlobUploadOptions(), progress, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Mounts a blob from another repository of this registry (the seed's <c>mount_from</c>). True when mounted; false when the
        /// registry could not (the upload session it opened instead is cancelled).
        /// </summary>
        public Task<bool> MountAsync(string repository, Digest digest, string fromRepository, CancellationToken cancellationToken = default) =>
            Uploader.MountAsync(repository, digest, fromRepository, cancellationToken);

        /// <summary>Deletes a blob (the seed's Blob <c>delete</c>).</summary>
        public async Task DeleteAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            var request = new RegistryRequest(HttpMethod.Delete, $"v2/{repository}/blobs/{digest}", Scopes.RepositoryDelete(repository))
            {
                Description = "Delete blob " + Reader.Describe(repository, digest),
            };
            using var response = await _client.Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw await ErrorResponse.CreateAsync(response, $"Deleting blob {Reader.Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
        }
    }
}
