using System;
using System.Collections.Generic;

namespace MobyDistribution
{
    /// <summary>Media types of Docker and OCI manifests, configs and layers.</summary>
    public static class MediaTypes
    {
        public const string DockerManifestV2 = "application/vnd.docker.distribution.manifest.v2+json";
        public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
        public const string DockerManifestV1 = "application/vnd.docker.distribution.manifest.v1+json";
        public const string DockerManifestV1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        public const string DockerContainerConfig = "application/vnd.docker.container.image.v1+json";
        public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
        public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

        public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
        public const string OciIndex = "application/vnd.oci.image.index.v1+json";
        public const string OciConfig = "application/vnd.oci.image.config.v1+json";
        public const string OciLayerTar = "application/vnd.oci.image.layer.v1.tar";
        public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
        public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
        public const string OciNondistributableLayerGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
        public const string OciEmpty = "application/vnd.oci.empty.v1+json";

        /// <summary>Every manifest type this client reads, most preferred first; sent as the Accept list.</summary>
        public static IReadOnlyList<string> AllManifests { get; } = new[]
        {
            OciIndex, DockerManifestList, OciManifest, DockerManifestV2, DockerManifestV1Signed, DockerManifestV1,
        };

        /// <summary>True for a Docker manifest list or an OCI index.</summary>
        public static bool IsIndex(string? mediaType) =>
            string.Equals(mediaType, OciIndex, StringComparison.Ordinal) ||
            string.Equals(mediaType, DockerManifestList, StringComparison.Ordinal);

        /// <summary>True for a single-image manifest (Docker schema2 or OCI).</summary>
        public static bool IsImageManifest(string? mediaType) =>
            string.Equals(mediaType, OciManifest, StringComparison.Ordinal) ||
            string.Equals(mediaType, DockerManifestV2, StringComparison.Ordinal);

        /// <summary>True for Docker schema1, signed or not.</summary>
        public static bool IsSchema1(string? mediaType) =>
            string.Equals(mediaType, DockerManifestV1, StringComparison.Ordinal) ||
            string.Equals(mediaType, DockerManifestV1Signed, StringComparison.Ordinal);

        /// <summary>True for any manifest media type this client knows.</summary>
        public static bool IsManifest(string? mediaType) => IsIndex(mediaType) || IsImageManifest(mediaType) || IsSchema1(mediaType);

        /// <summary>True for a layer media type that is gzip-compressed.</summary>
        public static bool IsGzipLayer(string? mediaType) =>
            mediaType != null && (mediaType.EndsWith("+gzip", StringComparison.Ordinal) || mediaType.EndsWith(".tar.gzip", StringComparison.Ordinal));

        /// <summary>True for a layer media type that is zstd-compressed.</summary>
        public static bool IsZstdLayer(string? mediaType) => mediaType != null && mediaType.EndsWith("+zstd", StringComparison.Ordinal);

        /// <summary>Strips parameters ("; charset=utf-8") and white space from a Content-Type value.</summary>
        public static string? Normalize(string? contentType)
        {
            if (contentType == null) return null;
            int semi = contentType.IndexOf(';');
            var value = (semi >= 0 ? contentType.Substring(0, semi) : contentType).Trim();
            return value.Length == 0 ? null : value;
        }
    }
}
