using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.TestBed
{
    /// <summary>
    /// The OCI 1.1 referrers API that distribution 2.8.2 lacks, served by a <see cref="FaultProxy"/> from the registry's own
    /// data: <c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;</c> lists the repository's manifests from the registry's storage
    /// folder (every revision, tagged or not, however it was pushed), reads each through the real registry (with the client's
    /// credentials) and answers the OCI index of those whose <c>subject</c> is that digest, filtered by <c>artifactType</c>
    /// (announced in <c>OCI-Filters-Applied</c>) and paged with <c>Link</c>. A manifest PUT that carries a subject is answered
    /// with <c>OCI-Subject</c>, as a registry with the API does. Anything the registry refuses (401 with its challenge, 403,
    /// 404 for an unknown repository) is relayed as the registry said it.
    /// </summary>
    internal sealed class ReferrersApi
    {
        private const string OciIndex = "application/vnd.oci.image.index.v1+json";
        private static readonly string[] ManifestTypes =
        {
            OciIndex, "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        };
        private static readonly Regex ReferrersPath = new(@"^/v2/(?<name>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)/referrers/(?<digest>[^/]+)$", RegexOptions.CultureInvariant);
        private static readonly Regex ManifestPath = new(@"^/v2/(?<name>.+)/manifests/[^/]+$", RegexOptions.CultureInvariant);
        private static readonly Regex DigestPattern = new(@"^sha256:[a-f0-9]{64}$", RegexOptions.CultureInvariant);

        private readonly HttpClient _upstream;
        private readonly string _upstreamBase;
        private readonly string _storage;
        private readonly int _pageSize;
        private readonly bool _filter;

        public ReferrersApi(HttpClient upstream, string upstreamBase, string storageDirectory, int pageSize, bool filter)
        {
            _filter = filter;
            _upstream = upstream;
            _upstreamBase = upstreamBase;
            _storage = storageDirectory;
            _pageSize = pageSize;
        }

        /// <summary>How many referrers requests were answered (not relayed refusals).</summary>
        public int Answered => Volatile.Read(ref _answered);
        private int _answered;

        /// <summary>The answer to a referrers request, or null when <paramref name="head"/> is not one.</summary>
        public async Task<(int Status, List<KeyValuePair<string, string>> Headers, byte[] Body)?> TryAnswerAsync(RequestHead head, CancellationToken ct)
        {
            if (head.Method != "GET") return null;
            var match = ReferrersPath.Match(head.Path);
            if (!match.Success) return null;
            var name = match.Groups["name"].Value;
            var digest = Uri.UnescapeDataString(match.Groups["digest"].Value);
            if (!DigestPattern.IsMatch(digest)) return Error(400, "DIGEST_INVALID", "invalid digest");

            // The registry decides who may read: ask it for the repository's tags with the client's credentials first.
            using (var probe = Request(HttpMethod.Get, $"/v2/{name}/tags/list", head))
            using (var answer = await _upstream.SendAsync(probe, ct).ConfigureAwait(false))
            {
                if (!answer.IsSuccessStatusCode)
                {
                    var headers = new List<KeyValuePair<string, string>>();
                    foreach (var h in answer.Headers.NonValidated.Concat(answer.Content.Headers.NonValidated))
                        if (h.Key is "WWW-Authenticate" or "Content-Type" or "Docker-Distribution-Api-Version")
                            foreach (var v in h.Value) headers.Add(new(h.Key, v));
                    return ((int)answer.StatusCode, headers, await answer.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false));
                }
            }

            var referrers = new List<JsonObject>();
            foreach (var revision in Revisions(name))
            {
                using var get = Request(HttpMethod.Get, $"/v2/{name}/manifests/{revision}", head);
                using var response = await _upstream.SendAsync(get, ct).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode) continue;
                var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
                JsonObject? manifest;
                try { manifest = JsonNode.Parse(bytes) as JsonObject; }
                catch (JsonException) { continue; }
                if (manifest?["subject"]?["digest"]?.GetValue<string>() != digest) continue;
                var mediaType = manifest["mediaType"]?.GetValue<string>() ?? response.Content.Headers.ContentType?.MediaType ?? "";
                var descriptor = new JsonObject
                {
                    ["mediaType"] = mediaType,
                    ["digest"] = revision,
                    ["size"] = bytes.Length,
                };
                // The spec's rule: the manifest's artifactType, else its config's media type.
                var artifactType = manifest["artifactType"]?.GetValue<string>() ?? manifest["config"]?["mediaType"]?.GetValue<string>();
                if (artifactType != null) descriptor["artifactType"] = artifactType;
                if (manifest["annotations"] is JsonObject annotations) descriptor["annotations"] = annotations.DeepClone();
                referrers.Add(descriptor);
            }

            var query = FaultProxy.ParseQuery(head.Query).ToList();
            var filter = query.Where(kv => kv.Key == "artifactType").Select(kv => kv.Value).FirstOrDefault();
            var result = new List<KeyValuePair<string, string>> { new("Content-Type", OciIndex), new("Docker-Distribution-Api-Version", "registry/2.0") };
            if (filter != null && _filter)
            {
                referrers = referrers.Where(r => r["artifactType"]?.GetValue<string>() == filter).ToList();
                result.Add(new("OCI-Filters-Applied", "artifactType"));
            }
            referrers = referrers.OrderBy(r => r["digest"]!.GetValue<string>(), StringComparer.Ordinal).ToList();
            var last = query.Where(kv => kv.Key == "last").Select(kv => kv.Value).FirstOrDefault();
            if (last != null) referrers = referrers.Where(r => string.CompareOrdinal(r["digest"]!.GetValue<string>(), last) > 0).ToList();
            if (_pageSize > 0 && referrers.Count > _pageSize)
            {
                referrers = referrers.Take(_pageSize).ToList();
                var next = $"/v2/{name}/referrers/{digest}?last={Uri.EscapeDataString(referrers[^1]["digest"]!.GetValue<string>())}"
                    + (filter != null ? "&artifactType=" + Uri.EscapeDataString(filter) : "");
                result.Add(new("Link", $"<{next}>; rel=\"next\""));
            }
            var index = new JsonObject
            {
                ["schemaVersion"] = 2,
                ["mediaType"] = OciIndex,
                ["manifests"] = new JsonArray(referrers.Select(r => (JsonNode)r).ToArray()),
            };
            Interlocked.Increment(ref _answered);
            return (200, result, Encoding.UTF8.GetBytes(index.ToJsonString()));
        }

        /// <summary><c>OCI-Subject</c> for a manifest PUT the registry accepted, when the manifest stored has a subject; else null.</summary>
        public async Task<KeyValuePair<string, string>?> SubjectHeaderAsync(RequestHead head, HttpResponseMessage response, CancellationToken ct)
        {
            if (head.Method != "PUT" || (int)response.StatusCode != 201) return null;
            var match = ManifestPath.Match(head.Path);
            if (!match.Success || !response.Headers.TryGetValues("Docker-Content-Digest", out var digests)) return null;
            using var get = Request(HttpMethod.Get, $"/v2/{match.Groups["name"].Value}/manifests/{digests.First()}", head);
            using var answer = await _upstream.SendAsync(get, ct).ConfigureAwait(false);
            if (!answer.IsSuccessStatusCode) return null;
            try
            {
                var subject = (JsonNode.Parse(await answer.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false)) as JsonObject)?["subject"]?["digest"]?.GetValue<string>();
                return subject == null ? null : new KeyValuePair<string, string>("OCI-Subject", subject);
            }
            catch (JsonException) { return null; }
        }

        /// <summary>Every manifest digest the registry holds for a repository: its storage's revision links.</summary>
        private IEnumerable<string> Revisions(string name)
        {
            var folder = Path.Combine(_storage, "docker", "registry", "v2", "repositories", name, "_manifests", "revisions", "sha256");
            if (!Directory.Exists(folder)) return Array.Empty<string>();
            return Directory.GetDirectories(folder).Select(d => "sha256:" + Path.GetFileName(d)).Where(d => DigestPattern.IsMatch(d)).ToList();
        }

        private HttpRequestMessage Request(HttpMethod method, string path, RequestHead head)
        {
            var message = new HttpRequestMessage(method, _upstreamBase + path);
            foreach (var type in ManifestTypes) message.Headers.TryAddWithoutValidation("Accept", type);
            var authorization = head.Header("Authorization");
            if (authorization != null) message.Headers.TryAddWithoutValidation("Authorization", authorization);
            return message;
        }

        private static (int, List<KeyValuePair<string, string>>, byte[]) Error(int status, string code, string message) =>
            (status, new List<KeyValuePair<string, string>> { new("Content-Type", "application/json; charset=utf-8") },
                Encoding.UTF8.GetBytes("{\"errors\":[{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}]}"));
    }
}
