using System;
using System.Threading;

namespace MobyDistribution.IO
{
    /// <summary>
    /// The "no data for N seconds" watchdog of a sequence of reads, made once per transfer instead of once per read: one
    /// cancellation source (linked to the caller's token) whose timer is re-armed before each read and disarmed after it.
    /// A blob of a gigabyte is read in ~10^5 pieces when a decompressor pulls 8 KiB at a time; a linked source and a timer
    /// per piece showed up as most of the allocations of an export.
    /// </summary>
    internal sealed class StallTimer : IDisposable
    {
        private readonly TimeSpan _timeout;
        private CancellationTokenSource? _source;
        private CancellationToken _linkedTo;

        public StallTimer(TimeSpan timeout) => _timeout = timeout;

        public TimeSpan Timeout => _timeout;

        /// <summary>Arms the timer for one read and returns the token to give that read.</summary>
        public CancellationToken Arm(CancellationToken outer)
        {
            // A source whose timer fired (or whose caller's token changed) is not reused.
            if (_source == null || _source.IsCancellationRequested || !outer.Equals(_linkedTo))
            {
                _source?.Dispose();
                _source = outer.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(outer) : new CancellationTokenSource();
                _linkedTo = outer;
            }
            _source.CancelAfter(_timeout);
            return _source.Token;
        }

        /// <summary>Stops the timer once the read is done, so time spent by the consumer between reads is not counted.</summary>
        public void Disarm()
        {
            try { _source?.CancelAfter(System.Threading.Timeout.InfiniteTimeSpan); }
            catch (ObjectDisposedException) { }
        }

        public void Dispose()
        {
            _source?.Dispose();
            _source = null;
        }
    }
}
