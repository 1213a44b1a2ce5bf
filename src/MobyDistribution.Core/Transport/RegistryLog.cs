using System;
using System.Threading;

namespace MobyDistribution.Transport
{
    /// <summary>
    /// Routes the transport's log lines (already redacted) to whoever is working right now: a sink set with
    /// <see cref="BeginScope"/> flows with the async work started inside it, so shared clients log to the caller
    /// that uses them (a cmdlet's -Verbose stream), not to whoever created them.
    /// </summary>
    public static class RegistryLog
    {
        private static readonly AsyncLocal<Action<string>?> Current = new AsyncLocal<Action<string>?>();

        /// <summary>
        /// Starts a line the user should see without asking for the log (PowerShell writes it as a warning, not verbose):
        /// something was wrong and the work went on in a way the user may not expect, such as anonymously.
        /// </summary>
        public const string WarningPrefix = "WARNING: ";

        /// <summary>Sends log lines of work started in this scope to <paramref name="sink"/> until disposed.</summary>
        public static IDisposable BeginScope(Action<string> sink)
        {
            var previous = Current.Value;
            Current.Value = sink;
            return new Scope(previous);
        }

        internal static void Write(string message) => Current.Value?.Invoke(message);

        private sealed class Scope : IDisposable
        {
            private readonly Action<string>? _previous;
            public Scope(Action<string>? previous) => _previous = previous;
            public void Dispose() => Current.Value = _previous;
        }
    }
}
