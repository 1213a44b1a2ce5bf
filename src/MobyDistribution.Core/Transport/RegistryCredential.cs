using System;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// Credentials for one registry: a user name and password, an identity (refresh) token, or an Entra ID access token
    /// to exchange for one (Azure Container Registry). <see cref="ToString"/> never shows the secret.
    /// </summary>
    public sealed class RegistryCredential
    {
        /// <summary>
        /// The user name under which Azure Container Registry takes a refresh token as a password (written by
        /// <c>az acr login</c> and Azure DevOps' Docker task); such a password is an identity token.
        /// </summary>
        public const string RefreshTokenUserName = "00000000-0000-0000-0000-000000000000";

        private RegistryCredential(string? username, string? password, string? identityToken, string? accessToken, string? tenant, string source)
        {
            Username = username;
            Password = password;
            IdentityToken = identityToken;
            AccessToken = accessToken;
            Tenant = tenant;
            Source = source;
        }

        public string? Username { get; }

        /// <summary>The password; never logged or shown.</summary>
        internal string? Password { get; }

        /// <summary>An OAuth2 refresh token used in place of a password (docker's <c>identitytoken</c>); never shown.</summary>
        internal string? IdentityToken { get; }

        /// <summary>An Entra ID access token, exchanged for a refresh token at the registry on first use; never shown.</summary>
        internal string? AccessToken { get; }

        /// <summary>The Entra ID tenant sent with the access token exchange, when given.</summary>
        public string? Tenant { get; }

        /// <summary>Where these credentials came from: "caller", "docker config: PATH", "credential helper: NAME".</summary>
        public string Source { get; }

        /// <summary>True when a password is held.</summary>
        public bool HasPassword => !string.IsNullOrEmpty(Password);

        /// <summary>True when an identity token is held.</summary>
        public bool HasIdentityToken => !string.IsNullOrEmpty(IdentityToken);

        /// <summary>True when an Entra ID access token is held, to be exchanged for a refresh token.</summary>
        public bool HasAccessToken => !string.IsNullOrEmpty(AccessToken);

        /// <summary>
        /// The refresh token for the OAuth2 refresh grant: the identity token, or the password of the user
        /// <see cref="RefreshTokenUserName"/> (ACR's convention).
        /// </summary>
        internal string? RefreshToken =>
            HasIdentityToken ? IdentityToken
            : HasPassword && string.Equals(Username, RefreshTokenUserName, StringComparison.Ordinal) ? Password
            : null;

        /// <summary>What names this credential in messages: the user name, or the kind of token.</summary>
        public string DisplayName => Username ?? (HasAccessToken ? "<access token>" : "<identity token>");

        public static RegistryCredential FromPassword(string username, string password, string source = "caller")
        {
            if (string.IsNullOrEmpty(username)) throw new ArgumentException("A user name is required.", nameof(username));
            return new RegistryCredential(username, password ?? string.Empty, null, null, null, source);
        }

        public static RegistryCredential FromIdentityToken(string identityToken, string? username = null, string source = "caller")
        {
            if (string.IsNullOrEmpty(identityToken)) throw new ArgumentException("An identity token is required.", nameof(identityToken));
            return new RegistryCredential(username, null, identityToken, null, null, source);
        }

        /// <summary>
        /// An Entra ID (Azure AD) access token, as <c>Get-AzAccessToken</c> or <c>az account get-access-token</c> print.
        /// On the first Bearer challenge it is posted to <c>/oauth2/exchange</c> on the host of the challenge's realm
        /// for a refresh token, which then buys the access tokens; the refresh token lives in memory only.
        /// </summary>
        /// <param name="accessToken">The Entra ID access token.</param>
        /// <param name="tenant">The tenant to name in the exchange, or null to let the registry take the token's.</param>
        /// <param name="source">Where the token came from, for messages.</param>
        public static RegistryCredential FromAccessToken(string accessToken, string? tenant = null, string source = "caller")
        {
            if (string.IsNullOrEmpty(accessToken)) throw new ArgumentException("An access token is required.", nameof(accessToken));
            return new RegistryCredential(null, null, null, accessToken, string.IsNullOrEmpty(tenant) ? null : tenant, source);
        }

        /// <summary>A stable key that differs between credentials without revealing them (for token caches).</summary>
        internal string CacheKey
        {
            get
            {
                var secret = (Password ?? string.Empty) + "\0" + (IdentityToken ?? string.Empty) + "\0" + (AccessToken ?? string.Empty) + "\0" + (Tenant ?? string.Empty);
                var digest = Digest.Compute(System.Text.Encoding.UTF8.GetBytes(secret));
                return (Username ?? string.Empty) + "#" + digest.Short;
            }
        }

        public override string ToString() => DisplayName + " (" + Source + ")";
    }
}
