using System;
using System.Net;
using System.Net.Sockets;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// Where a registry's API answers (the seed's APIEndpoint). An explicit scheme is respected. Without one,
    /// https is used; a loopback host (localhost, 127.0.0.0/8, ::1) or a host marked insecure may fall back to plain
    /// http when it does not speak TLS. A remote host is never silently downgraded.
    /// </summary>
    public sealed class RegistryEndpoint : IEquatable<RegistryEndpoint>
    {
        private RegistryEndpoint(string registry, string host, string? scheme, bool allowInsecure)
        {
            Registry = registry;
            Host = host;
            ExplicitScheme = scheme;
            AllowInsecure = allowInsecure;
        }

        /// <summary>The registry name as in image references (<c>docker.io</c>, <c>localhost:5000</c>).</summary>
        public string Registry { get; }

        /// <summary>The host and port the API is reached at (<c>registry-1.docker.io</c> for docker.io).</summary>
        public string Host { get; }

        /// <summary>The scheme the caller named, or null when it is to be found out.</summary>
        public string? ExplicitScheme { get; }

        /// <summary>True when the caller allowed plain http for this (non-loopback) host.</summary>
        public bool AllowInsecure { get; }

        /// <summary>True for localhost, 127.0.0.0/8 and ::1.</summary>
        public bool IsLoopback => IsLoopbackHost(HostName);

        /// <summary>True when plain http may be used: loopback, marked insecure, or http named explicitly.</summary>
        public bool MayUseHttp => IsLoopback || AllowInsecure || ExplicitScheme == "http";

        /// <summary>The host name without port or IPv6 brackets.</summary>
        public string HostName
        {
            get
            {
                var h = Host;
                if (h.StartsWith("[", StringComparison.Ordinal))
                {
                    int end = h.IndexOf(']');
                    return end > 0 ? h.Substring(1, end - 1) : h;
                }
                int colon = h.LastIndexOf(':');
                return colon > 0 ? h.Substring(0, colon) : h;
            }
        }

        /// <summary>
        /// Parses <c>host[:port]</c>, <c>[ipv6]:port</c> or a URL with scheme (<c>https://host</c>, <c>http://127.0.0.1:5000</c>).
        /// A path other than <c>/</c> or <c>/v2/</c> is refused: registries serve the API at the root.
        /// </summary>
        public static RegistryEndpoint Parse(string value, bool allowInsecure = false)
        {
            if (string.IsNullOrWhiteSpace(value)) throw new FormatException("A registry must not be empty.");
            var text = value.Trim();
            string? scheme = null;
            int sep = text.IndexOf("://", StringComparison.Ordinal);
            if (sep >= 0)
            {
                scheme = text.Substring(0, sep).ToLowerInvariant();
                if (scheme != "http" && scheme != "https")
                    throw new FormatException($"'{value}': the scheme must be http or https.");
                if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || !string.IsNullOrEmpty(uri.UserInfo))
                    throw new FormatException($"'{value}' is not a registry URL (credentials do not belong in it).");
                var path = uri.AbsolutePath.TrimEnd('/');
                if (path.Length != 0 && path != "/v2")
                    throw new FormatException($"'{value}': a registry is addressed by host and port; the path '{uri.AbsolutePath}' is not supported.");
                if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
                    throw new FormatException($"'{value}': a registry URL takes no query or fragment.");
                text = uri.IsDefaultPort ? uri.Host : uri.Authority;
                if (uri.HostNameType == UriHostNameType.IPv6 && !text.StartsWith("[", StringComparison.Ordinal))
                    text = "[" + uri.Host.Trim('[', ']') + "]" + (uri.IsDefaultPort ? string.Empty : ":" + uri.Port);
            }
            text = text.TrimEnd('/');
            if (!IsValidHostPort(text)) throw new FormatException($"'{value}' is not a registry host: expected host[:port].");
            var registry = DockerHub.Canonicalize(text);
            var host = DockerHub.ApiHostOf(registry);
            return new RegistryEndpoint(registry, host, scheme, allowInsecure);
        }

        /// <summary>The endpoint of an image reference's registry.</summary>
        public static RegistryEndpoint For(ImageReference reference, bool allowInsecure = false) => Parse(reference.Registry, allowInsecure);

        /// <summary>The base URI for a scheme: <c>scheme://host/</c>.</summary>
        public Uri BaseUri(string scheme) => new Uri(scheme + "://" + Host + "/");

        internal static bool IsValidHostPort(string text)
        {
            if (text.Length == 0 || text.Length > 255) return false;
            string host = text;
            string? port = null;
            if (text.StartsWith("[", StringComparison.Ordinal))
            {
                int end = text.IndexOf(']');
                if (end < 0) return false;
                host = text.Substring(1, end - 1);
                if (!IPAddress.TryParse(host, out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6) return false;
                var rest = text.Substring(end + 1);
                if (rest.Length > 0)
                {
                    if (rest[0] != ':') return false;
                    port = rest.Substring(1);
                }
            }
            else
            {
                int colon = text.IndexOf(':');
                if (colon >= 0)
                {
                    if (text.IndexOf(':', colon + 1) >= 0) return false;
                    host = text.Substring(0, colon);
                    port = text.Substring(colon + 1);
                }
                if (host.Length == 0) return false;
                foreach (var label in host.Split('.'))
                {
                    if (label.Length == 0 || label.Length > 63 || label[0] == '-' || label[label.Length - 1] == '-') return false;
                    foreach (var c in label)
                        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
                }
            }
            if (port != null)
            {
                if (port.Length == 0 || port.Length > 5) return false;
                foreach (var c in port) if (c < '0' || c > '9') return false;
                if (int.Parse(port) > 65535) return false;
            }
            return true;
        }

        internal static bool IsLoopbackHost(string hostName)
        {
            if (string.Equals(hostName, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
            if (hostName.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)) return true;
            return IPAddress.TryParse(hostName.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
        }

        public override string ToString() => ExplicitScheme != null ? ExplicitScheme + "://" + Host : Host;

        public bool Equals(RegistryEndpoint? other) =>
            other is not null && other.Registry == Registry && other.ExplicitScheme == ExplicitScheme && other.AllowInsecure == AllowInsecure;

        public override bool Equals(object? obj) => obj is RegistryEndpoint e && Equals(e);

        public override int GetHashCode() => StringComparer.OrdinalIgnoreCase.GetHashCode(Registry);
    }
}
