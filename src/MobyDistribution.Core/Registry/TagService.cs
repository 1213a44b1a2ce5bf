using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Transport;

namespace MobyDistribution.Registry
{
    /// <summary>Tags of a repository (the seed's Tags): list, get, untag.</summary>
    public sealed class TagService
    {
        private readonly RegistryClient _client;

        internal TagService(RegistryClient client) => _client = client;

        /// <summary>
        /// Every tag of a repository (the seed's <c>list</c>), following <c>Link</c> pagination, sorted on the client
        /// (registries answer in any order). <paramref name="pageSize"/> asks for pages of that many (<c>n</c>).
        /// </summary>
        public async Task<IReadOnlyList<string>> ListAsync(string repository, int? pageSize = null, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            var path = $"v2/{repository}/tags/list" + (pageSize.HasValue ? "?n=" + pageSize.Value : string.Empty);
            var tags = await Paging.CollectAsync(_client, path, "tags", Scopes.Repository(repository, false),
                $"Tags of {_client.Endpoint.Registry}/{repository}", cancellationToken).ConfigureAwait(false);
            return tags;
        }

        /// <summary>The descriptor a tag points at (the seed's <c>get</c>); NotFound when there is no such tag.</summary>
        public Task<Descriptor> GetAsync(string repository, string tag, CancellationToken cancellationToken = default) =>
            _client.Manifests.GetDescriptorAsync(repository, tag, cancellationToken);

        /// <summary>
        /// Removes one tag and nothing else: the manifest it points at and that manifest's other tags stay. First the OCI tag
        /// deletion (<c>DELETE /v2/&lt;name&gt;/manifests/&lt;tag&gt;</c>, distribution-spec v1.1); where the registry refuses that
        /// (<see cref="IsTagDeletionUnsupported"/>: distribution 2.8.2 answers 400 DIGEST_INVALID), a placeholder manifest, unique by
        /// construction, is pushed to the tag and then deleted by its digest, which takes only that tag with it.
        /// </summary>
        /// <param name="repository">The repository.</param>
        /// <param name="tag">The tag to remove.</param>
        /// <param name="expected">
        /// The digest the caller saw the tag point at (e.g. when asking for confirmation). The fallback checks it again just
        /// before it moves the tag, and removes nothing when the tag points elsewhere (<see cref="TagMovedException"/>).
        /// </param>
        /// <param name="cancellationToken">Cancels the requests.</param>
        /// <remarks>
        /// The fallback first checks that deletes are allowed (a DELETE of the placeholder's digest, which does not exist yet,
        /// must answer 404), so a registry without deletes is left untouched. When the placeholder is pushed but its delete then
        /// fails, <see cref="UntagIncompleteException"/> says so: the tag points at the placeholder, and deleting the placeholder
        /// by its digest finishes the job. The placeholder's config is the 2-byte empty blob (<c>{}</c>), which stays in the
        /// repository; it is shared by every such placeholder and left to the registry's garbage collection.
        /// </remarks>
        public async Task<UntagResult> UntagAsync(string repository, string tag, Digest? expected = null, CancellationToken cancellationToken = default)
        {
            RegistryClient.CheckRepository(repository);
            CheckTag(tag);
            var current = await _client.Manifests.GetDescriptorAsync(repository, tag, cancellationToken).ConfigureAwait(false);
            if (expected != null && current.Digest != expected) throw Moved(repository, tag, expected, current.Digest);

            var request = new RegistryRequest(HttpMethod.Delete, $"v2/{repository}/manifests/{tag}", Scopes.RepositoryDelete(repository))
            {
                Idempotent = false,
                Description = $"Delete tag {Describe(repository, tag)}",
            };
            using (var response = await _client.Transport.SendAsync(request, cancellationToken).ConfigureAwait(false))
            {
                if (response.IsSuccessStatusCode)
                {
                    // Some registries answer a DELETE by tag by deleting the manifest (the pre-v1.1 meaning): say so, it cannot be undone.
                    var still = await _client.Manifests.TryGetDescriptorAsync(repository, current.Digest.ToString(), cancellationToken).ConfigureAwait(false);
                    return new UntagResult(tag, current.Digest, UntagMethod.TagDeleted, null) { ManifestDeleted = still == null };
                }
                var error = await ErrorResponse.CreateAsync(response, $"Deleting tag {Describe(repository, tag)}", cancellationToken).ConfigureAwait(false);
                if (!IsTagDeletionUnsupported(error)) throw error;
            }
            return await UntagWithPlaceholderAsync(repository, tag, current.Digest, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// True when a registry's answer to <c>DELETE /v2/&lt;name&gt;/manifests/&lt;tag&gt;</c> means "no deletion by tag here"
        /// (so the placeholder route is taken): 405, 501, or 400 with UNSUPPORTED or DIGEST_INVALID (the reference was read as a
        /// digest) or with no error code at all. Anything else (404, 401, 403, 5xx once retries are spent) is a real failure.
        /// </summary>
        public static bool IsTagDeletionUnsupported(RegistryException error)
        {
            if (error == null) throw new ArgumentNullException(nameof(error));
            switch (error.StatusCode)
            {
                case 405:
                case 501:
                    return true;
                case 400:
                    return error.Errors.Count == 0 || error.HasCode("UNSUPPORTED") || error.HasCode("DIGEST_INVALID");
                default:
                    return false;
            }
        }

        private async Task<UntagResult> UntagWithPlaceholderAsync(string repository, string tag, Digest target, CancellationToken cancellationToken)
        {
            var placeholder = Placeholder.Create(tag);
            var where = Describe(repository, tag);

            // Deletes must be allowed, or the tag would be left on the placeholder: the placeholder's digest is not there yet,
            // so a registry that deletes answers 404, one that does not answers 405.
            try
            {
                await _client.Manifests.DeleteAsync(repository, placeholder.Digest.ToString(), cancellationToken).ConfigureAwait(false);
                throw new RegistryException(RegistryErrorKind.Protocol,
                    $"Removing tag {where}: the registry claims to have deleted a manifest that cannot exist ({placeholder.Digest}); nothing was changed.");
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound) { }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unsupported)
            {
                throw new RegistryException(RegistryErrorKind.Unsupported,
                    $"Removing tag {where}: the registry deletes neither tags nor manifests (deletes are disabled); nothing was changed.",
                    e.StatusCode, e.Method, e.RequestUri, e.Errors, e);
            }

            await _client.Blobs.UploadAsync(repository, new System.IO.MemoryStream(Placeholder.EmptyConfig, false),
                new BlobUploadOptions { Digest = Placeholder.EmptyConfigDigest, Length = Placeholder.EmptyConfig.Length, Monolithic = true, MediaType = MediaTypes.OciEmpty },
                null, cancellationToken).ConfigureAwait(false);

            // The last look before the tag is moved: a tag pushed elsewhere meanwhile is not taken away.
            var now = await _client.Manifests.TryGetDescriptorAsync(repository, tag, cancellationToken).ConfigureAwait(false);
            if (now == null)
                throw new RegistryException(RegistryErrorKind.NotFound, $"Tag {where} was removed by someone else meanwhile; nothing was changed.", 404, "HEAD", null,
                    new[] { new RegistryError("MANIFEST_UNKNOWN", "manifest unknown", null) });
            if (now.Digest != target) throw Moved(repository, tag, target, now.Digest);

            // From here on the requests are not cancelled: a tag left on the placeholder is worse than a late stop.
            try
            {
                await _client.Manifests.PutAsync(repository, tag, placeholder.Bytes, MediaTypes.OciManifest, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (!(e is ArgumentException))
            {
                // A push whose answer was lost may have moved the tag all the same: then finish below, else nothing changed.
                Descriptor? after = null;
                try { after = await _client.Manifests.TryGetDescriptorAsync(repository, tag, CancellationToken.None).ConfigureAwait(false); }
                catch (RegistryException) { }
                if (after == null || after.Digest != placeholder.Digest) throw;
            }
            try
            {
                await _client.Manifests.DeleteAsync(repository, placeholder.Digest.ToString(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                throw new UntagIncompleteException(repository, tag, placeholder.Digest,
                    $"Removing tag {where}: the tag now points at placeholder manifest {placeholder.Digest} (pushed to remove it), but deleting the placeholder failed: {e.Message} " +
                    $"Delete {_client.Endpoint.Registry}/{repository}@{placeholder.Digest} to finish; the image the tag pointed at ({target}) is untouched.", e);
            }
            return new UntagResult(tag, target, UntagMethod.Placeholder, placeholder.Digest);
        }

        private static void CheckTag(string tag)
        {
            if (string.IsNullOrEmpty(tag) || !ImageReference.IsValidTag(tag)) throw new ArgumentException($"'{tag}' is not a tag.", nameof(tag));
        }

        private TagMovedException Moved(string repository, string tag, Digest expected, Digest actual) =>
            new TagMovedException($"Tag {Describe(repository, tag)} points at {actual} now, not at {expected} as it did when it was checked; nothing was removed.", expected, actual);

        private string Describe(string repository, string tag) => _client.Endpoint.Registry + "/" + repository + ":" + tag;

        /// <summary>An OCI image manifest that is unique by construction: the empty config, and a random nonce in its annotations.</summary>
        internal sealed class Placeholder
        {
            /// <summary>The empty JSON object, the config of artifacts with no config (image-spec's empty descriptor).</summary>
            public static readonly byte[] EmptyConfig = { (byte)'{', (byte)'}' };
            public static readonly Digest EmptyConfigDigest = Digest.Compute(EmptyConfig);
            public const string NonceAnnotation = "io.github.mobydistribution.untag.nonce";

            private Placeholder(byte[] bytes)
            {
                Bytes = bytes;
                Digest = Digest.Compute(bytes);
            }

            public byte[] Bytes { get; }
            public Digest Digest { get; }

            public static Placeholder Create(string tag)
            {
                var nonce = new byte[16];
                using (var rng = System.Security.Cryptography.RandomNumberGenerator.Create()) rng.GetBytes(nonce);
                var empty = $"{{\"mediaType\":\"{MediaTypes.OciEmpty}\",\"digest\":\"{EmptyConfigDigest}\",\"size\":{EmptyConfig.Length}}}";
                var created = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
                // The tag is checked against the tag grammar ([\w][\w.-]*): it needs no JSON escaping.
                var json = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OciManifest + "\",\"config\":" + empty + ",\"layers\":[" + empty + "]," +
                    "\"annotations\":{\"org.opencontainers.image.created\":\"" + created + "\"," +
                    "\"org.opencontainers.image.description\":\"Placeholder pushed to remove the tag " + tag + "; safe to delete.\"," +
                    "\"" + NonceAnnotation + "\":\"" + ToHex(nonce) + "\"}}";
                return new Placeholder(System.Text.Encoding.UTF8.GetBytes(json));
            }

            private static string ToHex(byte[] bytes)
            {
                var sb = new System.Text.StringBuilder(bytes.Length * 2);
                foreach (var b in bytes) sb.Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                return sb.ToString();
            }
        }
    }

    /// <summary>How <see cref="TagService.UntagAsync"/> removed a tag.</summary>
    public enum UntagMethod
    {
        /// <summary>The registry deleted the tag itself (OCI tag deletion).</summary>
        TagDeleted,
        /// <summary>A placeholder manifest was pushed to the tag and deleted by its digest.</summary>
        Placeholder,
    }

    /// <summary>A tag removed by <see cref="TagService.UntagAsync"/>.</summary>
    public sealed class UntagResult
    {
        internal UntagResult(string tag, Digest digest, UntagMethod method, Digest? placeholder)
        {
            Tag = tag;
            Digest = digest;
            Method = method;
            PlaceholderDigest = placeholder;
        }

        /// <summary>The tag removed.</summary>
        public string Tag { get; }

        /// <summary>The manifest the tag pointed at; it is still there (by digest, and under its other tags).</summary>
        public Digest Digest { get; }

        /// <summary>How the tag was removed.</summary>
        public UntagMethod Method { get; }

        /// <summary>The placeholder manifest that was pushed and deleted, for <see cref="UntagMethod.Placeholder"/>.</summary>
        public Digest? PlaceholderDigest { get; }

        /// <summary>
        /// True when the registry, asked to delete the tag, deleted the manifest too (it is gone by digest afterwards): such a
        /// registry gives DELETE by tag its old meaning, and the manifest's other tags went with it.
        /// </summary>
        public bool ManifestDeleted { get; internal set; }
    }

    /// <summary>A tag points at another manifest than the one it was checked against; nothing was changed.</summary>
    public sealed class TagMovedException : RegistryException
    {
        internal TagMovedException(string message, Digest expected, Digest actual) : base(RegistryErrorKind.InvalidRequest, message)
        {
            Expected = expected;
            Actual = actual;
        }

        /// <summary>The digest the tag was expected to point at.</summary>
        public Digest Expected { get; }

        /// <summary>The digest it points at now.</summary>
        public Digest Actual { get; }
    }

    /// <summary>
    /// The placeholder was pushed to the tag, but could not be deleted: the tag points at the placeholder (not at the image any
    /// more). Deleting <see cref="PlaceholderDigest"/> finishes the removal; nothing else points at it.
    /// </summary>
    public sealed class UntagIncompleteException : RegistryException
    {
        internal UntagIncompleteException(string repository, string tag, Digest placeholder, string message, Exception? inner)
            : base((inner as RegistryException)?.Kind ?? RegistryErrorKind.Protocol, message, (inner as RegistryException)?.StatusCode,
                (inner as RegistryException)?.Method, (inner as RegistryException)?.RequestUri, (inner as RegistryException)?.Errors, inner)
        {
            Repository = repository;
            Tag = tag;
            PlaceholderDigest = placeholder;
        }

        /// <summary>The repository.</summary>
        public string Repository { get; }

        /// <summary>The tag that now points at the placeholder.</summary>
        public string Tag { get; }

        /// <summary>The placeholder manifest to delete by digest.</summary>
        public Digest PlaceholderDigest { get; }
    }

    /// <summary>The registry's catalog of repositories.</summary>
    public sealed class CatalogService
    {
        private readonly RegistryClient _client;

        internal CatalogService(RegistryClient client) => _client = client;

        /// <summary>Every repository of the registry, following <c>Link</c> pagination, sorted.</summary>
        public Task<IReadOnlyList<string>> ListAsync(int? pageSize = null, CancellationToken cancellationToken = default)
        {
            var path = "v2/_catalog" + (pageSize.HasValue ? "?n=" + pageSize.Value : string.Empty);
            return Paging.CollectAsync(_client, path, "repositories", Scopes.Catalog, $"Catalog of {_client.Endpoint.Registry}", cancellationToken);
        }
    }

    internal static class Paging
    {
        private const int MaxPageBytes = 64 * 1024 * 1024;
        private const int MaxPages = 100_000;

        public static async Task<IReadOnlyList<string>> CollectAsync(RegistryClient client, string firstPath, string property, string scope, string what, CancellationToken cancellationToken)
        {
            var baseUri = await client.Transport.GetBaseUriAsync(cancellationToken).ConfigureAwait(false);
            var next = new Uri(baseUri, firstPath);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var visited = new HashSet<string>(StringComparer.Ordinal);
            for (int page = 0; next != null; page++)
            {
                if (page >= MaxPages || !visited.Add(next.PathAndQuery))
                    throw new RegistryException(RegistryErrorKind.Protocol, $"{what}: the registry's pagination goes round in circles.");
                var request = new RegistryRequest(HttpMethod.Get, next, scope) { Idempotent = true, Description = what };
                using var response = await client.Transport.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    throw await ErrorResponse.CreateAsync(response, what, cancellationToken).ConfigureAwait(false);
                var body = await HttpContentReader.ReadCappedAsync(response.Content, MaxPageBytes, truncate: false, cancellationToken).ConfigureAwait(false);
                try
                {
                    using var doc = JsonDocument.Parse(body);
                    if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(property, out var list) && list.ValueKind == JsonValueKind.Array)
                        foreach (var item in list.EnumerateArray())
                            if (item.ValueKind == JsonValueKind.String) seen.Add(item.GetString()!);
                }
                catch (JsonException e)
                {
                    throw new RegistryException(RegistryErrorKind.Protocol, $"{what}: the registry answered with something that is not JSON.", e);
                }
                next = NextLink(response, next, baseUri);
            }
            var result = seen.ToList();
            result.Sort(StringComparer.Ordinal);
            return result;
        }

        /// <summary>The <c>rel="next"</c> target of a Link header, resolved; only on the registry's own origin.</summary>
        internal static Uri? NextLink(HttpResponseMessage response, Uri current, Uri baseUri)
        {
            if (!response.Headers.TryGetValues("Link", out var values)) return null;
            foreach (var header in values)
            {
                foreach (var part in header.Split(','))
                {
                    var p = part.Trim();
                    int lt = p.IndexOf('<'), gt = p.IndexOf('>');
                    if (lt < 0 || gt < lt) continue;
                    var attrs = p.Substring(gt + 1);
                    if (attrs.IndexOf("rel=\"next\"", StringComparison.OrdinalIgnoreCase) < 0 && attrs.IndexOf("rel=next", StringComparison.OrdinalIgnoreCase) < 0) continue;
                    var target = p.Substring(lt + 1, gt - lt - 1);
                    if (!Uri.TryCreate(current, target, out var uri)) return null;
                    if (!RedirectLayer.SameOrigin(uri, baseUri))
                        throw new RegistryException(RegistryErrorKind.Security, "The registry's pagination link points to another host; refusing to follow it.");
                    return uri;
                }
            }
            return null;
        }
    }
}
