using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MobyDistribution.Manifests
{
    /// <summary>
    /// A manifest as read from (or made for) a registry. The exact bytes are kept: <see cref="Digest"/> is theirs,
    /// and pushing the manifest again sends them unchanged, so its digest never changes.
    /// </summary>
    public abstract class Manifest
    {
        /// <summary>Manifests larger than this are refused, as registries refuse them.</summary>
        public const int MaxSize = 4 * 1024 * 1024;

        /// <summary>The longest media type accepted in a descriptor (RFC 6838 allows 127 characters each for type and subtype).</summary>
        internal const int MaxMediaTypeLength = 255;

        private readonly byte[] _raw;

        private protected Manifest(byte[] raw, string mediaType, int schemaVersion, IReadOnlyDictionary<string, string>? annotations)
        {
            _raw = raw;
            MediaType = mediaType;
            SchemaVersion = schemaVersion;
            Annotations = annotations;
            Digest = Digest.Compute(raw);
        }

        public int SchemaVersion { get; }

        public string MediaType { get; }

        /// <summary>The sha256 digest of the raw bytes (for a signed schema1 manifest, of its payload without signatures).</summary>
        public Digest Digest { get; private protected set; }

        /// <summary>The size of the raw bytes.</summary>
        public long Size => _raw.Length;

        public IReadOnlyDictionary<string, string>? Annotations { get; }

        /// <summary>Where the manifest was read, pinned to its digest; null for a manifest made locally.</summary>
        public ImageReference? Reference { get; set; }

        /// <summary>A copy of the exact bytes.</summary>
        public byte[] GetRawBytes() => (byte[])_raw.Clone();

        internal byte[] RawBytes => _raw;

        /// <summary>The bytes <see cref="Digest"/> is over: the raw bytes, or a signed schema1 manifest's payload without signatures.</summary>
        internal virtual byte[] DigestedBytes => _raw;

        /// <summary>The exact bytes as UTF-8 text.</summary>
        public string RawText => Encoding.UTF8.GetString(_raw);

        /// <summary>The descriptor that points at this manifest.</summary>
        public Descriptor ToDescriptor() => new Descriptor(MediaType, Digest, Size) { Source = Reference };

        /// <summary>Every descriptor this manifest refers to (config, layers, subject, or child manifests).</summary>
        public abstract IEnumerable<Descriptor> References();

        /// <summary>
        /// Parses manifest bytes. The kind comes from the body's <c>mediaType</c>, else from <paramref name="contentType"/>,
        /// else from its shape. Throws <see cref="InvalidDataException"/> for a malformed or unknown manifest.
        /// </summary>
        public static Manifest Parse(byte[] raw, string? contentType = null)
        {
            if (raw == null) throw new ArgumentNullException(nameof(raw));
            if (raw.Length > MaxSize) throw new InvalidDataException($"The manifest is {raw.Length} bytes; at most {MaxSize} are accepted.");
            ManifestDocument doc;
            try
            {
                doc = JsonSerializer.Deserialize<ManifestDocument>(raw, ManifestJson.Options)
                    ?? throw new InvalidDataException("The manifest is JSON null.");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException("The manifest is not valid: " + e.Message, e);
            }
            var header = MediaTypes.Normalize(contentType);
            var mediaType = !string.IsNullOrEmpty(doc.MediaType) ? doc.MediaType!
                : header != null && MediaTypes.IsManifest(header) ? header
                : doc.SchemaVersion == 1 ? (doc.Signatures.HasValue ? MediaTypes.DockerManifestV1Signed : MediaTypes.DockerManifestV1)
                : doc.Manifests != null ? MediaTypes.OciIndex
                : doc.Config != null ? MediaTypes.OciManifest
                : throw new InvalidDataException("The manifest names no media type and has neither 'config' nor 'manifests'.");

            switch (mediaType)
            {
                case MediaTypes.DockerManifestV2:
                case MediaTypes.OciManifest:
                    RequireSchema2(doc, mediaType);
                    if (doc.Config == null) throw new InvalidDataException($"The {mediaType} manifest has no config.");
                    if (doc.Layers == null) throw new InvalidDataException($"The {mediaType} manifest has no layers list.");
                    CheckDescriptors(new[] { doc.Config }.Concat(doc.Layers));
                    return mediaType == MediaTypes.DockerManifestV2
                        ? new DockerManifestV2(raw, doc.Config, doc.Layers, doc.Annotations)
                        : new OciImageManifest(raw, doc.Config, doc.Layers, doc.Annotations, doc.ArtifactType, doc.Subject);
                case MediaTypes.DockerManifestList:
                case MediaTypes.OciIndex:
                    RequireSchema2(doc, mediaType);
                    if (doc.Manifests == null) throw new InvalidDataException($"The {mediaType} index has no manifests list.");
                    CheckDescriptors(doc.Manifests);
                    return mediaType == MediaTypes.DockerManifestList
                        ? new DockerManifestList(raw, doc.Manifests, doc.Annotations)
                        : new OciImageIndex(raw, doc.Manifests, doc.Annotations, doc.ArtifactType, doc.Subject);
                case MediaTypes.DockerManifestV1:
                case MediaTypes.DockerManifestV1Signed:
                    if (doc.SchemaVersion != 1) throw new InvalidDataException("A schema1 manifest must have schemaVersion 1.");
                    return new DockerManifestV1(raw, mediaType, doc);
                default:
                    throw new InvalidDataException($"Manifest media type '{Transport.Redaction.Shorten(mediaType, MaxMediaTypeLength)}' is not one this client reads.");
            }
        }

        private static void RequireSchema2(ManifestDocument doc, string mediaType)
        {
            if (doc.SchemaVersion != 2) throw new InvalidDataException($"A {mediaType} must have schemaVersion 2, not {doc.SchemaVersion}.");
        }

        private static void CheckDescriptors(IEnumerable<Descriptor?> descriptors)
        {
            foreach (var d in descriptors)
            {
                if (d == null) throw new InvalidDataException("The manifest holds a null descriptor.");
                if (d.Digest == null) throw new InvalidDataException("A descriptor in the manifest has no digest.");
                if (d.Size < 0) throw new InvalidDataException($"Descriptor {d.Digest} has a negative size.");
                if (string.IsNullOrEmpty(d.MediaType)) throw new InvalidDataException($"Descriptor {d.Digest} has no media type.");
                // Media types end up in messages and file names: one that is a page long is not a media type but an attack.
                if (d.MediaType.Length > MaxMediaTypeLength)
                    throw new InvalidDataException($"Descriptor {d.Digest} has a media type of {d.MediaType.Length} characters; at most {MaxMediaTypeLength} are accepted.");
            }
        }

        /// <summary>Serializes a manifest made locally; the bytes become its identity.</summary>
        private protected static byte[] Serialize(object document) => JsonSerializer.SerializeToUtf8Bytes(document, ManifestJson.WriteOptions);

        internal void AttachSource(ImageReference? source)
        {
            Reference = source?.WithDigest(Digest);
            var repo = source?.WithoutReference();
            foreach (var d in References()) d.SetSourceWhileReading(repo?.WithDigest(d.Digest));
        }

        public override string ToString() => $"{MediaType} {Digest}";
    }

    /// <summary>A single-image manifest: a config and layers (Docker schema2 or OCI).</summary>
    public abstract class ImageManifest : Manifest
    {
        private protected ImageManifest(byte[] raw, string mediaType, Descriptor config, IList<Descriptor> layers, IReadOnlyDictionary<string, string>? annotations)
            : base(raw, mediaType, 2, annotations)
        {
            Config = config;
            Layers = layers.ToList();
        }

        public Descriptor Config { get; }

        public IReadOnlyList<Descriptor> Layers { get; }

        /// <summary>The config and the layers: the blobs of this image (a subject is a manifest, not a blob).</summary>
        public IEnumerable<Descriptor> Blobs => new[] { Config }.Concat(Layers);

        /// <summary>Config size plus layer sizes: what pulling this image moves.</summary>
        public long TotalSize => Config.Size + Layers.Sum(l => l.Size);

        public override IEnumerable<Descriptor> References() => new[] { Config }.Concat(Layers);
    }

    /// <summary>Docker Image Manifest V2, Schema 2.</summary>
    public sealed class DockerManifestV2 : ImageManifest
    {
        internal DockerManifestV2(byte[] raw, Descriptor config, IList<Descriptor> layers, IReadOnlyDictionary<string, string>? annotations)
            : base(raw, MediaTypes.DockerManifestV2, config, layers, annotations) { }

        /// <summary>Makes a schema2 manifest from a config and layers.</summary>
        public static DockerManifestV2 Create(Descriptor config, IEnumerable<Descriptor> layers)
        {
            var doc = new ManifestDocument { SchemaVersion = 2, MediaType = MediaTypes.DockerManifestV2, Config = Strip(config), Layers = layers.Select(Strip).ToList() };
            return (DockerManifestV2)Parse(Serialize(doc));
        }

        // artifactType stays: an index entry of an OCI 1.1 artifact (a referrers index) carries it.
        internal static Descriptor Strip(Descriptor d) => new Descriptor(d.MediaType, d.Digest, d.Size) { Urls = d.Urls, Annotations = d.Annotations, Platform = d.Platform, ArtifactType = d.ArtifactType };
    }

    /// <summary>OCI image manifest.</summary>
    public sealed class OciImageManifest : ImageManifest
    {
        internal OciImageManifest(byte[] raw, Descriptor config, IList<Descriptor> layers, IReadOnlyDictionary<string, string>? annotations, string? artifactType, Descriptor? subject)
            : base(raw, MediaTypes.OciManifest, config, layers, annotations)
        {
            ArtifactType = artifactType;
            Subject = subject;
        }

        public string? ArtifactType { get; }

        public Descriptor? Subject { get; }

        public override IEnumerable<Descriptor> References() => Subject == null ? base.References() : base.References().Concat(new[] { Subject });

        /// <summary>
        /// Makes an OCI image manifest from a config and layers; with <paramref name="artifactType"/> and
        /// <paramref name="subject"/>, an OCI 1.1 artifact that refers to another manifest.
        /// </summary>
        public static OciImageManifest Create(Descriptor config, IEnumerable<Descriptor> layers, IDictionary<string, string>? annotations = null,
            string? artifactType = null, Descriptor? subject = null)
        {
            var doc = new ManifestDocument
            {
                SchemaVersion = 2, MediaType = MediaTypes.OciManifest, ArtifactType = artifactType, Config = DockerManifestV2.Strip(config),
                Layers = layers.Select(DockerManifestV2.Strip).ToList(),
                Subject = subject == null ? null : new Descriptor(subject.MediaType, subject.Digest, subject.Size),
                Annotations = annotations == null ? null : new Dictionary<string, string>(annotations),
            };
            return (OciImageManifest)Parse(Serialize(doc));
        }
    }

    /// <summary>A multi-platform index: a Docker manifest list or an OCI image index.</summary>
    public abstract class ImageIndex : Manifest
    {
        private protected ImageIndex(byte[] raw, string mediaType, IList<Descriptor> manifests, IReadOnlyDictionary<string, string>? annotations)
            : base(raw, mediaType, 2, annotations)
        {
            Manifests = manifests.ToList();
        }

        public IReadOnlyList<Descriptor> Manifests { get; }

        /// <summary>The platforms of the index's images (attestations and unknown platforms left out).</summary>
        public IEnumerable<Platform> Platforms => Manifests.Where(m => IsImagePlatform(m.Platform)).Select(m => m.Platform!);

        public override IEnumerable<Descriptor> References() => Manifests;

        /// <summary>
        /// The manifest for a platform, or null. An exact variant match wins over a normalized one
        /// (arm64 = arm64/v8); entries without a platform and attestations (unknown/unknown) are skipped.
        /// </summary>
        public Descriptor? FindPlatform(Platform platform)
        {
            var candidates = Manifests.Where(m => IsImagePlatform(m.Platform) && platform.Matches(m.Platform)).ToList();
            if (candidates.Count <= 1) return candidates.FirstOrDefault();
            var wanted = Platform.NormalizeArch(platform.Architecture, platform.Variant);
            return candidates.FirstOrDefault(c => Platform.NormalizeArch(c.Platform!.Architecture, c.Platform.Variant).Variant == wanted.Variant)
                ?? candidates[0];
        }

        internal static bool IsImagePlatform(Platform? p) =>
            p != null && !string.Equals(p.OS, "unknown", StringComparison.OrdinalIgnoreCase) && !string.Equals(p.Architecture, "unknown", StringComparison.OrdinalIgnoreCase);

        /// <summary>Makes an index of the same kind as this one holding only <paramref name="manifests"/>; annotations are kept.</summary>
        public ImageIndex WithManifests(IEnumerable<Descriptor> manifests) => Create(MediaType, manifests, Annotations);

        /// <summary>Makes a Docker manifest list or OCI index.</summary>
        public static ImageIndex Create(string mediaType, IEnumerable<Descriptor> manifests, IReadOnlyDictionary<string, string>? annotations = null)
        {
            if (!MediaTypes.IsIndex(mediaType)) throw new ArgumentException($"'{mediaType}' is not an index media type.", nameof(mediaType));
            var doc = new ManifestDocument
            {
                SchemaVersion = 2, MediaType = mediaType, Manifests = manifests.Select(DockerManifestV2.Strip).ToList(),
                Annotations = annotations == null || mediaType == MediaTypes.DockerManifestList ? null : annotations.ToDictionary(kv => kv.Key, kv => kv.Value),
            };
            return (ImageIndex)Parse(Serialize(doc));
        }
    }

    /// <summary>Docker manifest list (multi-platform).</summary>
    public sealed class DockerManifestList : ImageIndex
    {
        internal DockerManifestList(byte[] raw, IList<Descriptor> manifests, IReadOnlyDictionary<string, string>? annotations)
            : base(raw, MediaTypes.DockerManifestList, manifests, annotations) { }
    }

    /// <summary>OCI image index.</summary>
    public sealed class OciImageIndex : ImageIndex
    {
        internal OciImageIndex(byte[] raw, IList<Descriptor> manifests, IReadOnlyDictionary<string, string>? annotations, string? artifactType, Descriptor? subject)
            : base(raw, MediaTypes.OciIndex, manifests, annotations)
        {
            ArtifactType = artifactType;
            Subject = subject;
        }

        public string? ArtifactType { get; }

        public Descriptor? Subject { get; }
    }

    /// <summary>The JSON shape shared by every manifest kind, for reading.</summary>
    internal sealed class ManifestDocument
    {
        [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; }
        [JsonPropertyName("mediaType")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? MediaType { get; set; }
        [JsonPropertyName("artifactType")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ArtifactType { get; set; }
        [JsonPropertyName("config")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Descriptor? Config { get; set; }
        [JsonPropertyName("layers")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<Descriptor>? Layers { get; set; }
        [JsonPropertyName("manifests")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<Descriptor>? Manifests { get; set; }
        [JsonPropertyName("subject")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Descriptor? Subject { get; set; }
        [JsonPropertyName("annotations")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Dictionary<string, string>? Annotations { get; set; }
        // schema1
        [JsonPropertyName("name")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Name { get; set; }
        [JsonPropertyName("tag")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Tag { get; set; }
        [JsonPropertyName("architecture")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Architecture { get; set; }
        [JsonPropertyName("fsLayers")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<FsLayer>? FsLayers { get; set; }
        [JsonPropertyName("history")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<V1History>? History { get; set; }
        [JsonPropertyName("signatures")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JsonElement? Signatures { get; set; }
    }

    internal sealed class FsLayer
    {
        [JsonPropertyName("blobSum")] public Digest? BlobSum { get; set; }
    }

    internal sealed class V1History
    {
        [JsonPropertyName("v1Compatibility")] public string? V1Compatibility { get; set; }
    }

    internal static class ManifestJson
    {
        public static readonly JsonSerializerOptions Options = new JsonSerializerOptions { MaxDepth = 64 };

        public static readonly JsonSerializerOptions WriteOptions = new JsonSerializerOptions
        {
            WriteIndented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
    }
}
