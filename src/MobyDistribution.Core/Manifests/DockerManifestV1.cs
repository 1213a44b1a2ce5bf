using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace MobyDistribution.Manifests
{
    /// <summary>
    /// Docker Image Manifest V2, Schema 1 (read only; registries no longer accept it). For a signed manifest
    /// the digest is that of the payload without its signatures, as the registry computes it.
    /// </summary>
    public sealed class DockerManifestV1 : Manifest
    {
        internal DockerManifestV1(byte[] raw, string mediaType, ManifestDocument doc)
            : base(raw, mediaType, 1, null)
        {
            Name = doc.Name;
            Tag = doc.Tag;
            Architecture = doc.Architecture;
            FsLayers = (doc.FsLayers ?? new List<FsLayer>()).Select(l => l.BlobSum ?? throw new InvalidDataException("A schema1 fsLayer has no blobSum.")).ToList();
            History = (doc.History ?? new List<V1History>()).Select(h => h.V1Compatibility ?? string.Empty).ToList();
            IsSigned = doc.Signatures.HasValue && doc.Signatures.Value.ValueKind == JsonValueKind.Array;
            if (IsSigned)
            {
                _payload = SignedPayload(raw, doc.Signatures!.Value);
                Digest = Digest.Compute(_payload);
            }
        }

        private readonly byte[]? _payload;

        internal override byte[] DigestedBytes => _payload ?? base.DigestedBytes;

        public string? Name { get; }
        public string? Tag { get; }
        public string? Architecture { get; }

        /// <summary>Layer digests, newest first, as schema1 lists them.</summary>
        public IReadOnlyList<Digest> FsLayers { get; }

        /// <summary>The v1Compatibility JSON strings, newest first.</summary>
        public IReadOnlyList<string> History { get; }

        public bool IsSigned { get; }

        public override IEnumerable<Descriptor> References() =>
            FsLayers.Distinct().Select(d => new Descriptor(MediaTypes.DockerLayerGzip, d, -1));

        /// <summary>
        /// The JWS payload: the bytes before <c>formatLength</c> followed by the decoded <c>formatTail</c>
        /// of the first signature's protected header.
        /// </summary>
        private static byte[] SignedPayload(byte[] raw, JsonElement signatures)
        {
            try
            {
                var first = signatures.EnumerateArray().First();
                var protectedHeader = first.GetProperty("protected").GetString()!;
                using var header = JsonDocument.Parse(Base64Url(protectedHeader));
                int formatLength = header.RootElement.GetProperty("formatLength").GetInt32();
                var tail = Base64Url(header.RootElement.GetProperty("formatTail").GetString()!);
                if (formatLength < 0 || formatLength > raw.Length) throw new InvalidDataException("The schema1 signature's formatLength is out of range.");
                var payload = new byte[formatLength + tail.Length];
                Buffer.BlockCopy(raw, 0, payload, 0, formatLength);
                Buffer.BlockCopy(tail, 0, payload, formatLength, tail.Length);
                return payload;
            }
            catch (Exception e) when (e is KeyNotFoundException || e is InvalidOperationException || e is FormatException || e is JsonException)
            {
                throw new InvalidDataException("The schema1 manifest's signature is malformed: " + e.Message, e);
            }
        }

        private static byte[] Base64Url(string s)
        {
            var b = s.Replace('-', '+').Replace('_', '/');
            switch (b.Length % 4) { case 2: b += "=="; break; case 3: b += "="; break; }
            return Convert.FromBase64String(b);
        }
    }
}
