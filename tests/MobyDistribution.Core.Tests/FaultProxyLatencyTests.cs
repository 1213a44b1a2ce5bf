using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Net.Http;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>The test bed's far-registry mode: <see cref="FaultProxy.Latency"/> holds every request, and the proxy counts what it saw.</summary>
    [Collection("registries")]
    public sealed class FaultProxyLatencyTests
    {
        private readonly TestBedFixture _bed;

        public FaultProxyLatencyTests(TestBedFixture bed) => _bed = bed;

        [Fact]
        public void Latency_holds_every_request_forwarded_or_answered_and_the_log_counts_them_by_method_and_endpoint()
        {
            using var proxy = FaultProxy.Start(_bed.Anonymous);
            var latency = TimeSpan.FromMilliseconds(120);
            proxy.Latency = latency;
            // Answered by the proxy instead of the registry: held all the same (a far registry's errors take a round trip too).
            proxy.AddRule(FaultRule.Status(503, "GET", "/manifests/"));
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(20) };
            var repo = Reg.Repo("latency");
            var requests = new (HttpMethod Method, string Path, HttpStatusCode Expected)[]
            {
                (HttpMethod.Get, "/v2/", HttpStatusCode.OK),
                (HttpMethod.Head, $"/v2/{repo}/blobs/sha256:{new string('0', 64)}", HttpStatusCode.NotFound),
                (HttpMethod.Head, $"/v2/{repo}/blobs/sha256:{new string('1', 64)}", HttpStatusCode.NotFound),
                (HttpMethod.Get, $"/v2/{repo}/manifests/v1", HttpStatusCode.ServiceUnavailable),
            };

            foreach (var (method, path, expected) in requests)
            {
                var clock = Stopwatch.StartNew();
                using var response = http.Send(new HttpRequestMessage(method, proxy.BaseUrl + path));
                clock.Stop();
                Assert.Equal(expected, response.StatusCode);
                // Only that the hold happened at all (an unheld request takes a millisecond or two): half the latency, so that
                // timers firing a little early (measured: 118 ms for 120) cannot fail it and nothing can be too slow.
                Assert.True(clock.Elapsed >= latency / 2, $"{method} {path} took {clock.Elapsed.TotalMilliseconds:0} ms, not held");
            }

            var log = proxy.Log;
            Assert.Equal(requests.Length, log.Length);
            Assert.All(log, e => Assert.Equal(latency, e.Delay));
            Assert.Equal(new Dictionary<string, int> { ["GET manifest"] = 1, ["GET ping"] = 1, ["HEAD blob"] = 2 }, proxy.RequestCounts());
            Assert.True(proxy.ConnectionsAccepted >= 1);

            // Back to no latency: the next request is not held.
            proxy.Latency = TimeSpan.Zero;
            using (var again = http.Send(new HttpRequestMessage(HttpMethod.Get, proxy.BaseUrl + "/v2/")))
                Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            Assert.Equal(TimeSpan.Zero, proxy.Log.Last().Delay);
            Assert.Equal(2, proxy.RequestCounts()["GET ping"]);
        }

        [Theory]
        [InlineData("/v2/", "ping")]
        [InlineData("/v2/_catalog", "catalog")]
        [InlineData("/v2/a/b/blobs/uploads/", "upload")]
        [InlineData("/v2/a/blobs/uploads/5f1c-uuid", "upload")]
        [InlineData("/v2/a/b/blobs/sha256:abc", "blob")]
        [InlineData("/v2/a/manifests/v1", "manifest")]
        [InlineData("/v2/a/b/tags/list", "tags")]
        [InlineData("/v2/a/referrers/sha256:abc", "referrers")]
        [InlineData("/token", "other")]
        public void EndpointOf_classifies_registry_paths(string path, string endpoint) =>
            Assert.Equal(endpoint, ProxyLogEntry.EndpointOf(path));
    }
}
