using System;
using System.Collections.Generic;
using System.IO;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell
{
    /// <summary>Registry names the user has used: the sessions of this process, then the registries in Docker's config.</summary>
    internal static class KnownRegistries
    {
        /// <summary>Names with a description each (which session, or which config file); no duplicates.</summary>
        public static IReadOnlyList<KeyValuePair<string, string>> List(bool includeDockerConfig)
        {
            var names = new List<KeyValuePair<string, string>>();
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var session in RegistryConnections.Shared.Sessions)
            {
                if (seen.Add(session.Registry))
                    names.Add(new KeyValuePair<string, string>(session.Registry, "Session: " + session + (session.IsConnected ? " (Connect-Registry)" : " (first use)")));
            }
            var store = includeDockerConfig ? RegistryConnections.Shared.Defaults.CredentialStore : null;
            if (store == null) return names;
            IReadOnlyList<string> configured;
            try
            {
                configured = store.ListRegistries();
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                // A broken config only means fewer completions; the cmdlets report it when they read it.
                return names;
            }
            foreach (var registry in configured)
            {
                if (seen.Add(registry)) names.Add(new KeyValuePair<string, string>(registry, "Docker config: " + store.ConfigPath));
            }
            return names;
        }
    }
}
