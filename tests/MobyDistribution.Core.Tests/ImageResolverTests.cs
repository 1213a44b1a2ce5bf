using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>The platform selection of <see cref="ImageResolver"/> on indexes made in memory: no registry.</summary>
    public sealed class ImageResolverSelectionTests
    {
        private static ImageIndex IndexOf(params string[] platforms)
        {
            var entries = platforms.Select((p, i) => new Descriptor(MediaTypes.OciManifest, Digest.Compute(Encoding.UTF8.GetBytes(p + i)), 100 + i)
            {
                Platform = p == "unknown/unknown" ? new Platform("unknown", "unknown") : Platform.Parse(p),
            });
            return ImageIndex.Create(MediaTypes.OciIndex, entries);
        }

        private static string Chosen(ImageIndex index, string? platform, string host) =>
            ImageResolver.SelectPlatform(index, platform == null ? null : Platform.Parse(platform), Platform.Parse(host))!.Platform!.ToString();

        [Theory]
        [InlineData("windows/amd64", "windows/amd64,linux/amd64")]
        [InlineData("linux/amd64", "linux/amd64")]
        [InlineData("linux/arm64/v8", "linux/arm64/v8,linux/amd64")]
        [InlineData("windows/arm64/v8", "windows/arm64/v8,linux/arm64/v8,linux/amd64")]
        [InlineData("linux/s390x", "linux/s390x,linux/amd64")]
        public void DefaultPlatforms_AreTheHost_ThenLinuxOfItsArchitecture_ThenLinuxAmd64(string host, string expected)
        {
            Assert.Equal(expected, string.Join(",", ImageResolver.DefaultPlatforms(Platform.Parse(host))));
        }

        [Theory]
        // The host's own platform when the index has it.
        [InlineData("windows/amd64", "windows/amd64", "linux/amd64,windows/amd64")]
        [InlineData("linux/arm64/v8", "linux/arm64/v8", "linux/amd64,linux/arm64/v8")]
        // A Windows host takes the Linux image of its architecture from a Linux-only index.
        [InlineData("windows/amd64", "linux/amd64", "linux/arm64/v8,linux/amd64")]
        [InlineData("windows/arm64/v8", "linux/arm64/v8", "linux/amd64,linux/arm64/v8")]
        // arm64 ~ arm64/v8 and arm ~ arm/v7, as containerd normalizes them.
        [InlineData("linux/arm64/v8", "linux/arm64", "linux/amd64,linux/arm64")]
        [InlineData("linux/arm/v7", "linux/arm", "linux/amd64,linux/arm")]
        // Else linux/amd64.
        [InlineData("windows/arm64/v8", "linux/amd64", "linux/amd64,linux/ppc64le")]
        [InlineData("linux/s390x", "linux/amd64", "linux/ppc64le,linux/amd64")]
        public void SelectPlatform_WithoutAPlatform_FollowsTheDefaultRule(string host, string expected, string indexPlatforms)
        {
            Assert.Equal(expected, Chosen(IndexOf(indexPlatforms.Split(',')), null, host));
        }

        [Fact]
        public void SelectPlatform_WithoutAPlatform_AndNoneOfTheDefaults_ListsWhatTheIndexHas()
        {
            var index = IndexOf("linux/arm64/v8", "linux/ppc64le", "unknown/unknown");
            var e = Assert.Throws<PlatformNotFoundException>(() => ImageResolver.SelectPlatform(index, null, Platform.Parse("windows/amd64")));
            Assert.True(e.ByDefault);
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Equal(new[] { "windows/amd64", "linux/amd64" }, e.Wanted.Select(p => p.ToString()));
            Assert.Equal(new[] { "linux/arm64/v8", "linux/ppc64le" }, e.Available.Select(p => p.ToString()));
            Assert.Contains("windows/amd64, linux/amd64", e.Message);
            Assert.Contains("It has: linux/arm64/v8, linux/ppc64le.", e.Message);
        }

        [Theory]
        [InlineData("linux/arm64", "linux/arm64/v8")]
        [InlineData("linux/arm64/v8", "linux/arm64/v8")]
        [InlineData("linux/arm", "linux/arm/v7")]
        [InlineData("linux/arm/v6", "linux/arm/v6")]
        [InlineData("linux/amd64", "linux/amd64")]
        public void SelectPlatform_WithAPlatform_TakesItsEntry_WhateverTheHost(string wanted, string expected)
        {
            var index = IndexOf("linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "windows/amd64");
            Assert.Equal(expected, Chosen(index, wanted, "windows/amd64"));
        }

        [Fact]
        public void SelectPlatform_WithAMissingPlatform_ListsWhatTheIndexHas_AndNamesNoParameter()
        {
            var index = IndexOf("linux/amd64", "linux/arm64/v8", "unknown/unknown");
            var reference = ImageReference.Parse("localhost:5000/app:v1");
            var e = Assert.Throws<PlatformNotFoundException>(() =>
                ImageResolver.SelectPlatform(index, Platform.Parse("linux/s390x"), Platform.Parse("linux/amd64"), reference));
            Assert.False(e.ByDefault);
            Assert.Same(reference, e.Reference);
            Assert.Equal("linux/s390x", Assert.Single(e.Wanted).ToString());
            Assert.Equal(new[] { "linux/amd64", "linux/arm64/v8" }, e.Available.Select(p => p.ToString()));
            Assert.Equal("The index localhost:5000/app:v1 has no image for platform linux/s390x. It has: linux/amd64, linux/arm64/v8.", e.Message);
            Assert.DoesNotContain("-Platform", e.Message);
        }

        [Fact]
        public void SelectPlatforms_KeepsTheIndexOrder_AndEachEntryOnce()
        {
            var index = IndexOf("linux/amd64", "linux/arm/v7", "linux/arm64/v8");
            var chosen = ImageResolver.SelectPlatforms(index, new[] { Platform.Parse("linux/arm64"), Platform.Parse("linux/amd64"), Platform.Parse("linux/arm64/v8") });
            Assert.Equal(new[] { "linux/amd64", "linux/arm64/v8" }, chosen.Select(d => d.Platform!.ToString()));
        }

        [Fact]
        public void SelectPlatforms_NamesEveryMissingPlatform()
        {
            var index = IndexOf("linux/amd64", "linux/arm64/v8");
            var e = Assert.Throws<PlatformNotFoundException>(() => ImageResolver.SelectPlatforms(index,
                new[] { Platform.Parse("linux/s390x"), Platform.Parse("linux/amd64"), Platform.Parse("linux/ppc64le") }));
            Assert.Equal(new[] { "linux/s390x", "linux/ppc64le" }, e.Wanted.Select(p => p.ToString()));
            Assert.Contains("linux/s390x, linux/ppc64le", e.Message);
            Assert.Contains("It has: linux/amd64, linux/arm64/v8.", e.Message);
        }
    }

    /// <summary><see cref="ImageResolver"/> against the test bed's registry, with its two-platform index (linux/amd64, linux/arm64/v8).</summary>
    [Collection("registries")]
    public sealed class ImageResolverTests
    {
        private readonly TestBedFixture _bed;

        public ImageResolverTests(TestBedFixture bed) => _bed = bed;

        private RegistryServer Registry => _bed.Anonymous;

        private FixtureManifest Arm => _bed.Index.Manifests.Single(m => m.Architecture == "arm64");

        private FixtureManifest Amd => _bed.Index.Manifests.Single(m => m.Architecture == "amd64");

        private ImageReference PushedIndex()
        {
            Reg.PushOnce(_bed.Index, Registry, "core/resolve-index", "multi");
            return ImageReference.Parse($"{Registry.HostPort}/core/resolve-index:multi");
        }

        private ImageResolver Resolver(string? host = null)
        {
            var client = Reg.Client(Registry);
            return new ImageResolver(_ => client, host == null ? null : Platform.Parse(host));
        }

        [Fact]
        public async Task ByTag_ASingleImage_IsWhatTheReferenceNames_WhateverThePlatform()
        {
            Reg.PushOnce(_bed.Image, Registry, "core/resolve-one", "v1");
            var reference = ImageReference.Parse($"{Registry.HostPort}/core/resolve-one:v1");

            var resolved = await Resolver().ResolveAsync(reference, Platform.Parse("linux/s390x"));

            Assert.IsAssignableFrom<ImageManifest>(resolved.Manifest);
            Assert.Equal(_bed.Image.ManifestDigest, resolved.Manifest.Digest.ToString());
            Assert.Null(resolved.Index);
            Assert.Null(resolved.Entry);
            Assert.Null(resolved.Platform);
            Assert.Same(reference, resolved.Reference);
        }

        [Fact]
        public async Task ByDigest_OfAChild_IsThatImage()
        {
            var reference = PushedIndex().WithTag(null).WithDigest(Digest.Parse(Arm.Digest));

            var resolved = await Resolver().ResolveAsync(reference);

            Assert.Equal(Arm.Digest, resolved.Manifest.Digest.ToString());
            Assert.Null(resolved.Index);
        }

        [Theory]
        [InlineData("linux/arm64")]
        [InlineData("linux/arm64/v8")]
        public async Task AnIndex_WithAPlatform_IsThatPlatformsImage(string platform)
        {
            var reference = PushedIndex();

            var resolved = await Resolver("linux/amd64").ResolveAsync(reference, Platform.Parse(platform));

            var image = Assert.IsAssignableFrom<ImageManifest>(resolved.Manifest);
            Assert.Equal(Arm.Digest, image.Digest.ToString());
            Assert.Equal(Arm.ConfigDigest, image.Config.Digest.ToString());
            Assert.Equal(_bed.Index.Digest, resolved.Index!.Digest.ToString());
            Assert.Equal(Arm.Digest, resolved.Entry!.Digest.ToString());
            Assert.Equal("linux/arm64/v8", resolved.Platform!.ToString());
        }

        [Fact]
        public async Task AnIndex_ByDigest_WithAPlatform_IsThatPlatformsImage()
        {
            var reference = PushedIndex().WithTag(null).WithDigest(Digest.Parse(_bed.Index.Digest));

            var resolved = await Resolver().ResolveAsync(reference, Platform.Parse("linux/amd64"));

            Assert.Equal(Amd.Digest, resolved.Manifest.Digest.ToString());
        }

        [Fact]
        public async Task AMissingPlatform_IsPlatformNotFound_ListingThoseTheIndexHas()
        {
            var reference = PushedIndex();

            var e = await Assert.ThrowsAsync<PlatformNotFoundException>(() => Resolver().ResolveAsync(reference, Platform.Parse("linux/s390x")));

            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
            Assert.Same(reference, e.Reference);
            Assert.Equal(new[] { "linux/amd64", "linux/arm64/v8" }, e.Available.Select(p => p.ToString()));
            Assert.Contains("linux/s390x", e.Message);
            Assert.Contains("It has: linux/amd64, linux/arm64/v8.", e.Message);
        }

        [Theory]
        [InlineData("windows/amd64", "amd64")]
        [InlineData("windows/arm64/v8", "arm64")]
        [InlineData("linux/arm64/v8", "arm64")]
        [InlineData("linux/s390x", "amd64")]
        public async Task WithoutAPlatform_AHostTheIndexLacks_TakesLinuxOfItsArchitecture_ElseLinuxAmd64(string host, string architecture)
        {
            var resolved = await Resolver(host).ResolveAsync(PushedIndex());

            Assert.Equal(_bed.Index.Manifests.Single(m => m.Architecture == architecture).Digest, resolved.Manifest.Digest.ToString());
        }

        [Fact]
        public async Task WithoutAPlatform_TheHostsOwnPlatform_WinsWhenTheIndexHasIt()
        {
            // An index listing the arm64 image as windows/amd64 next to the real linux/amd64 one: the registry checks no platforms.
            var source = PushedIndex();
            var client = Reg.Client(Registry);
            var index = (ImageIndex)await client.Manifests.GetAsync(source.Repository, source.Reference);
            var relabelled = index.WithManifests(index.Manifests.Select(d => new Descriptor(d.MediaType, d.Digest, d.Size)
            {
                Platform = d.Digest.ToString() == Arm.Digest ? Platform.Parse("windows/amd64") : d.Platform,
            }));
            await client.Manifests.PutAsync(source.Repository, "mixed", relabelled.GetRawBytes(), relabelled.MediaType);
            var mixed = source.WithTag("mixed");

            Assert.Equal(Arm.Digest, (await Resolver("windows/amd64").ResolveAsync(mixed)).Manifest.Digest.ToString());
            Assert.Equal(Amd.Digest, (await Resolver("linux/amd64").ResolveAsync(mixed)).Manifest.Digest.ToString());
        }

        [Fact]
        public async Task ImageSource_TheExporter_AndTheCopier_RaisePlatformNotFound_ForAMissingPlatform()
        {
            var reference = PushedIndex();
            var client = Reg.Client(Registry);
            var s390x = Platform.Parse("linux/s390x");
            using var temp = new Archives.TempDir();
            var path = temp.File("never.tar");

            await Assert.ThrowsAsync<PlatformNotFoundException>(() =>
                new ImageExporter(_ => client).ExportAsync(reference, path, new ImageExportOptions { Platform = s390x }));
            Assert.False(File.Exists(path));
            var e = await Assert.ThrowsAsync<PlatformNotFoundException>(() => new ImageCopier(_ => client).PlanAsync(reference,
                reference.WithRepository("core/resolve-copy"), new ImageCopyOptions { Platforms = new[] { Platform.Parse("linux/amd64"), s390x } }));
            Assert.Equal("linux/s390x", Assert.Single(e.Wanted).ToString());
        }
    }
}
