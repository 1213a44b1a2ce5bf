using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>
    /// Blob transfers shared by the copies of one batch (the tags of a sync): a blob that several copies need in the same
    /// destination repository is moved once, and the others wait for it and count it as found there. Copying one blob into
    /// one repository from several requests at once is wasted work, and distribution 2.8 answers some of them 500 while the
    /// blob's link is being written.
    /// </summary>
    internal sealed class SharedBlobTransfers
    {
        private readonly ConcurrentDictionary<string, Task<BlobUploadResult>> _transfers = new ConcurrentDictionary<string, Task<BlobUploadResult>>(StringComparer.Ordinal);

        /// <summary>
        /// Runs <paramref name="transfer"/> for <paramref name="digest"/> into <paramref name="repository"/> unless another copy
        /// of the batch is running it or ran it: then waits for that one and answers Existed. A shared transfer that failed or
        /// was cancelled (its own copy failed elsewhere) is not inherited: the next copy that needs the blob tries it itself.
        /// </summary>
        public async Task<BlobUploadResult> RunAsync(ImageReference repository, Digest digest, Func<Task<BlobUploadResult>> transfer, CancellationToken cancellationToken)
        {
            var key = repository.Registry + "/" + repository.Repository + "@" + digest;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var mine = new TaskCompletionSource<BlobUploadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
                var running = _transfers.GetOrAdd(key, mine.Task);
                if (running == mine.Task)
                {
                    try
                    {
                        var result = await transfer().ConfigureAwait(false);
                        mine.SetResult(result);
                        return result;
                    }
                    catch (Exception e)
                    {
                        // Others waiting try again themselves; a later copy of this blob starts afresh.
                        ((System.Collections.Generic.ICollection<System.Collections.Generic.KeyValuePair<string, Task<BlobUploadResult>>>)_transfers)
                            .Remove(new System.Collections.Generic.KeyValuePair<string, Task<BlobUploadResult>>(key, mine.Task));
                        mine.SetException(e);
                        throw;
                    }
                }
                try
                {
                    if (!running.IsCompleted)
                    {
                        var stop = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                        using (cancellationToken.Register(() => stop.TrySetResult(true)))
                            await Task.WhenAny(running, stop.Task).ConfigureAwait(false);
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    var done = await running.ConfigureAwait(false);
                    return new BlobUploadResult(done.Descriptor, BlobUploadOutcome.Existed);
                }
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    // The copy that ran it failed (perhaps for another blob of its own): try this blob here.
                }
            }
        }
    }
}
