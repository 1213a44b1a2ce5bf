using System;
using System.Net.Http.Headers;
using System.Text;

namespace MobyDistribution.Transport
{
    /// <summary>The Basic layer: a user name and password on every request to the registry's own host, when it asked for Basic.</summary>
    internal static class BasicAuthentication
    {
        /// <summary>The Authorization header for <paramref name="credential"/>, or null when it has no password.</summary>
        public static AuthenticationHeaderValue? Header(RegistryCredential? credential) =>
            credential != null && credential.HasPassword
                ? new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes((credential.Username ?? string.Empty) + ":" + (credential.Password ?? string.Empty))))
                : null;
    }
}
