using System;
using System.Linq;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Registry;
using MobyDistribution.Transport;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// What every registry cmdlet shares: cancellation on Ctrl+C, running Core's async work while the pipeline
    /// thread writes its verbose lines and progress, and turning failures into error records.
    /// </summary>
    /// <remarks>
    /// Only the pipeline thread may write to PowerShell's streams. Core's log lines arrive on any thread, so the
    /// <see cref="RegistryLog"/> sink only queues them; <see cref="Run{T}"/> drains the queue between short waits.
    /// </remarks>
    public abstract class RegistryCmdletBase : PSCmdlet, IDisposable
    {
        private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

        private readonly CancellationTokenSource _cancellation = new CancellationTokenSource();
        private readonly ConcurrentQueue<string> _verboseLines = new ConcurrentQueue<string>();

        /// <summary>Cancelled when the pipeline is stopped.</summary>
        protected CancellationToken CancellationToken => _cancellation.Token;

        /// <summary>The process-wide registry sessions.</summary>
        protected static RegistryConnections Connections => RegistryConnections.Shared;

        /// <summary>The client of a reference's registry: its Connect-Registry session, else one made on first use.</summary>
        protected static RegistryClient ClientFor(ImageReference reference) => Connections.GetClient(reference.Registry);

        /// <inheritdoc />
        protected override void StopProcessing() => _cancellation.Cancel();

        /// <summary>Settings that flow with this command's Core work (a retry budget, say); null for none.</summary>
        protected virtual IDisposable? BeginRequestScope() => null;

        /// <summary>Releases the cancellation source.</summary>
        public void Dispose()
        {
            _cancellation.Dispose();
            GC.SuppressFinalize(this);
        }

        /// <summary>
        /// Runs <paramref name="work"/> off the pipeline thread and waits for it, writing queued verbose lines and
        /// calling <paramref name="onTick"/> (for progress) every <see cref="PollInterval"/>. Exceptions come out as
        /// thrown by Core (never wrapped in <see cref="AggregateException"/>); a stop becomes <see cref="PipelineStoppedException"/>.
        /// </summary>
        protected T Run<T>(Func<CancellationToken, Task<T>> work, Action? onTick = null)
        {
            Task<T> task;
            // The sink flows with the task's execution context, so Core's lines reach this cmdlet even from a shared client.
            using (RegistryLog.BeginScope(_verboseLines.Enqueue))
            using (BeginRequestScope())
            {
                // Task.Run keeps Core's continuations off any synchronization context the host may have.
                task = Task.Run(() => work(CancellationToken), CancellationToken);
            }
            var wait = ((IAsyncResult)task).AsyncWaitHandle;
            while (!wait.WaitOne(PollInterval))
            {
                if (Stopping) throw new PipelineStoppedException();
                WriteQueuedVerbose();
                onTick?.Invoke();
            }
            WriteQueuedVerbose();
            onTick?.Invoke();
            try
            {
                return task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (Stopping || _cancellation.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }

        /// <summary>Runs work that returns nothing; see <see cref="Run{T}"/>.</summary>
        protected void Run(Func<CancellationToken, Task> work, Action? onTick = null) =>
            Run<bool>(async ct => { await work(ct).ConfigureAwait(false); return true; }, onTick);

        /// <summary>
        /// Runs <paramref name="work"/>; an expected failure is written as a non-terminating error
        /// (see <see cref="RegistryErrors"/>) and gives <c>false</c>, so the pipeline goes on with the next item.
        /// </summary>
        protected bool TryRun<T>(Func<CancellationToken, Task<T>> work, string noun, object? target, out T result, Action? onTick = null)
        {
            try
            {
                result = Run(work, onTick);
                return true;
            }
            catch (Exception e) when (RegistryErrors.IsExpected(e) && !Stopping)
            {
                WriteError(RegistryErrors.Create(e, noun, target));
                result = default!;
                return false;
            }
        }

        /// <summary>Like <see cref="TryRun{T}"/> for work that returns nothing.</summary>
        protected bool TryRun(Func<CancellationToken, Task> work, string noun, object? target, Action? onTick = null) =>
            TryRun<bool>(async ct => { await work(ct).ConfigureAwait(false); return true; }, noun, target, out _, onTick);

        /// <summary>Writes a non-terminating error made from an expected failure, optionally with a clearer message for the user.</summary>
        protected void WriteRegistryError(Exception e, string noun, object? target, string? message = null)
        {
            var record = RegistryErrors.Create(e, noun, target);
            if (message != null) record.ErrorDetails = new ErrorDetails(message) { RecommendedAction = record.ErrorDetails?.RecommendedAction };
            WriteError(record);
        }

        /// <summary>Whether a failure means the thing asked for does not exist.</summary>
        protected static bool IsNotFound(Exception e) => e is Errors.RegistryException r && r.Kind == Errors.RegistryErrorKind.NotFound;

        /// <summary>Writes a non-terminating error with an explicit id and category.</summary>
        protected void WriteError(Exception e, string errorId, ErrorCategory category, object? target) =>
            WriteError(new ErrorRecord(e, errorId, category, target));

        /// <summary>
        /// ShouldProcess for deletions where nobody may be there to answer: in a host that cannot prompt (pwsh -NonInteractive,
        /// as Azure DevOps runs it, or a runspace without a UI) and without an explicit -Confirm, it does not prompt but goes on,
        /// as -Confirm:$false would; -WhatIf still only describes. Elsewhere it is plain ShouldProcess.
        /// </summary>
        protected bool ShouldProcessUnattended(string target, string action)
        {
            var bound = MyInvocation.BoundParameters;
            if (bound.ContainsKey("Confirm") || !HostCannotPrompt()) return ShouldProcess(target, action);
            bool whatIf = bound.TryGetValue("WhatIf", out var w) ? ((SwitchParameter)w).IsPresent
                : LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));
            if (whatIf) return ShouldProcess(target, action);
            WriteVerbose($"Performing the operation \"{action}\" on target \"{target}\" (no confirmation: this host cannot prompt).");
            return true;
        }

        /// <summary>True in a host where nobody can answer a prompt (pwsh -NonInteractive, a runspace without a UI).</summary>
        protected bool HostCannotPrompt()
        {
            if (Host?.UI == null || string.Equals(Host.Name, "Default Host", StringComparison.Ordinal)) return true;
            foreach (var arg in Environment.GetCommandLineArgs())
            {
                var a = arg.ToLowerInvariant();
                if (a.Length >= 5 && a.StartsWith("-noni", StringComparison.Ordinal) && "-noninteractive".StartsWith(a, StringComparison.Ordinal)) return true;
            }
            return false;
        }

        /// <summary>
        /// The file system paths a (wildcard) pattern names; a pattern that names nothing, or another provider's items, is a
        /// non-terminating error (FileNotFound, PathNotFileSystem) and gives none.
        /// </summary>
        protected string[] ResolveExistingPaths(string pattern)
        {
            try
            {
                var paths = GetResolvedProviderPathFromPSPath(pattern, out var provider);
                if (provider.ImplementingType != typeof(Microsoft.PowerShell.Commands.FileSystemProvider))
                {
                    WriteError(new ArgumentException($"'{pattern}' is not a file system path."), "PathNotFileSystem", ErrorCategory.InvalidArgument, pattern);
                    return Array.Empty<string>();
                }
                return paths.ToArray();
            }
            catch (ItemNotFoundException e)
            {
                WriteError(e, "FileNotFound", ErrorCategory.ObjectNotFound, pattern);
                return Array.Empty<string>();
            }
        }

        /// <summary>A path to write, resolved against the current location (it need not exist).</summary>
        protected string ResolveOutputPath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

        private void WriteQueuedVerbose()
        {
            while (_verboseLines.TryDequeue(out var line))
            {
                if (line.StartsWith(RegistryLog.WarningPrefix, StringComparison.Ordinal)) WriteWarning(line.Substring(RegistryLog.WarningPrefix.Length));
                else WriteVerbose(line);
            }
        }
    }
}
