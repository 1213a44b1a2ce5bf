using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Registry;
using MobyDistribution.Transport;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// Catalog and tag listings for tab completion: fetched off the pipeline thread with a short deadline, kept for a
    /// short while, and never a reason for an error. Only sessions and Docker's config supply credentials, so nothing
    /// here can prompt.
    /// </summary>
    /// <remarks>
    /// A listing that misses the deadline keeps running in the background (up to <see cref="FetchLimit"/>), so the next
    /// Tab press finds it ready. A failure is remembered briefly too, so that an unreachable registry costs one wait,
    /// not one per key press.
    /// </remarks>
    internal static class RegistryListingCache
    {
        /// <summary>The longest a Tab press waits for a listing.</summary>
        internal static readonly TimeSpan Deadline = TimeSpan.FromMilliseconds(1500);

        /// <summary>The longest a listing may run in the background.</summary>
        internal static readonly TimeSpan FetchLimit = TimeSpan.FromSeconds(10);

        /// <summary>How long a listing is reused.</summary>
        internal static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(30);

        /// <summary>How long a failed listing is remembered as empty.</summary>
        internal static readonly TimeSpan FailureLifetime = TimeSpan.FromSeconds(10);

        /// <summary>The most completions a completer offers.</summary>
        internal const int MaxResults = 200;

        private static readonly object Gate = new object();
        private static readonly Dictionary<string, Listing> Listings = new Dictionary<string, Listing>(StringComparer.Ordinal);

        // Registries without a session get a client of their own here, so completing never adds a session to Get-RegistrySession.
        private static readonly Dictionary<string, RegistryClient> Clients = new Dictionary<string, RegistryClient>(StringComparer.OrdinalIgnoreCase);

        /// <summary>The repositories in a registry's catalog, or none when it cannot be read in time.</summary>
        public static IReadOnlyList<string> Repositories(string registry)
        {
            if (!TryNormalize(registry, out var name)) return Array.Empty<string>();
            return Get("catalog|" + name, ct => ClientFor(name).Catalog.ListAsync(null, ct));
        }

        /// <summary>The tags of a repository, or none when they cannot be read in time.</summary>
        public static IReadOnlyList<string> Tags(ImageReference repository)
        {
            var name = repository.Registry;
            return Get("tags|" + repository.Name, ct => ClientFor(name).Tags.ListAsync(repository.Repository, null, ct));
        }

        /// <summary>Forgets every listing (tests; a new session).</summary>
        internal static void Clear()
        {
            lock (Gate)
            {
                Listings.Clear();
                Clients.Clear();
            }
        }

        private static IReadOnlyList<string> Get(string key, Func<CancellationToken, Task<IReadOnlyList<string>>> fetch)
        {
            Listing listing;
            lock (Gate)
            {
                if (!Listings.TryGetValue(key, out listing!) || listing.IsStale(DateTime.UtcNow))
                {
                    listing = Listing.Start(fetch);
                    Listings[key] = listing;
                }
            }
            try
            {
                // Each Tab press waits at most the deadline, also for a listing an earlier press started.
                return listing.Task.Wait(Deadline) ? listing.Task.Result : Array.Empty<string>();
            }
            catch (AggregateException)
            {
                return Array.Empty<string>();
            }
        }

        /// <summary>A session's client (its credentials and tokens), else a quiet client of the completer's own.</summary>
        private static RegistryClient ClientFor(string registry)
        {
            var connections = RegistryConnections.Shared;
            if (connections.Find(registry) != null) return connections.GetClient(registry);
            lock (Gate)
            {
                if (!Clients.TryGetValue(registry, out var client))
                {
                    var options = connections.Defaults.Clone();
                    options.Retry.MaxAttempts = 1;
                    options.ResponseTimeout = FetchLimit;
                    options.Log = null;
                    client = new RegistryClient(RegistryEndpoint.Parse(registry, options.AllowInsecure), options);
                    Clients[registry] = client;
                }
                return client;
            }
        }

        private static bool TryNormalize(string registry, out string name)
        {
            try
            {
                name = RegistryEndpoint.Parse(registry).Registry;
                return true;
            }
            catch (Exception e) when (e is FormatException || e is ArgumentException)
            {
                name = string.Empty;
                return false;
            }
        }

        private sealed class Listing
        {
            private Listing(Task<IReadOnlyList<string>> task, DateTime started)
            {
                Task = task;
                Started = started;
            }

            public Task<IReadOnlyList<string>> Task { get; }

            public DateTime Started { get; }

            public static Listing Start(Func<CancellationToken, Task<IReadOnlyList<string>>> fetch)
            {
                var limit = new CancellationTokenSource(FetchLimit);
                // Task.Run: no caller's synchronization context or log scope comes along.
                var task = System.Threading.Tasks.Task.Run(() => fetch(limit.Token), limit.Token);
                task.ContinueWith(t => { _ = t.Exception; limit.Dispose(); }, TaskScheduler.Default);
                return new Listing(task, DateTime.UtcNow);
            }

            public bool IsStale(DateTime now)
            {
                if (!Task.IsCompleted) return false;
                var age = now - Started;
                return Task.Status == TaskStatus.RanToCompletion ? age > Lifetime : age > FailureLifetime;
            }
        }
    }
}
