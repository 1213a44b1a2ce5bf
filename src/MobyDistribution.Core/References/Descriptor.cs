using System;
using System.Collections.Generic;
using System.Text.Json.Serialization;

namespace MobyDistribution
{
    /// <summary>
    /// An OCI content descriptor: what a manifest says of a blob or of another manifest.
    /// <see cref="Source"/> remembers the repository it was read from, so that a descriptor can be
    /// passed on (to a download, say) without restating where it lives. A descriptor does not change once made: its
    /// fields are set when it is created (or read), and <see cref="WithSource"/> makes a copy.
    /// </summary>
    public sealed class Descriptor
    {
        [JsonPropertyName("mediaType")]
        public string MediaType { get; init; } = string.Empty;

        [JsonPropertyName("digest")]
        public Digest Digest { get; init; } = null!;

        [JsonPropertyName("size")]
        public long Size { get; init; }

        [JsonPropertyName("urls")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IList<string>? Urls { get; init; }

        [JsonPropertyName("annotations")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IDictionary<string, string>? Annotations { get; init; }

        [JsonPropertyName("platform")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public Platform? Platform { get; init; }

        [JsonPropertyName("artifactType")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? ArtifactType { get; init; }

        [JsonPropertyName("data")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Data { get; init; }

        /// <summary>
        /// Where this descriptor was read: the registry and repository (with this descriptor's digest).
        /// Not part of the JSON.
        /// </summary>
        [JsonIgnore]
        public ImageReference? Source { get => _source; init => _source = value; }

        private ImageReference? _source;

        /// <summary>Records where a descriptor was read, while Core reads it (before anyone else holds it).</summary>
        internal void SetSourceWhileReading(ImageReference? source) => _source = source;

        public Descriptor() { }

        public Descriptor(string mediaType, Digest digest, long size)
        {
            MediaType = mediaType;
            Digest = digest;
            Size = size;
        }

        /// <summary>A copy with the same JSON fields and the given source.</summary>
        public Descriptor WithSource(ImageReference? source)
        {
            var copy = (Descriptor)MemberwiseClone();
            copy._source = source;
            return copy;
        }

        /// <summary>A copy with the given platform (an index entry), the same source.</summary>
        public Descriptor WithPlatform(Platform? platform) => new Descriptor(MediaType, Digest, Size)
        {
            Urls = Urls,
            Annotations = Annotations,
            Platform = platform,
            ArtifactType = ArtifactType,
            Data = Data,
            Source = Source,
        };

        /// <inheritdoc />
        public override string ToString() => $"{MediaType} {Digest} ({Size} bytes)";
    }
}
