using System;
using System.Collections.Generic;
using System.Text.Json.Serialization;

namespace MobyDistribution
{
    /// <summary>
    /// An OCI content descriptor: what a manifest says of a blob or of another manifest.
    /// <see cref="Source"/> remembers the repository it was read from, so that a descriptor can be
    /// passed on (to a download, say) without restating where it lives.
    /// </summary>
    public sealed class Descriptor
    {
        [JsonPropertyName("mediaType")]
        public string MediaType { get; set; } = string.Empty;

        [JsonPropertyName("digest")]
        public Digest Digest { get; set; } = null!;

        [JsonPropertyName("size")]
        public long Size { get; set; }

        [JsonPropertyName("urls")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IList<string>? Urls { get; set; }

        [JsonPropertyName("annotations")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IDictionary<string, string>? Annotations { get; set; }

        [JsonPropertyName("platform")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public Platform? Platform { get; set; }

        [JsonPropertyName("artifactType")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? ArtifactType { get; set; }

        [JsonPropertyName("data")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Data { get; set; }

        /// <summary>
        /// Where this descriptor was read: the registry and repository (with this descriptor's digest).
        /// Not part of the JSON.
        /// </summary>
        [JsonIgnore]
        public ImageReference? Source { get; set; }

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
            copy.Source = source;
            return copy;
        }

        /// <inheritdoc />
        public override string ToString() => $"{MediaType} {Digest} ({Size} bytes)";
    }
}
