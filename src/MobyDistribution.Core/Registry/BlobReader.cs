using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.IO;
using MobyDistribution.Transport;

namespace MobyDistribution.Registry
{
    /// <summary>Reads blobs: whether a repository has one (HEAD), and a verifying stream of its bytes for streaming it on.</summary>
    internal sealed class BlobReader
    {
        private readonly RegistryClient _client;

        public BlobReader(RegistryClient client) => _client = client;

        private RegistryTransport Transport => _client.Transport;

        /// <summary>The descriptor of a blob, or null when the repository does not have it.</summary>
        public Task<Descriptor?> TryGetDescriptorAsync(string repository, Digest digest, CancellationToken cancellationToken) =>
            HeadAsync(repository, digest, missingIsNull: true, cancellationToken);

        private async Task<Descriptor?> HeadAsync(string repository, Digest digest, bool missingIsNull, CancellationToken cancellationToken)
        {
            RegistryClient.CheckRepository(repository);
            var request = new RegistryRequest(HttpMethod.Head, $"v2/{repository}/blobs/{digest}", Scopes.Repository(repository, false))
            {
                Idempotent = true,
                Description = "Blob " + Describe(repository, digest),
            };
            using var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                if (missingIsNull) return null;
                // A HEAD answer has no body to carry the code: it is BLOB_UNKNOWN all the same.
                throw new RegistryException(RegistryErrorKind.NotFound, $"Blob {Describe(repository, digest)} was not found.",
                    404, "HEAD", Redaction.Url(response.RequestMessage?.RequestUri), new[] { new RegistryError("BLOB_UNKNOWN", "blob unknown to registry", null) });
            }
            if (!response.IsSuccessStatusCode)
                throw await ErrorResponse.CreateAsync(response, $"Blob {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
            if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var returned) && returned != digest)
                throw new DigestMismatchException($"Asked for blob {digest}, the registry answered for {returned}.", digest, returned);
            var size = response.Content.Headers.ContentLength ?? -1;
            return new Descriptor("application/octet-stream", digest, size) { Source = ImageReference.Create(_client.Endpoint.Registry, repository, null, digest) };
        }

        /// <summary>The descriptor of a blob from a HEAD request; NotFound (BLOB_UNKNOWN) when there is none.</summary>
        public async Task<Descriptor> GetDescriptorAsync(string repository, Digest digest, CancellationToken cancellationToken) =>
            (await HeadAsync(repository, digest, missingIsNull: false, cancellationToken).ConfigureAwait(false))!;

        /// <summary>
        /// The size to hold a blob's bytes to: the one given, else what the registry's HEAD says. A blob of unknown size
        /// is refused rather than read without a limit.
        /// </summary>
        public async Task<long> ResolveSizeAsync(string repository, Digest digest, long? expectedSize, CancellationToken cancellationToken)
        {
            if (expectedSize.HasValue && expectedSize.Value >= 0) return expectedSize.Value;
            var descriptor = await GetDescriptorAsync(repository, digest, cancellationToken).ConfigureAwait(false);
            if (descriptor.Size < 0)
                throw new RegistryException(RegistryErrorKind.Protocol,
                    $"The registry does not say how large blob {Describe(repository, digest)} is (its HEAD has no Content-Length); it is not read without a limit.");
            return descriptor.Size;
        }

        /// <summary>
        /// Opens a blob for reading as a stream that hashes what passes and throws <see cref="DigestMismatchException"/>
        /// at the end when size or digest differ, and stops at the expected size.
        /// </summary>
        public async Task<Stream> OpenReadAsync(string repository, Digest digest, long? expectedSize, CancellationToken cancellationToken)
        {
            RegistryClient.CheckRepository(repository);
            long size = await ResolveSizeAsync(repository, digest, expectedSize, cancellationToken).ConfigureAwait(false);
            var request = new RegistryRequest(HttpMethod.Get, $"v2/{repository}/blobs/{digest}", Scopes.Repository(repository, false))
            {
                Idempotent = true,
                Description = "Blob " + Describe(repository, digest),
            };
            var response = await Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            try
            {
                if (!response.IsSuccessStatusCode)
                    throw await ErrorResponse.CreateAsync(response, $"Blob {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
                if (response.Content.Headers.ContentLength.HasValue && response.Content.Headers.ContentLength.Value != size)
                    throw new DigestMismatchException($"Blob {Describe(repository, digest)} is {response.Content.Headers.ContentLength} bytes; its descriptor says {size}.", digest, null);
                var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
                return new VerifyingReadStream(body, response, digest, size, Describe(repository, digest))
                {
                    StallTimeout = _client.Options.ReadStallTimeout,
                };
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }

        internal string Describe(string repository, Digest digest) => _client.Endpoint.Registry + "/" + repository + "@" + digest;
    }
}
