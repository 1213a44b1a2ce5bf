namespace MobyDistribution.Operations
{
    /// <summary>Progress of one blob in a multi-blob operation, reported from worker threads.</summary>
    public sealed class TransferProgress
    {
        public TransferProgress(Digest digest, string activity, long done, long total, bool completed)
        {
            Digest = digest;
            Activity = activity;
            BytesDone = done;
            BytesTotal = total;
            Completed = completed;
        }

        /// <summary>The blob.</summary>
        public Digest Digest { get; }

        /// <summary>What is happening to it: "Copying", "Mounting", "Skipped", "Exporting" …</summary>
        public string Activity { get; }

        public long BytesDone { get; }

        /// <summary>The blob's size; -1 when unknown.</summary>
        public long BytesTotal { get; }

        public bool Completed { get; }
    }
}
