using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Registry;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>
    /// The arithmetic of the one retry budget (<see cref="RetryBudget"/>, <see cref="RetryRules"/>) and of the upload
    /// session's Range, without a registry: nested loops share one count, the count and the clock both bound it, waits the
    /// registry asks for are refused when they do not fit, and only what may succeed on another try is retried.
    /// </summary>
    public sealed class RetryBudgetTests
    {
        private static RetryPolicy Fast(int attempts, double seconds = 60) => new RetryPolicy
        {
            MaxAttempts = attempts,
            MaxElapsed = TimeSpan.FromSeconds(seconds),
            BaseDelay = TimeSpan.FromMilliseconds(1),
            MaxDelay = TimeSpan.FromMilliseconds(2),
        };

        private static readonly Action<string> NoLog = _ => { };

        private static async Task<int> RetriesGranted(RetryBudget budget, int tries)
        {
            int granted = 0;
            for (int i = 0; i < tries; i++)
                if (await budget.WaitToRetryAsync("GET x", "503", null, NoLog, CancellationToken.None)) granted++;
            return granted;
        }

        [Fact]
        public async Task A_budget_grants_MaxAttempts_minus_one_retries_then_is_spent()
        {
            using var budget = RetryBudget.Begin(Fast(4));
            Assert.Equal(3, await RetriesGranted(budget, 10));
            Assert.True(budget.Spent);
            Assert.Contains("gave up after 4 attempts", budget.Summary);
            Assert.Contains("the budget is 4 attempts", budget.Summary);
        }

        [Fact]
        public async Task A_loop_entered_inside_another_shares_its_count_instead_of_multiplying_it()
        {
            using var outer = RetryBudget.Enter(Fast(5));
            Assert.Equal(2, await RetriesGranted(outer, 2));
            using (var inner = RetryBudget.Enter(Fast(5)))
            {
                // Five attempts in all: two failures were the outer's, so the inner gets two more retries, not four.
                Assert.Equal(2, await RetriesGranted(inner, 5));
                Assert.True(inner.Spent);
            }
            Assert.True(outer.Spent);
            Assert.False(await outer.WaitToRetryAsync("GET x", "503", null, NoLog, CancellationToken.None));
        }

        [Fact]
        public async Task Begin_gives_a_resource_inside_another_a_count_of_its_own_and_restores_the_outer_one()
        {
            using var upload = RetryBudget.Enter(Fast(3));
            using (var chunk = RetryBudget.Begin(Fast(3)))
            {
                Assert.Equal(2, await RetriesGranted(chunk, 5));
                using var request = RetryBudget.Enter(Fast(3)); // a request of the chunk draws from the chunk's budget
                Assert.True(request.Spent);
            }
            Assert.False(upload.Spent);
            using var next = RetryBudget.Enter(Fast(3));
            Assert.Equal(0, next.Failures); // back on the upload's budget, untouched by the chunk
        }

        [Fact]
        public async Task Budgets_of_parallel_flows_are_their_own()
        {
            async Task<int> Flow()
            {
                await Task.Yield();
                using var budget = RetryBudget.Enter(Fast(3));
                return await RetriesGranted(budget, 5);
            }
            var results = await Task.WhenAll(Flow(), Flow(), Flow());
            Assert.All(results, r => Assert.Equal(2, r));
        }

        [Fact]
        public async Task A_wait_the_registry_asks_for_that_does_not_fit_the_time_left_is_refused_at_once()
        {
            var policy = Fast(10, seconds: 2);
            policy.MaxDelay = TimeSpan.FromMinutes(1);
            using var budget = RetryBudget.Begin(policy);
            var started = DateTime.UtcNow;
            Assert.False(await budget.WaitToRetryAsync("GET x", "429", TimeSpan.FromSeconds(30), NoLog, CancellationToken.None));
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10)); // it did not wait the 30 s
            Assert.True(budget.RefusedWait);
            Assert.Contains("would exceed the budget of 2 s", budget.Summary);
        }

        [Fact]
        public async Task A_wait_longer_than_the_longest_wait_is_refused_rather_than_cut_short()
        {
            var policy = Fast(10, seconds: 600);
            policy.MaxDelay = TimeSpan.FromSeconds(5);
            using var budget = RetryBudget.Begin(policy);
            Assert.False(await budget.WaitToRetryAsync("GET x", "429", TimeSpan.FromSeconds(120), NoLog, CancellationToken.None));
            Assert.Contains("asks to wait 120 s, more than the longest wait of 5 s", budget.Summary);
        }

        [Fact]
        public void A_429_with_a_spent_quota_and_no_other_header_waits_for_the_quota_window()
        {
            using var response = new HttpResponseMessage((HttpStatusCode)429);
            response.Headers.TryAddWithoutValidation("RateLimit-Limit", "100;w=60");
            response.Headers.TryAddWithoutValidation("RateLimit-Remaining", "0;w=60");
            Assert.Equal(TimeSpan.FromSeconds(60), RetryRules.RetryAfter(response, out var askedBy));
            Assert.Equal("the spent quota's window", askedBy);
        }

        [Fact]
        public async Task The_clock_stops_retries_even_when_attempts_are_left()
        {
            var policy = Fast(1000, seconds: 0.3);
            policy.BaseDelay = policy.MaxDelay = TimeSpan.FromMilliseconds(100);
            using var budget = RetryBudget.Begin(policy);
            int granted = await RetriesGranted(budget, 1000);
            Assert.InRange(granted, 1, 3); // 100 ms waits within 300 ms of the first failure
            Assert.True(budget.Spent);
        }

        [Fact]
        public async Task A_scope_overrides_the_client_policy_for_the_budgets_begun_inside_it()
        {
            using (RetryScope.Begin(maxAttempts: 2))
            {
                using var budget = RetryBudget.Begin(Fast(10));
                Assert.Equal(1, await RetriesGranted(budget, 5));
            }
            using var outside = RetryBudget.Begin(Fast(10));
            Assert.Equal(9, await RetriesGranted(outside, 20));
        }

        [Theory]
        [InlineData(503, false, true)]
        [InlineData(429, false, true)]
        [InlineData(408, false, true)]
        [InlineData(500, false, false)] // a write the registry may have acted on
        [InlineData(502, false, false)]
        [InlineData(500, true, true)]
        [InlineData(502, true, true)]
        [InlineData(504, true, true)]
        [InlineData(404, true, false)]
        [InlineData(400, true, false)]
        [InlineData(401, true, false)]
        public void Statuses_worth_another_try_depend_on_whether_the_request_may_be_repeated(int status, bool idempotent, bool retry) =>
            Assert.Equal(retry, RetryRules.IsRetryableStatus(status, idempotent));

#if NET8_0_OR_GREATER // HttpRequestError is .NET 8+; on .NET Framework the WebException status decides
        [Fact]
        public void A_header_over_the_limit_is_not_transient_a_reset_is()
        {
            // What .NET raises for a response header over MaxResponseHeadersLength, and for a reset connection.
            var deterministic = new HttpRequestException(HttpRequestError.ConfigurationLimitExceeded, "The HTTP response headers length exceeded the set limit.");
            var reset = new HttpRequestException(HttpRequestError.ConnectionError, "reset", new System.IO.IOException("Connection reset by peer"));
            Assert.False(RetryRules.IsTransient(deterministic, CancellationToken.None));
            Assert.True(RetryRules.IsTransient(reset, CancellationToken.None));
            Assert.True(RetryRules.IsTransient(new TimeoutException("No response within 1 s."), CancellationToken.None));
            Assert.False(RetryRules.IsTransient(new Errors.RegistryException(Errors.RegistryErrorKind.NotFound, "x"), CancellationToken.None));
            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            Assert.False(RetryRules.IsTransient(reset, cancelled.Token)); // the caller's stop is not a failure
        }
#endif

        [Theory]
        [InlineData("RateLimit-Reset", "30", 30)]
        [InlineData("RateLimit-Reset", "7;w=21600", 7)]
        [InlineData("RateLimit", "limit=100, remaining=0, reset=12", 12)]
        [InlineData("RateLimit", "\"default\";r=0;t=9", 9)]
        [InlineData("RateLimit-Reset", "soon", -1)]
        [InlineData("RateLimit-Reset", "-5", -1)]
        public void A_429_without_Retry_After_waits_for_the_quota_reset(string header, string value, int seconds)
        {
            using var response = new HttpResponseMessage((HttpStatusCode)429);
            response.Headers.TryAddWithoutValidation(header, value);
            var wait = RetryRules.RetryAfter(response);
            if (seconds < 0) Assert.Null(wait);
            else Assert.Equal(TimeSpan.FromSeconds(seconds), wait);
        }

        [Fact]
        public void Retry_After_wins_over_the_quota_reset_and_a_200_has_no_wait()
        {
            using var limited = new HttpResponseMessage((HttpStatusCode)429);
            limited.Headers.TryAddWithoutValidation("Retry-After", "3");
            limited.Headers.TryAddWithoutValidation("RateLimit-Reset", "60");
            Assert.Equal(TimeSpan.FromSeconds(3), RetryRules.RetryAfter(limited));
            using var ok = new HttpResponseMessage(HttpStatusCode.OK);
            ok.Headers.TryAddWithoutValidation("RateLimit-Reset", "60");
            Assert.Null(RetryRules.RetryAfter(ok));
        }

        [Theory]
        [InlineData(null, 0L)]
        [InlineData("0-0", 0L)] // distribution's answer for an empty session: never resume at byte 1
        [InlineData("0-65535", 65536L)]
        [InlineData("bytes=0-99", 100L)]
        [InlineData(" 0-4 ", 5L)]
        [InlineData("5-9", null)] // a session does not start at byte 5
        [InlineData("0-", null)]
        [InlineData("garbage", null)]
        [InlineData("0--3", null)]
        public void The_bytes_an_upload_session_holds(string? header, long? held) => Assert.Equal(held, UploadRange.Held(header));

        [Theory]
        [InlineData("0-0", 0L)]
        [InlineData("0-131071", 131071L)]
        [InlineData(null, null)]
        [InlineData("x-1", null)]
        public void The_last_byte_a_PATCH_answer_acknowledges(string? header, long? end) => Assert.Equal(end, UploadRange.End(header));
    }
}
