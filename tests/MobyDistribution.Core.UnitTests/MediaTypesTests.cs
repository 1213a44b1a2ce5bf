using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>What each media type helper says of Docker and OCI types, and Content-Type normalisation.</summary>
    public sealed class MediaTypesTests
    {
        [Theory]
        [InlineData(MediaTypes.OciIndex, true, false, false)]
        [InlineData(MediaTypes.DockerManifestList, true, false, false)]
        [InlineData(MediaTypes.OciManifest, false, true, false)]
        [InlineData(MediaTypes.DockerManifestV2, false, true, false)]
        [InlineData(MediaTypes.DockerManifestV1, false, false, true)]
        [InlineData(MediaTypes.DockerManifestV1Signed, false, false, true)]
        public void ManifestKinds(string mediaType, bool index, bool image, bool schema1)
        {
            Assert.Equal(index, MediaTypes.IsIndex(mediaType));
            Assert.Equal(image, MediaTypes.IsImageManifest(mediaType));
            Assert.Equal(schema1, MediaTypes.IsSchema1(mediaType));
            Assert.True(MediaTypes.IsManifest(mediaType));
            Assert.Contains(mediaType, MediaTypes.AllManifests);
        }

        [Theory]
        [InlineData(null)]
        [InlineData("")]
        [InlineData(MediaTypes.OciConfig)]
        [InlineData(MediaTypes.DockerContainerConfig)]
        [InlineData(MediaTypes.OciLayerGzip)]
        [InlineData(MediaTypes.OciEmpty)]
        [InlineData("application/json")]
        [InlineData(MediaTypes.OciManifest + "; charset=utf-8")] // helpers take normalised types
        public void NotManifests(string? mediaType)
        {
            Assert.False(MediaTypes.IsManifest(mediaType));
            Assert.False(MediaTypes.IsIndex(mediaType));
            Assert.False(MediaTypes.IsImageManifest(mediaType));
            Assert.False(MediaTypes.IsSchema1(mediaType));
        }

        [Fact]
        public void AcceptList_PrefersIndexesThenOciThenDocker()
        {
            Assert.Equal(new[]
            {
                MediaTypes.OciIndex, MediaTypes.DockerManifestList, MediaTypes.OciManifest, MediaTypes.DockerManifestV2,
                MediaTypes.DockerManifestV1Signed, MediaTypes.DockerManifestV1,
            }, MediaTypes.AllManifests);
        }

        [Theory]
        [InlineData(MediaTypes.DockerLayerGzip, true, false)]
        [InlineData(MediaTypes.DockerForeignLayerGzip, true, false)]
        [InlineData(MediaTypes.OciLayerGzip, true, false)]
        [InlineData(MediaTypes.OciNondistributableLayerGzip, true, false)]
        [InlineData(MediaTypes.OciLayerZstd, false, true)]
        [InlineData(MediaTypes.OciLayerTar, false, false)]
        [InlineData("application/vnd.oci.image.layer.v1.tar+gzip+encrypted", false, false)]
        [InlineData(null, false, false)]
        public void LayerCompression(string? mediaType, bool gzip, bool zstd)
        {
            Assert.Equal(gzip, MediaTypes.IsGzipLayer(mediaType));
            Assert.Equal(zstd, MediaTypes.IsZstdLayer(mediaType));
        }

        [Theory]
        [InlineData("application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.index.v1+json")]
        [InlineData("application/json; charset=utf-8", "application/json")]
        [InlineData("  application/json  ;charset=utf-8", "application/json")]
        [InlineData(" text/plain ", "text/plain")]
        [InlineData("; charset=utf-8", null)]
        [InlineData("   ", null)]
        [InlineData("", null)]
        [InlineData(null, null)]
        public void Normalize_StripsParametersAndWhiteSpace(string? contentType, string? expected)
        {
            Assert.Equal(expected, MediaTypes.Normalize(contentType));
        }
    }
}
