using System;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// Credentials for one registry: a user name and password, or an identity (refresh) token.
    /// <see cref="ToString"/> never shows the secret.
    /// </summary>
    public sealed class RegistryCredential
    {
        private RegistryCredential(string? username, string? password, string? identityToken, string source)
        {
            Username = username;
            Password = password;
            IdentityToken = identityToken;
            Source = source;
        }

        public string? Username { get; }

        /// <summary>The password; never logged or shown.</summary>
        internal string? Password { get; }

        /// <summary>An OAuth2 refresh token used in place of a password (docker's <c>identitytoken</c>); never shown.</summary>
        internal string? IdentityToken { get; }

        /// <summary>Where these credentials came from: "caller", "docker config: PATH", "credential helper: NAME".</summary>
        public string Source { get; }

        /// <summary>True when a password is held.</summary>
        public bool HasPassword => !string.IsNullOrEmpty(Password);

        /// <summary>True when an identity token is held.</summary>
        public bool HasIdentityToken => !string.IsNullOrEmpty(IdentityToken);

        public static RegistryCredential FromPassword(string username, string password, string source = "caller")
        {
            if (string.IsNullOrEmpty(username)) throw new ArgumentException("A user name is required.", nameof(username));
            return new RegistryCredential(username, password ?? string.Empty, null, source);
        }

        public static RegistryCredential FromIdentityToken(string identityToken, string? username = null, string source = "caller")
        {
            if (string.IsNullOrEmpty(identityToken)) throw new ArgumentException("An identity token is required.", nameof(identityToken));
            return new RegistryCredential(username, null, identityToken, source);
        }

        /// <summary>A stable key that differs between credentials without revealing them (for token caches).</summary>
        internal string CacheKey
        {
            get
            {
                var secret = (Password ?? string.Empty) + "\0" + (IdentityToken ?? string.Empty);
                var digest = Digest.Compute(System.Text.Encoding.UTF8.GetBytes(secret));
                return (Username ?? string.Empty) + "#" + digest.Short;
            }
        }

        public override string ToString() => (Username ?? "<identity token>") + " (" + Source + ")";
    }
}
