using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Removing one tag (TagService.UntagAsync) against the real registry: 2.8.2 refuses DELETE by tag, so the placeholder
    /// route is what runs there; the OCI route is shown through a proxy that accepts DELETE by tag.
    /// </summary>
    [Collection("registries")]
    public sealed class UntagTests
    {
        private readonly TestBedFixture _bed;

        public UntagTests(TestBedFixture bed) => _bed = bed;

        /// <summary>A repository with the fixture image under v1 and v2 (one digest).</summary>
        private async Task<(string Repo, Manifest Manifest)> TwoTagsAsync(RegistryClient client, string prefix)
        {
            var repo = Reg.Repo(prefix);
            var image = _bed.Image;
            await Reg.UploadBlobsAsync(client, repo, image, image.Manifests[0]);
            var manifest = Manifest.Parse(image.ReadBlob(image.ManifestDigest));
            await client.Manifests.PutAsync(repo, "v1", manifest);
            await client.Manifests.PutAsync(repo, "v2", manifest);
            return (repo, manifest);
        }

        [Theory]
        [MemberData(nameof(Reg.AllModes), MemberType = typeof(Reg))]
        public async Task Untag_RemovesOnlyThatTag_TheImageAndItsOtherTagStay(string mode)
        {
            var registry = _bed.Env.Get(mode);
            var log = new ConcurrentQueue<string>();
            var client = Reg.Client(registry, log: log.Enqueue);
            var (repo, manifest) = await TwoTagsAsync(client, "untag");

            var result = await client.Tags.UntagAsync(repo, "v2", manifest.Digest);

            Assert.Equal(UntagMethod.Placeholder, result.Method);
            Assert.Equal(manifest.Digest, result.Digest);
            Assert.NotNull(result.PlaceholderDigest);
            Assert.NotEqual(manifest.Digest, result.PlaceholderDigest);
            // 2.8.2 was asked to delete the tag and refused.
            Assert.Contains(log, l => l.StartsWith("DELETE ", StringComparison.Ordinal) && l.Contains($"/manifests/v2") && (l.Contains("-> 400") || l.Contains("-> 405")));
            Assert.Equal(new[] { "v1" }, await client.Tags.ListAsync(repo));
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, "v2"));
            Assert.Equal(manifest.Digest, (await client.Tags.GetAsync(repo, "v1")).Digest);
            Assert.Equal(manifest.Digest, (await client.Manifests.GetDescriptorAsync(repo, manifest.Digest.ToString())).Digest);
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, result.PlaceholderDigest!.ToString()));
            // skopeo, independently: v1 is still the very same bytes.
            var raw = Skopeo.InspectRawBytes(registry.ImageReference(repo, "v1"), registry.Credentials);
            Assert.Equal(manifest.Digest.ToString(), Reg.Sha256(raw));
            Assert.Equal(manifest.RawBytes, raw);
            var gone = Skopeo.TryRun(TimeSpan.FromSeconds(60), "inspect", "--retry-times", "0", "--tls-verify=false",
                registry.Credentials == null ? "--no-creds" : "--creds=" + registry.Credentials, "--raw", registry.ImageReference(repo, "v2"));
            Assert.NotEqual(0, gone.ExitCode);

            // The seed's untag semantics (Remove-RegistryTag -DeleteManifest): the manifest goes, with every tag on it.
            await client.Manifests.PutAsync(repo, "v2", manifest);
            Assert.Equal(manifest.Digest, await client.Manifests.DeleteAsync(repo, manifest.Digest.ToString()));
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, "v1"));
            Assert.Null(await client.Manifests.TryGetDescriptorAsync(repo, "v2"));
        }

        [Fact]
        public async Task Untag_TwiceInARow_PlaceholdersAreUnique_AndTheOnlyTagCanGo()
        {
            var client = Reg.Client(_bed.Anonymous);
            var (repo, manifest) = await TwoTagsAsync(client, "untag-twice");
            var a = await client.Tags.UntagAsync(repo, "v2");
            var b = await client.Tags.UntagAsync(repo, "v1");
            Assert.NotEqual(a.PlaceholderDigest, b.PlaceholderDigest);
            Assert.Empty(await client.Tags.ListAsync(repo));
            // The image itself is still there, by digest.
            Assert.Equal(manifest.Digest, (await client.Manifests.GetDescriptorAsync(repo, manifest.Digest.ToString())).Digest);
        }

        [Fact]
        public async Task Untag_TagMovedSinceItWasChecked_RemovesNothing()
        {
            var client = Reg.Client(_bed.Anonymous);
            var (repo, manifest) = await TwoTagsAsync(client, "untag-moved");
            var elsewhere = Digest.Compute(new byte[] { 1, 2, 3 });
            var e = await Assert.ThrowsAsync<TagMovedException>(() => client.Tags.UntagAsync(repo, "v2", elsewhere));
            Assert.Equal(manifest.Digest, e.Actual);
            Assert.Equal(new[] { "v1", "v2" }, await client.Tags.ListAsync(repo));

            var missing = await Assert.ThrowsAsync<RegistryException>(() => client.Tags.UntagAsync(repo, "nope"));
            Assert.Equal(RegistryErrorKind.NotFound, missing.Kind);
            await Assert.ThrowsAsync<ArgumentException>(() => client.Tags.UntagAsync(repo, "sha256:" + new string('a', 64)));
        }

        [Fact]
        public async Task Untag_RegistryWithoutDeletes_IsUnsupported_AndTheTagIsUntouched()
        {
            using var registry = RegistryServer.Start(new RegistryOptions { DeleteEnabled = false });
            var log = new ConcurrentQueue<string>();
            var client = Reg.Client(registry, log: log.Enqueue);
            var (repo, manifest) = await TwoTagsAsync(client, "untag-nodelete");
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.Tags.UntagAsync(repo, "v2"));
            Assert.Equal(RegistryErrorKind.Unsupported, e.Kind);
            Assert.Contains("nothing was changed", e.Message);
            Assert.Equal(manifest.Digest, (await client.Tags.GetAsync(repo, "v2")).Digest);
            // No placeholder was pushed.
            Assert.Equal(2, log.Count(l => l.StartsWith("PUT ", StringComparison.Ordinal) && l.Contains("/manifests/")));
        }

        [Fact]
        public async Task Untag_RegistryThatDeletesTags_UsesOciTagDeletion_AndPushesNothing()
        {
            var client = Reg.Client(_bed.Anonymous);
            var (repo, manifest) = await TwoTagsAsync(client, "untag-oci");
            // The proxy answers DELETE by tag 202 as a distribution-spec v1.1 registry does (2.8.2 itself cannot delete a tag).
            using var proxy = FaultProxy.Start(_bed.Anonymous);
            proxy.AddRule(FaultRule.Status(202, "DELETE", "/manifests/v2$"));
            var viaProxy = new RegistryClient(RegistryEndpoint.Parse(proxy.HostPort), new RegistryClientOptions { CredentialStore = null });

            var result = await viaProxy.Tags.UntagAsync(repo, "v2", manifest.Digest);

            Assert.Equal(UntagMethod.TagDeleted, result.Method);
            Assert.Null(result.PlaceholderDigest);
            Assert.Equal(manifest.Digest, result.Digest);
            Assert.False(result.ManifestDeleted);
            var log = proxy.Log;
            Assert.Single(log, l => l.Method == "DELETE");
            Assert.DoesNotContain(log, l => l.Method == "PUT" || l.Method == "POST" || l.Method == "PATCH");
        }

        [Fact]
        public async Task Untag_RegistryWhoseTagDeleteTakesTheManifest_IsReported()
        {
            var client = Reg.Client(_bed.Anonymous);
            var (repo, manifest) = await TwoTagsAsync(client, "untag-oldmeaning");
            // 202 to DELETE by tag, and afterwards the manifest is gone by digest: what a registry with the old meaning does.
            using var proxy = FaultProxy.Start(_bed.Anonymous);
            proxy.AddRule(FaultRule.Status(202, "DELETE", "/manifests/v2$"));
            proxy.AddRule(FaultRule.Status(404, "HEAD", "/manifests/sha256:", occurrence: 1, times: 0));
            var viaProxy = new RegistryClient(RegistryEndpoint.Parse(proxy.HostPort), new RegistryClientOptions { CredentialStore = null });

            var result = await viaProxy.Tags.UntagAsync(repo, "v2", manifest.Digest);

            Assert.Equal(UntagMethod.TagDeleted, result.Method);
            Assert.True(result.ManifestDeleted);
        }

        [Fact]
        public async Task Untag_PlaceholderPushWhoseAnswerIsLost_IsFinished_WhenTheTagDidMove()
        {
            var client = Reg.Client(_bed.Anonymous);
            var (repo, manifest) = await TwoTagsAsync(client, "untag-lost");
            using var proxy = FaultProxy.Start(_bed.Anonymous);
            // The registry stores the placeholder, the client never hears so (and, with retries off, does not push again).
            proxy.AddRule(FaultRule.DropResponse("PUT", "/manifests/v2$"));
            var options = new RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 1;
            var viaProxy = new RegistryClient(RegistryEndpoint.Parse(proxy.HostPort), options);

            var result = await viaProxy.Tags.UntagAsync(repo, "v2", manifest.Digest);

            Assert.Equal(UntagMethod.Placeholder, result.Method);
            Assert.Equal(1, proxy.Log.Count(l => l.Method == "PUT" && l.Path.EndsWith("/manifests/v2", StringComparison.Ordinal)));
            Assert.Equal(new[] { "v1" }, await client.Tags.ListAsync(repo));
            Assert.Equal(manifest.Digest, (await client.Tags.GetAsync(repo, "v1")).Digest);
        }

        [Fact]
        public async Task Untag_PlaceholderPushRefused_ChangesNothing()
        {
            var client = Reg.Client(_bed.Anonymous);
            var (repo, manifest) = await TwoTagsAsync(client, "untag-refused");
            using var proxy = FaultProxy.Start(_bed.Anonymous);
            proxy.AddRule(FaultRule.Status(403, "PUT", "/manifests/v2$"));
            var viaProxy = new RegistryClient(RegistryEndpoint.Parse(proxy.HostPort), new RegistryClientOptions { CredentialStore = null });

            var e = await Assert.ThrowsAsync<RegistryException>(() => viaProxy.Tags.UntagAsync(repo, "v2", manifest.Digest));

            Assert.IsNotType<UntagIncompleteException>(e);
            Assert.Equal(RegistryErrorKind.Denied, e.Kind);
            Assert.Equal(new[] { "v1", "v2" }, await client.Tags.ListAsync(repo));
            Assert.Equal(manifest.Digest, (await client.Tags.GetAsync(repo, "v2")).Digest);
        }

        [Fact]
        public async Task Untag_PlaceholderPushedButItsDeleteFails_SaysWhichDigestToDelete()
        {
            var client = Reg.Client(_bed.Anonymous);
            var (repo, manifest) = await TwoTagsAsync(client, "untag-half");
            using var proxy = FaultProxy.Start(_bed.Anonymous);
            // The first DELETE by digest is the check that deletes are allowed; the second is the placeholder's.
            proxy.AddRule(FaultRule.Status(403, "DELETE", "/manifests/sha256:", occurrence: 2));
            var viaProxy = new RegistryClient(RegistryEndpoint.Parse(proxy.HostPort), new RegistryClientOptions { CredentialStore = null });

            var e = await Assert.ThrowsAsync<UntagIncompleteException>(() => viaProxy.Tags.UntagAsync(repo, "v2", manifest.Digest));

            Assert.Equal("v2", e.Tag);
            Assert.Equal(repo, e.Repository);
            Assert.Contains(e.PlaceholderDigest.ToString(), e.Message);
            Assert.Equal(RegistryErrorKind.Denied, e.Kind);
            // The tag is on the placeholder, nothing else is: v1 and the image are as they were.
            Assert.Equal(e.PlaceholderDigest, (await client.Tags.GetAsync(repo, "v2")).Digest);
            Assert.Equal(manifest.Digest, (await client.Tags.GetAsync(repo, "v1")).Digest);
            // Doing what the message says finishes the job.
            await client.Manifests.DeleteAsync(repo, e.PlaceholderDigest.ToString());
            Assert.Equal(new[] { "v1" }, await client.Tags.ListAsync(repo));
            Assert.Equal(manifest.Digest, (await client.Tags.GetAsync(repo, "v1")).Digest);
        }
    }
}
