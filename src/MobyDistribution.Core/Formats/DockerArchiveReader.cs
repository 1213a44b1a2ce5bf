using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;

namespace MobyDistribution.Formats
{
    /// <summary>Limits applied when opening a <c>docker save</c> archive.</summary>
    public sealed class DockerArchiveReaderOptions
    {
        /// <summary>The largest <c>manifest.json</c> read.</summary>
        public int MaxManifestSize { get; set; } = 16 * 1024 * 1024;

        /// <summary>The largest image config read.</summary>
        public int MaxConfigSize { get; set; } = 16 * 1024 * 1024;

        /// <summary>The most entries an archive may have.</summary>
        public int MaxEntries { get; set; } = 1_000_000;

        /// <summary>The most images in one archive.</summary>
        public int MaxImages { get; set; } = 10_000;

        /// <summary>The most layers of one image.</summary>
        public int MaxLayers { get; set; } = 4096;
    }

    /// <summary>One layer of an image of a <c>docker save</c> archive.</summary>
    public sealed class DockerArchiveLayer
    {
        internal DockerArchiveLayer(string path, TarEntry entry, Digest diffId)
        {
            Path = path;
            Entry = entry;
            DiffId = diffId;
        }

        /// <summary>The path as <c>manifest.json</c> names it (<c>&lt;id&gt;/layer.tar</c>, or <c>blobs/sha256/&lt;hex&gt;</c> from Docker 25 on).</summary>
        public string Path { get; }

        /// <summary>The regular file holding its data, after links in the archive are followed.</summary>
        public TarEntry Entry { get; }

        /// <summary>The config's <c>rootfs.diff_ids</c> entry for it: what its uncompressed content must hash to.</summary>
        public Digest DiffId { get; }
    }

    /// <summary>One image of a <c>docker save</c> archive.</summary>
    public sealed class DockerArchiveImage
    {
        internal DockerArchiveImage(string configPath, byte[] config, IReadOnlyList<string> repoTags, IReadOnlyList<DockerArchiveLayer> layers)
        {
            ConfigPath = configPath;
            Config = config;
            ConfigDigest = Digest.Compute(config);
            RepoTags = repoTags;
            Layers = layers;
        }

        public string ConfigPath { get; }

        /// <summary>The config's bytes, exactly as in the archive.</summary>
        public byte[] Config { get; }

        public Digest ConfigDigest { get; }

        /// <summary>The tags <c>manifest.json</c> gives (possibly none).</summary>
        public IReadOnlyList<string> RepoTags { get; }

        public IReadOnlyList<DockerArchiveLayer> Layers { get; }
    }

    /// <summary>
    /// Reads a <c>docker save</c> archive (Docker image spec v1.2, and the Docker 25+ form whose <c>manifest.json</c> points into
    /// an OCI layout's <c>blobs/</c>) from a file. Opening it indexes every entry (seeking over data) and validates it before the
    /// caller does anything: entries that escape (absolute paths, <c>..</c>, links pointing outside, devices) are refused,
    /// <c>manifest.json</c> and configs are size-capped, every path <c>manifest.json</c> names must stay inside and lead (through
    /// links in the archive) to a regular file, and each image must have as many layers as its config has <c>diff_ids</c>.
    /// Layer content is not hashed here (see <see cref="OpenEntry"/>).
    /// </summary>
    public sealed class DockerArchiveReader
    {
        private readonly Dictionary<string, TarEntry> _entries;

        private DockerArchiveReader(string path, Dictionary<string, TarEntry> entries, IReadOnlyList<DockerArchiveImage> images)
        {
            ArchivePath = path;
            _entries = entries;
            Images = images;
        }

        /// <summary>The archive file.</summary>
        public string ArchivePath { get; }

        public IReadOnlyList<DockerArchiveImage> Images { get; }

        /// <summary>True when the archive also carries an OCI layout (<c>oci-layout</c>, <c>index.json</c>), as Docker 25+ writes.</summary>
        public bool HasOciLayout => _entries.ContainsKey("oci-layout") && _entries.ContainsKey("index.json");

        /// <summary>Every entry by normalized path.</summary>
        public IReadOnlyDictionary<string, TarEntry> Entries => _entries;

        /// <summary>Opens and validates an archive; throws <see cref="ImageArchiveException"/> (or <see cref="DigestMismatchException"/> for a config that does not match its content-addressed name).</summary>
        public static async Task<DockerArchiveReader> OpenAsync(string path, DockerArchiveReaderOptions? options = null, CancellationToken cancellationToken = default)
        {
            options ??= new DockerArchiveReaderOptions();
            var full = System.IO.Path.GetFullPath(path);
            var entries = new Dictionary<string, TarEntry>(StringComparer.Ordinal);
            using (var file = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous))
            using (var tar = new TarReader(file, new TarReaderOptions()))
            {
                TarEntry? entry;
                while ((entry = await tar.GetNextEntryAsync(cancellationToken).ConfigureAwait(false)) != null)
                {
                    if (entries.Count >= options.MaxEntries)
                        throw new ImageArchiveException(RegistryErrorKind.LimitExceeded, $"The archive has more than {options.MaxEntries} entries.");
                    var name = TarPath.Normalize(entry.Name);
                    if (entries.TryGetValue(name, out var previous) && !(previous.Type == TarEntryType.Directory && entry.Type == TarEntryType.Directory))
                        throw ImageArchiveException.Invalid($"Archive entry '{TarPath.Printable(entry.Name)}' appears twice; which one counts would depend on the tool.", entry.Name);
                    entries[name] = entry;
                }
            }
            if (!entries.TryGetValue("manifest.json", out var manifestEntry))
                throw ImageArchiveException.Invalid("The archive has no manifest.json: it is not a docker save archive (docker 1.10 or later).");
            var manifestBytes = await ReadSmallAsync(full, Resolve(entries, "manifest.json", "manifest.json"), options.MaxManifestSize, "manifest.json", cancellationToken).ConfigureAwait(false);

            var images = new List<DockerArchiveImage>();
            JsonDocument doc;
            try { doc = JsonDocument.Parse(manifestBytes); }
            catch (JsonException e) { throw ImageArchiveException.Invalid("manifest.json is not valid JSON: " + e.Message, "manifest.json", e); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Array) throw ImageArchiveException.Invalid("manifest.json is not a JSON array.", "manifest.json");
                if (doc.RootElement.GetArrayLength() == 0) throw ImageArchiveException.Invalid("manifest.json names no image.", "manifest.json");
                if (doc.RootElement.GetArrayLength() > options.MaxImages)
                    throw new ImageArchiveException(RegistryErrorKind.LimitExceeded, $"manifest.json names more than {options.MaxImages} images.", "manifest.json");
                int index = 0;
                foreach (var item in doc.RootElement.EnumerateArray())
                {
                    string what = $"manifest.json entry {index}";
                    if (item.ValueKind != JsonValueKind.Object) throw ImageArchiveException.Invalid($"{what} is not an object.", "manifest.json");
                    var configPath = RequiredString(item, "Config", what);
                    var tags = new List<string>();
                    if (item.TryGetProperty("RepoTags", out var rt) && rt.ValueKind != JsonValueKind.Null)
                    {
                        if (rt.ValueKind != JsonValueKind.Array) throw ImageArchiveException.Invalid($"{what}: RepoTags is not an array.", "manifest.json");
                        foreach (var t in rt.EnumerateArray())
                        {
                            var tag = t.ValueKind == JsonValueKind.String ? t.GetString()! : throw ImageArchiveException.Invalid($"{what}: a RepoTags entry is not a string.", "manifest.json");
                            if (!ImageReference.TryParse(tag, out var parsed) || parsed.Tag == null || parsed.Digest is not null)
                                throw ImageArchiveException.Invalid($"{what}: RepoTag '{TarPath.Printable(tag)}' is not a name:tag reference.", "manifest.json");
                            tags.Add(tag);
                        }
                    }
                    if (!item.TryGetProperty("Layers", out var layersElement) || layersElement.ValueKind != JsonValueKind.Array)
                        throw ImageArchiveException.Invalid($"{what} has no Layers array.", "manifest.json");
                    if (layersElement.GetArrayLength() > options.MaxLayers)
                        throw new ImageArchiveException(RegistryErrorKind.LimitExceeded, $"{what} has more than {options.MaxLayers} layers.", "manifest.json");

                    var configEntry = Resolve(entries, configPath, what + " Config");
                    var config = await ReadSmallAsync(full, configEntry, options.MaxConfigSize, configPath, cancellationToken).ConfigureAwait(false);
                    CheckContentAddress(configPath, config);
                    IReadOnlyList<Digest> diffIds;
                    try { diffIds = ImageConfig.Parse(config).DiffIds; }
                    catch (InvalidDataException e) { throw ImageArchiveException.Invalid($"{TarPath.Printable(configPath)}: {e.Message}", configPath, e); }
                    var layerPaths = layersElement.EnumerateArray()
                        .Select(l => l.ValueKind == JsonValueKind.String ? l.GetString()! : throw ImageArchiveException.Invalid($"{what}: a Layers entry is not a string.", "manifest.json"))
                        .ToList();
                    if (layerPaths.Count != diffIds.Count)
                        throw ImageArchiveException.Invalid($"{what} has {layerPaths.Count} layers, but its config has {diffIds.Count} diff_ids.", "manifest.json");
                    var layers = new List<DockerArchiveLayer>();
                    for (int i = 0; i < layerPaths.Count; i++)
                        layers.Add(new DockerArchiveLayer(layerPaths[i], Resolve(entries, layerPaths[i], $"{what} layer {i}"), diffIds[i]));
                    images.Add(new DockerArchiveImage(configPath, config, tags, layers));
                    index++;
                }
            }
            return new DockerArchiveReader(full, entries, images);
        }

        /// <summary>Opens a regular file entry of the archive for reading (its own file handle; dispose it).</summary>
        public Stream OpenEntry(TarEntry entry) => TarReader.OpenEntry(ArchivePath, entry);

        private static string RequiredString(JsonElement item, string property, string what)
        {
            if (!item.TryGetProperty(property, out var value) || value.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(value.GetString()))
                throw ImageArchiveException.Invalid($"{what} has no {property}.", "manifest.json");
            return value.GetString()!;
        }

        /// <summary>Follows a path named by manifest.json through links in the archive to a regular file.</summary>
        private static TarEntry Resolve(Dictionary<string, TarEntry> entries, string path, string what)
        {
            string name;
            try { name = TarPath.Normalize(path); }
            catch (ImageArchiveException e)
            {
                throw new ImageArchiveException(RegistryErrorKind.Security, $"{what} names '{TarPath.Printable(path)}', which escapes the archive: {e.Message}", path, e);
            }
            for (int hops = 0; hops < 16; hops++)
            {
                if (!entries.TryGetValue(name, out var entry))
                    throw ImageArchiveException.Invalid($"{what} names '{TarPath.Printable(path)}', which is not in the archive.", path);
                switch (entry.Type)
                {
                    case TarEntryType.RegularFile:
                        return entry;
                    case TarEntryType.SymbolicLink:
                        name = TarPath.ResolveSymbolicLink(name, entry.LinkName);
                        continue;
                    case TarEntryType.HardLink:
                        name = TarPath.Normalize(entry.LinkName);
                        continue;
                    default:
                        throw ImageArchiveException.Invalid($"{what} names '{TarPath.Printable(path)}', which is a {entry.Type}, not a file.", path);
                }
            }
            throw ImageArchiveException.Invalid($"{what} names '{TarPath.Printable(path)}', whose links go round in circles.", path);
        }

        private static async Task<byte[]> ReadSmallAsync(string archive, TarEntry entry, int max, string what, CancellationToken cancellationToken)
        {
            if (entry.Size > max)
                throw new ImageArchiveException(RegistryErrorKind.LimitExceeded, $"{what} is {entry.Size} bytes; at most {max} are read.", entry.Name);
            var data = new byte[entry.Size];
            using var stream = TarReader.OpenEntry(archive, entry);
            int total = 0;
            while (total < data.Length)
            {
                int n = await stream.ReadAsync(data, total, data.Length - total, cancellationToken).ConfigureAwait(false);
                if (n == 0) throw ImageArchiveException.Invalid($"{what} is truncated.", entry.Name);
                total += n;
            }
            return data;
        }

        /// <summary>A config named by its digest (<c>&lt;hex&gt;.json</c>, <c>blobs/sha256/&lt;hex&gt;</c>) must have that digest.</summary>
        private static void CheckContentAddress(string configPath, byte[] config)
        {
            var name = TarPath.Normalize(configPath);
            var file = name.Substring(name.LastIndexOf('/') + 1);
            if (file.EndsWith(".json", StringComparison.Ordinal)) file = file.Substring(0, file.Length - 5);
            if (!Digest.TryParse("sha256:" + file, out var named)) return;
            var actual = Digest.Compute(config);
            if (actual != named)
                throw new DigestMismatchException($"The config '{configPath}' hashes to {actual}, not to the digest its name says.", named, actual);
        }
    }
}
