using System;
using System.IO;
using System.Management.Automation;
using System.Net;
using System.Security;
using MobyDistribution.Registry;
using MobyDistribution.Transport;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Connects to a registry with credentials and TLS options, checking them first.</para>
    /// <para type="description">
    /// Makes the session every other cmdlet of the module uses for that registry in this process, replacing any earlier
    /// one. The credentials are verified against the registry (as docker login does); when they are refused nothing
    /// changes and the error is RegistryAuthenticationFailed. Without credentials, Docker's config file is used, else
    /// access is anonymous. Secrets are kept in memory only and never shown.
    /// </para>
    /// </summary>
    /// <example><code>Connect-Registry -Registry registry.example.com -Credential (Get-Credential)</code></example>
    /// <example><code>Connect-Registry -Registry contoso.azurecr.io -AccessToken (Get-AzAccessToken -AsSecureString).Token</code></example>
    [Cmdlet(VerbsCommunications.Connect, "Registry", DefaultParameterSetName = CredentialSet)]
    [OutputType(typeof(RegistrySession))]
    public sealed class ConnectRegistryCommand : RegistryRequestCmdletBase
    {
        private const string CredentialSet = "Credential";
        private const string IdentityTokenSet = "IdentityToken";
        private const string AccessTokenSet = "AccessToken";

        /// <summary>
        /// <para type="description">The registry: <c>host[:port]</c> (e.g. <c>localhost:5000</c>, <c>docker.io</c>) or a URL
        /// (<c>https://registry.example.com</c>) to force a scheme.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(RegistryNameCompleter))]
        public string Registry { get; set; } = null!;

        /// <summary>
        /// <para type="description">A user name and password (or personal access token used as a password).</para>
        /// </summary>
        [Parameter(ParameterSetName = CredentialSet)]
        [Credential]
        [ValidateNotNull]
        public PSCredential? Credential { get; set; }

        /// <summary>
        /// <para type="description">An identity (OAuth2 refresh) token, as docker keeps for some registries, used instead of a password:
        /// for Azure Container Registry, the token <c>az acr login --expose-token</c> prints.</para>
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = IdentityTokenSet)]
        [ValidateNotNull]
        public SecureString? IdentityToken { get; set; }

        /// <summary>
        /// <para type="description">The user name to go with -IdentityToken, when the registry wants one.</para>
        /// </summary>
        [Parameter(ParameterSetName = IdentityTokenSet)]
        [ValidateNotNullOrEmpty]
        public string? UserName { get; set; }

        /// <summary>
        /// <para type="description">An Entra ID (Azure AD) access token, from <c>Get-AzAccessToken</c> or <c>az account get-access-token</c>,
        /// for Azure Container Registry without the docker CLI. It is exchanged at the registry for a refresh token, kept in
        /// memory for this session only, which buys and renews the registry's access tokens.</para>
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = AccessTokenSet)]
        [ValidateNotNull]
        public SecureString? AccessToken { get; set; }

        /// <summary>
        /// <para type="description">The Entra ID tenant to name in the exchange of -AccessToken; without it, the registry takes the token's own.</para>
        /// </summary>
        [Parameter(ParameterSetName = AccessTokenSet)]
        [ValidateNotNullOrEmpty]
        public string? Tenant { get; set; }

        /// <summary>
        /// <para type="description">Allows plain http to a registry that is not on this machine. Loopback registries may use http without it.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter AllowInsecure { get; set; }

        /// <summary>
        /// <para type="description">Accepts any TLS certificate from this registry. Only for test registries.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter SkipCertificateCheck { get; set; }

        /// <summary>
        /// <para type="description">A PEM file of CA certificates to trust for this registry, besides the system's.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? CertificateAuthority { get; set; }

        /// <summary>
        /// <para type="description">Writes the session.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var options = Connections.Defaults.Clone();
            options.AllowInsecure = AllowInsecure.IsPresent;
            options.SkipCertificateCheck = SkipCertificateCheck.IsPresent;
            // The retry budget given here is the session's from now on.
            var (attempts, elapsed) = RetryBudget;
            if (attempts.HasValue) options.Retry.MaxAttempts = attempts.Value;
            if (elapsed.HasValue) options.Retry.MaxElapsed = elapsed.Value;
            if (CertificateAuthority != null)
            {
                var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(CertificateAuthority);
                if (!File.Exists(path))
                {
                    WriteError(new FileNotFoundException($"The certificate authority file '{path}' does not exist.", path),
                        "CertificateAuthorityNotFound", ErrorCategory.ObjectNotFound, CertificateAuthority);
                    return;
                }
                options.CertificateAuthorityPath = path;
            }
            if (Credential != null)
            {
                options.Credential = RegistryCredential.FromPassword(Credential.UserName, Credential.GetNetworkCredential().Password);
            }
            else if (IdentityToken != null || AccessToken != null)
            {
                var token = new NetworkCredential(string.Empty, IdentityToken ?? AccessToken).Password;
                if (string.IsNullOrEmpty(token))
                {
                    var name = IdentityToken != null ? nameof(IdentityToken) : nameof(AccessToken);
                    WriteError(new ArgumentException($"The {name} given is empty."), "EmptyToken", ErrorCategory.InvalidArgument, name);
                    return;
                }
                options.Credential = IdentityToken != null
                    ? RegistryCredential.FromIdentityToken(token, UserName)
                    : RegistryCredential.FromAccessToken(token, Tenant);
            }

            RegistrySession session;
            try
            {
                session = Run(ct => Connections.ConnectAsync(Registry, options, verify: true, ct));
            }
            catch (Exception e) when (RegistryErrors.IsExpected(e) && !Stopping)
            {
                // Non-terminating, so that -ErrorAction decides; nothing changed, an earlier session stays as it was.
                if (e is FormatException) WriteError(e, "InvalidRegistry", ErrorCategory.InvalidArgument, Registry);
                else WriteRegistryError(e, "Registry", Registry);
                return;
            }
            WriteVerbose($"Connected to {session.Registry}{(session.UserName != null ? " as " + session.UserName : " anonymously")} ({session.AuthScheme ?? "no authentication asked"}).");
            if (PassThru) WriteObject(session);
        }
    }
}
