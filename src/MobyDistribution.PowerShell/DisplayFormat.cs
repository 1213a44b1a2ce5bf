using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using MobyDistribution.Manifests;

namespace MobyDistribution.PowerShell
{
    /// <summary>Short, readable forms of sizes, digests and media types, for the module's table views and progress.</summary>
    public static class DisplayFormat
    {
        private static readonly string[] Units = { "B", "KiB", "MiB", "GiB", "TiB" };

        /// <summary>A size in binary units: <c>512 B</c>, <c>3.4 MiB</c>; empty for an unknown (null or negative) size.</summary>
        /// <remarks>One overload only, so that PowerShell binds <c>$null</c> to it rather than to 0.</remarks>
        public static string Size(long? size)
        {
            if (!size.HasValue || size.Value < 0) return string.Empty;
            long bytes = size.Value;
            double value = bytes;
            int unit = 0;
            while (value >= 1024 && unit < Units.Length - 1)
            {
                value /= 1024;
                unit++;
            }
            return unit == 0
                ? bytes.ToString(CultureInfo.CurrentCulture) + " B"
                : value.ToString(value < 10 ? "0.0" : "0", CultureInfo.CurrentCulture) + " " + Units[unit];
        }

        /// <summary>A size for list views: <c>3.4 MiB (3,561,234 bytes)</c>; empty for an unknown size.</summary>
        public static string SizeAndBytes(long? size)
        {
            if (!size.HasValue || size.Value < 0) return string.Empty;
            var bytes = size.Value.ToString("N0", CultureInfo.CurrentCulture) + (size.Value == 1 ? " byte" : " bytes");
            return size.Value < 1024 ? bytes : Size(size) + " (" + bytes + ")";
        }

        /// <summary>The OCI annotation that says when an image was made (<c>org.opencontainers.image.created</c>), when there is one.</summary>
        public static DateTimeOffset? Created(IEnumerable<KeyValuePair<string, string>>? annotations)
        {
            if (annotations == null) return null;
            foreach (var pair in annotations)
            {
                if (pair.Key == CreatedAnnotation &&
                    DateTimeOffset.TryParse(pair.Value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var created))
                    return created;
            }
            return null;
        }

        /// <summary>Annotations one per line, <c>key = value</c>, sorted by key.</summary>
        public static string Annotations(IEnumerable<KeyValuePair<string, string>>? annotations) =>
            annotations == null ? string.Empty : string.Join(Environment.NewLine, annotations.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => a.Key + " = " + a.Value));

        /// <summary>A descriptor in one line for list views: <c>sha256:0123456789ab, 1.2 KiB, linux/amd64</c>.</summary>
        public static string Summary(Descriptor? descriptor)
        {
            if (descriptor == null) return string.Empty;
            var text = Digest(descriptor.Digest) + ", " + Size(descriptor.Size);
            return descriptor.Platform != null ? text + ", " + descriptor.Platform : text;
        }

        private const string CreatedAnnotation = "org.opencontainers.image.created";

        /// <summary><c>sha256:</c> and the first 12 hex digits, enough to tell blobs apart on screen.</summary>
        public static string Digest(Digest? digest) => digest is null ? string.Empty : digest.Algorithm + ":" + digest.Short;

        /// <summary>A media type without the <c>application/vnd.</c> prefix that every registry type shares.</summary>
        public static string MediaType(string? mediaType)
        {
            if (string.IsNullOrEmpty(mediaType)) return string.Empty;
            const string prefix = "application/vnd.";
            return mediaType!.StartsWith(prefix, StringComparison.Ordinal) ? mediaType.Substring(prefix.Length) : mediaType;
        }
    
        /// <summary>
        /// A media type in a word or two for narrow tables: <c>OCI image</c>, <c>Docker list</c>, <c>layer (gzip)</c>,
        /// <c>config</c>; any other type as <see cref="MediaType"/> gives it.
        /// </summary>
        public static string Kind(string? mediaType)
        {
            switch (mediaType)
            {
                case null: case "": return string.Empty;
                case MediaTypes.OciManifest: return "OCI image";
                case MediaTypes.OciIndex: return "OCI index";
                case MediaTypes.DockerManifestV2: return "Docker image";
                case MediaTypes.DockerManifestList: return "Docker list";
                case MediaTypes.DockerManifestV1: case MediaTypes.DockerManifestV1Signed: return "Docker v1";
                case MediaTypes.OciConfig: case MediaTypes.DockerContainerConfig: return "config";
                case MediaTypes.OciEmpty: return "empty";
                case MediaTypes.OciLayerTar: return "layer (tar)";
                case MediaTypes.OciLayerGzip: case MediaTypes.DockerLayerGzip: return "layer (gzip)";
                case MediaTypes.OciLayerZstd: return "layer (zstd)";
                case MediaTypes.DockerForeignLayerGzip: case MediaTypes.OciNondistributableLayerGzip: return "foreign layer";
                default: return MediaType(mediaType);
            }
        }

        /// <summary>A registry's quota for a table: <c>76/100 per 6 h</c>, <c>76 left</c>; empty when none was seen.</summary>
        public static string RateLimit(MobyDistribution.Transport.RateLimitStatus? status)
        {
            if (status == null) return string.Empty;
            var text = status.Remaining.HasValue && status.Limit.HasValue ? $"{status.Remaining}/{status.Limit}"
                : status.Remaining.HasValue ? $"{status.Remaining} left" : $"{status.Limit}";
            return status.WindowSeconds.HasValue ? text + " per " + status.Window : text;
        }

        /// <summary>
        /// What a manifest holds, in a few words: <c>2 layers, 12.8 KiB</c> for an image, <c>2 images: linux/amd64, linux/arm64/v8</c>
        /// for an index, so that one table reads well whatever kinds a pipeline mixes.
        /// </summary>
        public static string Contents(Manifest? manifest)
        {
            switch (manifest)
            {
                case ImageManifest image:
                    return $"{Count(image.Layers.Count, "layer")}, {Size(image.TotalSize)}";
                case ImageIndex index:
                    var platforms = index.Platforms.Select(p => p.ToString()).Distinct().ToList();
                    var others = index.Manifests.Count - index.Manifests.Count(m => m.Platform != null && platforms.Contains(m.Platform.ToString()));
                    var text = Count(index.Manifests.Count, "manifest");
                    if (platforms.Count > 0) text += ": " + string.Join(", ", platforms);
                    if (others > 0 && platforms.Count > 0) text += $" (+{others} other)";
                    return text;
                case DockerManifestV1 v1:
                    return Count(v1.FsLayers.Count, "layer") + (string.IsNullOrEmpty(v1.Architecture) ? string.Empty : ", " + v1.Architecture);
                default:
                    return string.Empty;
            }
        }

        private static string Count(int n, string noun) => n.ToString(CultureInfo.CurrentCulture) + " " + noun + (n == 1 ? string.Empty : "s");
    }
}
