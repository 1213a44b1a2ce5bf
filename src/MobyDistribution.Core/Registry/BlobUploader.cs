using System;
using System.Buffers;
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

    /// <summary>
    /// Where an upload's bytes come from: a stream (sent again from its start when it can seek) or a function that opens
    /// them anew (a blob of another registry, a file), so that a lost session can start the blob again.
    /// </summary>
    internal sealed class UploadContent : IDisposable
    {
        private readonly Func<CancellationToken, Task<Stream>>? _open;
        private readonly long _start;
        private Stream? _current;
        private Task<Stream>? _opening;

        private UploadContent(Stream? stream, Func<CancellationToken, Task<Stream>>? open)
        {
            _current = stream;
            _open = open;
            _start = stream != null && stream.CanSeek ? stream.Position : 0;
        }

        /// <summary>The caller's stream, which stays the caller's.</summary>
        public static UploadContent FromStream(Stream stream) => new UploadContent(stream ?? throw new ArgumentNullException(nameof(stream)), null);

        /// <summary>
        /// Bytes opened (and owned) here, again for each new start. With <paramref name="openEarly"/> (bytes from a far
        /// registry) they are opened while the destination is asked whether it has them, so their first byte is on its way
        /// when the upload session opens; they are closed unread when it has them.
        /// </summary>
        public static UploadContent FromOpener(Func<CancellationToken, Task<Stream>> open, bool openEarly = false) =>
            new UploadContent(null, open ?? throw new ArgumentNullException(nameof(open))) { OpenEarly = openEarly };

        /// <summary>Open the bytes while the destination is asked about them.</summary>
        public bool OpenEarly { get; private set; }

        public bool CanRestart => _open != null || (_current != null && _current.CanSeek);

        /// <summary>Starts opening the bytes (an opener's) without waiting; <see cref="GetAsync"/> then takes what it opened.</summary>
        public void StartOpening(CancellationToken cancellationToken)
        {
            if (_open != null && _current == null && _opening == null) _opening = _open(cancellationToken);
        }

        public async Task<Stream> GetAsync(CancellationToken cancellationToken)
        {
            if (_current != null) return _current;
            if (_opening != null)
            {
                var opening = _opening;
                _opening = null;
                return _current = await opening.ConfigureAwait(false);
            }
            return _current = await _open!(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Back to the first byte: the stream rewound, or closed to be opened again.</summary>
        public void Restart()
        {
            if (_open != null)
            {
                _current?.Dispose();
                _current = null;
                DiscardOpening();
            }
            else if (_current != null)
            {
                _current.Position = _start;
            }
        }

        public void Dispose()
        {
            if (_open == null) return;
            _current?.Dispose();
            DiscardOpening();
        }

        // Bytes opened early and not needed: closed once they open, their failure ignored.
        private void DiscardOpening()
        {
            var opening = _opening;
            _opening = null;
            opening?.ContinueWith(t =>
            {
                if (t.Status == TaskStatus.RanToCompletion) t.Result.Dispose();
                else _ = t.Exception;
            }, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Where a blob upload happens: opening a session (while asking whether the blob is there already), mounting, sending
    /// it in one PUT or in chunks that resume from the registry's Range, committing, and starting again in a new session when
    /// a session is lost, all within the blob's one retry budget.
    /// </summary>
    internal sealed class BlobUploader
    {
        private const int CopyBufferSize = 1024 * 1024;
        private readonly RegistryClient _client;
        private readonly BlobReader _reader;

        public BlobUploader(RegistryClient client, BlobReader reader)
        {
            _client = client;
            _reader = reader;
        }

        private RegistryTransport Transport => _client.Transport;

        public async Task<BlobUploadResult> UploadAsync(string repository, UploadContent content, BlobUploadOptions options,
            IProgress<long>? progress, CancellationToken cancellationToken)
        {
            RegistryClient.CheckRepository(repository);
            var digest = options.Digest;
            long? length = options.Length;
            if (options.MountFrom != null) RegistryClient.CheckRepository(options.MountFrom);
            bool wantDigest = options.MountFrom != null || options.Monolithic;
            if (length == null || (digest == null && wantDigest))
            {
                // Only a stream of the caller's is looked at here: an opener's bytes come with their digest and size.
                var stream = await content.GetAsync(cancellationToken).ConfigureAwait(false);
                if (stream.CanSeek)
                {
                    length ??= stream.Length - stream.Position;
                    if (digest == null && wantDigest) digest = ComputeAndRewind(stream);
                }
            }
            if (options.MountFrom != null && digest == null) throw new ArgumentException("Mounting needs the blob's digest.", nameof(options));

            using var budget = RetryBudget.Enter(_client.Options.Retry);
            var mountFrom = options.MountFrom;
            UploadSession? session = null;
            if (digest != null && !options.SkipExistenceCheck)
            {
                // Is it there? and a session to send it in if not, in one round trip: HEAD and POST go out together (and the
                // bytes of a far registry start coming, when there is nothing to mount).
                if (content.OpenEarly && mountFrom == null) content.StartOpening(cancellationToken);
                var (existing, opened) = await ProbeAndOpenAsync(repository, digest, mountFrom, cancellationToken).ConfigureAwait(false);
                if (existing != null)
                {
                    if (opened != null && !opened.Mounted) CancelInBackground(opened.Location);
                    Transport.Log($"Blob {digest.Short} is already in {repository}; not sent.");
                    progress?.Report(existing.Size);
                    return new BlobUploadResult(Described(repository, digest, existing.Size, options.MediaType), BlobUploadOutcome.Existed);
                }
                session = opened;
            }

            while (true)
            {
                if (session == null && content.OpenEarly && mountFrom == null) content.StartOpening(cancellationToken);
                session ??= await StartUploadAsync(repository, digest, mountFrom, cancellationToken).ConfigureAwait(false);
                if (session.Mounted)
                {
                    long size = length ?? (await _reader.TryGetDescriptorAsync(repository, digest!, cancellationToken).ConfigureAwait(false))?.Size ?? -1;
                    progress?.Report(Math.Max(0, size));
                    return new BlobUploadResult(Described(repository, digest!, size, options.MediaType), BlobUploadOutcome.Mounted);
                }
                Digest? sent = digest;
                try
                {
                    var stream = await content.GetAsync(cancellationToken).ConfigureAwait(false);
                    Descriptor uploaded = options.Monolithic
                        ? await UploadMonolithicAsync(repository, session, stream, digest, length, progress, d => sent = d, cancellationToken).ConfigureAwait(false)
                        : await UploadChunkedAsync(repository, session, stream, digest, options.ChunkSize ?? _client.Options.UploadChunkSize, progress, d => sent = d, cancellationToken).ConfigureAwait(false);
                    return new BlobUploadResult(Described(repository, uploaded.Digest, uploaded.Size, options.MediaType), BlobUploadOutcome.Uploaded);
                }
                catch (RegistryException e) when (!e.RetriesSpent && CanRestart(e) && !cancellationToken.IsCancellationRequested)
                {
                    var failed = session;
                    session = null;
                    // A commit whose answer was lost may have landed: ask before sending it again.
                    if (sent != null && IsLostAnswer(e))
                    {
                        var landed = await TryHeadAsync(repository, sent, cancellationToken).ConfigureAwait(false);
                        if (landed != null && (length == null || landed.Size < 0 || landed.Size == length))
                        {
                            Transport.Log($"The answer to the upload of {sent.Short} was lost, but {repository} has the blob; going on.");
                            progress?.Report(Math.Max(0, landed.Size));
                            return new BlobUploadResult(Described(repository, sent, landed.Size, options.MediaType), BlobUploadOutcome.Uploaded);
                        }
                    }
                    await CancelUploadAsync(failed.Location).ConfigureAwait(false);
                    if (!content.CanRestart) throw;
                    var what = digest != null ? digest.Short : "a blob";
                    if (!await budget.WaitToRetryAsync($"Upload of {what} to {repository} failed ({Redaction.Text(e.Message)}); starting it again in a new session,",
                            e.StatusCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? e.Kind.ToString(), null, Transport.Log, cancellationToken).ConfigureAwait(false))
                    {
                        e.RetriesSpent = true;
                        throw;
                    }
                    content.Restart();
                    progress?.Report(0);
                    mountFrom = null; // the registry did not mount it the first time
                }
                catch
                {
                    if (session != null) await CancelUploadAsync(session.Location).ConfigureAwait(false);
                    throw;
                }
            }
        }

        /// <summary>Failures after which an upload may start again from the first byte in a new session.</summary>
        private static bool CanRestart(RegistryException e) =>
            e.Kind == RegistryErrorKind.Connection || e.Kind == RegistryErrorKind.Timeout || e.Kind == RegistryErrorKind.ServerError
            || e.Kind == RegistryErrorKind.TooManyRequests || e.HasCode("BLOB_UPLOAD_INVALID") || e.HasCode("BLOB_UPLOAD_UNKNOWN")
            || e is UploadOutOfStep;

        /// <summary>A failure after which the registry may have acted without saying so (the answer was lost).</summary>
        private static bool IsLostAnswer(RegistryException e) =>
            e.Kind == RegistryErrorKind.Connection || e.Kind == RegistryErrorKind.Timeout || e.HasCode("BLOB_UPLOAD_UNKNOWN") || e.HasCode("BLOB_UPLOAD_INVALID");

        private async Task<Descriptor?> TryHeadAsync(string repository, Digest digest, CancellationToken cancellationToken)
        {
            try { return await _reader.TryGetDescriptorAsync(repository, digest, cancellationToken).ConfigureAwait(false); }
            catch (RegistryException) { return null; }
        }

        private async Task<(Descriptor? Existing, UploadSession? Session)> ProbeAndOpenAsync(string repository, Digest digest, string? mountFrom, CancellationToken cancellationToken)
        {
            var head = _reader.TryGetDescriptorAsync(repository, digest, cancellationToken);
            var open = StartUploadAsync(repository, digest, mountFrom, cancellationToken);
            Descriptor? existing = null;
            try
            {
                existing = await head.ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unauthorized || e.Kind == RegistryErrorKind.Denied)
            {
                // A push-only repository may refuse HEAD; the upload will tell.
            }
            catch
            {
                await ObserveAsync(open).ConfigureAwait(false);
                throw;
            }
            if (existing == null) return (null, await open.ConfigureAwait(false));
            var opened = await ObserveAsync(open).ConfigureAwait(false);
            // A mount that went through first is what put the blob there.
            return opened != null && opened.Mounted ? (null, opened) : (existing, opened);
        }

        // The session of a POST whose result no longer matters: cancelled when it opened one, its failure ignored.
        private async Task<UploadSession?> ObserveAsync(Task<UploadSession> open)
        {
            try { return await open.ConfigureAwait(false); }
            catch (Exception e) when (e is RegistryException || e is OperationCanceledException || e is HttpRequestException || e is IOException) { return null; }
        }

        private void CancelInBackground(Uri location) => _ = Task.Run(() => CancelUploadAsync(location));

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

        /// <summary>Opens an upload session (POST), or mounts the blob from <paramref name="mountFrom"/> when it can (201).</summary>
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
                // Opening a session twice does no harm (an unused one expires), so a lost answer is asked again.
                Idempotent = true,
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

        /// <summary>Mounts a blob; false (and the session it opened instead cancelled) when the registry could not.</summary>
        public async Task<bool> MountAsync(string repository, Digest digest, string fromRepository, CancellationToken cancellationToken)
        {
            RegistryClient.CheckRepository(repository);
            RegistryClient.CheckRepository(fromRepository);
            var session = await StartUploadAsync(repository, digest, fromRepository, cancellationToken).ConfigureAwait(false);
            if (session.Mounted) return true;
            await CancelUploadAsync(session.Location).ConfigureAwait(false);
            return false;
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
            IProgress<long>? progress, Action<Digest> sending, CancellationToken cancellationToken)
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
                sending(computed);
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
                    var error = await ErrorResponse.CreateAsync(response, $"Uploading blob {_reader.Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
                    if (error.Kind == RegistryErrorKind.DigestMismatch)
                    {
                        var actual = verifying.Hashes ? verifying.Finish() : null;
                        var hashesTo = actual != null ? $" (it hashes to {actual})" : string.Empty;
                        throw new DigestMismatchException($"The content of blob {_reader.Describe(repository, digest)} does not match its digest{hashesTo}; the registry did not keep it.", digest, actual, error);
                    }
                    throw error;
                }
            }
            return Described(repository, digest, verifying.BytesRead, "application/octet-stream");
        }

        private async Task<Descriptor> UploadChunkedAsync(string repository, UploadSession session, Stream content, Digest? expected, int chunkSize,
            IProgress<long>? progress, Action<Digest> sending, CancellationToken cancellationToken)
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
            sending(digest);
            return await CommitAsync(repository, session, digest, offset, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Sends one chunk, with a budget of its own: after a failure it asks the session how much it holds and sends the
        /// rest from there. A session that is lost (404) escapes to the caller, which starts the blob again.
        /// </summary>
        private async Task SendChunkAsync(string repository, UploadSession session, byte[] buffer, int count, long offset, CancellationToken cancellationToken)
        {
            using var budget = RetryBudget.Begin(_client.Options.Retry);
            int sent = 0;
            while (true)
            {
                long start = offset + sent;
                int remaining = count - sent;
                int from = sent;
                var request = new RegistryRequest(RegistryClient.Patch, session.Location, Scopes.Repository(repository, true))
                {
                    Content = () =>
                    {
                        var c = Octets(new ByteArrayContent(buffer, from, remaining));
                        c.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + remaining - 1}");
                        return c;
                    },
                    Description = $"Upload chunk {start}-{start + remaining - 1} to {repository}",
                };
                RegistryException failure;
                try
                {
                    using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        session.Location = ResolveLocation(response);
                        var end = UploadRange.End(RangeHeader(response));
                        if (end == start + remaining - 1) return;
                        failure = new UploadOutOfStep($"The registry acknowledged bytes up to {end?.ToString() ?? "(none)"}, expected {start + remaining - 1}.");
                    }
                    else if (!RetryRules.IsRetryableStatus((int)response.StatusCode) && response.StatusCode != (HttpStatusCode)416)
                    {
                        throw await ErrorResponse.CreateAsync(response, $"Uploading to {_client.Endpoint.Registry}/{repository}", cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        failure = await ErrorResponse.CreateAsync(response, $"Uploading to {_client.Endpoint.Registry}/{repository}", cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (RegistryException e) when ((e.Kind == RegistryErrorKind.Connection || e.Kind == RegistryErrorKind.Timeout) && !e.RetriesSpent)
                {
                    failure = e;
                }
                if (failure is UploadOutOfStep) throw failure; // the session holds other bytes than sent: start again
                if (!await budget.WaitToRetryAsync($"Chunk at {start} of an upload to {repository} failed ({Redaction.Text(failure.Message)}); asking the registry where it is,",
                        failure.StatusCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? failure.Kind.ToString(), null, Transport.Log, cancellationToken).ConfigureAwait(false))
                    throw new RegistryException(RegistryErrorKind.Connection,
                        $"Uploading to {_client.Endpoint.Registry}/{repository} failed at byte {start}: {failure.Message}; {budget.Summary}.", failure) { RetriesSpent = true };
                long have = await UploadStatusAsync(repository, session, cancellationToken).ConfigureAwait(false);
                if (have < offset || have > offset + count)
                    throw new UploadOutOfStep($"The upload session holds {have} bytes, outside the chunk being sent ({offset}-{offset + count - 1}); it cannot be resumed.", failure);
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
            return UploadRange.Held(RangeHeader(response))
                ?? throw new RegistryException(RegistryErrorKind.Protocol, $"The registry answered the status of an upload to {repository} with an unreadable Range.");
        }

        private static string? RangeHeader(HttpResponseMessage response) =>
            response.Headers.TryGetValues("Range", out var values) ? values.FirstOrDefault() : null;

        private async Task<Descriptor> CommitAsync(string repository, UploadSession session, Digest digest, long length, CancellationToken cancellationToken)
        {
            var request = new RegistryRequest(HttpMethod.Put, WithQuery(session.Location, "digest", digest.ToString()), Scopes.Repository(repository, true))
            {
                Content = () => Octets(new ByteArrayContent(Array.Empty<byte>())),
                Description = "Commit blob " + digest.Short,
            };
            using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Created)
                throw await ErrorResponse.CreateAsync(response, $"Committing blob {_reader.Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
            return Described(repository, digest, length, "application/octet-stream");
        }

        internal async Task CancelUploadAsync(Uri location)
        {
            try
            {
                var request = new RegistryRequest(HttpMethod.Delete, location) { Description = "Cancel upload" };
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                using (RetryScope.Begin(maxAttempts: 1))
                using (RetryBudget.Begin(_client.Options.Retry))
                using (var response = await Transport.SendAsync(request, cts.Token).ConfigureAwait(false)) { }
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

        /// <summary>The session holds other bytes than were sent: it cannot go on, but the blob can start again.</summary>
        private sealed class UploadOutOfStep : RegistryException
        {
            public UploadOutOfStep(string message, Exception? inner = null) : base(RegistryErrorKind.Protocol, message, inner) { }
        }
    }

    /// <summary>The <c>Range: 0-N</c> header of upload answers (inclusive, with or without a <c>bytes=</c> prefix).</summary>
    internal static class UploadRange
    {
        /// <summary>The last byte acknowledged, or null when there is no readable header.</summary>
        public static long? End(string? header)
        {
            if (header == null) return null;
            var text = header.Trim();
            if (text.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase)) text = text.Substring(6);
            int dash = text.IndexOf('-');
            if (dash <= 0 || !long.TryParse(text.Substring(0, dash), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var first) || first != 0)
                return null;
            if (!long.TryParse(text.Substring(dash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var end)) return null;
            return end;
        }

        /// <summary>
        /// How many bytes an upload session holds, from its status answer: none without a header, and none for
        /// <c>0-0</c>, which distribution answers for an empty session as well as for one byte; resuming at byte 1
        /// would lose the first byte of a session whose first PATCH never arrived. A real one-byte session is then sent
        /// again from 0, which the registry's answer to that PATCH shows up as out of step (the blob starts again).
        /// </summary>
        public static long? Held(string? header)
        {
            if (header == null) return 0;
            var end = End(header);
            if (end == null) return null;
            return end.Value == 0 ? 0 : end.Value + 1;
        }
    }
}
