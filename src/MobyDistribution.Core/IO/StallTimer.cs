using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

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
        private CancellationTokenRegistration _registration;
        private CancellationToken _linkedTo;
        private Stream? _body;

        public StallTimer(TimeSpan timeout) => _timeout = timeout;

        public TimeSpan Timeout => _timeout;

        /// <summary>
        /// Reads from <paramref name="body"/> with the watchdog armed; a read that gets no data within <see cref="Timeout"/>
        /// fails with <see cref="TimeoutException"/>. When the timer fires (or the caller cancels), <paramref name="body"/>
        /// is disposed: .NET Framework's response streams ignore the token given to <c>ReadAsync</c>, so only closing the
        /// stream (which aborts its connection) ends a read that waits there. The stream is unusable after that.
        /// </summary>
        public async Task<int> ReadAsync(Stream body, byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            var token = Arm(cancellationToken);
            _body = body;
            try
            {
                int n = await body.ReadAsync(buffer, offset, count, token).ConfigureAwait(false);
                // The timer may fire as the data comes; the stream is closed then, so this read must not count as a success.
                if (token.IsCancellationRequested) throw new OperationCanceledException(token);
                return n;
            }
            catch (Exception e) when (token.IsCancellationRequested)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw new TimeoutException($"No data for {_timeout.TotalSeconds:0.#} s.", e);
            }
            finally
            {
                Disarm();
                _body = null;
            }
        }

        /// <summary>Arms the timer for one read and returns the token to give that read.</summary>
        public CancellationToken Arm(CancellationToken outer)
        {
            // A source whose timer fired (or whose caller's token changed) is not reused.
            if (_source == null || _source.IsCancellationRequested || !outer.Equals(_linkedTo))
            {
                ReleaseSource();
                _source = outer.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(outer) : new CancellationTokenSource();
                _linkedTo = outer;
                _registration = _source.Token.Register(CloseBody);
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

        private void CloseBody()
        {
            var body = _body;
            if (body == null) return;
            try { body.Dispose(); }
            catch (Exception) { } // a stream that fails while being aborted has nothing more to tell
        }

        private void ReleaseSource()
        {
            _registration.Dispose();
            _source?.Dispose();
            _source = null;
        }

        public void Dispose() => ReleaseSource();
    }
}
