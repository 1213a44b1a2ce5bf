using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.IO;
using MobyDistribution.Manifests;

namespace MobyDistribution.Formats
{
    /// <summary>What <see cref="DockerArchiveWriter.AddImageAsync"/> wrote for one image.</summary>
    public sealed class DockerArchiveImageEntry
    {
        internal DockerArchiveImageEntry(Digest configDigest, IReadOnlyList<Digest> diffIds, IReadOnlyList<string> layerIds, IReadOnlyList<string> repoTags)
        {
            ConfigDigest = configDigest;
            DiffIds = diffIds;
            LayerIds = layerIds;
            RepoTags = repoTags;
        }

        /// <summary>The config's digest (docker's image ID); the config is stored as <c>&lt;hex&gt;.json</c>.</summary>
        public Digest ConfigDigest { get; }

        /// <summary>The config's <c>rootfs.diff_ids</c>: the sha256 of each <c>layer.tar</c>, verified as written.</summary>
        public IReadOnlyList<Digest> DiffIds { get; }

        /// <summary>The legacy v1 layer IDs, bottom first: the layer directories of the archive.</summary>
        public IReadOnlyList<string> LayerIds { get; }

        /// <summary>The tags recorded for the image (familiar form: <c>ubuntu:22.04</c>, <c>localhost:5000/app:v1</c>).</summary>
        public IReadOnlyList<string> RepoTags { get; }
    }

    /// <summary>
    /// Writes a <c>docker save</c> archive (Docker image spec v1.2): <c>manifest.json</c>, <c>repositories</c>,
    /// <c>&lt;config-hex&gt;.json</c> and per layer a directory <c>&lt;id&gt;/</c> with <c>VERSION</c>, <c>json</c> (legacy v1 image
    /// JSON) and <c>layer.tar</c> (uncompressed, checked against the config's <c>diff_ids</c> while written). Several images may
    /// go into one archive; a layer's data is stored once (a later layer directory with the same content gets a
    /// <c>layer.tar</c> symbolic link to the first, as docker does).
    /// </summary>
    /// <remarks>
    /// Layer IDs follow docker's construction (moby <c>image/v1.CreateID</c>) in a documented, deterministic form: the v1 ID of
    /// layer <i>i</i> is the sha256 of the compact JSON object, keys sorted, made of that layer's v1 JSON without <c>id</c>, plus
    /// <c>layer_id</c> (the chain ID of layers 0..i) and <c>parent</c> (<c>sha256:</c> + the ID of layer <i>i</i>-1). The v1 JSON of a
    /// lower layer is <c>{"created":"1970-01-01T00:00:00Z","container_config":{…empty…},"os":…}</c>; the top layer's carries
    /// the config's fields (less <c>rootfs</c> and <c>history</c>). The same image therefore always gets the same IDs, and images
    /// sharing lower layers share their directories; byte equality with a given docker version's IDs is not promised.
    /// </remarks>
    public sealed class DockerArchiveWriter : IDisposable
    {
        private const string ZeroTime = "1970-01-01T00:00:00Z";
        private readonly TarWriter _tar;
        private readonly Dictionary<string, string> _layerPathByDiffId = new Dictionary<string, string>(StringComparer.Ordinal);
        private readonly HashSet<string> _writtenIds = new HashSet<string>(StringComparer.Ordinal);
        private readonly List<ImageRecord> _images = new List<ImageRecord>();
        private bool _finished;

        /// <summary>Writes into <paramref name="output"/>, which must be seekable (layer sizes are patched in after streaming).</summary>
        public DockerArchiveWriter(Stream output, bool leaveOpen = false)
        {
            if (output == null) throw new ArgumentNullException(nameof(output));
            if (!output.CanSeek) throw new ArgumentException("A docker archive is written to a seekable stream (a file).", nameof(output));
            _tar = new TarWriter(output, leaveOpen);
        }

        /// <summary>Bytes written so far.</summary>
        public long BytesWritten => _tar.BytesWritten;

        /// <summary>
        /// Adds an image: its config (its bytes stored unchanged), its tags (familiar form), and a function opening the uncompressed
        /// content of layer <i>i</i>, called only for layers whose content is not in the archive yet. The stream it returns is
        /// disposed here; its sha256 must equal <c>rootfs.diff_ids[i]</c>, or <see cref="DigestMismatchException"/> is thrown.
        /// </summary>
        public async Task<DockerArchiveImageEntry> AddImageAsync(ImageConfig config, IEnumerable<string> repoTags,
            Func<int, CancellationToken, Task<Stream>> openLayer, IProgress<(int Layer, long Bytes)>? progress = null, CancellationToken cancellationToken = default)
        {
            if (config == null) throw new ArgumentNullException(nameof(config));
            if (openLayer == null) throw new ArgumentNullException(nameof(openLayer));
            if (_finished) throw new InvalidOperationException("The archive is finished.");
            var tags = (repoTags ?? Enumerable.Empty<string>()).ToList();
            foreach (var t in tags) SplitTag(t);
            var configDigest = config.Digest;
            var diffIds = config.DiffIds;
            var os = config.OS ?? "linux";
            var root = JsonObject.Create(config.Root)!;

            var existing = _images.FirstOrDefault(i => i.ConfigDigest == configDigest);
            if (existing != null)
            {
                foreach (var t in tags) if (!existing.RepoTags.Contains(t)) existing.RepoTags.Add(t);
                return new DockerArchiveImageEntry(configDigest, diffIds, existing.LayerIds, existing.RepoTags.ToList());
            }

            var ids = new List<string>();
            string? parent = null;
            Digest? chain = null;
            for (int i = 0; i < diffIds.Count; i++)
            {
                chain = chain == null ? diffIds[i] : Digest.Compute(Encoding.UTF8.GetBytes(chain + " " + diffIds[i]));
                bool top = i == diffIds.Count - 1;
                var v1 = top ? TopLayerJson(root) : LowerLayerJson(os);
                var id = LayerId(v1, chain, parent);
                var json = new JsonObject { ["id"] = id };
                if (parent != null) json["parent"] = parent;
                foreach (var kv in v1) json[kv.Key] = kv.Value?.DeepClone();
                if (_writtenIds.Add(id))
                {
                    await _tar.WriteDirectoryAsync(id, cancellationToken).ConfigureAwait(false);
                    await _tar.WriteFileAsync(id + "/VERSION", Encoding.ASCII.GetBytes("1.0"), null, cancellationToken).ConfigureAwait(false);
                    await _tar.WriteFileAsync(id + "/json", Encoding.UTF8.GetBytes(json.ToJsonString()), null, cancellationToken).ConfigureAwait(false);
                    var diffId = diffIds[i].ToString();
                    if (_layerPathByDiffId.TryGetValue(diffId, out var firstId))
                    {
                        await _tar.WriteSymbolicLinkAsync(id + "/layer.tar", "../" + firstId + "/layer.tar", cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await WriteLayerAsync(id, i, diffIds[i], openLayer, progress, cancellationToken).ConfigureAwait(false);
                        _layerPathByDiffId[diffId] = id;
                    }
                }
                ids.Add(id);
                parent = id;
            }
            await _tar.WriteFileAsync(configDigest.Hex + ".json", config.Bytes, null, cancellationToken).ConfigureAwait(false);
            var record = new ImageRecord(configDigest, ids, tags);
            _images.Add(record);
            return new DockerArchiveImageEntry(configDigest, diffIds, ids, tags);
        }

        /// <summary>Writes <c>manifest.json</c>, <c>repositories</c> and the end of the archive.</summary>
        public async Task FinishAsync(CancellationToken cancellationToken = default)
        {
            if (_finished) return;
            using (var ms = new MemoryStream())
            {
                using (var w = new Utf8JsonWriter(ms))
                {
                    w.WriteStartArray();
                    foreach (var image in _images)
                    {
                        w.WriteStartObject();
                        w.WriteString("Config", image.ConfigDigest.Hex + ".json");
                        if (image.RepoTags.Count == 0)
                        {
                            w.WriteNull("RepoTags");
                        }
                        else
                        {
                            w.WriteStartArray("RepoTags");
                            foreach (var t in image.RepoTags) w.WriteStringValue(t);
                            w.WriteEndArray();
                        }
                        w.WriteStartArray("Layers");
                        foreach (var id in image.LayerIds) w.WriteStringValue(id + "/layer.tar");
                        w.WriteEndArray();
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                await _tar.WriteFileAsync("manifest.json", ms.ToArray(), null, cancellationToken).ConfigureAwait(false);
            }
            var repositories = new SortedDictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);
            foreach (var image in _images)
            {
                if (image.LayerIds.Count == 0) continue;
                foreach (var t in image.RepoTags)
                {
                    var (name, tag) = SplitTag(t);
                    if (!repositories.TryGetValue(name, out var tagsOf)) repositories[name] = tagsOf = new SortedDictionary<string, string>(StringComparer.Ordinal);
                    tagsOf[tag] = image.LayerIds[image.LayerIds.Count - 1];
                }
            }
            if (repositories.Count > 0)
                await _tar.WriteFileAsync("repositories", JsonSerializer.SerializeToUtf8Bytes(repositories), null, cancellationToken).ConfigureAwait(false);
            await _tar.FinishAsync(cancellationToken).ConfigureAwait(false);
            _finished = true;
        }

        public void Dispose() => _tar.Dispose();

        private async Task WriteLayerAsync(string id, int index, Digest expected, Func<int, CancellationToken, Task<Stream>> openLayer,
            IProgress<(int Layer, long Bytes)>? progress, CancellationToken cancellationToken)
        {
            using var content = await openLayer(index, cancellationToken).ConfigureAwait(false);
            using var hashing = new HashingReadStream(content, expected.Algorithm, progress == null ? null : new Progress(index, progress));
            var entry = new TarEntry { Name = id + "/layer.tar", Type = TarEntryType.RegularFile };
            await _tar.WriteStreamedFileAsync(entry, hashing, null, cancellationToken).ConfigureAwait(false);
            var actual = hashing.Finish();
            if (actual != expected)
                throw new DigestMismatchException($"Layer {index} uncompresses to {actual}, but the config's rootfs.diff_ids says {expected}; the archive was not written.", expected, actual);
        }

        private sealed class Progress : IProgress<long>
        {
            private readonly int _layer;
            private readonly IProgress<(int, long)> _inner;

            public Progress(int layer, IProgress<(int, long)> inner)
            {
                _layer = layer;
                _inner = inner;
            }

            public void Report(long value) => _inner.Report((_layer, value));
        }

        /// <summary>Splits <c>name:tag</c> (the tag follows the last colon after the last slash).</summary>
        internal static (string Name, string Tag) SplitTag(string repoTag)
        {
            int slash = repoTag.LastIndexOf('/');
            int colon = repoTag.LastIndexOf(':');
            if (colon <= slash || colon == repoTag.Length - 1 || repoTag.IndexOf('@') >= 0)
                throw new ArgumentException($"'{repoTag}' is not of the form name:tag.", nameof(repoTag));
            return (repoTag.Substring(0, colon), repoTag.Substring(colon + 1));
        }

        private static JsonObject LowerLayerJson(string os) => new JsonObject
        {
            ["created"] = ZeroTime,
            ["container_config"] = new JsonObject
            {
                ["Hostname"] = "", ["Domainname"] = "", ["User"] = "",
                ["AttachStdin"] = false, ["AttachStdout"] = false, ["AttachStderr"] = false,
                ["Tty"] = false, ["OpenStdin"] = false, ["StdinOnce"] = false,
                ["Env"] = null, ["Cmd"] = null, ["Image"] = "", ["Volumes"] = null,
                ["WorkingDir"] = "", ["Entrypoint"] = null, ["OnBuild"] = null, ["Labels"] = null,
            },
            ["os"] = os,
        };

        private static JsonObject TopLayerJson(JsonObject config)
        {
            var json = new JsonObject();
            foreach (var kv in config)
            {
                if (kv.Key == "rootfs" || kv.Key == "history" || kv.Key == "id" || kv.Key == "parent") continue;
                json[kv.Key] = kv.Value?.DeepClone();
            }
            return json;
        }

        private static string LayerId(JsonObject v1, Digest chain, string? parent)
        {
            var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var kv in v1) fields[kv.Key] = kv.Value?.ToJsonString() ?? "null";
            fields["layer_id"] = JsonSerializer.Serialize(chain.ToString());
            if (parent != null) fields["parent"] = JsonSerializer.Serialize("sha256:" + parent);
            var sb = new StringBuilder("{");
            foreach (var kv in fields)
            {
                if (sb.Length > 1) sb.Append(',');
                sb.Append(JsonSerializer.Serialize(kv.Key)).Append(':').Append(kv.Value);
            }
            sb.Append('}');
            return Digest.Compute(Encoding.UTF8.GetBytes(sb.ToString())).Hex;
        }

        private sealed class ImageRecord
        {
            public ImageRecord(Digest configDigest, List<string> layerIds, List<string> repoTags)
            {
                ConfigDigest = configDigest;
                LayerIds = layerIds;
                RepoTags = repoTags;
            }

            public Digest ConfigDigest { get; }
            public List<string> LayerIds { get; }
            public List<string> RepoTags { get; }
        }
    }
}
