using System;
using MobyDistribution.Errors;

namespace MobyDistribution.Transport
{
    /// <summary>The realm rule: where a registry may send this client for a bearer token, and so where credentials may go.</summary>
    internal static class TokenRealm
    {
        /// <summary>
        /// The token realm a registry named, if credentials may go there: an absolute http(s) URL without user info,
        /// and https unless the registry itself is loopback or marked insecure.
        /// </summary>
        public static Uri Check(string? realmText, RegistryEndpoint endpoint)
        {
            if (string.IsNullOrEmpty(realmText) || !Uri.TryCreate(realmText, UriKind.Absolute, out var realm) || (realm.Scheme != "https" && realm.Scheme != "http"))
                throw new RegistryException(RegistryErrorKind.Protocol, $"{endpoint.Host} asked for a bearer token without a usable realm ('{Redaction.Url(realmText)}').");
            if (realm.Scheme == "http" && !endpoint.MayUseHttp)
                throw new RegistryException(RegistryErrorKind.Security,
                    $"Refusing to send credentials to the token realm {Redaction.Url(realm)} over plain http; {endpoint.Host} is neither loopback nor marked insecure.");
            if (!string.IsNullOrEmpty(realm.UserInfo))
                throw new RegistryException(RegistryErrorKind.Security, $"The token realm of {endpoint.Host} carries user info; refusing it.");
            return realm;
        }
    }
}
