using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Transport;

namespace MobyDistribution.Registry
{
    /// <summary>Manifests of a registry (the seed's ManifestRef): get, get_metadata, put, delete.</summary>
    public sealed class ManifestService
    {
        private readonly RegistryClient _client;

        internal ManifestService(RegistryClient client) => _client = client;

        /// <summary>
        /// Gets a manifest by tag or digest, asking for every manifest type (a registry hides OCI manifests from
        /// clients that do not name them). The body is checked against Docker-Content-Digest and a digest reference.
        /// </summary>
        public Task<Manifest> GetAsync(string repository, string reference, CancellationToken cancellationToken = default) =>
            GetAsync(repository, reference, null, cancellationToken);

        /// <summary>Gets a manifest, asking only for <paramref name="accept"/> media types (the seed's <c>get(media_type)</c>).</summary>
        public async Task<Manifest> GetAsync(string repository, string reference, IEnumerable<string>? accept, CancellationToken cancellationToken = default)
        {
            var content = await GetContentAsync(repository, reference, accept, cancellationToken).ConfigureAwait(false);
            Manifest manifest;
            try { manifest = Manifest.Parse(content.Bytes, content.MediaType); }
            catch (InvalidDataException e)
            {
                throw new RegistryException(RegistryErrorKind.Protocol, $"The manifest {Describe(repository, reference)} is not valid: {Redaction.Shorten(e.Message, 300)}", e);
            }
            // The bytes were checked against Docker-Content-Digest and a digest reference by what the body is; parsed with the
            // Content-Type, a body it contradicts fails above, so the manifest is the kind whose digest was checked.
            manifest.AttachSource(ImageReference.Create(_client.Endpoint.Registry, repository));
            return manifest;
        }

        /// <summary>
        /// Gets a manifest's exact bytes and media type without interpreting them (any media type the registry holds),
        /// verified against its digest. This is what a byte-for-byte copy pushes.
        /// </summary>
        public Task<ManifestContent> GetContentAsync(string repository, string reference, CancellationToken cancellationToken = default) =>
            GetContentAsync(repository, reference, null, cancellationToken);

        private async Task<ManifestContent> GetContentAsync(string repository, string reference, IEnumerable<string>? accept, CancellationToken cancellationToken)
        {
            RegistryClient.CheckRepository(repository);
            RegistryClient.CheckReference(reference);
            var accepted = (accept ?? MediaTypes.AllManifests).ToList();
            var request = new RegistryRequest(HttpMethod.Get, $"v2/{repository}/manifests/{reference}", Scopes.Repository(repository, false))
            {
                Idempotent = true,
                Headers = h => { foreach (var a in accepted) h.Accept.Add(new MediaTypeWithQualityHeaderValue(a)); },
                Description = "Manifest " + Describe(repository, reference),
            };
            // The body is read inside the retry budget: a manifest cut short is asked for again.
            using var response = await _client.Transport.SendBufferedAsync(request, Manifest.MaxSize, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw await ErrorResponse.CreateAsync(response, $"Manifest {Describe(repository, reference)}", cancellationToken).ConfigureAwait(false);
            byte[] body;
            try { body = await HttpContentReader.ReadCappedAsync(response.Content, Manifest.MaxSize, truncate: false, cancellationToken).ConfigureAwait(false); }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.LimitExceeded)
            {
                throw new RegistryException(RegistryErrorKind.LimitExceeded, $"The manifest {Describe(repository, reference)} is larger than {Manifest.MaxSize} bytes; refusing it.", e);
            }
            var mediaType = MediaTypes.Normalize(response.Content.Headers.ContentType?.ToString()) ?? string.Empty;
            var headerDigest = HeaderDigest(response, repository, reference);
            // What the body is decides how it is digested, never the Content-Type (a server that names schema1 for another body
            // must not get its Docker-Content-Digest skipped): only a body that really is a signed schema1 manifest is known by
            // the digest of its payload without signatures, as the registry computes it; every other by the digest of its bytes.
            var digested = ParseBody(body)?.DigestedBytes ?? body;
            var pinned = Digest.TryParse(reference, out var p) ? p : null;
            var digest = Compute(digested, headerDigest?.Algorithm ?? pinned?.Algorithm ?? "sha256");
            if (headerDigest != null && headerDigest != digest)
                throw new DigestMismatchException($"The manifest {Describe(repository, reference)} does not match the Docker-Content-Digest the registry sent ({headerDigest}; the body is {digest}).", headerDigest, digest, Redaction.Url(response.RequestMessage?.RequestUri));
            if (pinned != null && pinned != (pinned.Algorithm == digest.Algorithm ? digest : Compute(digested, pinned.Algorithm)))
                throw new DigestMismatchException($"The manifest {Describe(repository, reference)} does not match its digest (the body is {digest}).", pinned, digest);
            return new ManifestContent(body, mediaType, digest, headerDigest);
        }

        /// <summary>The body as its own <c>mediaType</c> or shape says (the Content-Type is not asked); null when it is no manifest this client reads.</summary>
        private static Manifest? ParseBody(byte[] body)
        {
            try { return Manifest.Parse(body); }
            catch (InvalidDataException) { return null; }
        }

        private static Digest Compute(byte[] body, string algorithm)
        {
            if (algorithm == "sha256") return Digest.Compute(body);
            using var hasher = new DigestHasher(algorithm);
            hasher.Append(body, 0, body.Length);
            return hasher.Finish();
        }

        private Digest? HeaderDigest(HttpResponseMessage response, string repository, string reference)
        {
            if (!response.Headers.TryGetValues("Docker-Content-Digest", out var values)) return null;
            var text = values.FirstOrDefault()?.Trim();
            if (string.IsNullOrEmpty(text)) return null;
            if (!Digest.TryParse(text, out var digest))
                throw new RegistryException(RegistryErrorKind.Protocol, $"The registry sent an invalid Docker-Content-Digest for {Describe(repository, reference)}.");
            return digest;
        }

        /// <summary>
        /// The descriptor of a manifest by tag or digest, from a HEAD request (the seed's <c>get_metadata</c>);
        /// throws <see cref="RegistryException"/> (NotFound) when there is none.
        /// </summary>
        public async Task<Descriptor> GetDescriptorAsync(string repository, string reference, CancellationToken cancellationToken = default)
        {
            var descriptor = await TryGetDescriptorAsync(repository, reference, cancellationToken).ConfigureAwait(false);
            return descriptor ?? throw new RegistryException(RegistryErrorKind.NotFound,
                $"Manifest {Describe(repository, reference)} was not found.", 404, "HEAD", null, new[] { new RegistryError("MANIFEST_UNKNOWN", "manifest unknown", null) });
        }

        /// <summary>The descriptor of a manifest, or null when the registry has no such tag or digest.</summary>
        public async Task<Descriptor?> TryGetDescriptorAsync(string repository, string reference, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            RegistryClient.CheckReference(reference);
            var request = new RegistryRequest(HttpMethod.Head, $"v2/{repository}/manifests/{reference}", Scopes.Repository(repository, false))
            {
                Idempotent = true,
                Headers = h => { foreach (var a in MediaTypes.AllManifests) h.Accept.Add(new MediaTypeWithQualityHeaderValue(a)); },
                Description = "Manifest " + Describe(repository, reference),
            };
            Descriptor? result;
            using (var response = await _client.Transport.SendAsync(request, cancellationToken).ConfigureAwait(false))
            {
                if (response.StatusCode == HttpStatusCode.NotFound) return null;
                if (!response.IsSuccessStatusCode)
                    throw await ErrorResponse.CreateAsync(response, $"Manifest {Describe(repository, reference)}", cancellationToken).ConfigureAwait(false);
                var digest = HeaderDigest(response, repository, reference);
                var mediaType = MediaTypes.Normalize(response.Content.Headers.ContentType?.ToString());
                var size = response.Content.Headers.ContentLength;
                if (digest != null && mediaType != null && size.HasValue)
                {
                    if (Digest.TryParse(reference, out var pinned) && pinned != digest)
                        throw new DigestMismatchException($"The registry answered for {Describe(repository, reference)} with digest {digest}.", pinned, digest);
                    result = new Descriptor(mediaType, digest, size.Value);
                }
                else
                {
                    result = null;
                }
            }
            if (result == null)
            {
                // Some registries leave the digest out of HEAD answers: fetch the manifest to know it.
                var content = await GetContentAsync(repository, reference, null, cancellationToken).ConfigureAwait(false);
                result = new Descriptor(content.MediaType, content.Digest, content.Bytes.Length);
            }
            result.SetSourceWhileReading(ImageReference.Create(_client.Endpoint.Registry, repository, reference.IndexOf(':') < 0 ? reference : null, result.Digest));
            return result;
        }

        /// <summary>Pushes a manifest's exact bytes under a tag or its digest (the seed's <c>put</c>); returns its descriptor.</summary>
        public Task<Descriptor> PutAsync(string repository, string reference, Manifest manifest, CancellationToken cancellationToken = default) =>
            PutAsync(repository, reference, manifest.RawBytes, manifest.MediaType, cancellationToken);

        /// <summary>
        /// Pushes manifest bytes with <c>Content-Type</c> = <paramref name="mediaType"/>. A digest reference must match the bytes,
        /// checked before anything is sent.
        /// </summary>
        public async Task<Descriptor> PutAsync(string repository, string reference, byte[] raw, string mediaType, CancellationToken cancellationToken = default) =>
            (await PutWithSubjectAsync(repository, reference, raw, mediaType, cancellationToken).ConfigureAwait(false)).Descriptor;

        /// <summary>
        /// <see cref="PutAsync(string, string, byte[], string, CancellationToken)"/>, and the <c>OCI-Subject</c> the registry answered
        /// with: a registry with the referrers API names the subject it indexed; null means the client keeps the tag schema.
        /// </summary>
        internal async Task<(Descriptor Descriptor, Digest? OciSubject)> PutWithSubjectAsync(string repository, string reference, byte[] raw, string mediaType, CancellationToken cancellationToken)
        {
            RegistryClient.CheckRepository(repository);
            RegistryClient.CheckReference(reference);
            if (raw == null || raw.Length == 0) throw new ArgumentException("The manifest is empty.", nameof(raw));
            if (raw.Length > Manifest.MaxSize)
                throw new RegistryException(RegistryErrorKind.LimitExceeded, $"The manifest is {raw.Length} bytes; registries accept at most {Manifest.MaxSize}.");
            if (string.IsNullOrWhiteSpace(mediaType)) throw new ArgumentException("A media type is required.", nameof(mediaType));
            var algorithm = Digest.TryParse(reference, out var pinned) ? pinned.Algorithm : "sha256";
            var digest = Compute(raw, algorithm);
            if (pinned != null && pinned != digest)
                throw new DigestMismatchException($"The manifest's digest is {digest}, not {pinned}: refusing to push it under that digest.", pinned, digest);
            var request = new RegistryRequest(HttpMethod.Put, $"v2/{repository}/manifests/{reference}", Scopes.Repository(repository, true))
            {
                // PUT of the same bytes is idempotent.
                Idempotent = true,
                Content = () =>
                {
                    var c = new ByteArrayContent(raw);
                    c.Headers.ContentType = MediaTypeHeaderValue.Parse(mediaType);
                    return c;
                },
                Description = "Push manifest " + Describe(repository, reference),
            };
            using var response = await _client.Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw await ErrorResponse.CreateAsync(response, $"Pushing manifest {Describe(repository, reference)}", cancellationToken).ConfigureAwait(false);
            var returned = HeaderDigest(response, repository, reference);
            if (returned != null && returned != digest && !MediaTypes.IsSchema1(mediaType))
                throw new RegistryException(RegistryErrorKind.Protocol, $"The registry stored the manifest {Describe(repository, reference)} as {returned}, not as its digest {digest}.");
            Digest? subject = response.Headers.TryGetValues("OCI-Subject", out var subjects) && Digest.TryParse(subjects.FirstOrDefault()?.Trim(), out var s) ? s : null;
            return (new Descriptor(mediaType, digest, raw.Length)
            {
                Source = ImageReference.Create(_client.Endpoint.Registry, repository, reference.IndexOf(':') < 0 ? reference : null, digest),
            }, subject);
        }

        /// <summary>
        /// Deletes a manifest (the seed's <c>delete</c>). A tag is resolved to its digest first: the registry deletes by
        /// digest, so every tag on that digest goes. Returns the digest deleted; NotFound when there is none.
        /// </summary>
        public async Task<Digest> DeleteAsync(string repository, string reference, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            RegistryClient.CheckReference(reference);
            var digest = Digest.TryParse(reference, out var d) ? d : (await GetDescriptorAsync(repository, reference, cancellationToken).ConfigureAwait(false)).Digest;
            var request = new RegistryRequest(HttpMethod.Delete, $"v2/{repository}/manifests/{digest}", Scopes.RepositoryDelete(repository))
            {
                Idempotent = false,
                Description = "Delete manifest " + Describe(repository, digest),
            };
            using var response = await _client.Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw await ErrorResponse.CreateAsync(response, $"Deleting manifest {Describe(repository, digest)}", cancellationToken).ConfigureAwait(false);
            return digest;
        }

        private string Describe(string repository, string reference) =>
            _client.Endpoint.Registry + "/" + repository + (reference.IndexOf(':') >= 0 ? "@" : ":") + reference;
    }

    /// <summary>A manifest's exact bytes, media type (as the registry sent it) and verified digest.</summary>
    public sealed class ManifestContent
    {
        internal ManifestContent(byte[] bytes, string mediaType, Digest digest, Digest? headerDigest)
        {
            Bytes = bytes;
            MediaType = mediaType;
            Digest = digest;
            HeaderDigest = headerDigest;
        }

        public byte[] Bytes { get; }
        public string MediaType { get; }
        public Digest Digest { get; }
        internal Digest? HeaderDigest { get; }

        public Descriptor ToDescriptor() => new Descriptor(MediaType, Digest, Bytes.Length);
    }
}
