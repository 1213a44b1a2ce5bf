using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// Docker Hub's pull quota, played by the fault proxy in front of a real registry: the quota headers on manifest GETs
    /// are recorded per client, and an answer over the quota fails as TooManyRequests naming the quota, or is waited for
    /// when the registry says how long.
    /// </summary>
    public sealed class RateLimitTests : IClassFixture<FaultBed>
    {
        private readonly FaultBed _bed;

        public RateLimitTests(FaultBed bed) => _bed = bed;

        [Fact]
        public async Task The_quota_of_the_last_manifest_GET_is_recorded_and_a_HEAD_leaves_it()
        {
            var repo = FaultNames.Repo("quota");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.RateLimit(limit: 5, windowSeconds: 21600));
            Assert.Null(s.Client.RateLimit);

            var before = DateTimeOffset.UtcNow;
            await s.Client.Manifests.GetContentAsync(repo, "v1");
            var first = s.Client.RateLimit;
            Assert.NotNull(first);
            Assert.Equal(5L, first!.Limit);
            Assert.Equal(4L, first.Remaining);
            Assert.Equal(21600L, first.WindowSeconds);
            Assert.InRange(first.ObservedAt, before, DateTimeOffset.UtcNow);

            await s.Client.Manifests.GetContentAsync(repo, "v1");
            Assert.Equal(3L, s.Client.RateLimit!.Remaining);

            // A HEAD is not a pull: it reports the quota without using any.
            var seen = s.Client.RateLimit;
            await s.Client.Manifests.GetDescriptorAsync(repo, "v1");
            Assert.Equal(3L, s.Client.RateLimit!.Remaining);
            Assert.NotSame(seen, s.Client.RateLimit);
            Assert.Equal(new[] { 200 }, s.Requests("HEAD", "/manifests/").Select(r => r.Status));
            // Another client of the same registry has its own record.
            using var other = new Scenario(_bed.Anonymous);
            Assert.Null(other.Client.RateLimit);
        }

        [Fact]
        public async Task Over_the_quota_without_Retry_After_fails_as_TooManyRequests_naming_the_quota()
        {
            var repo = FaultNames.Repo("quota0");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous, configure: o => o.Retry.MaxElapsed = TimeSpan.FromSeconds(5));
            s.Proxy.AddRule(FaultRule.RateLimit(limit: 1, windowSeconds: 21600));

            await s.Client.Manifests.GetContentAsync(repo, "v1");
            var e = await s.Fails<RegistryException>(() => s.Client.Manifests.GetContentAsync(repo, "v1"));

            Assert.Equal(RegistryErrorKind.TooManyRequests, e.Kind);
            Assert.Equal(429, e.StatusCode);
            Assert.Contains("the quota is 1 request per 6 h (21600 s), 0 left", e.Message);
            Assert.True(s.Client.RateLimit!.Exhausted);
            s.AssertNoLeaks();
        }

        [Fact]
        public async Task Over_the_quota_with_Retry_After_waits_and_says_so_then_succeeds()
        {
            var repo = FaultNames.Repo("quota1");
            _bed.Push(_bed.Small, _bed.Anonymous, repo);
            using var s = new Scenario(_bed.Anonymous);
            s.Proxy.AddRule(FaultRule.RateLimit(limit: 1, windowSeconds: 1, retryAfterSeconds: 1));

            await s.Client.Manifests.GetContentAsync(repo, "v1");
            var content = await s.Client.Manifests.GetContentAsync(repo, "v1");

            Assert.Equal(SkopeoView.Digest(_bed.Anonymous, repo), content.Digest.ToString());
            Assert.Equal(new[] { 200, 429, 200 }, s.Requests("GET", "/manifests/").Select(r => r.Status));
            Assert.Contains(s.Lines, l => l.Contains("rate limited (TOOMANYREQUESTS); waiting 1 s as Retry-After asks"));
            Assert.Equal(0L, s.Client.RateLimit!.Remaining);
            s.AssertNoLeaks();
        }
    }
}
