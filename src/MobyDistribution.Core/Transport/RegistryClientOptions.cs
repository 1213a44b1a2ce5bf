using System;

namespace MobyDistribution.Transport
{
    /// <summary>How requests to one registry are made: credentials, TLS, retries, logging.</summary>
    public sealed class RegistryClientOptions
    {
        /// <summary>Credentials the caller gives. When null, <see cref="CredentialStore"/> is asked, else access is anonymous.</summary>
        public RegistryCredential? Credential { get; set; }

        /// <summary>Where credentials are looked up when none are given; null to never read Docker's config.</summary>
        public DockerConfigCredentialStore? CredentialStore { get; set; } = new DockerConfigCredentialStore();

        /// <summary>Allow plain http for a registry that is not on loopback.</summary>
        public bool AllowInsecure { get; set; }

        /// <summary>Accept any TLS certificate from this registry. Off unless asked for.</summary>
        public bool SkipCertificateCheck { get; set; }

        /// <summary>A PEM file of CA certificates trusted for this registry, besides the system's.</summary>
        public string? CertificateAuthorityPath { get; set; }

        /// <summary>Retry budget for idempotent requests.</summary>
        public RetryPolicy Retry { get; set; } = new RetryPolicy();

        /// <summary>How long to wait for a response's headers (not for a body: large transfers take their time).</summary>
        public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(100);

        /// <summary>How long a body read may stall before the transfer is treated as dropped.</summary>
        public TimeSpan ReadStallTimeout { get; set; } = TimeSpan.FromSeconds(60);

        /// <summary>Chunk size of chunked uploads (raised to the registry's OCI-Chunk-Min-Length when it names one).</summary>
        public int UploadChunkSize { get; set; } = 16 * 1024 * 1024;

        /// <summary>The User-Agent header.</summary>
        public string UserAgent { get; set; } = "MobyDistribution/" + typeof(RegistryClientOptions).Assembly.GetName().Version?.ToString(3);

        /// <summary>
        /// Receives one line for every request and retry, already redacted. Called from any thread:
        /// a PowerShell host queues it and writes it from the pipeline thread.
        /// </summary>
        public Action<string>? Log { get; set; }

        /// <summary>A shallow copy.</summary>
        public RegistryClientOptions Clone()
        {
            var copy = (RegistryClientOptions)MemberwiseClone();
            copy.Retry = Retry.Clone();
            return copy;
        }
    }

    /// <summary>Retries of idempotent requests on 408, 429, 5xx and dropped connections, with backoff and jitter.</summary>
    public sealed class RetryPolicy
    {
        /// <summary>Attempts in all, the first included (1 = no retry).</summary>
        public int MaxAttempts { get; set; } = 5;

        /// <summary>Give up once this much time has passed since the first attempt.</summary>
        public TimeSpan MaxElapsed { get; set; } = TimeSpan.FromMinutes(3);

        /// <summary>First backoff delay; doubled each retry, with jitter.</summary>
        public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

        /// <summary>The longest single wait, Retry-After included.</summary>
        public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(60);

        public RetryPolicy Clone() => (RetryPolicy)MemberwiseClone();

        private static readonly Random Jitter = new Random();

        /// <summary>The delay before retry number <paramref name="retry"/> (1-based), or Retry-After when the server named one.</summary>
        internal TimeSpan DelayFor(int retry, TimeSpan? retryAfter)
        {
            if (retryAfter.HasValue) return retryAfter.Value > MaxDelay ? MaxDelay : retryAfter.Value < TimeSpan.Zero ? TimeSpan.Zero : retryAfter.Value;
            double factor;
            lock (Jitter) factor = 0.5 + Jitter.NextDouble();
            var ms = BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(retry - 1, 16)) * factor;
            return TimeSpan.FromMilliseconds(Math.Min(ms, MaxDelay.TotalMilliseconds));
        }
    }
}
