using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>A referrers API that lies (MiniHttpServer): not an index, a Link to another host, a page that points at itself.</summary>
    public sealed class HostileReferrersTests
    {
        private const string Repo = "hostile/app";
        private static readonly Digest Subject = Digest.Parse("sha256:" + new string('a', 64));

        private static RegistryClient Client(MiniHttpServer server)
        {
            var options = new RegistryClientOptions { CredentialStore = null };
            options.Retry.MaxAttempts = 1;
            return new RegistryClient(RegistryEndpoint.Parse("http://127.0.0.1:" + server.Port), options);
        }

        private static MiniHttpServer Server(string body, string? link = null) => new MiniHttpServer(request =>
        {
            if (request.Path == "/v2/") return MiniHttpResponse.Json(200, "{}");
            var response = MiniHttpResponse.Json(200, body);
            response.Headers["Content-Type"] = "application/vnd.oci.image.index.v1+json";
            if (link != null) response.Headers["Link"] = link;
            return response;
        });

        private const string Empty = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}";

        [Fact]
        public async Task AnswerThatIsNotAnIndex_IsAProtocolError()
        {
            using var server = Server("{\"hello\":\"world\"}");
            var e = await Assert.ThrowsAsync<RegistryException>(() => Client(server).Referrers.ListAsync(Repo, Subject));
            Assert.Equal(RegistryErrorKind.Protocol, e.Kind);
        }

        [Fact]
        public async Task LinkToAnotherHost_IsRefused()
        {
            using var server = Server(Empty, "<http://elsewhere.example/v2/hostile/app/referrers/x?last=1>; rel=\"next\"");
            var e = await Assert.ThrowsAsync<RegistryException>(() => Client(server).Referrers.ListAsync(Repo, Subject));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
        }

        [Fact]
        public async Task LinkThatGoesRoundInCircles_Ends()
        {
            using var server = Server(Empty, "</v2/hostile/app/referrers/" + Subject + "?last=x>; rel=\"next\"");
            var e = await Assert.ThrowsAsync<RegistryException>(() => Client(server).Referrers.ListAsync(Repo, Subject));
            Assert.Equal(RegistryErrorKind.Protocol, e.Kind);
            Assert.Contains("circles", e.Message);
        }
    }
}
