using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Blobs: HEAD, verified downloads, chunked and monolithic uploads, mounts, delete.</summary>
    [Collection("registries")]
    public sealed class BlobTests : IDisposable
    {
        private readonly TestBedFixture _bed;
        private readonly string _dir;

        public BlobTests(TestBedFixture bed)
        {
            _bed = bed;
            _dir = Path.Combine(Path.GetTempPath(), "moby-core-blobtests-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(_dir);
        }

        public void Dispose()
        {
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }

        private static readonly Digest Unknown = Digest.Parse("sha256:" + new string('0', 63) + "1");

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Head_Download_ToStreamAndFile_AndOpenRead(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var image = _bed.Image;
            const string repo = "core/blobs-pull";
            Reg.PushOnce(image, registry, repo, "v1");
            var client = Reg.Client(registry);

            foreach (var layer in image.Layers)
            {
                var digest = Digest.Parse(layer.Digest);
                var head = await client.Blobs.GetDescriptorAsync(repo, digest);
                Assert.Equal(layer.Size, head.Size);
                Assert.Equal(digest, head.Digest);
                Assert.True(await client.Blobs.ExistsAsync(repo, digest));

                var ms = new MemoryStream();
                var progress = new ConcurrentQueue<long>();
                var got = await client.Blobs.DownloadAsync(repo, digest, ms, layer.Size, new SyncProgress(progress));
                Assert.Equal(layer.Size, got.Size);
                Assert.Equal(image.ReadBlob(layer.Digest), ms.ToArray());
                Assert.Equal(layer.Size, progress.Last());

                string file = Path.Combine(_dir, mode + "-" + digest.Short + ".blob");
                var onDisk = await client.Blobs.DownloadToFileAsync(repo, digest, file, layer.Size);
                Assert.Equal(layer.Size, onDisk.Size);
                Assert.Equal(layer.Digest, Reg.Sha256File(file));
                // Downloading over an existing file needs overwrite.
                await Assert.ThrowsAsync<IOException>(() => client.Blobs.DownloadToFileAsync(repo, digest, file));
                await client.Blobs.DownloadToFileAsync(repo, digest, file, overwrite: true);
                Assert.Equal(layer.Digest, Reg.Sha256File(file));

                using (var stream = await client.Blobs.OpenReadAsync(repo, digest, layer.Size))
                {
                    var copy = new MemoryStream();
                    await stream.CopyToAsync(copy);
                    Assert.Equal(image.ReadBlob(layer.Digest), copy.ToArray());
                }
            }
            Assert.Equal(image.Layers.Length, Directory.GetFiles(_dir).Length); // no temp files left beside them
        }

        [Theory]
        [InlineData("anonymous")]
        [InlineData("token")]
        public async Task Download_WithWrongExpectedSize_ThrowsDigestMismatch_AndLeavesNoFile(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var image = _bed.Image;
            const string repo = "core/blobs-pull";
            Reg.PushOnce(image, registry, repo, "v1");
            var client = Reg.Client(registry);
            var layer = image.Layers[0];
            var digest = Digest.Parse(layer.Digest);

            string file = Path.Combine(_dir, "wrong-size.blob");
            foreach (var size in new[] { layer.Size - 1, layer.Size + 1 })
            {
                var e = await Assert.ThrowsAsync<DigestMismatchException>(() => client.Blobs.DownloadToFileAsync(repo, digest, file, size));
                Assert.Equal(RegistryErrorKind.DigestMismatch, e.Kind);
                Assert.False(File.Exists(file));
                Assert.Empty(Directory.GetFileSystemEntries(_dir));
            }

            await Assert.ThrowsAsync<DigestMismatchException>(() => client.Blobs.DownloadAsync(repo, digest, new MemoryStream(), layer.Size + 10));
            await Assert.ThrowsAsync<DigestMismatchException>(() => client.Blobs.OpenReadAsync(repo, digest, layer.Size - 10));

            // Without a size up front, the stream still reads to the end and verifies quietly.
            using (var ok = await client.Blobs.OpenReadAsync(repo, digest))
            {
                var sink = new MemoryStream();
                await ok.CopyToAsync(sink);
                Assert.Equal(layer.Size, sink.Length);
                Assert.Equal(0, await ok.ReadAsync(new byte[16], 0, 16)); // reading past the end stays quiet
            }
        }

        [Fact]
        public async Task VerifyingStream_OfOpenRead_FailsAtTheEnd_OnWrongDigestOrLength()
        {
            // What OpenReadAsync wraps the body in (a registry that serves other bytes needs the fault proxy).
            byte[] data = Reg.RandomBytes(5000, seed: 3);
            var wrong = Digest.Compute(Reg.RandomBytes(10, seed: 4));
            using (var s = new MobyDistribution.IO.VerifyingReadStream(new MemoryStream(data), null, wrong, null, "test"))
                await Assert.ThrowsAsync<DigestMismatchException>(() => s.CopyToAsync(new MemoryStream()));
            using (var s = new MobyDistribution.IO.VerifyingReadStream(new MemoryStream(data), null, Digest.Compute(data), data.Length - 1, "test"))
                await Assert.ThrowsAsync<DigestMismatchException>(() => s.CopyToAsync(new MemoryStream()));
            using (var s = new MobyDistribution.IO.VerifyingReadStream(new MemoryStream(data), null, Digest.Compute(data), data.Length + 1, "test"))
                await Assert.ThrowsAsync<DigestMismatchException>(() => s.CopyToAsync(new MemoryStream()));
            using (var s = new MobyDistribution.IO.VerifyingReadStream(new MemoryStream(data), null, Digest.Compute(data), data.Length, "test"))
            {
                var sink = new MemoryStream();
                await s.CopyToAsync(sink);
                Assert.Equal(data, sink.ToArray());
            }
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task ChunkedUpload_InSeveralChunks_ThenExisted(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var log = new ConcurrentQueue<string>();
            var client = Reg.Client(registry, log: log.Enqueue);
            string repo = Reg.Repo("chunked");
            byte[] data = Reg.RandomBytes(300 * 1024 + 123, seed: 11 + mode.Length);
            var digest = Digest.Compute(data);

            var result = await client.Blobs.UploadAsync(repo, new MemoryStream(data),
                new BlobUploadOptions { Digest = digest, ChunkSize = 64 * 1024, MediaType = MediaTypes.OciLayerTar });
            Assert.Equal(BlobUploadOutcome.Uploaded, result.Outcome);
            Assert.Equal(digest, result.Descriptor.Digest);
            Assert.Equal(data.Length, result.Descriptor.Size);
            Assert.Equal(MediaTypes.OciLayerTar, result.Descriptor.MediaType);
            int patches = log.Count(l => l.StartsWith("PATCH ", StringComparison.Ordinal) && l.Contains("-> 202"));
            Assert.Equal(5, patches); // 4 × 64 KiB + the rest
            Assert.DoesNotContain(log, l => l.Contains("_state=") && !l.Contains("_state=REDACTED"));

            var head = await client.Blobs.GetDescriptorAsync(repo, digest);
            Assert.Equal(data.Length, head.Size);
            var back = new MemoryStream();
            await client.Blobs.DownloadAsync(repo, digest, back);
            Assert.Equal(data, back.ToArray());

            // Again: the blob is there, nothing is sent (the session opened alongside the HEAD is given up, its bytes never sent).
            log.Clear();
            var again = await client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { Digest = digest, ChunkSize = 64 * 1024 });
            Assert.Equal(BlobUploadOutcome.Existed, again.Outcome);
            Assert.Equal(data.Length, again.Descriptor.Size);
            Assert.DoesNotContain(log, l => l.StartsWith("PATCH ", StringComparison.Ordinal) || l.StartsWith("PUT ", StringComparison.Ordinal));
        }

        [Theory]
        [InlineData("anonymous")]
        [InlineData("token")]
        public async Task ChunkedUpload_WithoutDigest_FromUnseekableStream(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            string repo = Reg.Repo("chunked-nodigest");
            byte[] data = Reg.RandomBytes(200 * 1024, seed: 5);
            var result = await client.Blobs.UploadAsync(repo, new ForwardOnlyStream(data), new BlobUploadOptions { ChunkSize = 64 * 1024 });
            Assert.Equal(BlobUploadOutcome.Uploaded, result.Outcome);
            Assert.Equal(Reg.Sha256(data), result.Descriptor.Digest.ToString());
            Assert.Equal(data.Length, result.Descriptor.Size);
            Assert.Equal(data.Length, (await client.Blobs.GetDescriptorAsync(repo, result.Descriptor.Digest)).Size);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task MonolithicUpload_OneRequest(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var log = new ConcurrentQueue<string>();
            var client = Reg.Client(registry, log: log.Enqueue);
            string repo = Reg.Repo("monolithic");
            byte[] data = Reg.RandomBytes(150 * 1024, seed: 21 + mode.Length);
            var digest = Digest.Compute(data);

            var result = await client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { Digest = digest, Monolithic = true });
            Assert.Equal(BlobUploadOutcome.Uploaded, result.Outcome);
            Assert.Equal(data.Length, result.Descriptor.Size);
            Assert.DoesNotContain(log, l => l.StartsWith("PATCH ", StringComparison.Ordinal));
            Assert.Single(log, l => l.StartsWith("PUT ", StringComparison.Ordinal) && (l.Contains("digest=" + digest) || l.Contains("digest=" + Uri.EscapeDataString(digest.ToString()))) && l.Contains("-> 201"));

            // Monolithic without a digest: computed from the seekable stream first.
            byte[] other = Reg.RandomBytes(10 * 1024, seed: 99);
            var second = await client.Blobs.UploadAsync(repo, new MemoryStream(other), new BlobUploadOptions { Monolithic = true });
            Assert.Equal(Reg.Sha256(other), second.Descriptor.Digest.ToString());
            Assert.True(await client.Blobs.ExistsAsync(repo, second.Descriptor.Digest));

            // Monolithic, digest unknown and the stream cannot seek: one PATCH, then the commit.
            byte[] third = Reg.RandomBytes(12 * 1024, seed: 98);
            var r3 = await client.Blobs.UploadAsync(repo, new ForwardOnlyStream(third), new BlobUploadOptions { Monolithic = true });
            Assert.Equal(Reg.Sha256(third), r3.Descriptor.Digest.ToString());
            Assert.Equal(third.Length, (await client.Blobs.GetDescriptorAsync(repo, r3.Descriptor.Digest)).Size);

            var existed = await client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { Digest = digest, Monolithic = true });
            Assert.Equal(BlobUploadOutcome.Existed, existed.Outcome);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Mount_AcrossRepositories_AndFallbackWhenSourceLacksTheBlob(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            string source = Reg.Repo("mount-src");
            string target = Reg.Repo("mount-dst");
            string empty = Reg.Repo("mount-empty");
            byte[] data = Reg.RandomBytes(40 * 1024, seed: 31 + mode.Length);
            var digest = Digest.Compute(data);
            await client.Blobs.UploadAsync(source, new MemoryStream(data), new BlobUploadOptions { Digest = digest, Monolithic = true });
            // The "empty" repository exists but does not have the blob.
            byte[] filler = Reg.RandomBytes(100, seed: 32);
            await client.Blobs.UploadAsync(empty, new MemoryStream(filler), new BlobUploadOptions { Monolithic = true });

            var mounted = await client.Blobs.UploadAsync(target, new MemoryStream(data), new BlobUploadOptions { Digest = digest, MountFrom = source });
            Assert.Equal(BlobUploadOutcome.Mounted, mounted.Outcome);
            Assert.Equal(data.Length, mounted.Descriptor.Size);
            Assert.True(await client.Blobs.ExistsAsync(target, digest));

            string third = Reg.Repo("mount-api");
            Assert.True(await client.Blobs.MountAsync(third, digest, source));
            Assert.Equal(data.Length, (await client.Blobs.GetDescriptorAsync(third, digest)).Size);

            // From a repository without the blob: MountAsync says false, UploadAsync falls back to sending it.
            string fourth = Reg.Repo("mount-fallback");
            Assert.False(await client.Blobs.MountAsync(fourth, digest, empty));
            Assert.False(await client.Blobs.ExistsAsync(fourth, digest));
            var fallback = await client.Blobs.UploadAsync(fourth, new MemoryStream(data), new BlobUploadOptions { Digest = digest, MountFrom = empty });
            Assert.Equal(BlobUploadOutcome.Uploaded, fallback.Outcome);
            var back = new MemoryStream();
            await client.Blobs.DownloadAsync(fourth, digest, back, data.Length);
            Assert.Equal(data, back.ToArray());

            // And from a repository that does not exist at all.
            string fifth = Reg.Repo("mount-nosource");
            var fromNowhere = await client.Blobs.UploadAsync(fifth, new MemoryStream(data),
                new BlobUploadOptions { Digest = digest, MountFrom = Reg.Repo("never-pushed"), Monolithic = true });
            Assert.Equal(BlobUploadOutcome.Uploaded, fromNowhere.Outcome);
        }

        [Theory]
        [InlineData("anonymous", false)]
        [InlineData("anonymous", true)]
        [InlineData("basic", false)]
        [InlineData("token", true)]
        public async Task Upload_WithWrongExpectedDigest_ThrowsAndTheBlobIsNotKept(string mode, bool monolithic)
        {
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            string repo = Reg.Repo("wrongdigest");
            byte[] data = Reg.RandomBytes(70 * 1024, seed: 41);
            var actual = Digest.Compute(data);
            var claimed = Digest.Compute(Reg.RandomBytes(16, seed: 42));

            var e = await Assert.ThrowsAsync<DigestMismatchException>(() => client.Blobs.UploadAsync(repo, new MemoryStream(data),
                new BlobUploadOptions { Digest = claimed, Monolithic = monolithic, ChunkSize = 64 * 1024 }));
            Assert.Equal(claimed, e.Expected);
            Assert.Equal(actual, e.Actual);
            Assert.False(await client.Blobs.ExistsAsync(repo, claimed));
            Assert.False(await client.Blobs.ExistsAsync(repo, actual));
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Delete_ThenHeadIs404(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            string repo = Reg.Repo("blob-delete");
            byte[] data = Reg.RandomBytes(1000, seed: 51);
            var digest = (await client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { Monolithic = true })).Descriptor.Digest;
            Assert.True(await client.Blobs.ExistsAsync(repo, digest));

            await client.Blobs.DeleteAsync(repo, digest);
            Assert.False(await client.Blobs.ExistsAsync(repo, digest));
            Assert.Null(await client.Blobs.TryGetDescriptorAsync(repo, digest));
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Blobs.GetDescriptorAsync(repo, digest));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal("BLOB_UNKNOWN", e.ErrorCode);

            var again = await Assert.ThrowsAsync<RegistryException>(() => client.Blobs.DeleteAsync(repo, digest));
            Assert.Equal(RegistryErrorKind.NotFound, again.Kind);
            Assert.Equal(404, again.StatusCode);
            Assert.Equal("BLOB_UNKNOWN", again.ErrorCode);
        }

        [Fact]
        public async Task UnknownBlob_HeadIsNull_AndDownloadIsNotFound()
        {
            var client = Reg.Client(_bed.Basic);
            const string repo = "core/blobs-pull";
            Reg.PushOnce(_bed.Image, _bed.Basic, repo, "v1");
            Assert.False(await client.Blobs.ExistsAsync(repo, Unknown));
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Blobs.DownloadAsync(repo, Unknown, new MemoryStream()));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal(404, e.StatusCode);
            Assert.Equal("BLOB_UNKNOWN", e.ErrorCode);
            string file = Path.Combine(_dir, "unknown.blob");
            await Assert.ThrowsAsync<RegistryException>(() => client.Blobs.DownloadToFileAsync(repo, Unknown, file));
            Assert.Empty(Directory.GetFileSystemEntries(_dir));
        }

        [Theory]
        [InlineData("anonymous", false)]
        [InlineData("anonymous", true)]
        [InlineData("basic", false)]
        [InlineData("token", true)]
        public async Task EmptyBlob_Uploads_AndDownloads(string mode, bool monolithic)
        {
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            string repo = Reg.Repo("empty-blob");
            var empty = Digest.Compute(Array.Empty<byte>());
            var result = await client.Blobs.UploadAsync(repo, new MemoryStream(), new BlobUploadOptions { Monolithic = monolithic, SkipExistenceCheck = true });
            Assert.Equal(empty, result.Descriptor.Digest);
            Assert.Equal(0, result.Descriptor.Size);
            Assert.Equal(0, (await client.Blobs.GetDescriptorAsync(repo, empty)).Size);
            var back = new MemoryStream();
            await client.Blobs.DownloadAsync(repo, empty, back, 0);
            Assert.Equal(0, back.Length);
        }

        [Theory]
        [InlineData("basic")]
        [InlineData("token")]
        public async Task UnreplayableUpload_AsTheFirstRequestOfAClient_Authenticates(string mode)
        {
            // A body that can be sent only once must not be spent on the 401 that teaches the client the challenge.
            var registry = _bed.Env.Get(mode);
            var client = Reg.Client(registry);
            string repo = Reg.Repo("first-unreplayable");
            byte[] data = Reg.RandomBytes(30 * 1024, seed: 71);
            var result = await client.Blobs.UploadAsync(repo, new ForwardOnlyStream(data), new BlobUploadOptions { Monolithic = true });
            Assert.Equal(Reg.Sha256(data), result.Descriptor.Digest.ToString());
            Assert.Equal(data.Length, (await client.Blobs.GetDescriptorAsync(repo, result.Descriptor.Digest)).Size);
        }

        [Fact]
        public async Task RelativeLocations_UploadsAndPaging_Work()
        {
            // http.relativeurls: Location and Link headers are relative; they must be resolved against the request.
            using var registry = RegistryServer.Start(new RegistryOptions { RelativeUrls = true });
            var log = new ConcurrentQueue<string>();
            var client = Reg.Client(registry, log: log.Enqueue);
            string repo = Reg.Repo("relative");
            byte[] data = Reg.RandomBytes(150 * 1024, seed: 81);
            var chunked = await client.Blobs.UploadAsync(repo, new MemoryStream(data), new BlobUploadOptions { ChunkSize = 64 * 1024 });
            Assert.Equal(Reg.Sha256(data), chunked.Descriptor.Digest.ToString());
            Assert.Equal(3, log.Count(l => l.StartsWith("PATCH ", StringComparison.Ordinal) && l.Contains("-> 202")));
            byte[] other = Reg.RandomBytes(1000, seed: 82);
            var mono = await client.Blobs.UploadAsync(repo, new MemoryStream(other), new BlobUploadOptions { Monolithic = true });
            Assert.True(await client.Blobs.ExistsAsync(repo, mono.Descriptor.Digest));
            string second = Reg.Repo("relative");
            Assert.True(await client.Blobs.MountAsync(second, mono.Descriptor.Digest, repo));

            var image = _bed.Image;
            await Reg.UploadBlobsAsync(client, repo, image, image.Manifests[0]);
            var manifest = Manifests.Manifest.Parse(image.ReadBlob(image.ManifestDigest));
            await client.Manifests.PutAsync(repo, "v1", manifest);
            Assert.Equal(image.ManifestDigest, Skopeo.Digest(registry.ImageReference(repo, "v1")));

            var catalog = await client.Catalog.ListAsync(pageSize: 1);
            Assert.Equal(new[] { repo, second }.OrderBy(r => r, StringComparer.Ordinal), catalog);
        }

        /// <summary>A stream that can only be read forward, in small pieces (like a network stream).</summary>
        private sealed class ForwardOnlyStream : Stream
        {
            private readonly byte[] _data;
            private int _pos;

            public ForwardOnlyStream(byte[] data) => _data = data;

            public override int Read(byte[] buffer, int offset, int count)
            {
                int n = Math.Min(Math.Min(count, 7000), _data.Length - _pos);
                Array.Copy(_data, _pos, buffer, offset, n);
                _pos += n;
                return n;
            }

            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => _pos; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }

        private sealed class SyncProgress : IProgress<long>
        {
            private readonly ConcurrentQueue<long> _values;
            public SyncProgress(ConcurrentQueue<long> values) => _values = values;
            public void Report(long value) => _values.Enqueue(value);
        }
    }
}
