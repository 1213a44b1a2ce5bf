using System.Linq;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>WWW-Authenticate parsing and token scope merging (pure functions: no registry needed).</summary>
    public sealed class AuthChallengeTests
    {
        [Fact]
        public void Parse_DockerHubStyleBearer()
        {
            var c = Assert.Single(AuthChallenge.Parse(new[]
            {
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/ubuntu:pull\"",
            }));
            Assert.True(c.IsBearer);
            Assert.False(c.IsBasic);
            Assert.Equal("https://auth.docker.io/token", c.Realm);
            Assert.Equal("registry.docker.io", c.Service);
            Assert.Equal(new[] { "repository:library/ubuntu:pull" }, c.Scopes);
            Assert.Null(c.Error);
        }

        [Fact]
        public void Parse_SeveralChallengesInOneHeader()
        {
            var list = AuthChallenge.Parse(new[] { "Basic realm=\"Registry Realm\", Bearer realm=\"https://r.example/token\",service=\"svc\"" });
            Assert.Equal(2, list.Count);
            Assert.True(list[0].IsBasic);
            Assert.Equal("Registry Realm", list[0].Realm);
            Assert.True(list[1].IsBearer);
            Assert.Equal("https://r.example/token", list[1].Realm);
            Assert.Equal("svc", list[1].Service);
        }

        [Fact]
        public void Parse_SeveralHeaderValues_AndASchemeWithoutParameters()
        {
            var list = AuthChallenge.Parse(new[] { "Negotiate", "Basic realm=\"r\"", "Bearer realm=\"https://t/token\"" });
            Assert.Equal(new[] { "Negotiate", "Basic", "Bearer" }, list.Select(c => c.Scheme));
            Assert.Empty(list[0].Parameters);
            var inOne = AuthChallenge.Parse(new[] { "Negotiate, Basic realm=\"r\"" });
            Assert.Equal(new[] { "Negotiate", "Basic" }, inOne.Select(c => c.Scheme));
            Assert.Equal("r", inOne[1].Realm);
        }

        [Fact]
        public void Parse_CommasInsideQuotes_AreNotSeparators()
        {
            var c = Assert.Single(AuthChallenge.Parse(new[]
            {
                "Bearer realm=\"https://t.example/token?a=1,2\",service=\"a,b\",scope=\"repository:x:pull,push\"",
            }));
            Assert.Equal("https://t.example/token?a=1,2", c.Realm);
            Assert.Equal("a,b", c.Service);
            Assert.Equal(new[] { "repository:x:pull,push" }, c.Scopes);
        }

        [Fact]
        public void Parse_EscapedQuotesAndBackslashes()
        {
            var c = Assert.Single(AuthChallenge.Parse(new[] { "Basic realm=\"say \\\"hi\\\" to c:\\\\dir\", charset=\"UTF-8\"" }));
            Assert.Equal("say \"hi\" to c:\\dir", c.Realm);
            Assert.Equal("UTF-8", c.Parameters["charset"]);
        }

        [Fact]
        public void Parse_MultipleScopes_AndError()
        {
            var c = Assert.Single(AuthChallenge.Parse(new[]
            {
                "Bearer realm=\"https://t/token\",service=\"s\",scope=\"repository:a:pull,push repository:b/c:pull  registry:catalog:*\",error=\"insufficient_scope\"",
            }));
            Assert.Equal(new[] { "repository:a:pull,push", "repository:b/c:pull", "registry:catalog:*" }, c.Scopes);
            Assert.Equal("insufficient_scope", c.Error);
        }

        [Fact]
        public void Parse_UnquotedValues_SpacesAroundEquals_AndCaseInsensitiveKeys()
        {
            var c = Assert.Single(AuthChallenge.Parse(new[] { "bearer REALM = \"https://t/token\" , Service=registry.local, error=invalid_token" }));
            Assert.True(c.IsBearer);
            Assert.Equal("https://t/token", c.Realm);
            Assert.Equal("registry.local", c.Service);
            Assert.Equal("invalid_token", c.Error);
        }

        [Fact]
        public void Parse_EmptyOrBlank_GivesNothing()
        {
            Assert.Empty(AuthChallenge.Parse(new[] { "", "  ", "," }));
        }

        [Fact]
        public void Merge_JoinsActionsPerResource_Sorted_WithoutDuplicates()
        {
            var merged = Scopes.Merge(new[]
            {
                "repository:b:pull", "repository:a:push", "repository:a:pull", "repository:a:pull", "repository:b:pull,push,pull",
            });
            Assert.Equal(new[] { "repository:a:pull,push", "repository:b:pull,push" }, merged);
        }

        [Fact]
        public void Merge_KeepsColonsInTheName_AndCatalog_AndSkipsBlanks()
        {
            var merged = Scopes.Merge(new[]
            {
                "repository:localhost:5000/app:pull", "registry:catalog:*", "repository:localhost:5000/app:delete", "", "  ",
            });
            Assert.Equal(new[] { "registry:catalog:*", "repository:localhost:5000/app:delete,pull" }, merged);
        }

        [Fact]
        public void Covers_HeldScopesCoverWanted()
        {
            Assert.True(Scopes.Covers(new[] { "repository:a:pull,push" }, new[] { "repository:a:pull" }));
            Assert.True(Scopes.Covers(new[] { "repository:a:pull", "repository:b:pull" }, new[] { "repository:b:pull", "repository:a:pull" }));
            Assert.False(Scopes.Covers(new[] { "repository:a:pull" }, new[] { "repository:a:pull,push" }));
            Assert.False(Scopes.Covers(new[] { "repository:a:pull" }, new[] { "repository:b:pull" }));
            Assert.True(Scopes.Covers(new[] { "repository:a:pull" }, new string[0]));
        }

        private static AuthChallenge Challenge(string scopes, string? error = "insufficient_scope") => Assert.Single(AuthChallenge.Parse(new[]
        {
            "Bearer realm=\"https://t/token\",service=\"s\",scope=\"" + scopes + "\"" + (error == null ? string.Empty : ",error=\"" + error + "\""),
        }));

        [Fact]
        public void ForToken_TakesAFewChallengeScopesAlongWithTheRequests_OnlyWhenRefusedForInsufficientScope()
        {
            var request = new[] { "repository:a:pull" };
            var challenge = Challenge("repository:a:pull,push repository:b:pull");
            Assert.Equal(new[] { "repository:a:pull,push", "repository:b:pull" }, Scopes.ForToken(request, challenge, refused: true, null));
            Assert.Equal(request, Scopes.ForToken(request, challenge, refused: false, null));
            Assert.Equal(request, Scopes.ForToken(request, Challenge("repository:b:pull", error: null), refused: true, null));
            Assert.Equal(new[] { "repository:b:pull" }, Scopes.ForToken(new string[0], Challenge("repository:b:pull", error: null), refused: false, null));
        }

        [Fact]
        public void ForToken_CapsTheScopesOfAFloodingChallenge_LogsTheRest_AndNeverDropsTheRequests()
        {
            // The request's scope is longer than the whole budget and comes last in the challenge: it is still asked for.
            var own = "repository:" + new string('x', Scopes.MaxChallengeScopeChars) + ":pull";
            var flood = string.Join(" ", Enumerable.Range(0, 2300).Select(i => $"repository:n{i}:pull")) + " " + own;
            var logged = new System.Collections.Generic.List<string>();
            var wanted = Scopes.ForToken(new[] { own }, Challenge(flood), refused: true, logged.Add);
            Assert.Contains(own, wanted);
            Assert.Equal(Scopes.MaxChallengeScopes + 1, wanted.Count);
            Assert.Equal("The registry's challenge names 2300 scopes besides the request's; took 32 (" + wanted.Where(w => w != own).Sum(w => w.Length) + " characters) and ignored the other 2268.", Assert.Single(logged));

            // Few but huge scopes are held to the character budget.
            var huge = string.Join(" ", Enumerable.Range(0, 10).Select(i => "repository:" + i + new string('y', 1500) + ":pull"));
            var fromHuge = Scopes.ForToken(new string[0], Challenge(huge, error: null), refused: false, null);
            Assert.True(fromHuge.Sum(w => w.Length) <= Scopes.MaxChallengeScopeChars);
            Assert.NotEmpty(fromHuge);
        }

        [Fact]
        public void RequestScopes_HaveTheRegistryShape()
        {
            Assert.Equal("repository:team/app:pull", Scopes.Repository("team/app", false));
            Assert.Equal("repository:team/app:pull,push", Scopes.Repository("team/app", true));
            Assert.Equal("repository:team/app:delete", Scopes.RepositoryDelete("team/app"));
            Assert.Equal("registry:catalog:*", Scopes.Catalog);
        }
    }
}
