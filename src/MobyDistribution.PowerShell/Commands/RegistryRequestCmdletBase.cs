using System;
using System.Management.Automation;
using MobyDistribution.Registry;
using MobyDistribution.Transport;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// A cmdlet that sends requests to registries: it takes a retry budget of its own, for this command only, over the
    /// session's (Connect-Registry -MaximumRetryCount / -RetryTimeoutSec) or the default (4 retries, 3 minutes).
    /// </summary>
    public abstract class RegistryRequestCmdletBase : RegistryCmdletBase
    {
        /// <summary>
        /// <para type="description">How many times a request that is safe to repeat is retried after 408, 429, 500, 502, 503, 504 or a dropped
        /// connection, with exponential backoff (honouring Retry-After). 0 turns retries off. The default is the session's, else 4.</para>
        /// </summary>
        [Parameter]
        [ValidateRange(0, 100)]
        public int MaximumRetryCount { get; set; }

        /// <summary>
        /// <para type="description">The longest time, in seconds, spent retrying one request before giving up with an error that says
        /// what was retried and why. The default is the session's, else 180.</para>
        /// </summary>
        [Parameter]
        [ValidateRange(1, 86400)]
        public int RetryTimeoutSec { get; set; }

        /// <summary>The retry budget asked for, as attempts in all and a time.</summary>
        protected (int? Attempts, TimeSpan? Elapsed) RetryBudget =>
            (MyInvocation.BoundParameters.ContainsKey(nameof(MaximumRetryCount)) ? MaximumRetryCount + 1 : (int?)null,
             MyInvocation.BoundParameters.ContainsKey(nameof(RetryTimeoutSec)) ? TimeSpan.FromSeconds(RetryTimeoutSec) : (TimeSpan?)null);

        /// <summary>
        /// Resolves one tag of <paramref name="repository"/> to the descriptor it points at (a HEAD request). A malformed name
        /// (InvalidTag) or a tag the registry does not have (TagNotFound) is written as a non-terminating error and gives false.
        /// </summary>
        protected bool TryResolveTag(RegistryClient client, ImageReference repository, string name, out ImageReference tagged, out Descriptor descriptor)
        {
            descriptor = null!;
            try
            {
                tagged = repository.WithTag(name);
            }
            catch (FormatException e)
            {
                tagged = repository;
                WriteError(e, "InvalidTag", ErrorCategory.InvalidArgument, name);
                return false;
            }
            var target = tagged;
            try
            {
                descriptor = Run(ct => client.Tags.GetAsync(repository.Repository, name, ct));
                return true;
            }
            catch (Exception e) when (RegistryErrors.IsExpected(e) && !Stopping)
            {
                WriteRegistryError(e, "Tag", target, IsNotFound(e) ? $"Tag '{name}' was not found in {repository}." : null);
                return false;
            }
        }

        /// <inheritdoc />
        protected override IDisposable? BeginRequestScope()
        {
            var (attempts, elapsed) = RetryBudget;
            return attempts.HasValue || elapsed.HasValue ? RetryScope.Begin(attempts, elapsed) : null;
        }
    }
}
