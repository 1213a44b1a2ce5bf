using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading.Tasks;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Clients, names and pushes shared by the integration tests of Core against the test bed.</summary>
    internal static class Reg
    {
        /// <summary>The three registry configurations, for [MemberData].</summary>
        public static IEnumerable<object[]> AllModes => new[] { new object[] { "anonymous" }, new object[] { "basic" }, new object[] { "token" } };

        /// <summary>The test bed's own user for a registry (null for the anonymous one).</summary>
        public static RegistryCredential? CredentialFor(RegistryServer registry) =>
            registry.AuthMode == AuthMode.Anonymous ? null : RegistryCredential.FromPassword(registry.Username!, registry.Password!);

        /// <summary>
        /// A client of <paramref name="registry"/> as "127.0.0.1:PORT" (loopback: probes https, falls back to http), never
        /// reading Docker's config; with the test bed's user unless <paramref name="credential"/> is given.
        /// </summary>
        public static RegistryClient Client(RegistryServer registry, RegistryCredential? credential = null, bool anonymous = false,
            Action<string>? log = null)
        {
            var options = new RegistryClientOptions
            {
                CredentialStore = null,
                Credential = anonymous ? null : credential ?? CredentialFor(registry),
                Log = log,
            };
            options.Retry.MaxAttempts = 2;
            options.Retry.BaseDelay = TimeSpan.FromMilliseconds(50);
            return new RegistryClient(RegistryEndpoint.Parse(registry.HostPort), options);
        }

        public static RegistryClient Client(TestBedFixture bed, string mode) => Client(bed.Env.Get(mode));

        /// <summary>A repository name unique to this run: "core/PREFIX-xxxxxxxx".</summary>
        public static string Repo(string prefix) => "core/" + prefix + "-" + Guid.NewGuid().ToString("N").Substring(0, 8);

        public static string Sha256(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

        public static string Sha256File(string path)
        {
            using var f = File.OpenRead(path);
            return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f));
        }

        /// <summary>Seeded random bytes.</summary>
        public static byte[] RandomBytes(int length, int seed)
        {
            var data = new byte[length];
            new Random(seed).NextBytes(data);
            return data;
        }

        /// <summary>Uploads a fixture manifest's config and layers with Core (monolithic, digest known).</summary>
        public static async Task UploadBlobsAsync(RegistryClient client, string repository, FixtureImage image, FixtureManifest manifest)
        {
            foreach (var digest in new[] { manifest.ConfigDigest }.Concat(manifest.Layers.Select(l => l.Digest)))
            {
                using var stream = File.OpenRead(image.BlobPath(digest));
                await client.Blobs.UploadAsync(repository, stream, new BlobUploadOptions { Digest = Digest.Parse(digest), Monolithic = true });
            }
        }

        /// <summary>A Docker schema2 manifest for a fixture manifest's blobs (Docker media types).</summary>
        public static DockerManifestV2 Schema2For(FixtureManifest m) =>
            DockerManifestV2.Create(
                new Descriptor(MediaTypes.DockerContainerConfig, Digest.Parse(m.ConfigDigest), m.ConfigSize),
                m.Layers.Select(l => new Descriptor(MediaTypes.DockerLayerGzip, Digest.Parse(l.Digest), l.Size)));

        private static readonly ConcurrentDictionary<string, string> Pushed = new();

        /// <summary>
        /// Pushes a fixture with skopeo once per registry, repository, tag and format in this test run (the shared
        /// fixtures never change), returning the digest skopeo pushed.
        /// </summary>
        public static string PushOnce(FixtureImage image, RegistryServer registry, string repository, string tag, string format = "oci") =>
            Pushed.GetOrAdd($"{registry.BaseUrl}|{repository}|{tag}|{format}|{image.Digest}",
                _ => Skopeo.PushFixture(image, registry, repository, tag, format));
    }
}
