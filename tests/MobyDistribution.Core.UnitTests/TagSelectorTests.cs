using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Registry;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    /// <summary>Tag selection (wildcards, version ranges, newest N) and the decision to fall back from OCI tag deletion.</summary>
    public sealed class TagSelectorTests
    {
        private static readonly string[] Tags =
        {
            "latest", "main", "v1.0.0", "v1.2.0", "1.2.5", "v1.25", "1.3", "v2", "2.0.0-rc.1", "1.25-alpine", "pr-12", "pr-7", "1.10.0", "sha-abc",
        };

        private static IReadOnlyList<string> Filter(TagSelector s) => s.Filter(Tags);

        [Fact]
        public void NoCriteria_SelectsEveryTag_InOrdinalOrder()
        {
            var s = new TagSelector();
            Assert.False(s.HasCriteria);
            Assert.Equal(Tags.OrderBy(t => t, StringComparer.Ordinal), Filter(s));
        }

        [Fact]
        public void IncludeAndExclude_AreCaseSensitiveWildcards()
        {
            Assert.Equal(new[] { "pr-12", "pr-7" }, Filter(new TagSelector { Include = new[] { "pr-*" } }));
            Assert.Equal(new[] { "pr-7" }, Filter(new TagSelector { Include = new[] { "pr-?" } }));
            Assert.Equal(new[] { "main", "pr-12", "pr-7" }, Filter(new TagSelector { Include = new[] { "[mp]*" } }));
            Assert.Empty(Filter(new TagSelector { Include = new[] { "LATEST" } }));
            var s = new TagSelector { Include = new[] { "v*", "1.2*" }, Exclude = new[] { "v2", "*-alpine" } };
            Assert.Equal(new[] { "1.2.5", "v1.0.0", "v1.2.0", "v1.25" }, Filter(s));
            Assert.DoesNotContain("latest", Filter(new TagSelector { Exclude = new[] { "latest" } }));
            // A backtick escapes; '.' is no wildcard.
            Assert.Equal(new[] { "1.3" }, Filter(new TagSelector { Include = new[] { "1.3" } }));
            Assert.Empty(new TagSelector { Include = new[] { "a`*" } }.Filter(new[] { "ab" }));
            Assert.Equal(new[] { "a*" }, new TagSelector { Include = new[] { "a`*" } }.Filter(new[] { "a*", "ab" }));
            Assert.Throws<FormatException>(() => new TagSelector { Include = new[] { "v[1" } });
        }

        [Theory]
        [InlineData(">=1.2.0 <2", "1.10.0 1.2.5 1.25-alpine? 1.3 v1.2.0 v1.25")]
        [InlineData(">= 1.2 < 2", "1.10.0 1.2.5 1.3 v1.2.0 v1.25")]
        [InlineData("1.25", "v1.25")]
        [InlineData("v1.2", "1.2.5 v1.2.0")]
        [InlineData("^1.2", "1.10.0 1.2.5 1.3 v1.2.0 v1.25")]
        [InlineData("~1.2", "1.2.5 v1.2.0")]
        [InlineData("1.x", "1.10.0 1.2.5 1.3 v1.0.0 v1.2.0 v1.25")]
        [InlineData("*", "1.10.0 1.2.5 1.3 v1.0.0 v1.2.0 v1.25 v2")]
        [InlineData(">1.3", "1.10.0 v1.25 v2")]
        [InlineData("<=1.3", "1.2.5 1.3 v1.0.0 v1.2.0")]
        [InlineData("1.2 - 1.10", "1.10.0 1.2.5 1.3 v1.2.0")]
        [InlineData("1.2 - 1.3.0", "1.2.5 1.3 v1.2.0")]
        [InlineData("<1.1 || >=2", "v1.0.0 v2")]
        [InlineData("[1.2,1.3)", "1.2.5 v1.2.0")]
        [InlineData(">=2.0.0-rc.1", "2.0.0-rc.1 v2")]
        [InlineData(">=3", "")]
        [InlineData(">2 <2", "")]
        public void SemVer_Ranges_WithVPrefixesAndShortForms(string range, string expected)
        {
            var want = expected.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries).Where(t => !t.EndsWith("?")).OrderBy(t => t, StringComparer.Ordinal);
            Assert.Equal(want, Filter(new TagSelector { SemVer = range }));
        }

        [Fact]
        public void SemVer_NonVersionsAndPrereleases_AreNotSelected()
        {
            var selected = Filter(new TagSelector { SemVer = ">=0" });
            foreach (var t in new[] { "latest", "main", "pr-12", "sha-abc", "2.0.0-rc.1", "1.25-alpine" }) Assert.DoesNotContain(t, selected);
            Assert.False(TagSelector.TryParseVersion("latest", out _));
            Assert.False(TagSelector.TryParseVersion("01.2", out _));
            Assert.False(TagSelector.TryParseVersion("v", out _));
            Assert.False(TagSelector.TryParseVersion("1.2.3.4.5", out _));
            Assert.True(TagSelector.TryParseVersion("v3", out var three));
            Assert.Equal("3.0.0", three.ToNormalizedString());
            Assert.True(TagSelector.TryParseVersion("V1.25", out var v));
            Assert.Equal("1.25.0", v.ToNormalizedString());
            Assert.True(TagSelector.TryParseVersion("1.25-alpine", out var alpine));
            Assert.True(alpine.IsPrerelease);
        }

        [Theory]
        [InlineData("")]
        [InlineData("  ")]
        [InlineData(">=1.2.x.y")]
        [InlineData(">=1.x.2")]
        [InlineData("x.1")]
        [InlineData("latest")]
        [InlineData("1.2-rc")]
        [InlineData("[1.2")]
        [InlineData(">=99999999999")]
        public void SemVer_Invalid_IsAFormatException(string range)
        {
            var e = Assert.Throws<FormatException>(() => new TagSelector { SemVer = range });
            Assert.False(string.IsNullOrEmpty(e.Message));
        }

        [Fact]
        public async Task Latest_ByVersion_WhenEveryTagIsAVersion_NewestFirst_NoConfigRead()
        {
            var s = new TagSelector { Exclude = new[] { "latest", "main", "pr-*", "sha-*" }, Latest = 3 };
            var asked = 0;
            var selected = await s.SelectAsync(Tags, (t, ct) => { Interlocked.Increment(ref asked); return Task.FromResult<DateTimeOffset?>(null); });
            // 2.0.0-rc.1 < v2; 1.25-alpine < v1.25 (a pre-release); v1.25 > 1.10.0 > 1.3 (numbers, not text).
            Assert.Equal(new[] { "v2", "2.0.0-rc.1", "v1.25" }, selected);
            Assert.Equal(0, asked);

            var ranged = await new TagSelector { SemVer = "^1", Latest = 2 }.SelectAsync(Tags, (t, ct) => throw new InvalidOperationException("not asked"));
            Assert.Equal(new[] { "v1.25", "1.10.0" }, ranged);
        }

        [Fact]
        public async Task Latest_ByCreated_WhenSomeTagIsNotAVersion_AsksEachTag_UnknownCountsAsOldest()
        {
            var created = new Dictionary<string, DateTimeOffset?>
            {
                ["latest"] = DateTimeOffset.Parse("2026-03-01T00:00:00Z"),
                ["main"] = DateTimeOffset.Parse("2026-05-01T00:00:00Z"),
                ["v1"] = DateTimeOffset.Parse("2026-04-01T00:00:00Z"),
                ["nightly"] = null,
                ["v2"] = DateTimeOffset.Parse("2026-01-01T00:00:00Z"),
            };
            var asked = new System.Collections.Concurrent.ConcurrentBag<string>();
            var s = new TagSelector { Latest = 3 };
            Assert.True(s.NeedsCreated(s.Filter(created.Keys)));
            var selected = await s.SelectAsync(created.Keys, (t, ct) => { asked.Add(t); return Task.FromResult(created[t]); });
            Assert.Equal(new[] { "main", "v1", "latest" }, selected);
            Assert.Equal(created.Keys.OrderBy(k => k), asked.OrderBy(k => k));

            var all = await new TagSelector { Latest = 10 }.SelectAsync(created.Keys, (t, ct) => Task.FromResult(created[t]));
            Assert.Equal(new[] { "main", "v1", "latest", "v2", "nightly" }, all);
            Assert.Throws<ArgumentOutOfRangeException>(() => new TagSelector { Latest = 0 });
        }

        [Theory]
        [InlineData(400, "UNSUPPORTED", true)]
        [InlineData(400, "DIGEST_INVALID", true)]
        [InlineData(400, null, true)]
        [InlineData(405, "UNSUPPORTED", true)]
        [InlineData(405, null, true)]
        [InlineData(501, null, true)]
        [InlineData(400, "TAG_INVALID", false)]
        [InlineData(404, "MANIFEST_UNKNOWN", false)]
        [InlineData(401, "UNAUTHORIZED", false)]
        [InlineData(403, "DENIED", false)]
        [InlineData(500, null, false)]
        [InlineData(202, null, false)]
        public void TagDeletion_WhichAnswersMeanFallBack(int status, string? code, bool fallBack)
        {
            var errors = code == null ? null : new[] { new RegistryError(code, "x", null) };
            var e = new RegistryException(RegistryErrorKind.InvalidRequest, "m", status, "DELETE", "http://r/v2/a/manifests/t", errors);
            Assert.Equal(fallBack, TagService.IsTagDeletionUnsupported(e));
        }
    }
}
