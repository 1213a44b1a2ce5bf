using System;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>
    /// The arithmetic of <see cref="RetryPolicy.DelayFor"/> as it stands: exponential backoff with ±50 % jitter, capped by
    /// MaxDelay; a server's Retry-After is taken as given but capped by MaxDelay and never negative.
    /// </summary>
    public sealed class RetryPolicyTests
    {
        // Jitter is random: enough draws that a wrong bound shows up, and no clock involved.
        private const int Draws = 500;

        [Theory]
        [InlineData(1, 100)]
        [InlineData(2, 200)]
        [InlineData(3, 400)]
        [InlineData(6, 3200)]
        public void Backoff_DoublesEachRetry_WithinHalfToOneAndAHalfTimes(int retry, double nominalMs)
        {
            var policy = new RetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromHours(1) };
            double min = double.MaxValue, max = 0;
            for (int i = 0; i < Draws; i++)
            {
                double ms = policy.DelayFor(retry, null).TotalMilliseconds;
                Assert.InRange(ms, nominalMs * 0.5, nominalMs * 1.5);
                min = Math.Min(min, ms);
                max = Math.Max(max, ms);
            }
            Assert.True(max > min, "the delay has jitter"); // not the same delay for every client retrying at once
        }

        [Fact]
        public void Backoff_IsCappedByMaxDelay_EvenForVeryLateRetries()
        {
            var policy = new RetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(500), MaxDelay = TimeSpan.FromSeconds(60) };
            foreach (int retry in new[] { 10, 17, 100, int.MaxValue })
            {
                for (int i = 0; i < 50; i++)
                {
                    // 500 ms × 2^16 × 0.5 is far over a minute: every draw is the cap, none overflows.
                    Assert.Equal(TimeSpan.FromSeconds(60), policy.DelayFor(retry, null));
                }
            }
        }

        [Fact]
        public void RetryAfter_IsTakenAsGiven_UpToMaxDelay()
        {
            var policy = new RetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(30) };
            Assert.Equal(TimeSpan.FromSeconds(7), policy.DelayFor(1, TimeSpan.FromSeconds(7)));
            Assert.Equal(TimeSpan.FromSeconds(7), policy.DelayFor(4, TimeSpan.FromSeconds(7))); // no jitter, no doubling
            Assert.Equal(TimeSpan.FromSeconds(30), policy.DelayFor(1, TimeSpan.FromHours(2)));
            Assert.Equal(TimeSpan.Zero, policy.DelayFor(1, TimeSpan.Zero));
        }

        [Fact]
        public void NegativeRetryAfter_MeansNoWait()
        {
            var policy = new RetryPolicy { MaxDelay = TimeSpan.FromSeconds(30) };
            Assert.Equal(TimeSpan.Zero, policy.DelayFor(1, TimeSpan.FromSeconds(-5)));
            Assert.Equal(TimeSpan.Zero, policy.DelayFor(2, TimeSpan.MinValue));
        }
    }
}
