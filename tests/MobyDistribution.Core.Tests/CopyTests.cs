using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Copy-RegistryImage's engine against the real registries, checked with skopeo.</summary>
    [Collection("registries")]
    public sealed class CopyTests
    {
        private readonly TestBedFixture _fx;
        private readonly Dictionary<string, RegistryClient> _clients = new Dictionary<string, RegistryClient>();

        public CopyTests(TestBedFixture fx)
        {
            _fx = fx;
            foreach (var server in fx.Env.All)
            {
                var options = new RegistryClientOptions { CredentialStore = null };
                if (server.Username != null) options.Credential = RegistryCredential.FromPassword(server.Username, server.Password!);
                _clients[server.HostPort] = new RegistryClient(RegistryEndpoint.Parse(server.HostPort), options);
            }
        }

        private ImageCopier Copier => new ImageCopier(r => _clients[r.Registry]);

        private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N").Substring(0, 8);

        private static ImageReference Ref(RegistryServer server, string repository, string? tag = "v1") =>
            ImageReference.Create(server.HostPort, repository, tag);

        [Fact]
        public async Task Copy_within_a_registry_mounts_every_blob_and_keeps_the_digest()
        {
            var repo = Unique("copy/src");
            var digest = Skopeo.PushFixture(_fx.Image, _fx.Anonymous, repo, "v1");
            var destination = Ref(_fx.Anonymous, Unique("copy/dst"), "v2");

            var plan = await Copier.PlanAsync(Ref(_fx.Anonymous, repo), destination);
            Assert.All(plan.Blobs, b => Assert.Equal(BlobCopyAction.Mount, b.Action));
            Assert.Equal(0, plan.BytesToTransfer);

            var result = await Copier.ExecuteAsync(plan);
            Assert.Equal(digest, result.Descriptor.Digest.ToString());
            Assert.Equal(0, result.BytesTransferred);
            Assert.Equal(digest, Skopeo.Digest("docker://" + destination));
        }

        [Fact]
        public async Task Copy_across_registries_streams_blobs_into_a_basic_auth_registry()
        {
            var repo = Unique("cross/src");
            var digest = Skopeo.PushFixture(_fx.Image, _fx.Anonymous, repo, "v1");
            var destination = Ref(_fx.Basic, Unique("cross/dst"), "copied");
            var reports = new List<TransferProgress>();

            var result = await Copier.CopyAsync(Ref(_fx.Anonymous, repo), destination, null, new SyncProgress<TransferProgress>(reports.Add));

            Assert.Equal(digest, result.Descriptor.Digest.ToString());
            Assert.All(result.Plan.Blobs, b => Assert.Equal(BlobCopyAction.Transfer, b.Action));
            Assert.Equal(_fx.Image.Layers.Sum(l => l.Size) + _fx.Image.Manifests[0].ConfigSize, result.BytesTransferred);
            Assert.Equal(digest, Skopeo.Digest("docker://" + destination, _fx.Basic.Credentials));
            Assert.Contains(reports, r => r.Completed && r.Activity == "Copied");

            // A second copy finds everything in place.
            var again = await Copier.PlanAsync(Ref(_fx.Anonymous, repo), destination);
            Assert.All(again.Blobs, b => Assert.Equal(BlobCopyAction.Skip, b.Action));
        }

        [Fact]
        public async Task Copy_of_an_index_keeps_it_whole_by_default()
        {
            var repo = Unique("index/src");
            var digest = Skopeo.PushFixture(_fx.Index, _fx.Anonymous, repo, "multi");
            var destination = Ref(_fx.Token, Unique("index/dst"), "multi");

            var result = await Copier.CopyAsync(Ref(_fx.Anonymous, repo, "multi"), destination);

            Assert.Equal(digest, result.Descriptor.Digest.ToString());
            Assert.False(result.Plan.DigestChanges);
            var creds = _fx.Token.Credentials;
            foreach (var child in _fx.Index.Manifests)
                Assert.Equal(child.Digest, Skopeo.Digest("docker://" + destination.WithDigest(Digest.Parse(child.Digest)).WithTag(null).WithDigest(Digest.Parse(child.Digest)), creds));
        }

        [Fact]
        public async Task Copy_of_a_platform_subset_writes_a_new_index()
        {
            var repo = Unique("subset/src");
            Skopeo.PushFixture(_fx.Index, _fx.Anonymous, repo, "multi");
            var destination = Ref(_fx.Anonymous, Unique("subset/dst"), "arm");
            var arm = _fx.Index.Manifests.Single(m => m.Architecture == "arm64");

            var result = await Copier.CopyAsync(Ref(_fx.Anonymous, repo, "multi"), destination,
                new ImageCopyOptions { Platforms = new[] { Platform.Parse("linux/arm64") } });

            Assert.True(result.Plan.DigestChanges);
            Assert.NotEqual(_fx.Index.Digest, result.Descriptor.Digest.ToString());
            var pushed = (ImageIndex)await _clients[_fx.Anonymous.HostPort].Manifests.GetAsync(destination.Repository, "arm");
            Assert.Single(pushed.Manifests);
            Assert.Equal(arm.Digest, pushed.Manifests[0].Digest.ToString());
            Assert.Equal(pushed.Digest, result.Descriptor.Digest);
            // Only the arm64 image's blobs were copied.
            var amd = _fx.Index.Manifests.Single(m => m.Architecture == "amd64");
            Assert.Null(await _clients[_fx.Anonymous.HostPort].Blobs.TryGetDescriptorAsync(destination.Repository, Digest.Parse(amd.ConfigDigest)));
        }

        [Fact]
        public async Task Copy_to_a_destination_without_a_tag_takes_the_source_tag()
        {
            var repo = Unique("notag/src");
            var digest = Skopeo.PushFixture(_fx.Image, _fx.Anonymous, repo, "v7");
            var destination = ImageReference.Create(_fx.Basic.HostPort, Unique("notag/dst"));

            var result = await Copier.CopyAsync(Ref(_fx.Anonymous, repo, "v7"), destination);

            Assert.Equal("v7", result.Plan.Destination.Tag);
            Assert.Equal(digest, Skopeo.Digest("docker://" + destination.WithTag("v7"), _fx.Basic.Credentials));
        }

        [Fact]
        public async Task Copy_refuses_a_destination_digest_that_differs_and_pushes_nothing()
        {
            var repo = Unique("pinned/src");
            Skopeo.PushFixture(_fx.Image, _fx.Anonymous, repo, "v1");
            var dstRepo = Unique("pinned/dst");
            var destination = ImageReference.Create(_fx.Anonymous.HostPort, dstRepo, null, Digest.Compute(new byte[] { 1, 2, 3 }));

            var e = await Assert.ThrowsAsync<RegistryException>(() => Copier.CopyAsync(Ref(_fx.Anonymous, repo), destination));
            Assert.Equal(RegistryErrorKind.InvalidRequest, e.Kind);
            var missing = await Assert.ThrowsAsync<RegistryException>(() => _clients[_fx.Anonymous.HostPort].Tags.ListAsync(dstRepo));
            Assert.Equal(RegistryErrorKind.NotFound, missing.Kind);
        }

        [Fact]
        public async Task Copy_of_a_missing_image_is_not_found()
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() =>
                Copier.CopyAsync(Ref(_fx.Anonymous, Unique("nothing/here")), Ref(_fx.Anonymous, Unique("nothing/there"))));
            Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
        }

        private sealed class SyncProgress<T> : IProgress<T>
        {
            private readonly Action<T> _action;
            public SyncProgress(Action<T> action) => _action = action;
            public void Report(T value) { lock (this) _action(value); }
        }
    }
}
