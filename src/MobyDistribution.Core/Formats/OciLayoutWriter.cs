using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.IO;

namespace MobyDistribution.Formats
{
    /// <summary>
    /// Writes an OCI image layout (image-spec <c>image-layout.md</c>): <c>oci-layout</c>, <c>blobs/&lt;alg&gt;/&lt;hex&gt;</c> with blobs
    /// as they are (compressed layers stay compressed), and <c>index.json</c> naming the manifests, into a directory or a tar stream.
    /// Each blob is written once; its bytes are hashed as they are written and must match its digest.
    /// </summary>
    public sealed class OciLayoutWriter : IDisposable
    {
        /// <summary>The annotation naming a manifest of the layout (skopeo's <c>oci:DIR:NAME</c>).</summary>
        public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

        /// <summary>The annotation containerd and docker use for the full image name.</summary>
        public const string ImageNameAnnotation = "io.containerd.image.name";

        private readonly string? _directory;
        private readonly TarWriter? _tar;
        private readonly HashSet<string> _blobs = new HashSet<string>(StringComparer.Ordinal);
        private readonly List<Descriptor> _manifests = new List<Descriptor>();
        private bool _finished;

        private OciLayoutWriter(string? directory, TarWriter? tar)
        {
            _directory = directory;
            _tar = tar;
        }

        /// <summary>Writes a layout into <paramref name="directory"/> (created if needed; meant to be new and empty).</summary>
        public static OciLayoutWriter ToDirectory(string directory)
        {
            Directory.CreateDirectory(LongPath.For(directory));
            return new OciLayoutWriter(Path.GetFullPath(directory), null);
        }

        /// <summary>Writes a layout as a tar into <paramref name="output"/>.</summary>
        public static OciLayoutWriter ToTar(Stream output, bool leaveOpen = false) => new OciLayoutWriter(null, new TarWriter(output, leaveOpen));

        /// <summary>True when the blob has been written.</summary>
        public bool Contains(Digest digest) => _blobs.Contains(digest.ToString());

        /// <summary>
        /// Writes a blob of known digest and size from <paramref name="content"/> (not disposed); does nothing if it is there already.
        /// Throws <see cref="DigestMismatchException"/> when the bytes differ.
        /// </summary>
        public async Task AddBlobAsync(Digest digest, long size, Stream content, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        {
            if (_finished) throw new InvalidOperationException("The layout is finished.");
            if (!_blobs.Add(digest.ToString())) return;
            await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
            // A registry blob stream checks its own digest when read to the end (it is, below): no second SHA-256 pass.
            bool verifiedBySource = content is VerifyingReadStream source && source.Verifies(digest);
            using var hashing = new HashingReadStream(content, digest.Algorithm, progress, hash: !verifiedBySource);
            try
            {
                if (_tar != null)
                {
                    var entry = new TarEntry { Name = $"blobs/{digest.Algorithm}/{digest.Hex}", Size = size };
                    await _tar.WriteEntryAsync(entry, hashing, null, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var dir = Path.Combine(_directory!, "blobs", digest.Algorithm);
                    Directory.CreateDirectory(LongPath.For(dir));
                    using var file = AtomicFile.Create(Path.Combine(dir, digest.Hex), overwrite: true);
                    var buffer = new byte[1024 * 1024];
                    int n;
                    while ((n = await hashing.ReadAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false)) > 0)
                        await file.Stream.WriteAsync(buffer, 0, n, cancellationToken).ConfigureAwait(false);
                    if (hashing.BytesRead != size || (hashing.Hashes && hashing.Finish() != digest))
                        throw new DigestMismatchException($"Blob {digest} has {hashing.BytesRead} bytes{(hashing.Hashes ? " hashing to " + hashing.Finish() : string.Empty)}; expected {size} bytes.", digest, hashing.Hashes ? hashing.Finish() : null);
                    file.Commit();
                }
                if (hashing.Hashes && hashing.Finish() != digest)
                    throw new DigestMismatchException($"Blob {digest} hashes to {hashing.Finish()}.", digest, hashing.Finish());
            }
            catch
            {
                _blobs.Remove(digest.ToString());
                throw;
            }
        }

        /// <summary>Writes a blob from bytes.</summary>
        public Task AddBlobAsync(byte[] content, CancellationToken cancellationToken = default) =>
            AddBlobAsync(Digest.Compute(content), content.Length, new MemoryStream(content, writable: false), null, cancellationToken);

        /// <summary>Names a manifest (already written as a blob) in <c>index.json</c>.</summary>
        public void AddManifest(Descriptor descriptor)
        {
            if (descriptor == null) throw new ArgumentNullException(nameof(descriptor));
            _manifests.Add(descriptor);
        }

        /// <summary>Writes <c>index.json</c> (and, for a tar, the end of the archive).</summary>
        public async Task FinishAsync(CancellationToken cancellationToken = default)
        {
            if (_finished) return;
            await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
            byte[] index;
            using (var ms = new MemoryStream())
            {
                using (var w = new Utf8JsonWriter(ms))
                {
                    w.WriteStartObject();
                    w.WriteNumber("schemaVersion", 2);
                    w.WriteString("mediaType", MediaTypes.OciIndex);
                    w.WriteStartArray("manifests");
                    foreach (var m in _manifests) JsonSerializer.Serialize(w, Strip(m));
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                index = ms.ToArray();
            }
            if (_tar != null)
            {
                await _tar.WriteFileAsync("index.json", index, null, cancellationToken).ConfigureAwait(false);
                await _tar.FinishAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                AtomicFile.WriteAllBytes(Path.Combine(_directory!, "index.json"), index, overwrite: true);
            }
            _finished = true;
        }

        public void Dispose() => _tar?.Dispose();

        private bool _started;

        private async Task EnsureStartedAsync(CancellationToken cancellationToken)
        {
            if (_started) return;
            _started = true;
            var layout = Encoding.UTF8.GetBytes("{\"imageLayoutVersion\":\"1.0.0\"}");
            if (_tar != null) await _tar.WriteFileAsync("oci-layout", layout, null, cancellationToken).ConfigureAwait(false);
            else AtomicFile.WriteAllBytes(Path.Combine(_directory!, "oci-layout"), layout, overwrite: true);
        }

        private static Descriptor Strip(Descriptor d) => new Descriptor(d.MediaType, d.Digest, d.Size) { Annotations = d.Annotations, Platform = d.Platform, ArtifactType = d.ArtifactType };
    }
}
