using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// Progress for Azure DevOps pipeline logs, which drop Write-Progress. When <c>TF_BUILD</c> is set (the agent sets it
    /// on every job) a transfer's progress is also written to standard output as the logging command
    /// <c>##vso[task.setprogress value=N;]activity</c>, which the agent shows as the step's percentage, and as a plain
    /// line for the log itself: at the start, at most once per interval after that, and once at the end. The percentage
    /// never goes back (a resumed blob may count bytes again); the plain line says the real bytes.
    /// </summary>
    public sealed class PipelineProgressLog
    {
        /// <summary>How often a long transfer writes its lines: a log line every 10 s reads as alive without flooding it.</summary>
        public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

        private readonly TimeSpan _interval;
        private readonly Func<TimeSpan> _clock;
        private TimeSpan? _last;
        private int _percent = -1;
        private bool _ended;

        /// <summary>A log that writes at most once per <paramref name="interval"/> of <paramref name="clock"/> (time since any fixed start).</summary>
        public PipelineProgressLog(TimeSpan interval, Func<TimeSpan> clock)
        {
            if (interval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(interval));
            _interval = interval;
            _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        }

        /// <summary>True in an Azure DevOps job: <c>TF_BUILD</c> is set to anything but <c>false</c> or <c>0</c>.</summary>
        public static bool IsAzurePipelines
        {
            get
            {
                var value = Environment.GetEnvironmentVariable("TF_BUILD");
                return !string.IsNullOrWhiteSpace(value) && !value!.Trim().Equals("false", StringComparison.OrdinalIgnoreCase) && value.Trim() != "0";
            }
        }

        /// <summary>A log on the real clock when running in Azure DevOps, else null (other hosts are left as they are).</summary>
        public static PipelineProgressLog? ForEnvironment()
        {
            if (!IsAzurePipelines) return null;
            var watch = Stopwatch.StartNew();
            return new PipelineProgressLog(DefaultInterval, () => watch.Elapsed);
        }

        /// <summary>
        /// The lines to write for the current state: none when the last ones are more recent than the interval, unless the
        /// transfer <paramref name="ended"/> (written once; nothing after it). <paramref name="percent"/> is -1 when the total
        /// is unknown: then the percentage is the last one known, and no logging command is written before one is.
        /// </summary>
        public IReadOnlyList<string> Next(string activity, string status, int percent, bool ended)
        {
            if (_ended) return Array.Empty<string>();
            var now = _clock();
            if (!ended && _last.HasValue && now - _last.Value < _interval) return Array.Empty<string>();
            _last = now;
            _ended = ended;
            if (percent >= 0) _percent = Math.Max(_percent, Math.Min(100, percent));
            var lines = new List<string>(2);
            if (_percent >= 0) lines.Add($"##vso[task.setprogress value={_percent};]{Escape(activity)}");
            lines.Add(OneLine(activity) + ": " + OneLine(status) + (percent >= 0 ? $" ({Math.Min(100, percent)}%)" : string.Empty));
            return lines;
        }

        // The agent reads a logging command per line: a line break in a name must not end it or start another; '%' is
        // the escape character of the message (Azure DevOps' own escaping of logging command data).
        private static string Escape(string text) =>
            text.Replace("%", "%AZP25").Replace("\r", "%0D").Replace("\n", "%0A");

        private static string OneLine(string text) => text.Replace("\r", " ").Replace("\n", " ");
    }
}
