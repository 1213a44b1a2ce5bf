using System;
using System.Net;
using System.Net.Http;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>
    /// The <c>Link: &lt;…&gt;; rel="next"</c> header of tag and catalog pages (distribution's pagination): which link is
    /// followed, how it is resolved, and that a link off the registry's origin is refused rather than followed.
    /// </summary>
    public sealed class LinkHeaderTests
    {
        private static readonly Uri Base = new Uri("http://127.0.0.1:5000/");
        private static readonly Uri FirstPage = new Uri(Base, "v2/_catalog?n=1");

        private static Uri? Next(params string[] linkHeaders) => Next(FirstPage, Base, linkHeaders);

        private static Uri? Next(Uri current, Uri baseUri, params string[] linkHeaders)
        {
            using var response = new HttpResponseMessage(HttpStatusCode.OK);
            foreach (var value in linkHeaders) Assert.True(response.Headers.TryAddWithoutValidation("Link", value));
            return Paging.NextLink(response, current, baseUri);
        }

        [Fact]
        public void RelativeLink_AsDistributionWritesIt_IsResolvedAgainstThePage()
        {
            Assert.Equal(new Uri("http://127.0.0.1:5000/v2/_catalog?last=x&n=1"), Next("</v2/_catalog?last=x&n=1>; rel=\"next\""));
            Assert.Equal(new Uri("http://127.0.0.1:5000/v2/team/app/tags/list?last=v1.0&n=50"),
                Next(new Uri(Base, "v2/team/app/tags/list?n=50"), Base, "</v2/team/app/tags/list?last=v1.0&n=50>; rel=\"next\""));
        }

        [Fact]
        public void PathRelativeLink_IsResolvedAgainstTheCurrentPage_NotTheRoot()
        {
            var current = new Uri(Base, "v2/team/app/tags/list?n=2");
            Assert.Equal(new Uri("http://127.0.0.1:5000/v2/team/app/tags/list?last=b&n=2"), Next(current, Base, "<list?last=b&n=2>; rel=\"next\""));
        }

        [Fact]
        public void AbsoluteLink_OnTheSameOrigin_IsFollowed()
        {
            Assert.Equal(new Uri("http://127.0.0.1:5000/v2/_catalog?last=y&n=1"), Next("<http://127.0.0.1:5000/v2/_catalog?last=y&n=1>; rel=\"next\""));
            // Host names compare without regard to case, as DNS does.
            var baseUri = new Uri("https://registry.example/");
            Assert.Equal(new Uri("https://registry.example/v2/_catalog?last=z"),
                Next(new Uri(baseUri, "v2/_catalog"), baseUri, "<https://REGISTRY.example/v2/_catalog?last=z>; rel=\"next\""));
        }

        [Theory]
        [InlineData("<http://evil.example/v2/_catalog?last=x>; rel=\"next\"")]     // another host
        [InlineData("<http://127.0.0.1:5001/v2/_catalog?last=x>; rel=\"next\"")]   // another port
        [InlineData("<https://127.0.0.1:5000/v2/_catalog?last=x>; rel=\"next\"")]  // another scheme
        [InlineData("<//evil.example/v2/_catalog?last=x>; rel=\"next\"")]          // scheme-relative, off host
        public void LinkOffTheRegistrysOrigin_IsRefused(string link)
        {
            var e = Assert.Throws<RegistryException>(() => Next(link));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
        }

        [Fact]
        public void OnlyRelNextIsFollowed_AmongSeveralLinks()
        {
            Assert.Equal(new Uri("http://127.0.0.1:5000/v2/_catalog?last=b"),
                Next("</v2/_catalog?last=a>; rel=\"prev\", </v2/_catalog?last=b>; rel=\"next\""));
            Assert.Equal(new Uri("http://127.0.0.1:5000/v2/_catalog?last=c"), Next("</v2/_catalog?last=0>; rel=\"first\"", "</v2/_catalog?last=c>; rel=next"));
            Assert.Equal(new Uri("http://127.0.0.1:5000/v2/_catalog?last=d"), Next("</v2/_catalog?last=d>; REL=\"NEXT\""));
        }

        [Fact]
        public void NoNextLink_EndsThePaging()
        {
            Assert.Null(Next());
            Assert.Null(Next("</v2/_catalog?last=a>; rel=\"prev\""));
            Assert.Null(Next("garbage without brackets; rel=\"next\""));
            Assert.Null(Next(">backwards<; rel=\"next\""));
        }

        [Fact]
        public void OffHostLink_IsRefusedEvenWhenNotFirst()
        {
            var e = Assert.Throws<RegistryException>(() => Next("</v2/_catalog?last=a>; rel=\"prev\"", "<http://evil.example/v2/_catalog>; rel=\"next\""));
            Assert.Equal(RegistryErrorKind.Security, e.Kind);
        }
    }
}
