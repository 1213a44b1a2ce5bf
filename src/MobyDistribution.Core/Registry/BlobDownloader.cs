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
    /// <summary>
    /// Downloads blobs into streams and files, verified as they arrive: a dropped connection resumes with Range, a server
    /// that ignores Range restarts cleanly, and every attempt draws from the blob's one retry budget.
    /// </summary>
    internal sealed class BlobDownloader
    {
        private const int CopyBufferSize = 1024 * 1024;
        private const int PipelineDepth = 4;
        private readonly RegistryClient _client;
        private readonly BlobReader _reader;

        public BlobDownloader(RegistryClient client, BlobReader reader)
        {
            _client = client;
            _reader = reader;
        }

        private RegistryTransport Transport => _client.Transport;

        /// <summary>See <see cref="BlobService.DownloadAsync"/>.</summary>
        public async Task<Descriptor> DownloadAsync(string repository, Digest digest, Stream destination, long? expectedSize = null,
            IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            if (destination == null) throw new ArgumentNullException(nameof(destination));
            // Never read without a limit: a blob named by digest alone is held to the size its HEAD gives.
            long size = await _reader.ResolveSizeAsync(repository, digest, expectedSize, cancellationToken).ConfigureAwait(false);
            expectedSize = size;
            long destinationStart = destination.CanSeek ? destination.Position : 0;
            var hasher = new DigestHasher(digest.Algorithm);
            // The pieces read from the network are hashed and written in order by a chain of tasks while the next pieces are
            // read: SHA-256 and the file write leave the network's critical path (a few pieces in flight, pooled buffers).
            var free = new Stack<byte[]>();
            var rented = new List<byte[]>();
            using var slots = new SemaphoreSlim(PipelineDepth);
            Task tail = Task.CompletedTask;
            bool writeFailed = false;
            // Every request and every resume draws from the blob's one budget.
            using var budget = RetryBudget.Enter(_client.Options.Retry);
            var stall = new StallTimer(_client.Options.ReadStallTimeout);
            long received = 0;
            try
            {
                while (true)
                {
                    long offset = received;
                    var request = new RegistryRequest(HttpMethod.Get, $"v2/{repository}/blobs/{digest}", Scopes.Repository(repository, false))
                    {
                        Idempotent = true,
                        Description = "Blob " + _reader.Describe(repository, digest),
                        Headers = offset > 0 ? h => h.Range = new RangeHeaderValue(offset, null) : null,
                    };
                    using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
                    if (!response.IsSuccessStatusCode)
                        throw await ErrorResponse.CreateAsync(response, $"Blob {_reader.Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
                    if (offset > 0)
                    {
                        if (response.StatusCode == HttpStatusCode.PartialContent)
                        {
                            var range = response.Content.Headers.ContentRange;
                            if (range == null || range.From != offset)
                                throw new RegistryException(RegistryErrorKind.Protocol, $"Resuming blob {_reader.Describe(repository, digest)} at {offset}: the registry answered a different range ({range}).");
                        }
                        else
                        {
                            // The server ignored Range: start over, cleanly.
                            if (!destination.CanSeek)
                                throw new RegistryException(RegistryErrorKind.Protocol, $"The registry ignored the Range request resuming blob {_reader.Describe(repository, digest)}, and the destination cannot be rewound.");
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
                        throw new DigestMismatchException($"Blob {_reader.Describe(repository, digest)} is {response.Content.Headers.ContentLength} bytes; its descriptor says {expectedSize}.", digest, null);
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
                                    throw new DigestMismatchException($"Blob {_reader.Describe(repository, digest)} is longer than the {expectedSize} bytes its descriptor says; stopped reading.", digest, null);
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
                    catch (Exception e) when (!writeFailed && RetryRules.IsTransient(e, cancellationToken))
                    {
                        // What was received is on its way to the destination: resume after it once it is there.
                        await DrainAsync().ConfigureAwait(false);
                        var reason = RetryRules.Describe(e);
                        if (!await budget.WaitToRetryAsync($"Download of {digest.Short} dropped after {received} bytes ({reason}), resuming", "dropped", null, Transport.Log, cancellationToken).ConfigureAwait(false))
                            throw new RegistryException(RegistryErrorKind.Connection,
                                $"Download of blob {_reader.Describe(repository, digest)} kept failing after {received} bytes ({reason}); {budget.Summary}.", e) { RetriesSpent = true };
                    }
                }
                if (expectedSize.HasValue && received != expectedSize.Value)
                    throw new DigestMismatchException($"Blob {_reader.Describe(repository, digest)} ended after {received} bytes; its descriptor says {expectedSize}.", digest, null);
                var actual = hasher.Finish();
                if (actual != digest)
                    throw new DigestMismatchException($"Blob {_reader.Describe(repository, digest)} does not match its digest: the bytes received hash to {actual}.", digest, actual);
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

        private static Task<int> ReadWithStallTimeoutAsync(Stream body, byte[] buffer, StallTimer stall, CancellationToken cancellationToken) =>
            stall.ReadAsync(body, buffer, 0, buffer.Length, cancellationToken);
    }

    /// <summary>One blob to save to a file, with its progress and, once done, its outcome.</summary>
    public sealed class BlobDownloadJob
    {
        public BlobDownloadJob(ImageReference repository, Digest digest, long? size, string path, bool overwrite, IProgress<long>? progress = null)
        {
            Repository = repository ?? throw new ArgumentNullException(nameof(repository));
            Digest = digest ?? throw new ArgumentNullException(nameof(digest));
            Size = size;
            Path = path ?? throw new ArgumentNullException(nameof(path));
            Overwrite = overwrite;
            Progress = progress;
        }

        /// <summary>The repository the blob is read from (its tag or digest is ignored).</summary>
        public ImageReference Repository { get; }
        public Digest Digest { get; }

        /// <summary>The size the blob must have; null to take it from the registry's HEAD.</summary>
        public long? Size { get; }
        public string Path { get; }
        public bool Overwrite { get; }
        public IProgress<long>? Progress { get; }

        /// <summary>The verified blob, once saved.</summary>
        public Descriptor? Result { get; internal set; }

        /// <summary>Why it was not saved (nothing is left at <see cref="Path"/> then).</summary>
        public Exception? Error { get; internal set; }
    }

    /// <summary>Saves many blobs to files, a few at a time: one failure is recorded on its job and does not stop the others.</summary>
    public static class BlobDownloads
    {
        /// <summary>Blobs downloaded at once by default.</summary>
        public const int DefaultThrottleLimit = 3;

        /// <summary>
        /// Downloads every job; each ends with <see cref="BlobDownloadJob.Result"/> or <see cref="BlobDownloadJob.Error"/> set.
        /// Only cancellation stops the batch.
        /// </summary>
        public static async Task DownloadAllAsync(Func<ImageReference, RegistryClient> clients, IReadOnlyList<BlobDownloadJob> jobs,
            int throttleLimit = DefaultThrottleLimit, CancellationToken cancellationToken = default)
        {
            if (clients == null) throw new ArgumentNullException(nameof(clients));
            if (jobs == null) throw new ArgumentNullException(nameof(jobs));
            using var gate = new SemaphoreSlim(Math.Max(1, throttleLimit));
            await Task.WhenAll(jobs.Select(async job =>
            {
                await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    var client = clients(job.Repository);
                    job.Result = await client.Blobs.DownloadToFileAsync(job.Repository.Repository, job.Digest, job.Path, job.Size, job.Overwrite, job.Progress, cancellationToken)
                        .ConfigureAwait(false);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested && !(e is OperationCanceledException))
                {
                    job.Error = e;
                }
                finally
                {
                    gate.Release();
                }
            })).ConfigureAwait(false);
        }
    }
}
