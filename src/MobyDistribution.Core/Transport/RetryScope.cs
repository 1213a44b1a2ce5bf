using System;
using System.Threading;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// A per-operation override of the retry budget. Like <see cref="RegistryLog.BeginScope"/>, it flows with the async work
    /// started inside it, so a cmdlet can give one call its own budget (<c>-MaximumRetryCount</c>, <c>-RetryTimeout</c>) on
    /// a client shared by the session, without changing the client:
    /// <code>
    /// using (RetryScope.Begin(maxAttempts: 2, maxElapsed: TimeSpan.FromSeconds(30)))
    ///     await client.Blobs.DownloadToFileAsync(repo, digest, path);
    /// </code>
    /// Limits left null keep the client's <see cref="RegistryClientOptions.Retry"/> values. Scopes nest; the innermost wins.
    /// </summary>
    public static class RetryScope
    {
        private static readonly AsyncLocal<Overrides?> Current = new AsyncLocal<Overrides?>();

        /// <summary>
        /// Overrides some limits of every client's policy for work started in this scope, until disposed.
        /// <paramref name="maxAttempts"/> counts the first attempt (1 = no retry); <paramref name="maxElapsed"/> is the time budget.
        /// </summary>
        public static IDisposable Begin(int? maxAttempts = null, TimeSpan? maxElapsed = null)
        {
            if (maxAttempts.HasValue && maxAttempts.Value < 1) throw new ArgumentOutOfRangeException(nameof(maxAttempts), "At least one attempt.");
            if (maxElapsed.HasValue && maxElapsed.Value < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(maxElapsed));
            return Push(new Overrides(null, maxAttempts, maxElapsed));
        }

        /// <summary>Uses <paramref name="policy"/> (a copy of it) instead of every client's policy for work started in this scope.</summary>
        public static IDisposable Begin(RetryPolicy policy)
        {
            if (policy == null) throw new ArgumentNullException(nameof(policy));
            return Push(new Overrides(policy.Clone(), null, null));
        }

        /// <summary>The policy in force for a client whose own policy is <paramref name="clientPolicy"/>.</summary>
        internal static RetryPolicy Resolve(RetryPolicy clientPolicy)
        {
            var o = Current.Value;
            if (o == null) return clientPolicy;
            if (o.Policy != null) return o.Policy;
            var p = clientPolicy.Clone();
            if (o.MaxAttempts.HasValue) p.MaxAttempts = o.MaxAttempts.Value;
            if (o.MaxElapsed.HasValue) p.MaxElapsed = o.MaxElapsed.Value;
            return p;
        }

        private static IDisposable Push(Overrides overrides)
        {
            var previous = Current.Value;
            Current.Value = overrides;
            return new Scope(previous);
        }

        private sealed class Overrides
        {
            public Overrides(RetryPolicy? policy, int? maxAttempts, TimeSpan? maxElapsed)
            {
                Policy = policy;
                MaxAttempts = maxAttempts;
                MaxElapsed = maxElapsed;
            }

            public RetryPolicy? Policy { get; }
            public int? MaxAttempts { get; }
            public TimeSpan? MaxElapsed { get; }
        }

        private sealed class Scope : IDisposable
        {
            private readonly Overrides? _previous;
            public Scope(Overrides? previous) => _previous = previous;
            public void Dispose() => Current.Value = _previous;
        }
    }
}
