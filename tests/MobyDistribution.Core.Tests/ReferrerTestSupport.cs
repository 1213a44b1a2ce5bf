using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Referrers written by hand, independently of Core: blobs and hand-written manifest JSON PUT with a bare HttpClient to an
    /// anonymous registry (or to a proxy in front of it).
    /// </summary>
    internal static class HandWritten
    {
        public const string EmptyConfigDigest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(60) };

        /// <summary>Uploads a blob (POST then PUT ?digest=) and returns its digest.</summary>
        public static async Task<string> PutBlobAsync(string baseUrl, string repository, byte[] data)
        {
            var digest = Reg.Sha256(data);
            using var post = await Http.PostAsync($"{baseUrl}/v2/{repository}/blobs/uploads/", null);
            if ((int)post.StatusCode != 202) throw new InvalidOperationException($"POST upload: {(int)post.StatusCode}");
            var location = new Uri(new Uri(baseUrl), post.Headers.Location!);
            var url = location + (location.Query.Length > 0 ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest);
            using var put = await Http.PutAsync(url, new ByteArrayContent(data));
            if ((int)put.StatusCode != 201) throw new InvalidOperationException($"PUT blob: {(int)put.StatusCode}");
            return digest;
        }

        /// <summary>PUTs manifest JSON under a tag or its digest and returns (digest, size, OCI-Subject header or null).</summary>
        public static async Task<(string Digest, int Size, string? OciSubject)> PutManifestAsync(string baseUrl, string repository, string json, string? tag = null)
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            var digest = Reg.Sha256(bytes);
            using var doc = System.Text.Json.JsonDocument.Parse(bytes);
            var mediaType = doc.RootElement.GetProperty("mediaType").GetString()!;
            var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(mediaType);
            using var put = await Http.PutAsync($"{baseUrl}/v2/{repository}/manifests/{tag ?? digest}", content);
            if ((int)put.StatusCode != 201) throw new InvalidOperationException($"PUT manifest: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
            var subject = put.Headers.TryGetValues("OCI-Subject", out var v) ? v.First() : null;
            return (digest, bytes.Length, subject);
        }

        /// <summary>A small image: the empty config and one layer of <paramref name="seed"/>'s bytes; returns its manifest's (digest, size).</summary>
        public static async Task<(string Digest, int Size)> PushImageAsync(string baseUrl, string repository, int seed, string? tag = null)
        {
            var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
            var configDigest = await PutBlobAsync(baseUrl, repository, config);
            var layer = Reg.RandomBytes(100 + seed, seed);
            var layerDigest = await PutBlobAsync(baseUrl, repository, layer);
            var json = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
                $"\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{configDigest}\",\"size\":{config.Length}}}," +
                $"\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{layerDigest}\",\"size\":{layer.Length}}}]}}";
            var (digest, size, _) = await PutManifestAsync(baseUrl, repository, json, tag);
            return (digest, size);
        }

        /// <summary>An artifact manifest (empty config, one blob) with a subject; returns (digest, size, OCI-Subject header).</summary>
        public static async Task<(string Digest, int Size, string? OciSubject)> PushArtifactAsync(string baseUrl, string repository, string artifactType,
            string subjectMediaType, string subjectDigest, int subjectSize, string payload, string? tag = null, string? subjectFieldOverride = null)
        {
            await PutBlobAsync(baseUrl, repository, Encoding.UTF8.GetBytes("{}"));
            var data = Encoding.UTF8.GetBytes(payload);
            var blob = await PutBlobAsync(baseUrl, repository, data);
            var json = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
                $"\"artifactType\":\"{artifactType}\"," +
                $"\"config\":{{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"{EmptyConfigDigest}\",\"size\":2}}," +
                $"\"layers\":[{{\"mediaType\":\"text/plain\",\"digest\":\"{blob}\",\"size\":{data.Length}}}]," +
                (subjectFieldOverride ?? $"\"subject\":{{\"mediaType\":\"{subjectMediaType}\",\"digest\":\"{subjectDigest}\",\"size\":{subjectSize}}},") +
                $"\"annotations\":{{\"org.example.payload\":\"{payload}\"}}}}";
            return await PutManifestAsync(baseUrl, repository, json, tag);
        }

        /// <summary>A hand-written OCI index of descriptors (JSON objects), pushed under <paramref name="tag"/>; returns its digest.</summary>
        public static async Task<string> PushIndexAsync(string baseUrl, string repository, string tag, params string[] descriptors)
        {
            var json = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[" + string.Join(",", descriptors) + "]}";
            return (await PutManifestAsync(baseUrl, repository, json, tag)).Digest;
        }

        public static string Descriptor(string mediaType, string digest, int size, string? artifactType = null, string? extra = null) =>
            $"{{\"mediaType\":\"{mediaType}\",\"digest\":\"{digest}\",\"size\":{size}" +
            (artifactType != null ? $",\"artifactType\":\"{artifactType}\"" : "") + (extra != null ? "," + extra : "") + "}";

        /// <summary>A client of a proxy (or registry) at host:port, anonymous, without Docker's config.</summary>
        public static RegistryClient Client(string hostPort)
        {
            var options = new RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 2;
            options.Retry.BaseDelay = TimeSpan.FromMilliseconds(50);
            return new RegistryClient(RegistryEndpoint.Parse(hostPort), options);
        }

        public static string TagSchemaTag(string digest) => digest.Replace(':', '-');
    }
}
