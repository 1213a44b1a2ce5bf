using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// The progress of one blob transfer. Core reports bytes from its own threads; the pipeline thread reads them
    /// when it renders progress, so nothing but a counter is touched off the pipeline thread.
    /// </summary>
    internal sealed class TransferProgress : IProgress<long>
    {
        private long _done;
        private int _finished;

        /// <summary>Starts tracking a transfer of <paramref name="total"/> bytes (null or negative when unknown).</summary>
        public TransferProgress(string activity, long? total)
        {
            Activity = activity;
            Total = total.HasValue && total.Value >= 0 ? total : null;
        }

        /// <summary>What is being moved, e.g. "Blob sha256:0123456789ab".</summary>
        public string Activity { get; }

        /// <summary>The expected size, when known.</summary>
        public long? Total { get; set; }

        /// <summary>Bytes moved so far.</summary>
        public long Done => Interlocked.Read(ref _done);

        /// <summary>True once the transfer ended, well or not.</summary>
        public bool IsFinished => Volatile.Read(ref _finished) != 0;

        /// <summary>Called by Core with the bytes moved so far.</summary>
        public void Report(long value) => Interlocked.Exchange(ref _done, value);

        /// <summary>Marks the transfer as ended.</summary>
        public void Finish() => Interlocked.Exchange(ref _finished, 1);
    }

    /// <summary>
    /// Renders a batch of transfers as progress records: one overall bar and one child bar per transfer in flight; in an
    /// Azure DevOps job, whose log drops progress records, also as <see cref="PipelineProgressLog"/> lines on the host.
    /// Call <see cref="Write"/> from the pipeline thread only.
    /// </summary>
    internal sealed class TransferProgressView
    {
        private readonly string _activity;
        private readonly int _parentId;
        private readonly Func<IReadOnlyList<TransferProgress>> _snapshot;
        private readonly HashSet<int> _shown = new HashSet<int>();
        private readonly PipelineProgressLog? _pipelineLog;
        private IReadOnlyList<TransferProgress> _transfers = Array.Empty<TransferProgress>();

        /// <summary>A view of <paramref name="transfers"/> under the overall activity <paramref name="activity"/>.</summary>
        public TransferProgressView(string activity, IReadOnlyList<TransferProgress> transfers, int parentId = 1)
            : this(activity, () => transfers, parentId) { }

        /// <summary>
        /// A view of transfers that appear as the work finds them (an append-only list, read at each write). The pipeline log
        /// is <see cref="PipelineProgressLog.ForEnvironment"/>'s unless <paramref name="pipelineLog"/> is given.
        /// </summary>
        public TransferProgressView(string activity, Func<IReadOnlyList<TransferProgress>> snapshot, int parentId = 1, PipelineProgressLog? pipelineLog = null)
        {
            _activity = activity;
            _snapshot = snapshot;
            _parentId = parentId;
            _pipelineLog = pipelineLog ?? PipelineProgressLog.ForEnvironment();
        }

        /// <summary>Writes the current state; finished transfers get a Completed record once.</summary>
        public void Write(PSCmdlet cmdlet)
        {
            _transfers = _snapshot();
            long done = 0, total = 0;
            bool totalKnown = true;
            int finished = 0;
            for (int i = 0; i < _transfers.Count; i++)
            {
                var t = _transfers[i];
                done += t.Done;
                if (t.Total.HasValue) total += t.Total.Value; else totalKnown = false;
                int id = _parentId + 1 + i;
                if (t.IsFinished)
                {
                    finished++;
                    if (_shown.Remove(id))
                        cmdlet.WriteProgress(new ProgressRecord(id, t.Activity, "Done") { ParentActivityId = _parentId, RecordType = ProgressRecordType.Completed });
                    continue;
                }
                if (t.Done == 0 && !_shown.Contains(id)) continue;
                _shown.Add(id);
                cmdlet.WriteProgress(new ProgressRecord(id, t.Activity, Status(t.Done, t.Total))
                {
                    ParentActivityId = _parentId,
                    PercentComplete = Percent(t.Done, t.Total),
                });
            }
            var overall = $"{finished} of {_transfers.Count} blobs, {Status(done, totalKnown ? total : (long?)null)}";
            int percent = Percent(done, totalKnown ? total : (long?)null);
            cmdlet.WriteProgress(new ProgressRecord(_parentId, _activity, overall) { PercentComplete = percent });
            WritePipelineLog(cmdlet, overall, percent, ended: false);
        }

        /// <summary>Writes Completed records for every bar this view showed, and the pipeline log's last lines.</summary>
        public void Complete(PSCmdlet cmdlet)
        {
            if (_pipelineLog != null)
            {
                _transfers = _snapshot();
                long done = _transfers.Sum(t => t.Done);
                long? total = _transfers.All(t => t.Total.HasValue) ? _transfers.Sum(t => t.Total!.Value) : (long?)null;
                int finished = _transfers.Count(t => t.IsFinished);
                // A total still unknown at the end is all done only when every transfer finished.
                int percent = Percent(done, total);
                if (percent < 0 && finished == _transfers.Count) percent = 100;
                WritePipelineLog(cmdlet, $"{finished} of {_transfers.Count} blobs, {Status(done, total)}", percent, ended: true);
            }
            foreach (var id in _shown.ToList())
                cmdlet.WriteProgress(new ProgressRecord(id, _activity, "Done") { ParentActivityId = _parentId, RecordType = ProgressRecordType.Completed });
            _shown.Clear();
            cmdlet.WriteProgress(new ProgressRecord(_parentId, _activity, "Done") { RecordType = ProgressRecordType.Completed });
        }

        // Standard output through the host, where the agent reads logging commands; a host without a UI (a runspace made
        // by a program) gets them on the Information stream instead.
        private void WritePipelineLog(PSCmdlet cmdlet, string status, int percent, bool ended)
        {
            if (_pipelineLog == null || _transfers.Count == 0) return;
            foreach (var line in _pipelineLog.Next(_activity, status, percent, ended))
            {
                var ui = cmdlet.Host?.UI;
                if (ui != null) ui.WriteLine(line);
                else cmdlet.WriteInformation(line, new[] { "PipelineProgress" });
            }
        }

        private static string Status(long done, long? total) =>
            total.HasValue ? $"{DisplayFormat.Size(done)} of {DisplayFormat.Size(total.Value)}" : DisplayFormat.Size(done);

        private static int Percent(long done, long? total) =>
            total.HasValue && total.Value > 0 ? (int)Math.Min(100, done * 100 / total.Value) : -1;
    }
}

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// Collects Core's per-blob progress (reported from worker threads) for blobs that are not known in advance, such as
    /// the layers of an export or an import; the pipeline thread renders it through a <see cref="TransferProgressView"/>.
    /// </summary>
    internal sealed class BlobProgressTracker : IProgress<Operations.TransferProgress>
    {
        private readonly object _gate = new object();
        private readonly Dictionary<Digest, TransferProgress> _byDigest = new Dictionary<Digest, TransferProgress>();
        private readonly List<TransferProgress> _ordered = new List<TransferProgress>();

        /// <summary>The transfers seen so far, in the order they appeared.</summary>
        public IReadOnlyList<TransferProgress> Snapshot()
        {
            lock (_gate) return _ordered.ToArray();
        }

        public void Report(Operations.TransferProgress value)
        {
            TransferProgress t;
            lock (_gate)
            {
                if (!_byDigest.TryGetValue(value.Digest, out t!))
                {
                    t = new TransferProgress(value.Activity + " " + value.Digest.Short, value.BytesTotal);
                    _byDigest[value.Digest] = t;
                    _ordered.Add(t);
                }
            }
            if (value.BytesTotal >= 0) t.Total = value.BytesTotal;
            t.Report(value.BytesDone);
            if (value.Completed) t.Finish();
        }
    }
}
