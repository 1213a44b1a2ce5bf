using System;
using System.Collections.Generic;
using System.Linq;
using MobyDistribution;
using Xunit;

namespace MobyDistribution.Core.UnitTests
{
    public class ImageReferenceTests
    {
        private const string HexF = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
        private const string Sha256F = "sha256:" + HexF;
        private const string Sha512F = "sha512:" + HexF + HexF;
        private const string Busybox = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
        private const string Redis = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
        private const string Be17 = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912";
        private const string ImageId = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
        private const string LongNamespace =
            "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_"
            + "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255";

        private static string Repeat(string s, int n) => string.Concat(Enumerable.Repeat(s, n));

        // ------------------------------------------------------------------ valid references

        [Theory]
        // Brief / everyday examples
        [InlineData("ubuntu", "docker.io", "library/ubuntu", null, null)]
        [InlineData("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", null)]
        [InlineData("user/app", "docker.io", "user/app", null, null)]
        [InlineData("localhost:5000/app", "localhost:5000", "app", null, null)]
        [InlineData("localhost/app", "localhost", "app", null, null)]
        [InlineData("[::1]:5000/app:v1", "[::1]:5000", "app", "v1", null)]
        [InlineData("registry.example.com/team/app:1.0@" + Sha256F, "registry.example.com", "team/app", "1.0", Sha256F)]
        [InlineData("docker.io/library/ubuntu:22.04@" + Sha256F, "docker.io", "library/ubuntu", "22.04", Sha256F)]
        [InlineData("ghcr.io/owner/image", "ghcr.io", "owner/image", null, null)]
        [InlineData("example.com/app", "example.com", "app", null, null)]
        // reference_test.go TestReferenceParse (normalized)
        [InlineData("test_com", "docker.io", "library/test_com", null, null)]
        [InlineData("test.com:tag", "docker.io", "library/test.com", "tag", null)]
        [InlineData("test.com:5000", "docker.io", "library/test.com", "5000", null)]
        [InlineData("test.com/repo:tag", "test.com", "repo", "tag", null)]
        [InlineData("test:5000/repo", "test:5000", "repo", null, null)]
        [InlineData("test:5000/repo:tag", "test:5000", "repo", "tag", null)]
        [InlineData("test:5000/repo@" + Sha256F, "test:5000", "repo", null, Sha256F)]
        [InlineData("test:5000/repo:tag@" + Sha256F, "test:5000", "repo", "tag", Sha256F)]
        [InlineData("lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", null)]
        [InlineData("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", null, null)]
        [InlineData("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", null)]
        [InlineData("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", null)]
        [InlineData("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", null)]
        [InlineData("xn--7o8h.com/myimage:xn--7o8h.com@" + Sha512F, "xn--7o8h.com", "myimage", "xn--7o8h.com", Sha512F)]
        [InlineData("foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", null)]
        [InlineData("foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", null)]
        [InlineData("192.168.1.1", "docker.io", "library/192.168.1.1", null, null)]
        [InlineData("192.168.1.1:tag", "docker.io", "library/192.168.1.1", "tag", null)]
        [InlineData("192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", null)]
        [InlineData("192.168.1.1/repo", "192.168.1.1", "repo", null, null)]
        [InlineData("192.168.1.1:5000/repo", "192.168.1.1:5000", "repo", null, null)]
        [InlineData("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", null)]
        [InlineData("[2001:db8::1]/repo", "[2001:db8::1]", "repo", null, null)]
        [InlineData("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", null)]
        [InlineData("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", null, null)]
        [InlineData("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag", null)]
        [InlineData("[2001:db8::1]:5000/repo@" + Sha256F, "[2001:db8::1]:5000", "repo", null, Sha256F)]
        [InlineData("[2001:db8::1]:5000/repo:tag@" + Sha256F, "[2001:db8::1]:5000", "repo", "tag", Sha256F)]
        [InlineData("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", null, null)]
        [InlineData("[::1]:5000/repo", "[::1]:5000", "repo", null, null)]
        // reference_test.go TestSerialization / TestDomainAndPath
        [InlineData("example.com:8000/named", "example.com:8000", "named", null, null)]
        [InlineData("example.com:8000/named:tagged", "example.com:8000", "named", "tagged", null)]
        [InlineData("other.com/named@sha256:1234567890098765432112345667890098765432112345667890098765432112", "other.com", "named", null, "sha256:1234567890098765432112345667890098765432112345667890098765432112")]
        [InlineData("test-com:8080/foo", "test-com:8080", "foo", null, null)]
        [InlineData("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", null, null)]
        // normalize_test.go TestValidateReferenceName
        [InlineData("docker/docker", "docker.io", "docker/docker", null, null)]
        [InlineData("library/debian", "docker.io", "library/debian", null, null)]
        [InlineData("debian", "docker.io", "library/debian", null, null)]
        [InlineData("docker.io/docker/docker", "docker.io", "docker/docker", null, null)]
        [InlineData("docker.io/library/debian", "docker.io", "library/debian", null, null)]
        [InlineData("docker.io/debian", "docker.io", "library/debian", null, null)]
        [InlineData("index.docker.io/docker/docker", "docker.io", "docker/docker", null, null)]
        [InlineData("index.docker.io/library/debian", "docker.io", "library/debian", null, null)]
        [InlineData("index.docker.io/debian", "docker.io", "library/debian", null, null)]
        [InlineData("127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker", null, null)]
        [InlineData("127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", null, null)]
        [InlineData("127.0.0.1:5000/debian", "127.0.0.1:5000", "debian", null, null)]
        [InlineData("192.168.0.1", "docker.io", "library/192.168.0.1", null, null)]
        [InlineData("192.168.0.1:80", "docker.io", "library/192.168.0.1", "80", null)]
        [InlineData("192.168.0.1:8/debian", "192.168.0.1:8", "debian", null, null)]
        [InlineData("192.168.0.2:25000/debian", "192.168.0.2:25000", "debian", null, null)]
        [InlineData("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", null, null)]
        [InlineData("[fc00::1]:5000/docker", "[fc00::1]:5000", "docker", null, null)]
        [InlineData("[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker", null, null)]
        [InlineData("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000", "library/debian", null, null)]
        [InlineData("docker.io/" + ImageId, "docker.io", "library/" + ImageId, null, null)]
        [InlineData("Docker/docker", "Docker", "docker", null, null)]
        [InlineData("DOCKER/docker", "DOCKER", "docker", null, null)]
        // normalize_test.go TestValidateRemoteName
        [InlineData("docker-rules/docker", "docker.io", "docker-rules/docker", null, null)]
        [InlineData("docker---rules/docker", "docker.io", "docker---rules/docker", null, null)]
        [InlineData("doc/docker", "docker.io", "doc/docker", null, null)]
        [InlineData("d/docker", "docker.io", "d/docker", null, null)]
        [InlineData("jess/t", "docker.io", "jess/t", null, null)]
        [InlineData("dock__er/docker", "docker.io", "dock__er/docker", null, null)]
        // normalize_test.go TestNormalizedSplitHostname
        [InlineData("test.com/foo", "test.com", "foo", null, null)]
        [InlineData("test_com/foo", "docker.io", "test_com/foo", null, null)]
        [InlineData("docker/migrator", "docker.io", "docker/migrator", null, null)]
        [InlineData("test.com:8080/foo", "test.com:8080", "foo", null, null)]
        [InlineData("foo", "docker.io", "library/foo", null, null)]
        [InlineData("xn--n3h.com/foo", "xn--n3h.com", "foo", null, null)]
        [InlineData("docker.io/foo", "docker.io", "library/foo", null, null)]
        [InlineData("docker.io/library/foo/bar", "docker.io", "library/foo/bar", null, null)]
        // normalize_test.go TestParseAnyReference (named cases)
        [InlineData("redis:latest", "docker.io", "library/redis", "latest", null)]
        [InlineData("redis@" + Redis, "docker.io", "library/redis", null, Redis)]
        [InlineData("dmcgowan/myapp@" + Redis, "docker.io", "dmcgowan/myapp", null, Redis)]
        [InlineData("docker.io/mcgowan/myapp:latest", "docker.io", "mcgowan/myapp", "latest", null)]
        [InlineData("dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io", "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", null, null)]
        [InlineData("dbcc1", "docker.io", "library/dbcc1", null, null)]
        [InlineData(ImageId + ":tag", "docker.io", "library/" + ImageId, "tag", null)]
        // normalize_test.go TestParseReferenceWithTagAndDigest
        [InlineData("busybox:latest@" + Busybox, "docker.io", "library/busybox", "latest", Busybox)]
        // regexp_test.go name / reference cases
        [InlineData("registry.io/foo/project--id.module--name.ver---sion--name", "registry.io", "foo/project--id.module--name.ver---sion--name", null, null)]
        [InlineData("example.com/some_separator__underscore/myimage", "example.com", "some_separator__underscore/myimage", null, null)]
        [InlineData("example.com/xn--7o8h.com/myimage", "example.com", "xn--7o8h.com/myimage", null, null)]
        [InlineData("Asdf.com/foo/bar", "Asdf.com", "foo/bar", null, null)]
        [InlineData("aa-a/a", "docker.io", "aa-a/a", null, null)]
        [InlineData("a/a/a/a", "docker.io", "a/a/a/a", null, null)]
        [InlineData("do__cker/docker", "docker.io", "do__cker/docker", null, null)]
        [InlineData("registry.com:8080/myapp:tag2@" + Be17, "registry.com:8080", "myapp", "tag2", Be17)]
        [InlineData("localhost:8080@" + Be17, "docker.io", "library/localhost", "8080", Be17)]
        [InlineData("localhost:8080/name@" + Be17, "localhost:8080", "name", null, Be17)]
        [InlineData("localhost@" + Be17, "docker.io", "library/localhost", null, Be17)]
        [InlineData("192.168.1.1:75050/app", "192.168.1.1:75050", "app", null, null)]
        [InlineData("0101.com/app", "0101.com", "app", null, null)]
        [InlineData("a.b/app", "a.b", "app", null, null)]
        // Edge cases: case of the registry is kept; 'localhost' is case-sensitive; tags
        [InlineData("LocalHost/app", "LocalHost", "app", null, null)]
        [InlineData("Index.docker.io/app", "Index.docker.io", "app", null, null)]
        [InlineData("index.docker.io:443/app", "index.docker.io:443", "app", null, null)]
        [InlineData("localhost/localhost", "localhost", "localhost", null, null)]
        [InlineData("app:_tag", "docker.io", "library/app", "_tag", null)]
        [InlineData("app:v1.0-rc.1_build", "docker.io", "library/app", "v1.0-rc.1_build", null)]
        [InlineData("app@" + Sha512F, "docker.io", "library/app", null, Sha512F)]
        public void Parse_Valid(string input, string registry, string repository, string? tag, string? digest)
        {
            var r = ImageReference.Parse(input);
            Assert.Equal(registry, r.Registry);
            Assert.Equal(repository, r.Repository);
            Assert.Equal(tag, r.Tag);
            Assert.Equal(digest, r.Digest?.ToString());
            Assert.Equal(registry + "/" + repository, r.Name);
            Assert.Equal(registry + "/" + repository + (tag != null ? ":" + tag : "") + (digest != null ? "@" + digest : ""), r.ToString());

            Assert.True(ImageReference.TryParse(input, out var r2));
            Assert.Equal(r, r2);
        }

        // ------------------------------------------------------------------ invalid references

        [Theory]
        // Brief
        [InlineData("")]
        [InlineData(" ")]
        [InlineData(" ubuntu")]
        [InlineData("ubuntu ")]
        [InlineData("ubuntu\n")]
        [InlineData("ubuntu:")]
        [InlineData(":tag")]
        [InlineData("ubuntu/")]
        [InlineData("a//b")]
        [InlineData("/ubuntu")]
        [InlineData("a@")]
        [InlineData("a:@" + Sha256F)]
        [InlineData("@" + Sha256F)]
        [InlineData("::1/app")]
        [InlineData("UBUNTU")]
        [InlineData("ubuntu:tag:tag")]
        [InlineData("ubuntu@" + Sha256F + "@" + Sha256F)]
        [InlineData("ubuntu:-tag")]
        [InlineData("ubuntu:.tag")]
        [InlineData("ubuntu:t~g")]
        [InlineData("ubuntu:täg")]
        [InlineData("ubüntu")]
        [InlineData("ubuntu:tag/x")]
        [InlineData("registry.example.com/app:tag/x")]
        [InlineData("foo_bar.com/app")]       // Docker would parse this with an empty domain; we refuse it.
        [InlineData("do__cker:8080/docker")]
        [InlineData("localhost:/app")]
        [InlineData("localhost:http/app")]
        [InlineData("[]/app")]
        [InlineData("[::1/app")]
        [InlineData("[::1]5000/app")]
        [InlineData("[::1]::5000/app")]
        [InlineData("[fd00:1:2::3%eth0]:75050/app")]
        // Digests: only sha256/sha512, lowercase, exact length
        [InlineData("app@sha384:" + HexF + "ffffffffffffffffffffffffffffffff")]
        [InlineData("app@md5:ffffffffffffffffffffffffffffffff")]
        [InlineData("app@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")]
        [InlineData("app@sha256:" + HexF + "f")]
        [InlineData("app@sha256:gfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
        [InlineData("app@sha256")]
        [InlineData("app@" + HexF)]
        [InlineData("registry.com:8080/myapp@sha256:badbadbadbad")]
        [InlineData("registry.com:8080/myapp@bad")]
        [InlineData("registry.com:8080/myapp@2bad")]
        [InlineData("registry.com:8080/myapp:invalid~tag")]
        [InlineData("bad_hostname.com:8080/myapp:tag")]
        // reference_test.go TestReferenceParse
        [InlineData(":justtag")]
        [InlineData("repo@sha256:ffffffffffffffffffffffffffffffffff")]
        [InlineData("validname@invaliddigest:" + HexF)]
        [InlineData("Uppercase:tag")]
        [InlineData("test:5000/Uppercase/lowercase:tag")]
        [InlineData("aa/asdf$$^/aa")]
        [InlineData("[2001:db8::1]")]
        [InlineData("[2001:db8::1]:5000")]
        [InlineData("[2001:db8::1]:tag")]
        [InlineData("[fe80::1%eth0]:5000/repo")]
        [InlineData("[fe80::1%@invalidzone]:5000/repo")]
        // normalize_test.go TestValidateReferenceName / TestValidateRemoteName
        [InlineData("https://github.com/docker/docker")]
        [InlineData("docker/Docker")]
        [InlineData("-docker")]
        [InlineData("-docker/docker")]
        [InlineData("-docker.io/docker/docker")]
        [InlineData("docker///docker")]
        [InlineData("docker.io/docker/Docker")]
        [InlineData("docker.io/docker///docker")]
        [InlineData("[fc00::1]")]
        [InlineData("[fc00::1]:5000")]
        [InlineData("fc00::1:5000/debian")]
        [InlineData("[fe80::1%eth0]:5000/debian")]
        [InlineData("[2001:db8:3:4::192.0.2.33]:5000/debian")]
        [InlineData(ImageId)]
        [InlineData("docker-/docker")]
        [InlineData("-docker-/docker")]
        [InlineData("____/____")]
        [InlineData("_docker/_docker")]
        [InlineData("docker_/docker_")]
        [InlineData("dock..er/docker")]
        [InlineData("dock_.er/docker")]
        [InlineData("dock-.er/docker")]
        [InlineData("docker/")]
        [InlineData(LongNamespace + "/docker")]
        [InlineData("-foo")]
        // regexp_test.go name cases
        [InlineData("a/a/a/a/")]
        [InlineData("a//a/a")]
        [InlineData("foo.com/")]
        [InlineData("foo.com:http/bar")]
        [InlineData("a^a")]
        [InlineData("asdf$$^/aa")]
        [InlineData("a-/a/a/a")]
        [InlineData("foo.com/a-/a/a")]
        [InlineData("foo/bar-")]
        [InlineData("foo-/bar")]
        [InlineData("foo/-bar")]
        [InlineData("_foo/bar")]
        [InlineData("foo_bar.com:8080/app")]
        [InlineData("example.com/__underscore/myimage")]
        [InlineData("example.com/..dots/myimage")]
        [InlineData("example.com/.dots/myimage")]
        [InlineData("example.com/nodouble..dots/myimage")]
        [InlineData("docker./docker")]
        [InlineData(".docker/docker")]
        [InlineData("do..cker/docker")]
        [InlineData("Foo/FarB")]
        [InlineData("ab-.com/app")]
        [InlineData("ab.-com/app")]
        [InlineData("-ab.com/app")]
        [InlineData("ab.com-/app")]
        [InlineData("7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C")]
        public void Parse_Invalid(string input)
        {
            var e = Assert.Throws<FormatException>(() => ImageReference.Parse(input));
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            Assert.False(ImageReference.TryParse(input, out var r));
            Assert.Null(r);
        }

        [Theory]
        [InlineData("docker/Docker", "repository name must be lowercase")]
        [InlineData("Uppercase:tag", "repository name must be lowercase")]
        [InlineData("test:5000/Uppercase/lowercase:tag", "repository name must be lowercase")]
        [InlineData("docker/Docker", "docker/Docker")]
        [InlineData(ImageId, "cannot specify 64-byte hexadecimal strings")]
        [InlineData(ImageId, ImageId)]
        [InlineData("app:-x", "invalid reference format: tag '-x' is not valid")]
        [InlineData("app@sha384:" + HexF + "ffffffffffffffffffffffffffffffff", "sha384")]
        [InlineData("app@sha256:abc", "digest is not valid")]
        [InlineData("a@", "digest must not be empty")]
        [InlineData("a//b", "empty path component")]
        [InlineData("foo_bar.com/app", "registry 'foo_bar.com' is not valid")]
        [InlineData("-docker", "path component '-docker' is not valid")]
        [InlineData("", "empty")]
        public void Parse_ErrorMessageNamesTheProblem(string input, string fragment)
        {
            var e = Assert.Throws<FormatException>(() => ImageReference.Parse(input));
            Assert.Contains(fragment, e.Message);
        }

        [Fact]
        public void Parse_Null_ThrowsFormatException()
        {
            Assert.Throws<FormatException>(() => ImageReference.Parse(null!));
        }

        // ------------------------------------------------------------------ length limits

        [Fact]
        public void Parse_PathOf255Characters_IsValid_AndTagDoesNotCount()
        {
            // reference_test.go: 255-character path plus a tag is fine.
            var input = Repeat("a/", 127) + "a:tag-puts-this-over-max";
            var r = ImageReference.Parse(input);
            Assert.Equal("docker.io", r.Registry);
            Assert.Equal(Repeat("a/", 127) + "a", r.Repository);
            Assert.Equal(255, r.Repository.Length);
            Assert.Equal("tag-puts-this-over-max", r.Tag);
        }

        [Fact]
        public void Parse_PathOver255Characters_IsTooLong()
        {
            var input = Repeat("a/", 128) + "a:tag";
            var e = Assert.Throws<FormatException>(() => ImageReference.Parse(input));
            Assert.Contains("repository name must not be longer than 255 characters", e.Message);
        }

        [Fact]
        public void Parse_LengthLimitIsOnThePathNotTheRegistry()
        {
            // Like current distribution/reference: the registry is not counted.
            var path = "x/" + new string('a', 253);
            Assert.Equal(255, ImageReference.Parse("registry.example.com:5000/" + path).Repository.Length);
            Assert.Throws<FormatException>(() => ImageReference.Parse("registry.example.com:5000/" + path + "a"));
        }

        [Fact]
        public void Parse_LibraryPrefixCountsTowardsTheLimit()
        {
            Assert.Equal(255, ImageReference.Parse(new string('a', 247)).Repository.Length);
            Assert.Throws<FormatException>(() => ImageReference.Parse(new string('a', 248)));
        }

        [Fact]
        public void Parse_TagOf128Characters_IsValid_129IsTooLong()
        {
            var tag = "v" + new string('1', 127);
            Assert.Equal(tag, ImageReference.Parse("app:" + tag).Tag);
            var e = Assert.Throws<FormatException>(() => ImageReference.Parse("app:" + tag + "1"));
            Assert.Contains("invalid reference format: tag '", e.Message);
            Assert.Contains("is too long", e.Message);
        }

        // ------------------------------------------------------------------ familiar form

        [Theory]
        // normalize_test.go TestParseRepositoryInfo: (input, familiar name, full name, registry, repository)
        [InlineData("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "docker.io", "fooo/bar")]
        [InlineData("docker.io/fooo/bar", "fooo/bar", "docker.io/fooo/bar", "docker.io", "fooo/bar")]
        [InlineData("index.docker.io/fooo/bar", "fooo/bar", "docker.io/fooo/bar", "docker.io", "fooo/bar")]
        [InlineData("ubuntu", "ubuntu", "docker.io/library/ubuntu", "docker.io", "library/ubuntu")]
        [InlineData("docker.io/library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "docker.io", "library/ubuntu")]
        [InlineData("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "docker.io", "library/ubuntu")]
        [InlineData("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "docker.io", "nonlibrary/ubuntu")]
        [InlineData("other/library", "other/library", "docker.io/other/library", "docker.io", "other/library")]
        [InlineData("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase")]
        [InlineData("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000", "privatebase")]
        [InlineData("example.com/private/moonbase", "example.com/private/moonbase", "example.com/private/moonbase", "example.com", "private/moonbase")]
        [InlineData("example.com/privatebase", "example.com/privatebase", "example.com/privatebase", "example.com", "privatebase")]
        [InlineData("example.com:8000/private/moonbase", "example.com:8000/private/moonbase", "example.com:8000/private/moonbase", "example.com:8000", "private/moonbase")]
        [InlineData("example.com:8000/privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee", "example.com:8000", "privatebasee")]
        [InlineData("ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base")]
        [InlineData("index.docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base")]
        [InlineData("docker.io/foo", "foo", "docker.io/library/foo", "docker.io", "library/foo")]
        [InlineData("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "docker.io", "library/foo/bar")]
        [InlineData("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "docker.io", "store/foo/bar")]
        [InlineData("Foo/bar", "Foo/bar", "Foo/bar", "Foo", "bar")]
        [InlineData("FOO/bar", "FOO/bar", "FOO/bar", "FOO", "bar")]
        [InlineData("localhost:5000/app", "localhost:5000/app", "localhost:5000/app", "localhost:5000", "app")]
        [InlineData("localhost/library/app", "localhost/library/app", "localhost/library/app", "localhost", "library/app")]
        public void FamiliarName_And_FullName(string input, string familiar, string full, string registry, string repository)
        {
            var r = ImageReference.Parse(input);
            Assert.Equal(familiar, r.FamiliarName);
            Assert.Equal(full, r.ToString());
            Assert.Equal(full, r.Name);
            Assert.Equal(registry, r.Registry);
            Assert.Equal(repository, r.Repository);
        }

        [Theory]
        [InlineData("busybox:latest@" + Busybox, "busybox:latest@" + Busybox, "docker.io/library/busybox:latest@" + Busybox)]
        [InlineData("ubuntu", "ubuntu", "docker.io/library/ubuntu")]
        [InlineData("docker.io/library/ubuntu:22.04", "ubuntu:22.04", "docker.io/library/ubuntu:22.04")]
        [InlineData("user/app@" + Sha256F, "user/app@" + Sha256F, "docker.io/user/app@" + Sha256F)]
        [InlineData("localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1")]
        [InlineData("[::1]:5000/app:v1@" + Sha512F, "[::1]:5000/app:v1@" + Sha512F, "[::1]:5000/app:v1@" + Sha512F)]
        public void ToFamiliarString_And_ToString(string input, string familiar, string full)
        {
            var r = ImageReference.Parse(input);
            Assert.Equal(familiar, r.ToFamiliarString());
            Assert.Equal(full, r.ToString());
        }

        [Theory]
        [InlineData("ubuntu")]
        [InlineData("ubuntu:22.04")]
        [InlineData("ubuntu:22.04@" + Sha256F)]
        [InlineData("user/app@" + Sha512F)]
        [InlineData("library/foo/bar:x")]
        [InlineData("localhost/app")]
        [InlineData("localhost:5000/a/b/c:tag")]
        [InlineData("[::1]:5000/app:v1")]
        [InlineData("[2001:db8::1]/repo@" + Sha256F)]
        [InlineData("Foo/bar")]
        [InlineData("Asdf.com/foo/bar:Tag")]
        [InlineData("index.docker.io/debian")]
        [InlineData("192.168.0.1:80")]
        [InlineData("registry.example.com/team/app:1.0@" + Sha256F)]
        public void RoundTrips_ThroughToString_And_ToFamiliarString(string input)
        {
            var r = ImageReference.Parse(input);
            var again = ImageReference.Parse(r.ToString());
            Assert.Equal(r, again);
            Assert.Equal(r.ToString(), again.ToString());
            var fromFamiliar = ImageReference.Parse(r.ToFamiliarString());
            Assert.Equal(r, fromFamiliar);
        }

        [Fact]
        public void FamiliarName_IsAmbiguousLikeDocker_ForHubRepositoriesThatLookLikeRegistries()
        {
            var r = ImageReference.Parse("docker.io/foo.com/app");
            Assert.Equal("docker.io", r.Registry);
            Assert.Equal("foo.com/app", r.FamiliarName);
            Assert.Equal("foo.com", ImageReference.Parse(r.ToFamiliarString()).Registry);
            Assert.Equal(r, ImageReference.Parse(r.ToString()));
        }

        [Fact]
        public void FamiliarString_OfHexNamedHubImage_IsAnImageIdLikeDocker()
        {
            // docker.io/library/<64 hex> is valid, but its familiar form is refused as an image ID.
            var r = ImageReference.Parse("docker.io/" + ImageId);
            Assert.Equal(ImageId, r.ToFamiliarString());
            Assert.False(ImageReference.TryParse(r.ToFamiliarString(), out _));
            Assert.Equal(r, ImageReference.Parse(r.ToString()));
        }

        [Fact]
        public void BracketedIPv6_IsOnlyCheckedForHexAndColons_LikeDocker()
        {
            Assert.Equal("[:]", ImageReference.Parse("[:]/a").Registry);
            Assert.Equal("[fd00123123123]:75050", ImageReference.Parse("[fd00123123123]:75050/a").Registry);
        }

        // ------------------------------------------------------------------ derived properties

        [Theory]
        [InlineData("ubuntu", "registry-1.docker.io", "latest")]
        [InlineData("ubuntu:22.04", "registry-1.docker.io", "22.04")]
        [InlineData("ubuntu:22.04@" + Sha256F, "registry-1.docker.io", Sha256F)]
        [InlineData("index.docker.io/user/app@" + Sha256F, "registry-1.docker.io", Sha256F)]
        [InlineData("localhost:5000/app", "localhost:5000", "latest")]
        [InlineData("[::1]:5000/app:v1", "[::1]:5000", "v1")]
        [InlineData("Docker/docker", "Docker", "latest")]
        public void ApiHost_And_Reference(string input, string apiHost, string reference)
        {
            var r = ImageReference.Parse(input);
            Assert.Equal(apiHost, r.ApiHost);
            Assert.Equal(reference, r.Reference);
        }

        [Fact]
        public void Tag_IsNull_WhenAbsent()
        {
            var r = ImageReference.Parse("ubuntu");
            Assert.Null(r.Tag);
            Assert.Null(r.Digest);
            Assert.Equal("docker.io/library/ubuntu", r.ToString());
        }

        // ------------------------------------------------------------------ Create

        [Theory]
        [InlineData("docker.io", "ubuntu", null, "docker.io/library/ubuntu")]
        [InlineData("index.docker.io", "ubuntu", "22.04", "docker.io/library/ubuntu:22.04")]
        [InlineData("index.docker.io", "user/app", null, "docker.io/user/app")]
        [InlineData("docker.io", "library/ubuntu", null, "docker.io/library/ubuntu")]
        [InlineData("localhost:5000", "app", "v1", "localhost:5000/app:v1")]
        [InlineData("localhost", "app", null, "localhost/app")]
        [InlineData("[::1]:5000", "app", null, "[::1]:5000/app")]
        [InlineData("[2001:db8::1]", "a/b", "TAG5", "[2001:db8::1]/a/b:TAG5")]
        [InlineData("test.com:8000", "foo", "tag4", "test.com:8000/foo:tag4")]
        [InlineData("Registry.Example.com", "team/app", null, "Registry.Example.com/team/app")]
        [InlineData("Foo", "bar", null, "Foo/bar")]
        [InlineData("registry.example.com", "a__b/c---d/e.f_g", null, "registry.example.com/a__b/c---d/e.f_g")]
        public void Create_Valid(string registry, string repository, string? tag, string expected)
        {
            var r = ImageReference.Create(registry, repository, tag);
            Assert.Equal(expected, r.ToString());
            Assert.Equal(r, ImageReference.Parse(expected));
        }

        [Fact]
        public void Create_WithDigest_KeepsBoth()
        {
            var d = Digest.Parse(Sha256F);
            var r = ImageReference.Create("ghcr.io", "owner/image", "1.0", d);
            Assert.Equal("ghcr.io/owner/image:1.0@" + Sha256F, r.ToString());
            Assert.Equal(d, r.Digest);
            Assert.Equal(Sha256F, r.Reference);
        }

        [Theory]
        // registry problems
        [InlineData("", "app", null)]
        [InlineData("myregistry", "app", null)]          // would be read as a Docker Hub namespace
        [InlineData("foo_bar.com", "app", null)]
        [InlineData("-ab.com", "app", null)]
        [InlineData("ab.com-", "app", null)]
        [InlineData("a..b", "app", null)]
        [InlineData("test.com:http", "app", null)]
        [InlineData("test.com:", "app", null)]
        [InlineData("::1", "app", null)]
        [InlineData("[::1", "app", null)]
        [InlineData("[fe80::1%eth0]", "app", null)]
        [InlineData("[::1]:", "app", null)]
        [InlineData("example.com/path", "app", null)]
        [InlineData("https://example.com", "app", null)]
        [InlineData(" example.com", "app", null)]
        // repository problems
        [InlineData("example.com", "", null)]
        [InlineData("example.com", "App", null)]
        [InlineData("example.com", "app/", null)]
        [InlineData("example.com", "/app", null)]
        [InlineData("example.com", "a//b", null)]
        [InlineData("example.com", "app:tag", null)]
        [InlineData("example.com", "app@" + Sha256F, null)]
        [InlineData("example.com", "-app", null)]
        [InlineData("example.com", "a..b", null)]
        [InlineData("docker.io", LongNamespace + "/docker", null)]
        // tag problems
        [InlineData("example.com", "app", "")]
        [InlineData("example.com", "app", "-tag")]
        [InlineData("example.com", "app", ".tag")]
        [InlineData("example.com", "app", "t:g")]
        [InlineData("example.com", "app", "t@g")]
        [InlineData("example.com", "app", "t g")]
        [InlineData("example.com", "app", "täg")]
        public void Create_Invalid(string registry, string repository, string? tag)
        {
            Assert.Throws<FormatException>(() => ImageReference.Create(registry, repository, tag));
        }

        [Fact]
        public void Create_Messages()
        {
            Assert.Contains("repository name must be lowercase",
                Assert.Throws<FormatException>(() => ImageReference.Create("example.com", "Team/App")).Message);
            Assert.Contains("is too long",
                Assert.Throws<FormatException>(() => ImageReference.Create("example.com", "app", new string('t', 129))).Message);
            Assert.Contains("must not be longer than 255 characters",
                Assert.Throws<FormatException>(() => ImageReference.Create("docker.io", new string('a', 248))).Message);
        }

        [Fact]
        public void Create_NullArguments_Throw()
        {
            Assert.Throws<ArgumentNullException>(() => ImageReference.Create(null!, "app"));
            Assert.Throws<ArgumentNullException>(() => ImageReference.Create("example.com", null!));
        }

        // ------------------------------------------------------------------ With*

        [Theory]
        [InlineData("ubuntu:22.04@" + Sha256F, "24.04", "docker.io/library/ubuntu:24.04")]
        [InlineData("ubuntu", "TAG5", "docker.io/library/ubuntu:TAG5")]
        [InlineData("test.com:8000/foo", "tag4", "test.com:8000/foo:tag4")]
        [InlineData("test.com:8000/foo:old@" + Sha256F, null, "test.com:8000/foo")]
        public void WithTag_ReplacesTag_AndDropsDigest(string input, string? tag, string expected)
        {
            var r = ImageReference.Parse(input).WithTag(tag);
            Assert.Equal(expected, r.ToString());
            Assert.Null(r.Digest);
            Assert.Equal(tag, r.Tag);
        }

        [Theory]
        [InlineData("")]
        [InlineData("-foo")]
        [InlineData("a/b")]
        [InlineData("a:b")]
        [InlineData(" v1")]
        public void WithTag_Invalid_Throws(string tag)
        {
            var r = ImageReference.Parse("busybox");
            Assert.Throws<FormatException>(() => r.WithTag(tag));
            Assert.Throws<FormatException>(() => r.WithTag(new string('a', 129)));
        }

        [Fact]
        public void WithDigest_KeepsTag_AndNullRemovesDigest()
        {
            var d = Digest.Parse(Sha512F);
            var r = ImageReference.Parse("ubuntu:22.04").WithDigest(d);
            Assert.Equal("docker.io/library/ubuntu:22.04@" + Sha512F, r.ToString());
            Assert.Equal("22.04", r.Tag);
            Assert.Equal(d, r.Digest);

            var back = r.WithDigest(null);
            Assert.Equal("docker.io/library/ubuntu:22.04", back.ToString());
            Assert.Null(back.Digest);
        }

        [Theory]
        [InlineData("ubuntu:22.04", "debian", "docker.io/library/debian:22.04")]
        [InlineData("ubuntu:22.04@" + Sha256F, "user/app", "docker.io/user/app:22.04@" + Sha256F)]
        [InlineData("localhost:5000/app:v1", "other", "localhost:5000/other:v1")]
        [InlineData("example.com/a/b", "c/d/e", "example.com/c/d/e")]
        public void WithRepository_ValidatesAndNormalizes(string input, string repository, string expected)
        {
            Assert.Equal(expected, ImageReference.Parse(input).WithRepository(repository).ToString());
        }

        [Theory]
        [InlineData("")]
        [InlineData("Debian")]
        [InlineData("a//b")]
        [InlineData("app:tag")]
        [InlineData("_app")]
        public void WithRepository_Invalid_Throws(string repository)
        {
            Assert.Throws<FormatException>(() => ImageReference.Parse("ubuntu").WithRepository(repository));
        }

        [Fact]
        public void WithoutReference_DropsTagAndDigest()
        {
            var r = ImageReference.Parse("localhost:5000/app:v1@" + Sha256F).WithoutReference();
            Assert.Equal("localhost:5000/app", r.ToString());
            Assert.Null(r.Tag);
            Assert.Null(r.Digest);
            Assert.Equal("latest", r.Reference);
        }

        // ------------------------------------------------------------------ equality

        [Theory]
        [InlineData("ubuntu", "docker.io/library/ubuntu")]
        [InlineData("ubuntu", "index.docker.io/ubuntu")]
        [InlineData("ubuntu", "library/ubuntu")]
        [InlineData("user/app:1@" + Sha256F, "docker.io/user/app:1@" + Sha256F)]
        [InlineData("localhost:5000/app", "localhost:5000/app")]
        public void Equal_WhenFullyQualifiedFormsMatch(string a, string b)
        {
            var ra = ImageReference.Parse(a);
            var rb = ImageReference.Parse(b);
            Assert.Equal(ra, rb);
            Assert.True(ra.Equals((object)rb));
            Assert.True(ra == rb);
            Assert.False(ra != rb);
            Assert.Equal(ra.GetHashCode(), rb.GetHashCode());
        }

        [Theory]
        [InlineData("ubuntu", "ubuntu:latest")]
        [InlineData("ubuntu:22.04", "ubuntu:22.04@" + Sha256F)]
        [InlineData("Foo/bar", "foo/bar")]
        [InlineData("localhost/app", "localhost:5000/app")]
        [InlineData("app:Tag", "app:tag")]
        public void NotEqual_WhenFullyQualifiedFormsDiffer(string a, string b)
        {
            var ra = ImageReference.Parse(a);
            var rb = ImageReference.Parse(b);
            Assert.NotEqual(ra, rb);
            Assert.False(ra == rb);
            Assert.True(ra != rb);
            Assert.False(ra.Equals(null));
            Assert.False(ra.Equals((object)a));
        }

        [Fact]
        public void EqualityOperators_HandleNull()
        {
            ImageReference? none = null;
            Assert.True(none == null);
            Assert.False(ImageReference.Parse("ubuntu") == none);
            Assert.True(none != ImageReference.Parse("ubuntu"));
        }

        [Fact]
        public void WorksAsDictionaryKey()
        {
            var set = new HashSet<ImageReference>
            {
                ImageReference.Parse("ubuntu"),
                ImageReference.Parse("docker.io/library/ubuntu"),
                ImageReference.Parse("index.docker.io/library/ubuntu"),
                ImageReference.Parse("ubuntu:latest"),
            };
            Assert.Equal(2, set.Count);
        }

        // ------------------------------------------------------------------ TryParse never throws

        public static IEnumerable<object?[]> Garbage()
        {
            yield return new object?[] { null };
            yield return new object?[] { "" };
            yield return new object?[] { " " };
            yield return new object?[] { "\t\r\n" };
            yield return new object?[] { "\0" };
            yield return new object?[] { "ubuntu\0" };
            yield return new object?[] { "/" };
            yield return new object?[] { ":" };
            yield return new object?[] { "@" };
            yield return new object?[] { ":@" };
            yield return new object?[] { "/:@" };
            yield return new object?[] { "[" };
            yield return new object?[] { "]" };
            yield return new object?[] { "[]" };
            yield return new object?[] { "[:/a" };
            yield return new object?[] { "a:b:c/d" };
            yield return new object?[] { "@@@@" };
            yield return new object?[] { "üñíçødé/ímage" };
            yield return new object?[] { "registry.例え.jp/app" };
            yield return new object?[] { "app:тег" };
            yield return new object?[] { "😀" };
            yield return new object?[] { "app:\ud800" };
            yield return new object?[] { "\ud800/app" };
            yield return new object?[] { "İ/app" };
            yield return new object?[] { "a\u0660/app" }; // Arabic-Indic digit: not [0-9]
            yield return new object?[] { "localhost:\u0665\u0660/app" };
            yield return new object?[] { "app:\u00e9" };
            yield return new object?[] { new string('a', 100_000) };
            yield return new object?[] { new string('/', 10_000) };
            yield return new object?[] { new string(':', 10_000) };
            yield return new object?[] { Repeat("a-", 50_000) + "a" };
            yield return new object?[] { Repeat("a_", 50_000) + "_" };
            yield return new object?[] { "app:" + new string('t', 100_000) };
            yield return new object?[] { "app@sha256:" + new string('f', 100_000) };
            yield return new object?[] { new string('[', 1000) + "/app" };
            yield return new object?[] { Repeat("a.", 10_000) + "/app" };
        }

        [Theory]
        [MemberData(nameof(Garbage))]
        public void TryParse_NeverThrows_OnGarbage(string? input)
        {
            var ok = ImageReference.TryParse(input, out var r);
            Assert.False(ok);
            Assert.Null(r);
            if (input != null)
            {
                var e = Assert.Throws<FormatException>(() => ImageReference.Parse(input));
                Assert.True(e.Message.Length < 2000, "error messages shorten long input");
            }
        }

        [Fact]
        public void TryParse_LongButValid()
        {
            // Registries have no length limit of their own; only the path is limited.
            var registry = Repeat("a.", 1000) + "com";
            Assert.True(ImageReference.TryParse(registry + "/app", out var r));
            Assert.Equal(registry, r!.Registry);
            Assert.Equal("app", r.Repository);
        }
    }
}
