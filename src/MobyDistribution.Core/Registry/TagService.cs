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
        /// Removes a tag (the seed's <c>untag</c>): like <see cref="ManifestService.DeleteAsync"/>, it deletes the manifest the
        /// tag points at, and with it every tag on that digest. Returns the digest deleted.
        /// </summary>
        public Task<Digest> UntagAsync(string repository, string tag, CancellationToken cancellationToken = default)
        {
            if (tag != null && tag.IndexOf(':') >= 0) throw new ArgumentException($"'{tag}' is not a tag.", nameof(tag));
            return _client.Manifests.DeleteAsync(repository, tag!, cancellationToken);
        }
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
                    if (!RegistryTransport.SameOrigin(uri, baseUri))
                        throw new RegistryException(RegistryErrorKind.Security, "The registry's pagination link points to another host; refusing to follow it.");
                    return uri;
                }
            }
            return null;
        }
    }
}
