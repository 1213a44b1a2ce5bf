using System;
using System.Collections.Generic;
using System.Net.Http;
using System.Net.Http.Headers;

namespace MobyDistribution.Transport
{
    /// <summary>One request to a registry, described so that it can be sent again (retry, re-authentication).</summary>
    internal sealed class RegistryRequest
    {
        public RegistryRequest(HttpMethod method, string path, params string[] scopes)
        {
            Method = method;
            Path = path;
            Scopes = scopes;
        }

        public RegistryRequest(HttpMethod method, Uri url, params string[] scopes)
        {
            Method = method;
            Url = url;
            Scopes = scopes;
        }

        public HttpMethod Method { get; }

        /// <summary>A path below the registry root, e.g. <c>v2/app/manifests/v1</c> (query allowed).</summary>
        public string? Path { get; }

        /// <summary>An absolute URL (an upload Location), used instead of <see cref="Path"/>.</summary>
        public Uri? Url { get; }

        /// <summary>Token scopes the request needs.</summary>
        public IReadOnlyList<string> Scopes { get; }

        /// <summary>Makes the body; called once per attempt. Null for no body.</summary>
        public Func<HttpContent>? Content { get; set; }

        /// <summary>True when the body can be made again: a non-replayable body is sent once, never retried.</summary>
        public bool ContentReplayable { get; set; } = true;

        /// <summary>True when sending the request twice does no harm (GET, HEAD, and upload steps that can be repeated).</summary>
        public bool Idempotent { get; set; }

        /// <summary>Sets request headers (Accept, Range, Content-Range …).</summary>
        public Action<HttpRequestHeaders>? Headers { get; set; }

        public bool FollowRedirects { get; set; } = true;

        /// <summary>Sent without the registry's credentials (a token request carries its own in <see cref="Headers"/>).</summary>
        public bool Anonymous { get; set; }

        /// <summary>True when the last attempt carried Basic credentials.</summary>
        internal bool SentBasic { get; set; }

        /// <summary>The generation of the bearer token last sent with this request (0 for none).</summary>
        internal long TokenGeneration { get; set; }

        /// <summary>A short description for messages: "GET manifest app:v1".</summary>
        public string? Description { get; set; }
    }
}
