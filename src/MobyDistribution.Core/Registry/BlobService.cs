using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.IO;
using MobyDistribution.Transport;

namespace MobyDistribution.Registry
{
    /// <summary>How a blob came to be in the repository.</summary>
    public enum BlobUploadOutcome
    {
        /// <summary>Its bytes were sent.</summary>
        Uploaded,
        /// <summary>It was mounted from another repository of the same registry; nothing was sent.</summary>
        Mounted,
        /// <summary>It was there already; nothing was sent.</summary>
        Existed,
    }

    /// <summary>Options of a blob upload.</summary>
    public sealed class BlobUploadOptions
    {
        /// <summary>The digest the content must have; known up front it allows the existence check, a mount and a one-request upload.</summary>
        public Digest? Digest { get; set; }

        /// <summary>The content's length, when known.</summary>
        public long? Length { get; set; }

        /// <summary>Send the content in one request instead of chunks.</summary>
        public bool Monolithic { get; set; }

        /// <summary>A repository of the same registry to mount the blob from (needs <see cref="Digest"/>).</summary>
        public string? MountFrom { get; set; }

        /// <summary>Chunk size; the client's <see cref="RegistryClientOptions.UploadChunkSize"/> when null.</summary>
        public int? ChunkSize { get; set; }

        /// <summary>The media type written into the returned descriptor.</summary>
        public string MediaType { get; set; } = "application/octet-stream";

        /// <summary>Do not ask first whether the blob is there.</summary>
        public bool SkipExistenceCheck { get; set; }
    }

    /// <summary>The result of an upload: the blob's descriptor and how it got there.</summary>
    public sealed class BlobUploadResult
    {
        internal BlobUploadResult(Descriptor descriptor, BlobUploadOutcome outcome)
        {
            Descriptor = descriptor;
            Outcome = outcome;
        }

        public Descriptor Descriptor { get; }
        public BlobUploadOutcome Outcome { get; }
    }

    /// <summary>Blobs of a registry (the seed's Blob): HEAD, verified streaming download, chunked and monolithic upload, mount, delete.</summary>
    public sealed class BlobService
    {
        private const int CopyBufferSize = 1024 * 1024;
        private const int PipelineDepth = 4;
        private readonly RegistryClient _client;

        internal BlobService(RegistryClient client) => _client = client;

        private RegistryTransport Transport => _client.Transport;

        /// <summary>The descriptor of a blob from a HEAD request; NotFound when there is none.</summary>
        public async Task<Descriptor> GetDescriptorAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
        {
            var descriptor = await TryGetDescriptorAsync(repository, digest, cancellationToken).ConfigureAwait(false);
            return descriptor ?? throw new RegistryException(RegistryErrorKind.NotFound, $"Blob {Describe(repository, digest)} was not found.",
                404, "HEAD", null, new[] { new RegistryError("BLOB_UNKNOWN", "blob unknown to registry", null) });
        }

        /// <summary>The descriptor of a blob, or null when the repository does not have it.</summary>
        public async Task<Descriptor?> TryGetDescriptorAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            var request = new RegistryRequest(HttpMethod.Head, $"v2/{repository}/blobs/{digest}", Scopes.Repository(repository, false))
            {
                Idempotent = true,
                Description = "Blob " + Describe(repository, digest),
            };
            using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound) return null;
            if (!response.IsSuccessStatusCode)
                throw await ErrorResponse.CreateAsync(response, $"Blob {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
            if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var returned) && returned != digest)
                throw new DigestMismatchException($"Asked for blob {digest}, the registry answered for {returned}.", digest, returned);
            var size = response.Content.Headers.ContentLength ?? -1;
            return new Descriptor("application/octet-stream", digest, size) { Source = ImageReference.Create(_client.Endpoint.Registry, repository, null, digest) };
        }

        /// <summary>True when the repository has the blob.</summary>
        public async Task<bool> ExistsAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
            await TryGetDescriptorAsync(repository, digest, cancellationToken).ConfigureAwait(false) != null;

        /// <summary>
        /// Streams a blob into <paramref name="destination"/>, hashing as it goes (the seed's <c>download</c> to a file object).
        /// A dropped connection resumes with a Range request; a server that ignores Range restarts cleanly when the destination
        /// can seek. Throws <see cref="DigestMismatchException"/> when size or digest differ; the destination then holds
        /// whatever was written, so prefer <see cref="DownloadToFileAsync"/> for files.
        /// </summary>
        public async Task<Descriptor> DownloadAsync(string repository, Digest digest, Stream destination, long? expectedSize = null,
            IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            if (destination == null) throw new ArgumentNullException(nameof(destination));
            long destinationStart = destination.CanSeek ? destination.Position : 0;
            var hasher = new DigestHasher(digest.Algorithm);
            // The pieces read from the network are hashed and written in order by a chain of tasks while the next pieces are
            // read: SHA-256 and the file write leave the network's critical path (a few pieces in flight, pooled buffers).
            var free = new Stack<byte[]>();
            var rented = new List<byte[]>();
            using var slots = new SemaphoreSlim(PipelineDepth);
            Task tail = Task.CompletedTask;
            bool writeFailed = false;
            var policy = Transport.Retry;
            var stall = new StallTimer(_client.Options.ReadStallTimeout);
            long received = 0;
            int failures = 0;
            try
            {
                while (true)
                {
                    long offset = received;
                    var request = new RegistryRequest(HttpMethod.Get, $"v2/{repository}/blobs/{digest}", Scopes.Repository(repository, false))
                    {
                        Idempotent = true,
                        Description = "Blob " + Describe(repository, digest),
                        Headers = offset > 0 ? h => h.Range = new RangeHeaderValue(offset, null) : null,
                    };
                    using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
                    if (!response.IsSuccessStatusCode)
                        throw await ErrorResponse.CreateAsync(response, $"Blob {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
                    if (offset > 0)
                    {
                        if (response.StatusCode == HttpStatusCode.PartialContent)
                        {
                            var range = response.Content.Headers.ContentRange;
                            if (range == null || range.From != offset)
                                throw new RegistryException(RegistryErrorKind.Protocol, $"Resuming blob {Describe(repository, digest)} at {offset}: the registry answered a different range ({range}).");
                        }
                        else
                        {
                            // The server ignored Range: start over, cleanly.
                            if (!destination.CanSeek)
                                throw new RegistryException(RegistryErrorKind.Protocol, $"The registry ignored the Range request resuming blob {Describe(repository, digest)}, and the destination cannot be rewound.");
                            Transport.Log($"The registry ignored Range for {digest.Short}; restarting the download from 0.");
                            destination.SetLength(destinationStart);
                            destination.Position = destinationStart;
                            hasher.Dispose();
                            hasher = new DigestHasher(digest.Algorithm);
                            received = 0;
                            progress?.Report(0);
                        }
                    }
                    if (received == 0 && expectedSize.HasValue && response.Content.Headers.ContentLength.HasValue && response.Content.Headers.ContentLength.Value != expectedSize.Value)
                        throw new DigestMismatchException($"Blob {Describe(repository, digest)} is {response.Content.Headers.ContentLength} bytes; its descriptor says {expectedSize}.", digest, null);
                    try
                    {
                        using var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
                        while (true)
                        {
                            await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                            var buffer = TakeBuffer();
                            int n;
                            try
                            {
                                n = await ReadWithStallTimeoutAsync(body, buffer, stall, cancellationToken).ConfigureAwait(false);
                                if (n > 0 && expectedSize.HasValue && received + n > expectedSize.Value)
                                    throw new DigestMismatchException($"Blob {Describe(repository, digest)} is longer than the {expectedSize} bytes its descriptor says; stopped reading.", digest, null);
                            }
                            catch
                            {
                                GiveBack(buffer);
                                throw;
                            }
                            if (n == 0)
                            {
                                GiveBack(buffer);
                                break;
                            }
                            if (tail.IsFaulted || tail.IsCanceled)
                            {
                                GiveBack(buffer);
                                await DrainAsync().ConfigureAwait(false);
                            }
                            var previous = tail;
                            tail = Task.Run(() => HashAndWriteAsync(previous, buffer, n));
                            received += n;
                            progress?.Report(received);
                        }
                        await DrainAsync().ConfigureAwait(false);
                        break;
                    }
                    catch (Exception e) when (!writeFailed && RegistryTransport.IsTransient(e, cancellationToken) && failures + 1 < policy.MaxAttempts)
                    {
                        // What was received is on its way to the destination: resume after it once it is there.
                        await DrainAsync().ConfigureAwait(false);
                        failures++;
                        var delay = policy.DelayFor(failures, null);
                        Transport.Log($"Download of {digest.Short} dropped after {received} bytes ({Redaction.Text(e.Message)}); resuming in {delay.TotalSeconds:0.#} s.");
                        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (!writeFailed && RegistryTransport.IsTransient(e, cancellationToken))
                    {
                        throw new RegistryException(RegistryErrorKind.Connection,
                            $"Download of blob {Describe(repository, digest)} kept failing after {received} bytes; gave up after {failures + 1} attempts: {Redaction.Text(e.Message)}", e);
                    }
                }
                if (expectedSize.HasValue && received != expectedSize.Value)
                    throw new DigestMismatchException($"Blob {Describe(repository, digest)} ended after {received} bytes; its descriptor says {expectedSize}.", digest, null);
                var actual = hasher.Finish();
                if (actual != digest)
                    throw new DigestMismatchException($"Blob {Describe(repository, digest)} does not match its digest: the bytes received hash to {actual}.", digest, actual);
                await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
                return new Descriptor("application/octet-stream", digest, received) { Source = ImageReference.Create(_client.Endpoint.Registry, repository, null, digest) };
            }
            finally
            {
                // Never give a buffer back to the pool while a piece may still use it. A failed write was reported already.
                try { await tail.ConfigureAwait(false); }
                catch { }
                hasher.Dispose();
                stall.Dispose();
                foreach (var b in rented) ArrayPool<byte>.Shared.Return(b);
            }

            byte[] TakeBuffer()
            {
                lock (free)
                {
                    if (free.Count > 0) return free.Pop();
                    var b = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
                    rented.Add(b);
                    return b;
                }
            }

            void GiveBack(byte[] b)
            {
                lock (free) free.Push(b);
                slots.Release();
            }

            // Each piece waits for the one before it, so the hash and the file see the bytes in order.
            async Task HashAndWriteAsync(Task previous, byte[] piece, int count)
            {
                try
                {
                    await previous.ConfigureAwait(false);
                    hasher.Append(piece, 0, count);
                    await destination.WriteAsync(piece, 0, count, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    GiveBack(piece);
                }
            }

            // A failed write (a full disk, a closed stream) is not a dropped connection: the download does not resume after it.
            async Task DrainAsync()
            {
                try { await tail.ConfigureAwait(false); }
                catch { writeFailed = true; throw; }
            }
        }

        /// <summary>
        /// Downloads a blob to a file (the seed's <c>download</c> to <c>local_path</c>): written to a temporary file beside
        /// <paramref name="path"/> and renamed only once size and digest are verified, so nothing partial is ever left there.
        /// </summary>
        public async Task<Descriptor> DownloadToFileAsync(string repository, Digest digest, string path, long? expectedSize = null, bool overwrite = false,
            IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            using var file = AtomicFile.Create(path, overwrite);
            var descriptor = await DownloadAsync(repository, digest, file.Stream, expectedSize, progress, cancellationToken).ConfigureAwait(false);
            file.Commit();
            return descriptor;
        }

        /// <summary>
        /// Opens a blob for reading as a stream that hashes what passes and throws <see cref="DigestMismatchException"/>
        /// at the end when size or digest differ. For streaming a blob on (registry to registry) without a temporary file.
        /// </summary>
        public async Task<Stream> OpenReadAsync(string repository, Digest digest, long? expectedSize = null, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            var request = new RegistryRequest(HttpMethod.Get, $"v2/{repository}/blobs/{digest}", Scopes.Repository(repository, false))
            {
                Idempotent = true,
                Description = "Blob " + Describe(repository, digest),
            };
            var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            try
            {
                if (!response.IsSuccessStatusCode)
                    throw await ErrorResponse.CreateAsync(response, $"Blob {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
                if (expectedSize.HasValue && response.Content.Headers.ContentLength.HasValue && response.Content.Headers.ContentLength.Value != expectedSize.Value)
                    throw new DigestMismatchException($"Blob {Describe(repository, digest)} is {response.Content.Headers.ContentLength} bytes; its descriptor says {expectedSize}.", digest, null);
                var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
                return new VerifyingReadStream(body, response, digest, expectedSize ?? response.Content.Headers.ContentLength, Describe(repository, digest))
                {
                    StallTimeout = _client.Options.ReadStallTimeout,
                };
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Uploads a blob (the seed's <c>upload</c>, <c>upload_at_one_time</c> with <see cref="BlobUploadOptions.Monolithic"/>, and
        /// <c>mount_from</c> with <see cref="BlobUploadOptions.MountFrom"/>). When the digest is known and the blob is there, nothing is sent.
        /// A blob whose bytes do not match the expected digest is never committed.
        /// </summary>
        public async Task<BlobUploadResult> UploadAsync(string repository, Stream content, BlobUploadOptions? options = null,
            IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            if (content == null) throw new ArgumentNullException(nameof(content));
            options ??= new BlobUploadOptions();
            var digest = options.Digest;
            long? length = options.Length ?? (content.CanSeek ? content.Length - content.Position : (long?)null);
            if (options.MountFrom != null)
            {
                RegistryClient.CheckRepository(options.MountFrom);
                if (digest == null && content.CanSeek) digest = ComputeAndRewind(content);
                if (digest == null) throw new ArgumentException("Mounting needs the blob's digest.", nameof(options));
            }
            if (digest == null && options.Monolithic && content.CanSeek) digest = ComputeAndRewind(content);

            if (digest != null && !options.SkipExistenceCheck)
            {
                var existing = await TryGetDescriptorAsync(repository, digest, cancellationToken).ConfigureAwait(false);
                if (existing != null)
                {
                    Transport.Log($"Blob {digest.Short} is already in {repository}; not sent.");
                    progress?.Report(existing.Size);
                    return new BlobUploadResult(Described(repository, digest, existing.Size, options.MediaType), BlobUploadOutcome.Existed);
                }
            }

            // A session that is lost (a dropped PATCH whose bytes the registry kept makes its Location stale: 404
            // BLOB_UPLOAD_INVALID) or a connection that keeps failing starts the blob again in a new session, when the content
            // can be read again; within one session, SendChunkAsync resumes from the registry's Range.
            long contentStart = content.CanSeek ? content.Position : 0;
            var policy = Transport.Retry;
            var started = System.Diagnostics.Stopwatch.StartNew();
            var mountFrom = options.MountFrom;
            for (int attempt = 1; ; attempt++)
            {
                var session = await StartUploadAsync(repository, digest, mountFrom, cancellationToken).ConfigureAwait(false);
                if (session.Mounted)
                {
                    var mounted = await TryGetDescriptorAsync(repository, digest!, cancellationToken).ConfigureAwait(false);
                    progress?.Report(mounted?.Size ?? length ?? 0);
                    return new BlobUploadResult(Described(repository, digest!, mounted?.Size ?? length ?? -1, options.MediaType), BlobUploadOutcome.Mounted);
                }
                try
                {
                    Descriptor uploaded = options.Monolithic
                        ? await UploadMonolithicAsync(repository, session, content, digest, length, progress, cancellationToken).ConfigureAwait(false)
                        : await UploadChunkedAsync(repository, session, content, digest, options.ChunkSize ?? _client.Options.UploadChunkSize, progress, cancellationToken).ConfigureAwait(false);
                    uploaded.MediaType = options.MediaType;
                    return new BlobUploadResult(uploaded, BlobUploadOutcome.Uploaded);
                }
                catch (RegistryException e) when (content.CanSeek && CanRestartUpload(e) && attempt < policy.MaxAttempts
                    && started.Elapsed < policy.MaxElapsed && !cancellationToken.IsCancellationRequested)
                {
                    await CancelUploadAsync(session.Location).ConfigureAwait(false);
                    var delay = policy.DelayFor(attempt, null);
                    Transport.Log($"Upload of {(digest != null ? digest.Short : "a blob")} to {repository} failed ({e.Message}); starting it again in a new session in {delay.TotalSeconds:0.#} s ({attempt + 1} of {policy.MaxAttempts}).");
                    content.Position = contentStart;
                    mountFrom = null; // the registry did not mount it the first time
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    await CancelUploadAsync(session.Location).ConfigureAwait(false);
                    throw;
                }
            }
        }

        /// <summary>Failures after which an upload may start again from the first byte in a new session.</summary>
        private static bool CanRestartUpload(RegistryException e) =>
            e.Kind == RegistryErrorKind.Connection || e.Kind == RegistryErrorKind.Timeout || e.Kind == RegistryErrorKind.ServerError
            || e.Kind == RegistryErrorKind.TooManyRequests || e.HasCode("BLOB_UPLOAD_INVALID") || e.HasCode("BLOB_UPLOAD_UNKNOWN");

        /// <summary>
        /// Mounts a blob from another repository of this registry (the seed's <c>mount_from</c>). True when mounted; false when the
        /// registry could not (the upload session it opened instead is cancelled).
        /// </summary>
        public async Task<bool> MountAsync(string repository, Digest digest, string fromRepository, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            RegistryClient.CheckRepository(fromRepository);
            var session = await StartUploadAsync(repository, digest, fromRepository, cancellationToken).ConfigureAwait(false);
            if (session.Mounted) return true;
            await CancelUploadAsync(session.Location).ConfigureAwait(false);
            return false;
        }

        /// <summary>Deletes a blob (the seed's Blob <c>delete</c>).</summary>
        public async Task DeleteAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            var request = new RegistryRequest(HttpMethod.Delete, $"v2/{repository}/blobs/{digest}", Scopes.RepositoryDelete(repository))
            {
                Description = "Delete blob " + Describe(repository, digest),
            };
            using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw await ErrorResponse.CreateAsync(response, $"Deleting blob {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
        }

        internal sealed class UploadSession
        {
            public UploadSession(Uri location, bool mounted, int minChunk)
            {
                Location = location;
                Mounted = mounted;
                MinChunk = minChunk;
            }

            public Uri Location { get; set; }
            public bool Mounted { get; }
            public int MinChunk { get; }
        }

        internal async Task<UploadSession> StartUploadAsync(string repository, Digest? mountDigest, string? mountFrom, CancellationToken cancellationToken)
        {
            bool mount = mountFrom != null && mountDigest != null;
            var path = $"v2/{repository}/blobs/uploads/" + (mount ? $"?mount={mountDigest}&from={Uri.EscapeDataString(mountFrom!)}" : string.Empty);
            var scopes = mount
                ? new[] { Scopes.Repository(repository, true), Scopes.Repository(mountFrom!, false) }
                : new[] { Scopes.Repository(repository, true) };
            var request = new RegistryRequest(HttpMethod.Post, path, scopes)
            {
                Content = () => new ByteArrayContent(Array.Empty<byte>()),
                Description = (mount ? "Mount blob " : "Start upload to ") + _client.Endpoint.Registry + "/" + repository,
            };
            using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (mount && response.StatusCode == HttpStatusCode.Created)
            {
                Transport.Log($"Mounted {mountDigest!.Short} from {mountFrom} into {repository}.");
                return new UploadSession(response.RequestMessage!.RequestUri!, true, 0);
            }
            if (response.StatusCode != HttpStatusCode.Accepted)
                throw await ErrorResponse.CreateAsync(response, $"Starting an upload to {_client.Endpoint.Registry}/{repository}", cancellationToken).ConfigureAwait(false);
            var location = ResolveLocation(response);
            int minChunk = 0;
            if (response.Headers.TryGetValues("OCI-Chunk-Min-Length", out var min) && int.TryParse(min.FirstOrDefault(), out var m) && m > 0) minChunk = m;
            return new UploadSession(location, false, minChunk);
        }

        private static Uri ResolveLocation(HttpResponseMessage response)
        {
            var location = response.Headers.Location
                ?? throw new RegistryException(RegistryErrorKind.Protocol, $"The registry answered {(int)response.StatusCode} to an upload step without a Location.");
            var resolved = location.IsAbsoluteUri ? location : new Uri(response.RequestMessage!.RequestUri!, location);
            if (resolved.Scheme != "http" && resolved.Scheme != "https")
                throw new RegistryException(RegistryErrorKind.Security, "The registry gave an upload Location that is not http(s).");
            return resolved;
        }

        internal static Uri WithQuery(Uri location, string key, string value)
        {
            var builder = new UriBuilder(location);
            var existing = builder.Query.TrimStart('?');
            builder.Query = (existing.Length > 0 ? existing + "&" : string.Empty) + key + "=" + Uri.EscapeDataString(value);
            return builder.Uri;
        }

        private async Task<Descriptor> UploadMonolithicAsync(string repository, UploadSession session, Stream content, Digest? digest, long? length,
            IProgress<long>? progress, CancellationToken cancellationToken)
        {
            if (digest == null)
            {
                // Digest unknown and the stream cannot be read twice: send it whole in one PATCH, hashing as it goes, then commit.
                var hashing = new HashingReadStream(content, "sha256", progress);
                var patch = new RegistryRequest(RegistryClient.Patch, session.Location, Scopes.Repository(repository, true))
                {
                    ContentReplayable = false,
                    Content = () => Octets(new StreamContent(hashing, CopyBufferSize)),
                    Description = "Upload blob to " + repository,
                };
                using (var response = await Transport.SendAsync(patch, cancellationToken).ConfigureAwait(false))
                {
                    if (response.StatusCode != HttpStatusCode.Accepted)
                        throw await ErrorResponse.CreateAsync(response, $"Uploading a blob to {_client.Endpoint.Registry}/{repository}", cancellationToken).ConfigureAwait(false);
                    session.Location = ResolveLocation(response);
                }
                var computed = hashing.Finish();
                return await CommitAsync(repository, session, computed, hashing.BytesRead, cancellationToken).ConfigureAwait(false);
            }

            long start = content.CanSeek ? content.Position : 0;
            // A registry blob being streamed on (a copy) is verified by its own stream, which fails before its last byte
            // when the content differs: hashing it here again would only double the CPU spent per byte.
            bool verifiedBySource = content is VerifyingReadStream source && source.Verifies(digest);
            var verifying = new HashingReadStream(content, digest.Algorithm, progress, hash: !verifiedBySource);
            bool sentOnce = false;
            var put = new RegistryRequest(HttpMethod.Put, WithQuery(session.Location, "digest", digest.ToString()), Scopes.Repository(repository, true))
            {
                ContentReplayable = content.CanSeek,
                Content = () =>
                {
                    if (sentOnce && content.CanSeek) { content.Position = start; verifying.Reset(); }
                    sentOnce = true;
                    var c = Octets(new StreamContent(verifying, CopyBufferSize));
                    if (length.HasValue) c.Headers.ContentLength = length.Value;
                    return c;
                },
                Description = "Upload blob " + digest.Short,
            };
            using (var response = await Transport.SendAsync(put, cancellationToken).ConfigureAwait(false))
            {
                if (response.StatusCode != HttpStatusCode.Created)
                {
                    var error = await ErrorResponse.CreateAsync(response, $"Uploading blob {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
                    if (error.Kind == RegistryErrorKind.DigestMismatch)
                    {
                        var actual = verifying.Hashes ? verifying.Finish() : null;
                        var hashesTo = actual != null ? $" (it hashes to {actual})" : string.Empty;
                        throw new DigestMismatchException($"The content of blob {Describe(repository, digest)} does not match its digest{hashesTo}; the registry did not keep it.", digest, actual, error);
                    }
                    throw error;
                }
            }
            return Described(repository, digest, verifying.BytesRead, "application/octet-stream");
        }

        private async Task<Descriptor> UploadChunkedAsync(string repository, UploadSession session, Stream content, Digest? expected, int chunkSize,
            IProgress<long>? progress, CancellationToken cancellationToken)
        {
            chunkSize = Math.Max(Math.Max(chunkSize, session.MinChunk), 64 * 1024);
            var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
            using var hasher = new DigestHasher(expected?.Algorithm ?? "sha256");
            long offset = 0;
            try
            {
                while (true)
                {
                    int n = await ReadFullAsync(content, buffer, chunkSize, cancellationToken).ConfigureAwait(false);
                    if (n == 0) break;
                    hasher.Append(buffer, 0, n);
                    await SendChunkAsync(repository, session, buffer, n, offset, cancellationToken).ConfigureAwait(false);
                    offset += n;
                    progress?.Report(offset);
                    if (n < chunkSize) break;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            var digest = hasher.Finish();
            if (expected != null && digest != expected)
                throw new DigestMismatchException($"The content uploaded to {_client.Endpoint.Registry}/{repository} hashes to {digest}, not {expected}; it was not committed.", expected, digest);
            return await CommitAsync(repository, session, digest, offset, cancellationToken).ConfigureAwait(false);
        }

        private async Task SendChunkAsync(string repository, UploadSession session, byte[] buffer, int count, long offset, CancellationToken cancellationToken)
        {
            var policy = Transport.Retry;
            int sent = 0;
            for (int attempt = 1; ; attempt++)
            {
                long start = offset + sent;
                int remaining = count - sent;
                var request = new RegistryRequest(RegistryClient.Patch, session.Location, Scopes.Repository(repository, true))
                {
                    Content = () =>
                    {
                        var c = Octets(new ByteArrayContent(buffer, sent, remaining));
                        c.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + remaining - 1}");
                        return c;
                    },
                    Description = $"Upload chunk {start}-{start + remaining - 1} to {repository}",
                };
                Exception? failure = null;
                try
                {
                    using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        session.Location = ResolveLocation(response);
                        var end = RangeEnd(response);
                        if (end == start + remaining - 1) return;
                        failure = new RegistryException(RegistryErrorKind.Protocol, $"The registry acknowledged bytes up to {end}, expected {start + remaining - 1}.");
                    }
                    else if (!RegistryTransport.IsRetryableStatus((int)response.StatusCode) && response.StatusCode != (HttpStatusCode)416)
                    {
                        throw await ErrorResponse.CreateAsync(response, $"Uploading to {_client.Endpoint.Registry}/{repository}", cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        failure = await ErrorResponse.CreateAsync(response, $"Uploading to {_client.Endpoint.Registry}/{repository}", cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (RegistryException e) when (e.Kind == RegistryErrorKind.Connection || e.Kind == RegistryErrorKind.Timeout)
                {
                    failure = e;
                }
                if (attempt >= policy.MaxAttempts)
                    throw new RegistryException(RegistryErrorKind.Connection, $"Uploading to {_client.Endpoint.Registry}/{repository} failed {attempt} times at byte {start}: {failure.Message}", failure);
                // Ask the registry how much it has, and go on from there.
                var delay = policy.DelayFor(attempt, null);
                Transport.Log($"Chunk at {start} of an upload to {repository} failed ({failure.Message}); asking the registry where it is, in {delay.TotalSeconds:0.#} s.");
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                long have = await UploadStatusAsync(repository, session, cancellationToken).ConfigureAwait(false);
                if (have < offset || have > offset + count)
                    throw new RegistryException(RegistryErrorKind.Protocol, $"The upload session holds {have} bytes, outside the chunk being sent ({offset}-{offset + count - 1}); it cannot be resumed.", failure);
                sent = (int)(have - offset);
                if (sent == count) return;
            }
        }

        /// <summary>How many bytes the upload session holds (<c>GET Location</c> → 204 with Range).</summary>
        private async Task<long> UploadStatusAsync(string repository, UploadSession session, CancellationToken cancellationToken)
        {
            var request = new RegistryRequest(HttpMethod.Get, session.Location, Scopes.Repository(repository, true)) { Idempotent = true, Description = "Upload status" };
            using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw await ErrorResponse.CreateAsync(response, $"Resuming the upload to {_client.Endpoint.Registry}/{repository}", cancellationToken).ConfigureAwait(false);
            if (response.Headers.Location != null) session.Location = ResolveLocation(response);
            var end = RangeEnd(response);
            return end.HasValue ? end.Value + 1 : 0;
        }

        /// <summary>The end of a <c>Range: 0-N</c> answer; -1 for none. distribution answers <c>0-0</c> for an empty session.</summary>
        private static long? RangeEnd(HttpResponseMessage response)
        {
            if (!response.Headers.TryGetValues("Range", out var values)) return null;
            var text = values.FirstOrDefault()?.Trim() ?? string.Empty;
            if (text.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase)) text = text.Substring(6);
            int dash = text.IndexOf('-');
            if (dash < 0 || !long.TryParse(text.Substring(dash + 1), out var end)) return null;
            return end;
        }

        private async Task<Descriptor> CommitAsync(string repository, UploadSession session, Digest digest, long length, CancellationToken cancellationToken)
        {
            var request = new RegistryRequest(HttpMethod.Put, WithQuery(session.Location, "digest", digest.ToString()), Scopes.Repository(repository, true))
            {
                Content = () => Octets(new ByteArrayContent(Array.Empty<byte>())),
                Description = "Commit blob " + digest.Short,
            };
            using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Created)
                throw await ErrorResponse.CreateAsync(response, $"Committing blob {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
            return Described(repository, digest, length, "application/octet-stream");
        }

        internal async Task CancelUploadAsync(Uri location)
        {
            try
            {
                var request = new RegistryRequest(HttpMethod.Delete, location) { Description = "Cancel upload" };
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                using var response = await Transport.SendAsync(request, cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RegistryException || e is OperationCanceledException || e is HttpRequestException || e is IOException)
            {
                // Best effort: the registry expires abandoned sessions by itself.
            }
        }

        private Descriptor Described(string repository, Digest digest, long size, string mediaType) =>
            new Descriptor(mediaType, digest, size) { Source = ImageReference.Create(_client.Endpoint.Registry, repository, null, digest) };

        private static HttpContent Octets(HttpContent content)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return content;
        }

        private static Digest ComputeAndRewind(Stream content)
        {
            long start = content.Position;
            var digest = Digest.Compute(content);
            content.Position = start;
            return digest;
        }

        private static async Task<int> ReadFullAsync(Stream stream, byte[] buffer, int count, CancellationToken cancellationToken)
        {
            int total = 0;
            while (total < count)
            {
                int n = await stream.ReadAsync(buffer, total, count - total, cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                total += n;
            }
            return total;
        }

        private static async Task<int> ReadWithStallTimeoutAsync(Stream body, byte[] buffer, StallTimer stall, CancellationToken cancellationToken)
        {
            var token = stall.Arm(cancellationToken);
            try
            {
                return await body.ReadAsync(buffer, 0, buffer.Length, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"No data for {stall.Timeout.TotalSeconds:0} s.");
            }
            finally
            {
                stall.Disarm();
            }
        }

        private string Describe(string repository, Digest digest) => _client.Endpoint.Registry + "/" + repository + "@" + digest;
    }
}
