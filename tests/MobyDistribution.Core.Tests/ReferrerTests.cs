using System;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Discovery of OCI referrers against the real registry (no referrers API: the tag schema) and through a proxy that serves
    /// the API from the registry's own storage; referrers written by hand (<see cref="HandWritten"/>), not by Core.
    /// </summary>
    [Collection("registries")]
    public sealed class ReferrerTests
    {
        private const string Sbom = "application/spdx+json";
        private const string Signature = "application/vnd.example.signature";
        private readonly TestBedFixture _bed;

        public ReferrerTests(TestBedFixture bed) => _bed = bed;

        [Fact]
        public void TagSchemaTag_ReplacesTheColon_AndCutsLongDigestsTo64()
        {
            var sha256 = Digest.Parse("sha256:" + new string('a', 64));
            Assert.Equal("sha256-" + new string('a', 64), ReferrerService.TagSchemaTag(sha256));
            var sha512 = Digest.Parse("sha512:" + new string('b', 128));
            Assert.Equal("sha512-" + new string('b', 64), ReferrerService.TagSchemaTag(sha512));
        }

        [Fact]
        public async Task WithoutApi_ReadsTheTagSchemaIndex_AndFiltersOnTheClient()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("ref-tagschema");
            var image = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 1, "v1");
            var sbom = await HandWritten.PushArtifactAsync(registry.BaseUrl, repo, Sbom, MediaTypes.OciManifest, image.Digest, image.Size, "sbom");
            var sig = await HandWritten.PushArtifactAsync(registry.BaseUrl, repo, Signature, MediaTypes.OciManifest, image.Digest, image.Size, "sig");
            Assert.Null(sbom.OciSubject);
            await HandWritten.PushIndexAsync(registry.BaseUrl, repo, HandWritten.TagSchemaTag(image.Digest),
                HandWritten.Descriptor(MediaTypes.OciManifest, sbom.Digest, sbom.Size, Sbom),
                HandWritten.Descriptor(MediaTypes.OciManifest, sig.Digest, sig.Size, Signature));

            var client = Reg.Client(registry);
            var all = await client.Referrers.ListAsync(repo, Digest.Parse(image.Digest));
            Assert.Equal(ReferrerListSource.TagSchema, all.Source);
            Assert.Equal(new[] { sbom.Digest, sig.Digest }.OrderBy(d => d), all.Referrers.Select(r => r.Digest.ToString()).OrderBy(d => d));
            Assert.Equal(Sbom, all.Referrers.Single(r => r.Digest.ToString() == sbom.Digest).ArtifactType);

            var sboms = await client.Referrers.ListAsync(repo, Digest.Parse(image.Digest), Sbom);
            Assert.Equal(new[] { sbom.Digest }, sboms.Referrers.Select(r => r.Digest.ToString()));

            // The real registry has no API: the direct request is the plain-text 404 of an unknown route.
            Assert.Null(await client.Referrers.TryListFromApiAsync(repo, Digest.Parse(image.Digest)));
        }

        [Fact]
        public async Task WithApi_ListsFromTheRegistrysData_PagedAndFilteredByTheServer()
        {
            var registry = _bed.Anonymous;
            using var proxy = FaultProxy.StartWithReferrersApi(registry, pageSize: 1);
            var repo = Reg.Repo("ref-api");
            var image = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 2, "v1");
            // Pushed by digest only, and no tag-schema index: only the API can know them.
            var sbom = await HandWritten.PushArtifactAsync(proxy.BaseUrl, repo, Sbom, MediaTypes.OciManifest, image.Digest, image.Size, "sbom");
            var sig = await HandWritten.PushArtifactAsync(registry.BaseUrl, repo, Signature, MediaTypes.OciManifest, image.Digest, image.Size, "sig");
            var other = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 3);
            Assert.Equal(image.Digest, sbom.OciSubject);

            var client = HandWritten.Client(proxy.HostPort);
            var all = await client.Referrers.ListAsync(repo, Digest.Parse(image.Digest));
            Assert.Equal(ReferrerListSource.Api, all.Source);
            Assert.Equal(new[] { sbom.Digest, sig.Digest }.OrderBy(d => d), all.Referrers.Select(r => r.Digest.ToString()).OrderBy(d => d));
            Assert.Contains(proxy.Log, e => e.Path.Contains("/referrers/") && e.HasQuery && e.Status == 200);

            var sigs = await client.Referrers.ListAsync(repo, Digest.Parse(image.Digest), Signature);
            Assert.Equal(new[] { sig.Digest }, sigs.Referrers.Select(r => r.Digest.ToString()));
            Assert.Equal("sig", sigs.Referrers[0].Annotations!["org.example.payload"]);

            var none = await client.Referrers.ListAsync(repo, Digest.Parse(other.Digest));
            Assert.Equal(ReferrerListSource.Api, none.Source);
            Assert.Empty(none.Referrers);

            // The same repository read directly: no API, no tag-schema index, so nothing.
            var direct = await Reg.Client(registry).Referrers.ListAsync(repo, Digest.Parse(image.Digest));
            Assert.Equal(ReferrerListSource.TagSchema, direct.Source);
            Assert.Empty(direct.Referrers);
        }

        [Fact]
        public async Task WithApi_ServerThatDoesNotFilter_IsFilteredOnTheClient()
        {
            var registry = _bed.Anonymous;
            using var proxy = FaultProxy.Start(registry.BaseUrl, new FaultProxyOptions { ReferrersStorage = registry.StorageDirectory, ReferrersFilter = false });
            var repo = Reg.Repo("ref-api-filter");
            var image = await HandWritten.PushImageAsync(registry.BaseUrl, repo, 4, "v1");
            var a = await HandWritten.PushArtifactAsync(registry.BaseUrl, repo, Sbom, MediaTypes.OciManifest, image.Digest, image.Size, "a");
            await HandWritten.PushArtifactAsync(registry.BaseUrl, repo, Signature, MediaTypes.OciManifest, image.Digest, image.Size, "b");
            var client = HandWritten.Client(proxy.HostPort);
            var listed = await client.Referrers.TryListFromApiAsync(repo, Digest.Parse(image.Digest), Sbom);
            Assert.Equal(new[] { a.Digest }, listed!.Select(r => r.Digest.ToString()));
        }

        [Theory]
        [InlineData("basic")]
        [InlineData("token")]
        public async Task WithApi_OnAnAuthenticatedRegistry_TheProxyRelaysTheChallenge_AndListsWithTheClientsCredentials(string mode)
        {
            var registry = _bed.Env.Get(mode);
            using var proxy = FaultProxy.StartWithReferrersApi(registry);
            var repo = Reg.Repo("ref-auth");
            var client = Reg.Client(registry);
            // Pushed with Core (the registry needs credentials): an image and an artifact whose subject it is.
            var config = await client.Blobs.UploadAsync(repo, new System.IO.MemoryStream(System.Text.Encoding.ASCII.GetBytes("{}")), new BlobUploadOptions { Monolithic = true });
            var image = Manifests.OciImageManifest.Create(new Descriptor(MediaTypes.OciConfig, config.Descriptor.Digest, 2), Array.Empty<Descriptor>());
            var imageDescriptor = await client.Manifests.PutAsync(repo, "v1", image);
            var artifact = Manifests.OciImageManifest.Create(new Descriptor(MediaTypes.OciEmpty, config.Descriptor.Digest, 2), Array.Empty<Descriptor>(), null, Sbom, imageDescriptor);
            await client.Manifests.PutAsync(repo, artifact.Digest.ToString(), artifact);

            var viaProxy = new RegistryClient(Transport.RegistryEndpoint.Parse(proxy.HostPort), new Transport.RegistryClientOptions { CredentialStore = null, Credential = Reg.CredentialFor(registry) });
            var listed = await viaProxy.Referrers.ListAsync(repo, image.Digest);
            Assert.Equal(ReferrerListSource.Api, listed.Source);
            Assert.Equal(artifact.Digest, Assert.Single(listed.Referrers).Digest);

            var anonymous = new RegistryClient(Transport.RegistryEndpoint.Parse(proxy.HostPort), new Transport.RegistryClientOptions { CredentialStore = null });
            var refused = await Assert.ThrowsAsync<Errors.RegistryException>(() => anonymous.Referrers.ListAsync(repo, image.Digest));
            Assert.Equal(Errors.RegistryErrorKind.Unauthorized, refused.Kind);
        }

        [Fact]
        public async Task Discovery_FindsCosignTags_ReferrersOfReferrers_AndStopsAtCycles()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("ref-walk");
            var url = registry.BaseUrl;
            var image = await HandWritten.PushImageAsync(url, repo, 5, "v1");
            var sbom = await HandWritten.PushArtifactAsync(url, repo, Sbom, MediaTypes.OciManifest, image.Digest, image.Size, "sbom");
            var sbomSig = await HandWritten.PushArtifactAsync(url, repo, Signature, MediaTypes.OciManifest, sbom.Digest, sbom.Size, "sbom-sig");
            await HandWritten.PushIndexAsync(url, repo, HandWritten.TagSchemaTag(image.Digest), HandWritten.Descriptor(MediaTypes.OciManifest, sbom.Digest, sbom.Size, Sbom));
            // The signature's index also lists the image itself: a cycle a careless walk would follow for ever.
            await HandWritten.PushIndexAsync(url, repo, HandWritten.TagSchemaTag(sbom.Digest),
                HandWritten.Descriptor(MediaTypes.OciManifest, sbomSig.Digest, sbomSig.Size, Signature),
                HandWritten.Descriptor(MediaTypes.OciManifest, image.Digest, image.Size));
            // A cosign signature: a plain manifest (no subject) under the legacy tag.
            var cosign = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.dev.cosign.artifact.sig.v1+json", MediaTypes.OciManifest, image.Digest, image.Size,
                "cosign", tag: HandWritten.TagSchemaTag(image.Digest) + ".sig", subjectFieldOverride: "");

            var discovery = new ReferrerDiscovery(_ => Reg.Client(registry));
            var reference = ImageReference.Parse($"{registry.HostPort}/{repo}:v1");

            var flat = await discovery.FindAsync(reference);
            Assert.Equal(image.Digest, flat.Subject.Digest.ToString());
            Assert.False(flat.UsedApi);
            Assert.Equal(2, flat.Referrers.Count);
            var tagSchema = flat.Referrers.Single(r => r.Kind == ReferrerKind.TagSchema);
            Assert.Equal(sbom.Digest, tagSchema.Digest.ToString());
            Assert.Equal(image.Digest, tagSchema.Subject.Digest.ToString());
            Assert.Equal($"{registry.HostPort}/{repo}@{sbom.Digest}", tagSchema.Reference.ToString());
            var sig = flat.Referrers.Single(r => r.Kind == ReferrerKind.CosignTag);
            Assert.Equal(cosign.Digest, sig.Digest.ToString());
            Assert.Equal(HandWritten.TagSchemaTag(image.Digest) + ".sig", sig.Tag);
            Assert.Equal("application/vnd.dev.cosign.artifact.sig.v1+json", sig.ArtifactType);

            var deep = await discovery.FindAsync(reference, new ReferrerQuery { Recurse = true });
            Assert.Equal(3, deep.Referrers.Count);
            var nested = deep.Referrers.Single(r => r.Digest.ToString() == sbomSig.Digest);
            Assert.Equal(1, nested.Depth);
            Assert.Equal(sbom.Digest, nested.Subject.Digest.ToString());
            Assert.False(deep.DepthLimitReached);
            // Depth first: the SBOM's signature follows the SBOM.
            var order = deep.Referrers.Select(r => r.Digest.ToString()).ToList();
            Assert.Equal(order.IndexOf(sbom.Digest) + 1, order.IndexOf(sbomSig.Digest));

            var shallow = await discovery.FindAsync(reference, new ReferrerQuery { Recurse = true, MaxDepth = 1 });
            Assert.Equal(2, shallow.Referrers.Count);
            Assert.True(shallow.DepthLimitReached);

            var onlySignatures = await discovery.FindAsync(reference, new ReferrerQuery { Recurse = true, ArtifactType = Signature });
            Assert.Equal(new[] { sbomSig.Digest }, onlySignatures.Referrers.Select(r => r.Digest.ToString()));
        }

        [Fact]
        public async Task Discovery_ThroughTheApi_ReportsKindReferrer_AndRecurses()
        {
            var registry = _bed.Anonymous;
            using var proxy = FaultProxy.StartWithReferrersApi(registry);
            var repo = Reg.Repo("ref-walk-api");
            var url = registry.BaseUrl;
            var image = await HandWritten.PushImageAsync(url, repo, 6, "v1");
            var sbom = await HandWritten.PushArtifactAsync(url, repo, Sbom, MediaTypes.OciManifest, image.Digest, image.Size, "sbom");
            var sbomSig = await HandWritten.PushArtifactAsync(url, repo, Signature, MediaTypes.OciManifest, sbom.Digest, sbom.Size, "sbom-sig");

            var discovery = new ReferrerDiscovery(_ => HandWritten.Client(proxy.HostPort));
            var graph = await discovery.FindAsync(ImageReference.Parse($"{proxy.HostPort}/{repo}:v1"), new ReferrerQuery { Recurse = true });
            Assert.True(graph.UsedApi);
            Assert.Equal(new[] { sbom.Digest, sbomSig.Digest }, graph.Referrers.Select(r => r.Digest.ToString()));
            Assert.All(graph.Referrers, r => Assert.Equal(ReferrerKind.Referrer, r.Kind));
            Assert.Equal(Sbom, graph.Referrers[0].ArtifactType);
        }

        [Fact]
        public async Task Discovery_BuildxAttestations_AreReportedForTheirImage()
        {
            var registry = _bed.Anonymous;
            var repo = Reg.Repo("ref-buildx");
            var url = registry.BaseUrl;
            var amd64 = await HandWritten.PushImageAsync(url, repo, 7);
            var arm64 = await HandWritten.PushImageAsync(url, repo, 8);
            // An attestation manifest as buildx writes it: an image manifest whose layer is an in-toto statement, no subject.
            var attestation = await HandWritten.PushArtifactAsync(url, repo, "application/vnd.example.attestation", MediaTypes.OciManifest, amd64.Digest, amd64.Size,
                "in-toto", subjectFieldOverride: "");
            await HandWritten.PushIndexAsync(url, repo, "multi",
                HandWritten.Descriptor(MediaTypes.OciManifest, amd64.Digest, amd64.Size, extra: "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}"),
                HandWritten.Descriptor(MediaTypes.OciManifest, arm64.Digest, arm64.Size, extra: "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}"),
                HandWritten.Descriptor(MediaTypes.OciManifest, attestation.Digest, attestation.Size, extra:
                    "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"},\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"," +
                    $"\"vnd.docker.reference.digest\":\"{amd64.Digest}\"}}"));

            var discovery = new ReferrerDiscovery(_ => Reg.Client(registry));
            var onIndex = await discovery.FindAsync(ImageReference.Parse($"{registry.HostPort}/{repo}:multi"));
            var found = Assert.Single(onIndex.Referrers);
            Assert.Equal(ReferrerKind.Attestation, found.Kind);
            Assert.Equal(attestation.Digest, found.Digest.ToString());
            Assert.Equal(amd64.Digest, found.Subject.Digest.ToString());
            Assert.Equal("amd64", found.Subject.Platform!.Architecture);
            Assert.Equal("application/vnd.example.attestation", found.ArtifactType);

            var onAmd64 = await discovery.FindAsync(ImageReference.Parse($"{registry.HostPort}/{repo}:multi"), new ReferrerQuery { Platform = Platform.Parse("linux/amd64") });
            Assert.Equal(amd64.Digest, onAmd64.Subject.Digest.ToString());
            Assert.Equal(new[] { attestation.Digest }, onAmd64.Referrers.Select(r => r.Digest.ToString()));

            var onArm64 = await discovery.FindAsync(ImageReference.Parse($"{registry.HostPort}/{repo}:multi"), new ReferrerQuery { Platform = Platform.Parse("linux/arm64") });
            Assert.Empty(onArm64.Referrers);
        }
    }
}
