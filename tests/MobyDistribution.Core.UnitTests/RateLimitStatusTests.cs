using System;
using System.Net;
using System.Net.Http;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>
    /// Reading the quota headers Docker Hub sends (<c>RateLimit-Limit: 100;w=21600</c>), the forms other servers use, and
    /// what is not a quota at all; the 429 that names no quota of its own carries the last one seen.
    /// </summary>
    public sealed class RateLimitStatusTests
    {
        private static readonly DateTimeOffset At = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

        [Theory]
        [InlineData("100;w=21600", "76;w=21600", 100L, 76L, 21600L)]
        [InlineData("100", "76", 100L, 76L, null)]                   // no window given
        [InlineData("100;w=21600", "76", 100L, 76L, 21600L)]
        [InlineData("100", "76;w=3600", 100L, 76L, 3600L)]           // the window from whichever field has it
        [InlineData(" 100 ; W=60 ", "0;w=60", 100L, 0L, 60L)]        // spaces, case
        [InlineData("10, 10;w=1, 50;w=60", "9", 10L, 9L, 1L)]        // the draft's list form: the current quota first
        [InlineData("10, 50;w=60, 10;w=1", "9", 10L, 9L, 1L)]        // its window is the policy with the same quota
        [InlineData("100;w=abc", "76;w=-5", 100L, 76L, null)]        // a window that is not a positive number is unknown
        [InlineData("100;w=0", "76", 100L, 76L, null)]
        [InlineData("100;w=21600", null, 100L, null, 21600L)]        // one field alone
        [InlineData(null, "5", null, 5L, null)]
        [InlineData("garbage", "7;w=10", null, 7L, 10L)]             // a bad field does not spoil the other
        public void Parses_the_fields(string? limit, string? remaining, long? expectLimit, long? expectRemaining, long? expectWindow)
        {
            var status = RateLimitStatus.Parse(limit, remaining, At);
            Assert.NotNull(status);
            Assert.Equal(expectLimit, status!.Limit);
            Assert.Equal(expectRemaining, status.Remaining);
            Assert.Equal(expectWindow, status.WindowSeconds);
            Assert.Equal(At, status.ObservedAt);
        }

        [Theory]
        [InlineData(null, null)]
        [InlineData("", " ")]
        [InlineData("garbage", "more garbage")]
        [InlineData("-1;w=60", "-5")]                                // negative counts are not counts
        [InlineData("1.5", "0x10")]
        [InlineData(";w=60", ",")]
        [InlineData("99999999999999999999", "1e3")]                  // over long, exponent
        public void Refuses_what_is_not_a_quota(string? limit, string? remaining) =>
            Assert.Null(RateLimitStatus.Parse(limit, remaining, At));

        [Fact]
        public void Describes_the_quota_in_words()
        {
            var status = RateLimitStatus.Parse("100;w=21600", "0;w=21600", At)!;
            Assert.True(status.Exhausted);
            Assert.Equal("0 of 100 left per 6 h", status.ToString());
            Assert.Equal("the quota is 100 requests per 6 h (21600 s), 0 left, as the registry said at 12:00:00Z", status.Describe());
            Assert.Equal("5 left", RateLimitStatus.Parse(null, "5", At)!.ToString());
            Assert.Equal("1 per 90 s", RateLimitStatus.Parse("1;w=90", null, At)!.ToString());
        }

        [Fact]
        public void An_answer_with_the_headers_replaces_the_last_status_and_one_without_keeps_it()
        {
            using var first = Answer(HttpStatusCode.OK, "100;w=21600", "99;w=21600");
            var status = RateLimitStatus.Observe(first, null);
            Assert.Equal(99L, status!.Remaining);

            using var plain = Answer(HttpStatusCode.OK, null, null);
            Assert.Same(status, RateLimitStatus.Observe(plain, status));

            using var garbage = Answer(HttpStatusCode.OK, "lots", "some");
            Assert.Same(status, RateLimitStatus.Observe(garbage, status));

            using var next = Answer(HttpStatusCode.OK, "100;w=21600", "98;w=21600");
            Assert.Equal(98L, RateLimitStatus.Observe(next, status)!.Remaining);
        }

        [Fact]
        public void A_429_without_quota_headers_names_the_last_quota_seen_and_waits_its_window_when_spent()
        {
            var spent = RateLimitStatus.Parse("100;w=21600", "0;w=21600", At);
            using var bare = Answer((HttpStatusCode)429, null, null);
            RateLimitStatus.Observe(bare, spent);
            Assert.Same(spent, RateLimitStatus.Of(bare));
            Assert.Equal(TimeSpan.FromSeconds(21600), RateLimitStatus.QuotaWait(bare));
            Assert.StartsWith("the quota is 100 requests per 6 h", RateLimitStatus.Note(bare));

            // Retry-After is the registry's own answer: the quota's window does not override it.
            using var withRetryAfter = Answer((HttpStatusCode)429, null, null);
            withRetryAfter.Headers.TryAddWithoutValidation("Retry-After", "3");
            RateLimitStatus.Observe(withRetryAfter, spent);
            Assert.Null(RateLimitStatus.QuotaWait(withRetryAfter));

            // Requests still left, or no window known: nothing says how long.
            using var left = Answer((HttpStatusCode)429, "100;w=21600", "4;w=21600");
            Assert.Null(RateLimitStatus.QuotaWait(left));
            using var noWindow = Answer((HttpStatusCode)429, "100", "0");
            Assert.Null(RateLimitStatus.QuotaWait(noWindow));

            // Nothing known at all: no note, no wait.
            using var unknown = Answer((HttpStatusCode)429, null, null);
            RateLimitStatus.Observe(unknown, null);
            Assert.Null(RateLimitStatus.Note(unknown));
            Assert.Null(RateLimitStatus.QuotaWait(unknown));
        }

        [Fact]
        public void Only_a_429_carries_the_quota_along()
        {
            var spent = RateLimitStatus.Parse("100;w=21600", "0;w=21600", At);
            using var notFound = Answer(HttpStatusCode.NotFound, null, null);
            RateLimitStatus.Observe(notFound, spent);
            Assert.Null(RateLimitStatus.Of(notFound));
            Assert.Null(RateLimitStatus.Note(notFound));
        }

        private static HttpResponseMessage Answer(HttpStatusCode status, string? limit, string? remaining)
        {
            var response = new HttpResponseMessage(status);
            if (limit != null) response.Headers.TryAddWithoutValidation("RateLimit-Limit", limit);
            if (remaining != null) response.Headers.TryAddWithoutValidation("RateLimit-Remaining", remaining);
            return response;
        }
    }
}
