using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// The defects the one transfer engine fixes, each shown through the fault proxy in front of the real registry (or a
    /// hostile socket): one budget that bounds a command, a lost first PATCH, writes that are retried, answers that are
    /// lost after the registry acted, failures that repeat on every try.
    /// </summary>
    public sealed class EngineFaultTests : IClassFixture<FaultBed>
    {
        private const string BlobGet = "/blobs/sha256:";
        private readonly FaultBed _bed;

        public EngineFaultTests(FaultBed bed) => _bed = bed;

        private (ImageCopier Copier, RegistryClient Destination) Copier(Scenario s)
        {
            var destination = new RegistryClient(RegistryEndpoint.Parse(_bed.Basic.HostPort), new RegistryClientOptions
            {
                CredentialStore = null,
                Credential = RegistryCredential.FromPassword(FaultBed.User, FaultBed.Password),
                Log = line => s.Lines.Enqueue(line),
            });
            return (new ImageCopier(r => r.Registry == s.Proxy.HostPort ? s.Client : destination), destination);
        }

        [Fact]
        public async Task A_blob_whose_reads_always_fail_is_read_at_most_MaxAttempts_times_by_a_copy()
        {
            var repo = FaultNames.Repo("budget-count");
            _bed.Push(_bed.Large, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous, configure: o => o.Retry.MaxAttempts = 5);
            var layer = BlobGet + _bed.Large.Layers[0].Digest.Substring(7);
            s.Proxy.AddRule(FaultRule.Status(503, "GET", layer).Always());
            var (copier, _) = Copier(s);

            var e = await s.Fails<RegistryException>(() => copier.CopyAsync(s.Ref(repo), ImageReference.Create(_bed.Basic.HostPort, repo, "budget")));

            Assert.Equal(RegistryErrorKind.ServerError, e.Kind);
            // Five attempts in all, not five requests times three whole-blob attempts as before.
            Assert.Equal(5, s.Requests("GET", layer).Length);
            Assert.Contains("gave up after 5 attempts", e.Message);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task The_time_budget_ends_a_copy_within_its_seconds_whatever_the_attempt_count()
        {
            var repo = FaultNames.Repo("budget-time");
            _bed.Push(_bed.Large, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous, configure: o =>
            {
                o.Retry.BaseDelay = TimeSpan.FromMilliseconds(200);
                o.Retry.MaxDelay = TimeSpan.FromMilliseconds(400);
            });
            var layer = BlobGet + _bed.Large.Layers[0].Digest.Substring(7);
            s.Proxy.AddRule(FaultRule.Status(503, "GET", layer).Always());
            var (copier, _) = Copier(s);

            RegistryException e;
            using (RetryScope.Begin(maxAttempts: 51, maxElapsed: TimeSpan.FromSeconds(3)))
                e = await s.Fails<RegistryException>(() => copier.CopyAsync(s.Ref(repo), ImageReference.Create(_bed.Basic.HostPort, repo, "budget")));

            var reads = s.Requests("GET", layer);
            Assert.InRange(reads.Length, 2, 50); // the clock, not the count, stopped it
            // No attempt starts after the budget: the last read arrives within 3 s of the first failure (plus scheduling slack).
            Assert.True(reads[^1].Time - reads[0].Time <= TimeSpan.FromSeconds(3.5), $"{reads[^1].Time - reads[0].Time}");
            Assert.Contains("the budget is 51 attempts in 3 s", e.Message);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task A_copy_to_a_destination_that_has_the_image_already_asks_one_HEAD_and_pushes_nothing()
        {
            var repo = FaultNames.Repo("present");
            _bed.Push(_bed.Layers, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Basic);
            var source = new RegistryClient(RegistryEndpoint.Parse(_bed.Anonymous.HostPort), new RegistryClientOptions { CredentialStore = null });
            var copier = new ImageCopier(r => r.Registry == s.Proxy.HostPort ? s.Client : source);
            var from = ImageReference.Create(_bed.Anonymous.HostPort, repo, "v1");
            var to = s.Ref(repo, "copied");
            await copier.CopyAsync(from, to, new ImageCopyOptions { CheckDestination = false });
            int before = s.Proxy.Log.Length;

            var again = await copier.CopyAsync(from, to, new ImageCopyOptions { CheckDestination = false });

            Assert.True(again.Plan.UpToDate);
            Assert.Equal(_bed.Layers.Digest, again.Descriptor.Digest.ToString());
            Assert.Equal(0, again.TransferredCount + again.MountedCount);
            var asked = s.Proxy.Log.Skip(before).Where(e => e.Path != "/v2/" && !e.Path.StartsWith("/token", StringComparison.Ordinal)).ToList();
            Assert.Equal(new[] { "HEAD" }, asked.Select(e => e.Method).ToArray()); // the manifest's HEAD, nothing else
            Assert.Contains("/manifests/copied", asked[0].Path);
            Assert.Equal(_bed.Layers.Digest, SkopeoView.Digest(_bed.Basic, repo, "copied"));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task A_chunked_upload_whose_first_PATCH_never_reaches_the_registry_resends_from_byte_0()
        {
            var repo = FaultNames.Repo("first-patch");
            using var s = new Scenario(_bed.Anonymous);
            // The registry holds 0 bytes and answers the status GET with Range 0-0, as for a session holding one byte.
            s.Proxy.AddRule(FaultRule.ResetRequest(10_000, "PATCH", "/blobs/uploads/", occurrence: 1));
            var data = Reg.RandomBytes(300 * 1024 + 17, seed: 71);
            var digest = Digest.Compute(data);

            var result = await s.Client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { Digest = digest, ChunkSize = 64 * 1024 });

            Assert.Equal(BlobUploadOutcome.Uploaded, result.Outcome);
            var log = s.Proxy.Log;
            var lost = log.Single(e => e.Fault != null && e.Fault.StartsWith("ResetRequest", StringComparison.Ordinal));
            var status = log.First(e => e.Index > lost.Index && e.Method == "GET" && e.Path.Contains("/blobs/uploads/"));
            Assert.Equal("0-0", status.ResponseRange);
            var next = log.First(e => e.Index > status.Index && e.Method == "PATCH");
            Assert.Equal("0-65535", next.ContentRange);
            var back = new MemoryStream();
            await s.Client.Blobs.DownloadAsync(repo, digest, back);
            Assert.Equal(data, back.ToArray());
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Writes_refused_with_429_or_503_or_reset_before_an_answer_are_sent_again()
        {
            var repo = FaultNames.Repo("writes");
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.Status(503, "POST", "/blobs/uploads/", occurrence: 1));
            s.Proxy.AddRule(FaultRule.ResetRequest(0, "POST", "/blobs/uploads/", occurrence: 2));
            s.Proxy.AddRule(FaultRule.TooManyRequests(0, "PUT", "/blobs/uploads/", occurrence: 1));
            s.Proxy.AddRule(FaultRule.Status(503, "PUT", "/manifests/", occurrence: 1));
            var image = _bed.Small;

            await PushImageAsync(s, image, repo);

            Assert.Equal(image.Digest, SkopeoView.PullVerified(_bed.Anonymous, repo));
            Assert.Contains(s.Proxy.Log, e => e.Method == "POST" && e.Status == 503);
            Assert.Contains(s.Proxy.Log, e => e.Method == "POST" && e.Fault == "ResetRequest(0)");
            Assert.Contains(s.Proxy.Log, e => e.Method == "PUT" && e.Status == 429);
            Assert.Contains(s.Proxy.Log, e => e.Method == "PUT" && e.Path.Contains("/manifests/") && e.Status == 503);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task A_commit_whose_answer_is_lost_is_checked_with_a_HEAD_and_not_sent_again()
        {
            var repo = FaultNames.Repo("commit-lost");
            using var s = new Scenario(_bed.Anonymous);
            // The registry stores the blob; the answer never arrives.
            s.Proxy.AddRule(FaultRule.DropResponse("PUT", "/blobs/uploads/", occurrence: 1));
            var data = Reg.RandomBytes(200 * 1024, seed: 72);
            var digest = Digest.Compute(data);

            var result = await s.Client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { Digest = digest, Monolithic = true });

            Assert.Equal(BlobUploadOutcome.Uploaded, result.Outcome);
            Assert.Single(s.Requests("PUT", "/blobs/uploads/"));
            Assert.Contains("was lost, but", s.AllLines);
            Assert.NotNull(await s.Client.Blobs.TryGetDescriptorAsync(repo, digest));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task A_missing_blob_costs_two_round_trips_HEAD_and_POST_together_then_the_PUT()
        {
            var repo = FaultNames.Repo("round-trips");
            using var s = new Scenario(_bed.Anonymous);
            // 300 ms per request: a HEAD, then a POST after it, would take 600 ms before the PUT could start.
            s.Proxy.AddRule(FaultRule.Stall(TimeSpan.FromMilliseconds(300), -1, "HEAD", BlobGet, times: 0));
            s.Proxy.AddRule(FaultRule.Stall(TimeSpan.FromMilliseconds(300), -1, "POST", "/blobs/uploads/", times: 0));
            var data = Reg.RandomBytes(64 * 1024, seed: 73);
            var digest = Digest.Compute(data);

            await s.Client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { Digest = digest, Monolithic = true });

            var head = s.Requests("HEAD", BlobGet).Single();
            var post = s.Requests("POST", "/blobs/uploads/").Single();
            // Both were sent before either was answered: the POST did not wait for the HEAD's answer.
            Assert.True(post.Time < head.Time + TimeSpan.FromMilliseconds(300), $"HEAD {head.Time:HH:mm:ss.fff}, POST {post.Time:HH:mm:ss.fff}");
            Assert.Single(s.Requests("PUT", "/blobs/uploads/"));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task A_failure_that_repeats_on_every_try_is_not_retried()
        {
            // A server whose every answer carries a header over .NET's 64 KB limit: the same failure every time.
            using var server = new OversizedHeaderServer();
            var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var client = new RegistryClient(RegistryEndpoint.Parse($"http://127.0.0.1:{server.Port}"), new RegistryClientOptions
            {
                CredentialStore = null,
                Log = lines.Enqueue,
                Retry = new RetryPolicy { MaxAttempts = 5, BaseDelay = TimeSpan.FromMilliseconds(10) },
            });

            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Manifests.GetContentAsync("app", "v1"));

            Assert.Equal(RegistryErrorKind.Protocol, e.Kind);
            Assert.Contains("not retried", e.Message);
            Assert.Equal(1, server.Requests);
        }

        [Fact]
        public async Task Save_by_digest_alone_reads_no_more_than_the_size_the_HEAD_gives()
        {
            // A hostile registry: HEAD says 1,000 bytes, the GET sends an endless body (no Content-Length).
            var blob = Reg.RandomBytes(1000, seed: 74);
            var digest = Digest.Compute(blob);
            using var server = new LyingBlobServer(blob.Length, long.MaxValue);
            var client = new RegistryClient(RegistryEndpoint.Parse($"http://127.0.0.1:{server.Port}"), new RegistryClientOptions
            {
                CredentialStore = null,
                Retry = new RetryPolicy { MaxAttempts = 1 },
            });
            var dir = FaultNames.TempDir();
            var path = Path.Combine(dir, "blob");
            try
            {
                // Without the limit the download would read until the disk is full: the token only keeps the test from hanging.
                using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                var e = await Assert.ThrowsAnyAsync<RegistryException>(() => client.Blobs.DownloadToFileAsync("app", digest, path, cancellationToken: guard.Token));
                Assert.Equal(RegistryErrorKind.DigestMismatch, e.Kind);
                Assert.Contains("longer than the 1000 bytes", e.Message);
                Assert.Empty(Directory.GetFiles(dir));
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        [Fact]
        public async Task A_registry_that_holds_part_of_a_chunk_gets_the_rest_of_it_from_there()
        {
            // distribution 2.8 invalidates the session then; a registry whose Location stays valid (this small one) must
            // be sent the rest of the chunk from the byte it holds, not the whole chunk again.
            using var server = new PartialChunkRegistry(holdOfFirstPatch: 10_000);
            var client = new RegistryClient(RegistryEndpoint.Parse($"http://127.0.0.1:{server.Port}"), new RegistryClientOptions
            {
                CredentialStore = null,
                Retry = new RetryPolicy { MaxAttempts = 4, BaseDelay = TimeSpan.FromMilliseconds(10) },
            });
            var data = Reg.RandomBytes(150_000, seed: 75);
            var digest = Digest.Compute(data);

            var result = await client.Blobs.UploadAsync("app", new MemoryStream(data), new BlobUploadOptions { Digest = digest, ChunkSize = 64 * 1024 });

            Assert.Equal(BlobUploadOutcome.Uploaded, result.Outcome);
            Assert.Equal(data, server.Committed);
            Assert.Equal(new[] { "0-65535", "10000-65535", "65536-131071", "131072-149999" }, server.ContentRanges.ToArray());
        }

        private static async Task PushImageAsync(Scenario s, FixtureImage image, string repo)
        {
            var manifestBytes = image.ReadBlob(image.Digest);
            var parsed = MobyDistribution.Manifests.Manifest.Parse(manifestBytes, MediaTypes.OciManifest) as MobyDistribution.Manifests.ImageManifest;
            foreach (var blob in new[] { parsed!.Config }.Concat(parsed.Layers))
            {
                using var content = new MemoryStream(image.ReadBlob(blob.Digest.ToString()));
                await s.Client.Blobs.UploadAsync(repo, content, new BlobUploadOptions { Digest = blob.Digest, Monolithic = true });
            }
            await s.Client.Manifests.PutAsync(repo, "v1", manifestBytes, MediaTypes.OciManifest);
        }

        /// <summary>
        /// A minimal upload endpoint whose session Location stays valid: it keeps the first bytes of the first PATCH, resets
        /// the connection before any answer, answers the status with what it holds, and commits only bytes that hash to
        /// the digest.
        /// </summary>
        private sealed class PartialChunkRegistry : RawServer
        {
            private const string Session = "/v2/app/blobs/uploads/session-1";
            private readonly MemoryStream _held = new MemoryStream();
            private readonly int _hold;
            private int _patches;

            public PartialChunkRegistry(int holdOfFirstPatch) => _hold = holdOfFirstPatch;

            public System.Collections.Concurrent.ConcurrentQueue<string> ContentRanges { get; } = new();
            public byte[]? Committed { get; private set; }

            private string Held => _held.Length == 0 ? "0-0" : $"0-{_held.Length - 1}";

            protected override async Task AnswerAsync(NetworkStream stream, string head)
            {
                var requestLine = head.Substring(0, head.IndexOf("\r\n", StringComparison.Ordinal)).Split(' ');
                string method = requestLine[0], target = requestLine[1];
                string path = target.Split('?')[0];
                string? Header(string name) => head.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals(name, StringComparison.OrdinalIgnoreCase)).Select(p => p[1].Trim()).FirstOrDefault();
                long length = long.TryParse(Header("Content-Length"), out var l) ? l : 0;

                Task Answer(int status, string headers = "") =>
                    stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n")).AsTask();

                if (method == "POST" && path == "/v2/app/blobs/uploads/") { await ReadAsync(stream, length); await Answer(202, $"Location: {Session}\r\nRange: 0-0\r\n"); return; }
                if (method == "GET" && path == Session) { await Answer(204, $"Location: {Session}\r\nRange: {Held}\r\n"); return; }
                if (method == "PATCH" && path == Session)
                {
                    ContentRanges.Enqueue(Header("Content-Range") ?? "");
                    if (Interlocked.Increment(ref _patches) == 1)
                    {
                        // Keep part of the first chunk, then reset the connection: the client never gets an answer.
                        _held.Write(await ReadAsync(stream, _hold));
                        throw new ResetConnection();
                    }
                    var body = await ReadAsync(stream, length);
                    if (Header("Content-Range")?.StartsWith(_held.Length + "-", StringComparison.Ordinal) != true) { await Answer(416); return; }
                    _held.Write(body);
                    await Answer(202, $"Location: {Session}\r\nRange: {Held}\r\n");
                    return;
                }
                if (method == "PUT" && path == Session)
                {
                    await ReadAsync(stream, length);
                    var bytes = _held.ToArray();
                    bool ok = target.Contains("digest=" + Uri.EscapeDataString(Digest.Compute(bytes).ToString()), StringComparison.Ordinal)
                        || target.Contains("digest=" + Digest.Compute(bytes), StringComparison.Ordinal);
                    if (ok) Committed = bytes;
                    await Answer(ok ? 201 : 400);
                    return;
                }
                await Answer(method == "HEAD" ? 404 : 200);
            }

            private static async Task<byte[]> ReadAsync(NetworkStream stream, long count)
            {
                var buffer = new byte[count];
                int read = 0;
                while (read < count)
                {
                    int n = await stream.ReadAsync(buffer.AsMemory(read, (int)count - read));
                    if (n == 0) break;
                    read += n;
                }
                return read == count ? buffer : buffer.AsSpan(0, read).ToArray();
            }
        }

        /// <summary>Answers every request with a 70 KB header, counting requests.</summary>
        private sealed class OversizedHeaderServer : RawServer
        {
            protected override async Task AnswerAsync(NetworkStream stream, string requestHead)
            {
                var head = "HTTP/1.1 200 OK\r\nX-Big: " + new string('a', 70 * 1024) + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            }
        }

        /// <summary>HEAD gives one size; GET sends far more, counting what it sent.</summary>
        private sealed class LyingBlobServer : RawServer
        {
            private readonly long _headSize;
            private readonly long _getSize;

            public LyingBlobServer(long headSize, long getSize)
            {
                _headSize = headSize;
                _getSize = getSize;
            }

            protected override async Task AnswerAsync(NetworkStream stream, string requestHead)
            {
                if (requestHead.StartsWith("HEAD", StringComparison.Ordinal))
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {_headSize}\r\nConnection: close\r\n\r\n"));
                    return;
                }
                if (!requestHead.StartsWith("GET", StringComparison.Ordinal) || !requestHead.Contains("/blobs/"))
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
                    return;
                }
                // No Content-Length: the body ends when the connection closes.
                await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
                var chunk = new byte[64 * 1024];
                try
                {
                    for (long sent = 0; sent < _getSize; sent += chunk.Length)
                    {
                        await stream.WriteAsync(chunk);
                    }
                }
                catch (IOException) { } // the client stopped reading
            }
        }

        /// <summary>Thrown by an answer to reset its connection (TCP RST) instead of answering.</summary>
        private sealed class ResetConnection : Exception { }

        /// <summary>A loopback socket server for answers no HTTP server library would give; one request per connection.</summary>
        private abstract class RawServer : IDisposable
        {
            private readonly TcpListener _listener = new TcpListener(IPAddress.Loopback, 0);
            private readonly CancellationTokenSource _stop = new CancellationTokenSource();
            private int _requests;

            protected RawServer()
            {
                _listener.Start();
                Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
                _ = Task.Run(AcceptAsync);
            }

            public int Port { get; }
            public int Requests => _requests;

            protected abstract Task AnswerAsync(NetworkStream stream, string requestHead);

            private async Task AcceptAsync()
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient client;
                    try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                    catch (Exception) { return; }
                    _ = Task.Run(async () =>
                    {
                        using (client)
                        {
                            try
                            {
                                var stream = client.GetStream();
                                var head = await ReadHeadAsync(stream);
                                if (head.StartsWith("GET /v2/ ", StringComparison.Ordinal))
                                {
                                    await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
                                    return;
                                }
                                Interlocked.Increment(ref _requests);
                                await AnswerAsync(stream, head);
                            }
                            catch (ResetConnection)
                            {
                                client.Client.LingerState = new LingerOption(true, 0); // close with RST, not FIN
                            }
                            catch (IOException) { }
                        }
                    });
                }
            }

            private static async Task<string> ReadHeadAsync(NetworkStream stream)
            {
                var text = new StringBuilder();
                var one = new byte[1];
                while (!text.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && text.Length < 65536)
                {
                    if (await stream.ReadAsync(one) == 0) break;
                    text.Append((char)one[0]);
                }
                return text.ToString();
            }

            public void Dispose()
            {
                _stop.Cancel();
                _listener.Stop();
            }
        }
    }
}
