using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
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
    /// Faults injected by <see cref="FaultProxy"/> between Core and a real docker-registry: each test checks that the
    /// operation survived (or failed with the right kind) and that the result is what skopeo sees in the registry.
    /// </summary>
    public sealed class FaultTests : IClassFixture<FaultBed>
    {
        private const string BlobGet = "/blobs/sha256:";
        private readonly FaultBed _bed;

        public FaultTests(FaultBed bed) => _bed = bed;

        private static string Sha256File(string path) => Reg.Sha256File(path);

        // ---- retries of whole requests ----------------------------------------------------------------------------

        [Fact]
        public async Task Fault_manifest_GET_503_twice_then_OK_is_retried()
        {
            var repo = FaultNames.Repo("m503");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.Status(503, "GET", "/manifests/", occurrence: 1, times: 2));

            var content = await s.Client.Manifests.GetContentAsync(repo, "v1");

            Assert.Equal(SkopeoView.Digest(_bed.Anonymous, repo), content.Digest.ToString());
            Assert.Equal(_bed.Small.Digest, Reg.Sha256(content.Bytes));
            Assert.Equal(new[] { 503, 503, 200 }, s.Requests("GET", "/manifests/").Select(e => e.Status));
            Assert.Contains("answered 503; waiting", s.AllLines);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_manifest_body_cut_short_is_fetched_again()
        {
            var repo = FaultNames.Repo("mtrunc");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.Truncate(100, "GET", "/manifests/"));
            s.Proxy.AddRule(FaultRule.ResetAfter(200, "GET", "/manifests/", occurrence: 2));

            var content = await s.Client.Manifests.GetContentAsync(repo, "v1");

            Assert.Equal(SkopeoView.Digest(_bed.Anonymous, repo), content.Digest.ToString());
            Assert.Equal(_bed.Small.Digest, Reg.Sha256(content.Bytes));
            var gets = s.Requests("GET", "/manifests/");
            Assert.Equal(3, gets.Length);
            Assert.Equal(new long[] { 100, 200 }, gets.Take(2).Select(g => g.ResponseBytes));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_manifest_with_flipped_bytes_fails_with_DigestMismatch()
        {
            var repo = FaultNames.Repo("mflip");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.FlipBytes(40, "GET", "/manifests/").Always());

            var byTag = await s.Fails<DigestMismatchException>(() => s.Client.Manifests.GetContentAsync(repo, "v1"));
            var byDigest = await s.Fails<DigestMismatchException>(() => s.Client.Manifests.GetContentAsync(repo, _bed.Small.Digest));

            Assert.Equal(_bed.Small.Digest, byTag.Expected!.ToString());     // the registry's Docker-Content-Digest
            Assert.Equal(_bed.Small.Digest, byDigest.Expected!.ToString());  // the digest asked for
            Assert.Equal(SkopeoView.Digest(_bed.Anonymous, repo), _bed.Small.Digest);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_429_with_Retry_After_waits_at_least_that_long_and_says_so()
        {
            var repo = FaultNames.Repo("m429");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.TooManyRequests(1, "GET", "/manifests/"));
            var verbose = new List<string>();

            var clock = Stopwatch.StartNew();
            ManifestContent content;
            using (RegistryLog.BeginScope(line => { lock (verbose) verbose.Add(line); }))
                content = await s.Client.Manifests.GetContentAsync(repo, "v1");
            clock.Stop();

            Assert.Equal(SkopeoView.Digest(_bed.Anonymous, repo), content.Digest.ToString());
            var gets = s.Requests("GET", "/manifests/");
            Assert.Equal(new[] { 429, 200 }, gets.Select(e => e.Status));
            Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
            Assert.True(gets[1].Time - gets[0].Time >= TimeSpan.FromMilliseconds(990), $"retried after {(gets[1].Time - gets[0].Time).TotalMilliseconds} ms");
            Assert.Contains(verbose, l => l.Contains("rate limited (TOOMANYREQUESTS); waiting 1 s as Retry-After asks"));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_retry_budget_exhausted_names_the_attempts_and_the_statuses()
        {
            var repo = FaultNames.Repo("budget");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous, configure: o => o.Retry.MaxAttempts = 3);
            s.Proxy.AddRule(FaultRule.Status(502, "GET", "/manifests/", occurrence: 1, times: 1));
            s.Proxy.AddRule(FaultRule.Status(503, "GET", "/manifests/", occurrence: 2, times: 0));

            var e = await s.Fails<RegistryException>(() => s.Client.Manifests.GetContentAsync(repo, "v1"));

            Assert.Equal(RegistryErrorKind.ServerError, e.Kind);
            Assert.Equal(503, e.StatusCode);
            Assert.Contains("gave up after 3 attempts", e.Message);
            Assert.Contains("answers: 502, 503, 503", e.Message);
            Assert.Equal(3, s.Requests("GET", "/manifests/").Length);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_429_whose_Retry_After_exceeds_the_time_budget_fails_at_once_as_TooManyRequests()
        {
            var repo = FaultNames.Repo("budget429");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous, configure: o => o.Retry.MaxElapsed = TimeSpan.FromSeconds(2));
            s.Proxy.AddRule(FaultRule.TooManyRequests(30, "GET", "/manifests/").Always());

            var clock = Stopwatch.StartNew();
            var e = await s.Fails<RegistryException>(() => s.Client.Manifests.GetContentAsync(repo, "v1"));

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
            Assert.Equal(RegistryErrorKind.TooManyRequests, e.Kind);
            Assert.Contains("gave up after 1 attempt", e.Message);
            Assert.Contains("answers: 429", e.Message);
            Assert.Contains("would exceed the budget", e.Message);
            Assert.Single(s.Requests("GET", "/manifests/"));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_RetryScope_overrides_the_client_budget_for_one_operation_only()
        {
            var repo = FaultNames.Repo("scope");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous, configure: o => o.Retry.MaxAttempts = 5);
            s.Proxy.AddRule(FaultRule.Status(503, "GET", "/manifests/", occurrence: 1, times: 3));

            RegistryException e;
            using (RetryScope.Begin(maxAttempts: 2))
                e = await s.Fails<RegistryException>(() => s.Client.Manifests.GetContentAsync(repo, "v1"));
            Assert.Contains("gave up after 2 attempts", e.Message);
            Assert.Equal(2, s.Requests("GET", "/manifests/").Length);

            // Outside the scope the client's own budget (5 attempts) applies again: the third 503 is retried and the fourth GET succeeds.
            var content = await s.Client.Manifests.GetContentAsync(repo, "v1");
            Assert.Equal(SkopeoView.Digest(_bed.Anonymous, repo), content.Digest.ToString());
            Assert.Equal(new[] { 503, 503, 503, 200 }, s.Requests("GET", "/manifests/").Select(x => x.Status));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_stall_before_the_headers_beyond_ResponseTimeout_is_retried()
        {
            var repo = FaultNames.Repo("hdrstall");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous, configure: o => o.ResponseTimeout = TimeSpan.FromSeconds(1));
            s.Proxy.AddRule(FaultRule.Stall(TimeSpan.FromSeconds(6), -1, "GET", "/manifests/"));

            var clock = Stopwatch.StartNew();
            var content = await s.Client.Manifests.GetContentAsync(repo, "v1");

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
            Assert.Equal(SkopeoView.Digest(_bed.Anonymous, repo), content.Digest.ToString());
            Assert.Equal(2, s.Requests("GET", "/manifests/").Length);
            Assert.Contains("No response within 1 s", s.AllLines);
            s.AssertNoLeaks();
        }

        // ---- downloads -------------------------------------------------------------------------------------------

        private (string Repo, string Layer, long Size) PushLarge(string prefix)
        {
            var repo = FaultNames.Repo(prefix);
            _bed.Push(_bed.Large, _bed.Anonymous, repo);
            var layer = SkopeoView.Layers(_bed.Anonymous, repo).Single();
            Assert.Equal(_bed.Large.Layers[0].Digest, layer);
            return (repo, layer, _bed.Large.Layers[0].Size);
        }

        [Fact]
        public async Task Fault_download_reset_after_100KB_resumes_with_Range_and_the_digest_is_right()
        {
            var (repo, layer, size) = PushLarge("reset");
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.ResetAfter(100_000, "GET", BlobGet));
            var dir = FaultNames.TempDir();
            var path = Path.Combine(dir, "layer.tgz");

            await s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), path, size);

            Assert.Equal(layer, Sha256File(path));
            var gets = s.Requests("GET", BlobGet);
            Assert.Equal(2, gets.Length);
            Assert.Equal(200, gets[0].Status);
            Assert.Equal(100_000, gets[0].ResponseBytes);
            Assert.NotNull(gets[1].Range);
            var resumedAt = long.Parse(gets[1].Range!.Substring("bytes=".Length).TrimEnd('-'));
            Assert.InRange(resumedAt, 1, 100_000);
            Assert.Equal(206, gets[1].Status);
            Assert.Equal(size - resumedAt, gets[1].ResponseBytes);
            Assert.Single(Directory.GetFileSystemEntries(dir));
            s.AssertNoLeaks();
            Directory.Delete(dir, true);
        }

        [Fact]
        public async Task Fault_server_ignoring_Range_answers_200_and_the_download_restarts_cleanly()
        {
            var (repo, layer, size) = PushLarge("norange");
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.ResetAfter(100_000, "GET", BlobGet, occurrence: 1));
            s.Proxy.AddRule(FaultRule.StripRange("GET", BlobGet, occurrence: 2));
            var dir = FaultNames.TempDir();
            var path = Path.Combine(dir, "layer.tgz");

            await s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), path, size);

            Assert.Equal(layer, Sha256File(path));
            Assert.Equal(size, new FileInfo(path).Length);
            var gets = s.Requests("GET", BlobGet);
            Assert.Equal(2, gets.Length);
            Assert.NotNull(gets[1].Range);            // the client asked to resume …
            Assert.Equal(200, gets[1].Status);        // … the server sent everything again
            Assert.Equal(size, gets[1].ResponseBytes);
            Assert.Contains("ignored Range", s.AllLines);
            s.AssertNoLeaks();
            Directory.Delete(dir, true);
        }

        [Fact]
        public async Task Fault_truncated_body_is_resumed_and_the_file_is_right()
        {
            var (repo, layer, size) = PushLarge("trunc");
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.Truncate(300_000, "GET", BlobGet));
            var dir = FaultNames.TempDir();
            var path = Path.Combine(dir, "layer.tgz");

            await s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), path, size);

            Assert.Equal(layer, Sha256File(path));
            var gets = s.Requests("GET", BlobGet);
            Assert.Equal(2, gets.Length);
            Assert.Equal(300_000, gets[0].ResponseBytes);
            Assert.Equal("bytes=300000-", gets[1].Range);
            s.AssertNoLeaks();
            Directory.Delete(dir, true);
        }

        [Fact]
        public async Task Fault_body_truncated_on_every_attempt_fails_with_Connection_and_leaves_no_file()
        {
            var (repo, layer, size) = PushLarge("trunc-all");
            using var s = new Scenario(_bed.Anonymous, configure: o => o.Retry.MaxAttempts = 3);
            s.Proxy.AddRule(FaultRule.Truncate(200_000, "GET", BlobGet).Always());
            var dir = FaultNames.TempDir();
            var path = Path.Combine(dir, "layer.tgz");

            var e = await s.Fails<RegistryException>(() => s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), path, size));

            Assert.Equal(RegistryErrorKind.Connection, e.Kind);
            Assert.Contains("gave up after 3 attempts", e.Message);
            Assert.Empty(Directory.GetFileSystemEntries(dir)); // neither the file nor its temporary
            s.AssertNoLeaks();
            Directory.Delete(dir, true);
        }

        [Fact]
        public async Task Fault_flipped_bytes_fail_with_DigestMismatch_and_leave_no_file_and_an_existing_file_untouched()
        {
            var (repo, layer, size) = PushLarge("flip");
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.FlipBytes(500_000, "GET", BlobGet).Always());
            var dir = FaultNames.TempDir();
            var path = Path.Combine(dir, "layer.tgz");

            var e = await s.Fails<DigestMismatchException>(() => s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), path, size));
            Assert.Equal(RegistryErrorKind.DigestMismatch, e.Kind);
            Assert.Equal(layer, e.Expected!.ToString());
            Assert.NotNull(e.Actual);
            Assert.NotEqual(layer, e.Actual!.ToString());
            Assert.Empty(Directory.GetFileSystemEntries(dir));

            File.WriteAllText(path, "the old content");
            await s.Fails<DigestMismatchException>(() => s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), path, size, overwrite: true));
            Assert.Equal("the old content", File.ReadAllText(path));
            Assert.Single(Directory.GetFileSystemEntries(dir));
            s.AssertNoLeaks();
            Directory.Delete(dir, true);
        }

        [Fact]
        public async Task Fault_stall_beyond_ReadStallTimeout_is_treated_as_a_drop_and_resumed()
        {
            var (repo, layer, size) = PushLarge("stall");
            using var s = new Scenario(_bed.Anonymous, configure: o => o.ReadStallTimeout = TimeSpan.FromSeconds(1));
            s.Proxy.AddRule(FaultRule.Stall(TimeSpan.FromSeconds(8), 200_000, "GET", BlobGet));
            var dir = FaultNames.TempDir();
            var path = Path.Combine(dir, "layer.tgz");

            var clock = Stopwatch.StartNew();
            await s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), path, size);

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"took {clock.Elapsed}");
            Assert.Equal(layer, Sha256File(path));
            var gets = s.Requests("GET", BlobGet);
            Assert.Equal(2, gets.Length);
            Assert.StartsWith("bytes=", gets[1].Range);
            Assert.Contains("No data for 1 s", s.AllLines);
            s.AssertNoLeaks();
            Directory.Delete(dir, true);
        }

        // ---- uploads ---------------------------------------------------------------------------------------------

        /// <summary>Uploads a fixture's layer (first) and config with Core through the proxy, then pushes its manifest.</summary>
        private static async Task UploadImageAsync(Scenario s, FixtureImage image, string repo, bool monolithic, int chunkSize = 64 * 1024)
        {
            var m = image.Manifests[0];
            foreach (var digest in m.Layers.Select(l => l.Digest).Append(m.ConfigDigest))
            {
                await using var file = File.OpenRead(image.BlobPath(digest));
                var result = await s.Client.Blobs.UploadAsync(repo, file,
                    new BlobUploadOptions { Digest = Digest.Parse(digest), Monolithic = monolithic, ChunkSize = chunkSize });
                Assert.Equal(BlobUploadOutcome.Uploaded, result.Outcome);
            }
            await s.Client.Manifests.PutAsync(repo, "v1", image.ReadBlob(m.Digest), m.MediaType);
        }

        [Fact]
        public async Task Fault_chunked_upload_with_a_PATCH_reset_midway_resumes_from_the_registry_Range()
        {
            var repo = FaultNames.Repo("patch-reset");
            using var s = new Scenario(_bed.Anonymous);
            // The third 64 KiB chunk of the layer: 20 KB of it are read, then the connection is reset (the registry gets none of it).
            s.Proxy.AddRule(FaultRule.ResetRequest(20_000, "PATCH", "/blobs/uploads/", occurrence: 3));

            await UploadImageAsync(s, _bed.Medium, repo, monolithic: false);

            Assert.Equal(_bed.Medium.Digest, SkopeoView.PullVerified(_bed.Anonymous, repo));
            var log = s.Proxy.Log;
            var failed = log.Single(e => e.Fault != null && e.Fault.StartsWith("ResetRequest"));
            Assert.Equal(0, failed.Status);
            Assert.Equal("131072-196607", failed.ContentRange);
            var status = log.First(e => e.Index > failed.Index && e.Method == "GET" && e.Path.Contains("/blobs/uploads/"));
            Assert.Equal(204, status.Status);
            Assert.Equal("0-131071", status.ResponseRange);
            var next = log.First(e => e.Index > status.Index && e.Method == "PATCH");
            Assert.Equal("131072-196607", next.ContentRange);
            Assert.Equal(2, s.Requests("POST", "/blobs/uploads/").Length); // one session for the layer, one for the config
            Assert.Contains("asking the registry where it is", s.AllLines);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_chunked_upload_whose_PATCH_answer_is_lost_restarts_the_blob_in_a_new_session()
        {
            var repo = FaultNames.Repo("patch-lost");
            using var s = new Scenario(_bed.Anonymous);
            // The registry takes the third chunk, the answer (with the new Location) never arrives: the old Location is stale.
            s.Proxy.AddRule(FaultRule.DropResponse("PATCH", "/blobs/uploads/", occurrence: 3));

            await UploadImageAsync(s, _bed.Medium, repo, monolithic: false);

            Assert.Equal(_bed.Medium.Digest, SkopeoView.PullVerified(_bed.Anonymous, repo));
            var log = s.Proxy.Log;
            var dropped = log.Single(e => e.Fault == "DropResponse");
            var status = log.First(e => e.Index > dropped.Index && e.Method == "GET" && e.Path.Contains("/blobs/uploads/"));
            Assert.Equal(404, status.Status); // 2.8: BLOB_UPLOAD_INVALID for a Location whose offset is stale
            Assert.Equal(3, s.Requests("POST", "/blobs/uploads/").Length); // layer twice, config once
            Assert.Contains("starting it again in a new session", s.AllLines);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_monolithic_upload_reset_midway_restarts_in_a_new_session()
        {
            var repo = FaultNames.Repo("put-reset");
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.ResetRequest(100_000, "PUT", "/blobs/uploads/", occurrence: 1));

            await UploadImageAsync(s, _bed.Medium, repo, monolithic: true);

            Assert.Equal(_bed.Medium.Digest, SkopeoView.PullVerified(_bed.Anonymous, repo));
            var puts = s.Requests("PUT", "/blobs/uploads/");
            Assert.Equal(3, puts.Length); // layer: reset, then again; config
            Assert.Equal(0, puts[0].Status);
            Assert.Equal(201, puts[1].Status);
            s.AssertNoLeaks();
        }

        // ---- copies ------------------------------------------------------------------------------------------------

        private async Task<(Scenario S, string Repo, RegistryClient Destination, ImageCopier Copier)> CopySetupAsync(string prefix, Action<RegistryClientOptions>? configure = null)
        {
            var repo = FaultNames.Repo(prefix);
            _bed.Push(_bed.Large, _bed.Anonymous, repo);
            var s = new Scenario(_bed.Anonymous, configure: configure);
            var destination = new RegistryClient(RegistryEndpoint.Parse(_bed.Basic.HostPort), new RegistryClientOptions
            {
                CredentialStore = null,
                Credential = RegistryCredential.FromPassword(FaultBed.User, FaultBed.Password),
                Log = line => s.Lines.Enqueue(line),
            });
            var copier = new ImageCopier(r => r.Registry == s.Proxy.HostPort ? s.Client : destination);
            await Task.CompletedTask;
            return (s, repo, destination, copier);
        }

        [Fact]
        public async Task Fault_copy_with_a_dropped_source_stream_succeeds_on_retry_and_keeps_the_digest()
        {
            var (s, repo, _, copier) = await CopySetupAsync("copy-drop");
            using var _s = s;
            s.Proxy.AddRule(FaultRule.ResetAfter(200_000, "GET", BlobGet + _bed.Large.Layers[0].Digest.Substring(7)));
            var destination = ImageReference.Create(_bed.Basic.HostPort, repo, "copied");

            var result = await copier.CopyAsync(s.Ref(repo), destination);

            Assert.Equal(_bed.Large.Digest, result.Descriptor.Digest.ToString());
            Assert.Equal(_bed.Large.Digest, SkopeoView.PullVerified(_bed.Basic, repo, "copied"));
            Assert.Equal(2, s.Requests("GET", BlobGet + _bed.Large.Layers[0].Digest.Substring(7)).Length);
            Assert.Contains("starting it again", s.AllLines);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_copy_with_a_stalled_source_stream_is_treated_as_a_drop_and_retried()
        {
            var (s, repo, _, copier) = await CopySetupAsync("copy-stall", o => o.ReadStallTimeout = TimeSpan.FromSeconds(1));
            using var _s = s;
            s.Proxy.AddRule(FaultRule.Stall(TimeSpan.FromSeconds(8), 150_000, "GET", BlobGet + _bed.Large.Layers[0].Digest.Substring(7)));
            var destination = ImageReference.Create(_bed.Basic.HostPort, repo, "stalled");

            var clock = Stopwatch.StartNew();
            var result = await copier.CopyAsync(s.Ref(repo), destination);

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(7), $"took {clock.Elapsed}");
            Assert.Equal(_bed.Large.Digest, result.Descriptor.Digest.ToString());
            Assert.Equal(_bed.Large.Digest, SkopeoView.PullVerified(_bed.Basic, repo, "stalled"));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_copy_with_flipped_source_bytes_fails_with_DigestMismatch_and_commits_nothing()
        {
            var (s, repo, destinationClient, copier) = await CopySetupAsync("copy-flip");
            using var _s = s;
            var layer = _bed.Large.Layers[0].Digest;
            s.Proxy.AddRule(FaultRule.FlipBytes(600_000, "GET", BlobGet + layer.Substring(7)).Always());
            var dstRepo = repo + "-dst";
            var destination = ImageReference.Create(_bed.Basic.HostPort, dstRepo, "bad");

            var e = await s.Fails<RegistryException>(() => copier.CopyAsync(s.Ref(repo), destination));

            Assert.Equal(RegistryErrorKind.DigestMismatch, e.Kind);
            Assert.Null(await destinationClient.Blobs.TryGetDescriptorAsync(dstRepo, Digest.Parse(layer)));
            Assert.Null(await destinationClient.Manifests.TryGetDescriptorAsync(dstRepo, "bad"));
            s.AssertNoLeaks();
        }

        // ---- long transfers and short-lived tokens -----------------------------------------------------------------

        private static void AssertTokensStayedFresh(Scenario s, TokenRequestRecord[] tokens, DateTimeOffset from, DateTimeOffset to, TimeSpan lifetime)
        {
            var window = s.Proxy.Log.Where(e => e.Time >= from && e.Time <= to && e.Path != "/v2/").ToArray();
            Assert.NotEmpty(window);
            // Every request of the transfer carried a bearer token that had not expired (the registry would tolerate it for a minute).
            foreach (var e in window)
            {
                Assert.True(e.AuthorizationScheme == "Bearer", $"request #{e.Index} had no bearer token:\n{string.Join("\n", s.Proxy.Log.Select(x => x.ToString()))}");
                // Renewed ahead of time, not at the last moment: at least half a second of life left when sent.
                Assert.True(e.BearerExpires - e.Time >= TimeSpan.FromMilliseconds(500),
                    $"request #{e.Index} {e.Method} {e.Path} at {e.Time:HH:mm:ss.fff} sent a token that expires at {e.BearerExpires:HH:mm:ss}");
                Assert.NotEqual(401, e.Status);
            }
            // The issuer saw fresh tokens fetched during the transfer, each before the one before it expired.
            var during = tokens.Where(t => t.Time >= from && t.Time <= to && t.StatusCode == 200).ToArray();
            Assert.True(during.Length >= 1, $"no token was fetched during a transfer of {(to - from).TotalSeconds:0.0} s");
            var fetched = tokens.Where(t => t.Time <= to && t.StatusCode == 200).OrderBy(t => t.Time).ToArray();
            var chain = fetched.SkipWhile(t => t.Time < from - lifetime).ToArray();
            for (int i = 1; i < chain.Length; i++)
                Assert.True(chain[i].Time - chain[i - 1].Time < lifetime,
                    $"token {i} was fetched {(chain[i].Time - chain[i - 1].Time).TotalSeconds:0.00} s after the one before, which lived {lifetime.TotalSeconds} s");
            Assert.True(window.Select(e => e.BearerExpires).Distinct().Count() >= 2, "the transfer used a single token");
        }

        [Fact]
        public async Task Fault_bearer_token_expiring_during_a_long_throttled_upload_is_renewed_before_it_expires()
        {
            var repo = FaultNames.Repo("token-up");
            var lifetime = TimeSpan.FromSeconds(3);
            using var s = new Scenario(_bed.Token);
            s.Proxy.BandwidthLimit = 128 * 1024;
            _bed.Issuer.TokenLifetime = lifetime;
            try
            {
                await s.Client.VerifyAsync(); // learns the Bearer challenge (one 401) before the measured transfer
                _bed.Issuer.ClearRequests();
                var from = DateTimeOffset.UtcNow;
                await UploadImageAsync(s, _bed.Long, repo, monolithic: false); // 640 KB in 64 KiB chunks at 128 KiB/s: ~5 s
                var to = DateTimeOffset.UtcNow;

                Assert.True(to - from > lifetime + lifetime / 2, $"the upload took only {(to - from).TotalSeconds:0.0} s");
                Assert.True(s.Requests("PATCH", "/blobs/uploads/").Length >= 10);
                AssertTokensStayedFresh(s, _bed.Issuer.Requests, from, to, lifetime);
            }
            finally
            {
                _bed.Issuer.TokenLifetime = TimeSpan.FromSeconds(300);
            }
            Assert.Equal(_bed.Long.Digest, SkopeoView.PullVerified(_bed.Token, repo));
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_bearer_token_from_an_access_token_exchange_is_renewed_during_a_long_throttled_upload()
        {
            // ACR's path: the Entra ID token is exchanged once, then the refresh grant renews the short-lived access tokens.
            var repo = FaultNames.Repo("acr-up");
            var lifetime = TimeSpan.FromSeconds(3);
            var entra = "entra-" + Guid.NewGuid().ToString("N");
            _bed.Issuer.AddAccessToken(entra, FaultBed.User);
            using var s = new Scenario(_bed.Token, configure: o => o.Credential = RegistryCredential.FromAccessToken(entra));
            s.AddSecret(entra);
            s.Proxy.BandwidthLimit = 128 * 1024;
            _bed.Issuer.TokenLifetime = lifetime;
            try
            {
                await s.Client.VerifyAsync(); // the challenge and the exchange, before the measured transfer
                _bed.Issuer.ClearRequests();
                var from = DateTimeOffset.UtcNow;
                await UploadImageAsync(s, _bed.Long, repo, monolithic: false);
                var to = DateTimeOffset.UtcNow;

                Assert.True(to - from > lifetime + lifetime / 2, $"the upload took only {(to - from).TotalSeconds:0.0} s");
                var tokens = _bed.Issuer.Requests;
                Assert.DoesNotContain(tokens, t => t.Path == "/oauth2/exchange"); // the session's refresh token did the renewing
                Assert.All(tokens, t => Assert.Equal(("POST", "refresh_token"), (t.Method, t.GrantType)));
                AssertTokensStayedFresh(s, tokens, from, to, lifetime);
            }
            finally
            {
                _bed.Issuer.TokenLifetime = TimeSpan.FromSeconds(300);
            }
            Assert.Equal(_bed.Long.Digest, SkopeoView.PullVerified(_bed.Token, repo));
            foreach (var refresh in _bed.Issuer.RefreshTokensIssued) s.AddSecret(refresh);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Fault_bearer_token_expiring_during_a_long_throttled_download_is_renewed_and_a_resume_carries_a_fresh_one()
        {
            var repo = FaultNames.Repo("token-down");
            _bed.Push(_bed.Layers, _bed.Token, repo);
            var lifetime = TimeSpan.FromSeconds(3);
            using var s = new Scenario(_bed.Token);
            s.Proxy.BandwidthLimit = 96 * 1024;
            var layers = SkopeoView.Layers(_bed.Token, repo);
            var dir = FaultNames.TempDir();
            _bed.Issuer.TokenLifetime = lifetime;
            try
            {
                await s.Client.Manifests.GetContentAsync(repo, "v1");
                _bed.Issuer.ClearRequests();
                var last = layers[^1].Substring(7);
                // The last layer is dropped after 50 KB: the resume is a new request, and must carry a token that is still valid.
                s.Proxy.AddRule(FaultRule.ResetAfter(50_000, "GET", BlobGet + last));
                var from = DateTimeOffset.UtcNow;
                foreach (var layer in layers)
                    await s.Client.Blobs.DownloadToFileAsync(repo, Digest.Parse(layer), Path.Combine(dir, layer.Substring(7)));
                var to = DateTimeOffset.UtcNow;

                Assert.True(to - from > lifetime + lifetime / 2, $"the download took only {(to - from).TotalSeconds:0.0} s");
                foreach (var layer in layers) Assert.Equal(layer, Sha256File(Path.Combine(dir, layer.Substring(7))));
                var lastGets = s.Requests("GET", BlobGet + last);
                Assert.Equal(2, lastGets.Length);
                Assert.StartsWith("bytes=", lastGets[1].Range);
                AssertTokensStayedFresh(s, _bed.Issuer.Requests, from, to, lifetime);
            }
            finally
            {
                _bed.Issuer.TokenLifetime = TimeSpan.FromSeconds(300);
                Directory.Delete(dir, true);
            }
            s.AssertNoLeaks();
        }
    }
}
