using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>The image config model: reading, byte-exact round trips, edits that touch only their field, errors.</summary>
    [Collection("registries")]
    public sealed class ImageConfigTests
    {
        private const string Diff1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        private const string Diff2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        private const string Diff3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

        /// <summary>
        /// Every field the model reads, in Go's escaping (\u003c), pretty-printed with tabs and spaces, nanosecond times, and
        /// fields no spec knows at every level.
        /// </summary>
        private static readonly string Full = string.Join("\n",
            "{",
            "  \"created\": \"2023-04-05T06:07:08.123456789Z\",",
            "  \"author\": \"Jane \\u003cjane@example.com\\u003e\",",
            "  \"architecture\": \"arm64\",",
            "  \"variant\": \"v8\",",
            "  \"os\": \"linux\",",
            "  \"os.version\": \"6.1\",",
            "  \"x-top\": {\"keep\": [1, 2.50, \"\\u0026\"], \"n\": null},",
            "  \"config\": {",
            "    \"User\": \"root\",",
            "    \"ExposedPorts\": {\"80/tcp\": {}, \"53/udp\": {}},",
            "    \"Env\": [\"PATH=/usr/bin\", \"HTML=\\u003cb\\u003e\", \"LANG=C\"],",
            "    \"Entrypoint\": [\"/bin/tini\", \"--\"],",
            "    \"Cmd\": [\"/app/run\"],",
            "    \"Volumes\": {\"/data\": {}},",
            "    \"WorkingDir\": \"/app\",",
            "    \"Labels\": {\"a\": \"1\", \"html\": \"\\u003ci\\u003e\", \"z\": \"26\"},",
            "    \"StopSignal\": \"SIGTERM\",",
            "    \"x-in-config\":\t\"kept\"",
            "  },",
            "  \"rootfs\": {\"type\": \"layers\", \"diff_ids\": [",
            "    \"" + Diff1 + "\",",
            "    \"" + Diff2 + "\"",
            "  ]},",
            "  \"history\": [",
            "    {\"created\": \"2023-04-05T06:07:08Z\", \"created_by\": \"/bin/sh -c #(nop) ADD file:abc in / \", \"x-h\": 1},",
            "    {\"created_by\": \"ENV A=b\", \"empty_layer\": true, \"comment\": \"c\", \"author\": \"me\"},",
            "    {\"created\": \"2023-04-05T06:07:09Z\"}",
            "  ]",
            "}");

        private readonly TestBedFixture _bed;

        public ImageConfigTests(TestBedFixture bed) => _bed = bed;

        private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

        private static string Text(ImageConfig c) => Encoding.UTF8.GetString(c.RawBytes);

        /// <summary><paramref name="original"/> with exactly one occurrence of <paramref name="from"/> replaced: the bytes an edit may change.</summary>
        private static string ReplaceOnce(string original, string from, string to)
        {
            int at = original.IndexOf(from, StringComparison.Ordinal);
            Assert.True(at >= 0, $"'{from}' is not in the config");
            Assert.Equal(-1, original.IndexOf(from, at + 1, StringComparison.Ordinal));
            return original.Substring(0, at) + to + original.Substring(at + from.Length);
        }

        [Fact]
        public async Task Parse_TheFixtureConfigPulledFromTheRegistry_ReadsItsFields_AndKeepsItsBytes()
        {
            var registry = _bed.Anonymous;
            Reg.PushOnce(_bed.Image, registry, "core/config-model", "v1");
            var client = Reg.Client(registry);
            var source = await ImageSource.ResolveAsync(client, ImageReference.Parse($"{registry.HostPort}/core/config-model:v1"), null, default);
            var raw = _bed.Image.ReadBlob(_bed.Image.ConfigDigest);

            var config = source.Config;

            Assert.Equal(raw, config.RawBytes);
            Assert.Equal(_bed.Image.ConfigDigest, config.Digest.ToString());
            Assert.Equal(_bed.Image.DiffIds, config.DiffIds.Select(d => d.ToString()));
            Assert.Equal(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero), config.Created);
            Assert.Equal("moby-testbed-fixture", config.Labels["org.opencontainers.image.title"]);
            Assert.Equal(new[] { "/bin/sh" }, config.Command);
            Assert.Null(config.Entrypoint);
            Assert.Equal(2, config.History.Count);
            Assert.StartsWith("moby-testbed: layer 1 ", config.History[1].CreatedBy);
            Assert.Equal(config.Platform, source.ConfigPlatform());
            Assert.Equal(config.OS, config.Platform.OS);
            Assert.Equal(config.Architecture, config.Platform.Architecture);
        }

        [Fact]
        public void Parse_AHandWrittenConfig_ReadsEveryField()
        {
            var c = ImageConfig.Parse(Bytes(Full));

            Assert.Equal(new DateTimeOffset(2023, 4, 5, 6, 7, 8, TimeSpan.Zero).AddTicks(1234567), c.Created);
            Assert.Equal("Jane <jane@example.com>", c.Author);
            Assert.Equal("arm64", c.Architecture);
            Assert.Equal("v8", c.Variant);
            Assert.Equal("linux", c.OS);
            Assert.Equal("6.1", c.OSVersion);
            Assert.Equal(Platform.Parse("linux/arm64/v8").ToString(), new Platform(c.Platform.OS, c.Platform.Architecture, c.Platform.Variant).ToString());
            Assert.Equal("6.1", c.Platform.OSVersion);
            Assert.Equal("root", c.User);
            Assert.Equal(new[] { "80/tcp", "53/udp" }, c.ExposedPorts);
            Assert.Equal(new[] { "PATH=/usr/bin", "HTML=<b>", "LANG=C" }, c.Environment);
            Assert.Equal(new[] { "/bin/tini", "--" }, c.Entrypoint);
            Assert.Equal(new[] { "/app/run" }, c.Command);
            Assert.Equal(new[] { "/data" }, c.Volumes);
            Assert.Equal("/app", c.WorkingDirectory);
            Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["html"] = "<i>", ["z"] = "26" }, c.Labels);
            Assert.Equal("SIGTERM", c.StopSignal);
            Assert.Equal("layers", c.RootfsType);
            Assert.Equal(new[] { Diff1, Diff2 }, c.DiffIds.Select(d => d.ToString()));
            Assert.Equal(3, c.History.Count);
            Assert.Equal(new DateTimeOffset(2023, 4, 5, 6, 7, 8, TimeSpan.Zero), c.History[0].Created);
            Assert.Equal("/bin/sh -c #(nop) ADD file:abc in / ", c.History[0].CreatedBy);
            Assert.False(c.History[0].EmptyLayer);
            Assert.True(c.History[1].EmptyLayer);
            Assert.Null(c.History[1].Created);
            Assert.Equal("c", c.History[1].Comment);
            Assert.Equal("me", c.History[1].Author);
        }

        [Fact]
        public void Parse_AMinimalConfig_GivesEmptyCollections_AndDockerDefaultsForThePlatform()
        {
            var c = ImageConfig.Parse(Bytes("{}"));

            Assert.Null(c.Created);
            Assert.Empty(c.Environment);
            Assert.Empty(c.Labels);
            Assert.Empty(c.DiffIds);
            Assert.Empty(c.History);
            Assert.Null(c.Command);
            Assert.Equal("linux/amd64", c.Platform.ToString());
        }

        [Fact]
        public void RoundTrip_WithoutEdits_KeepsTheExactBytes()
        {
            var raw = Bytes(Full);
            var c = ImageConfig.Parse(raw);

            Assert.Equal(raw, c.RawBytes);
            Assert.Equal(Digest.Compute(raw), c.Digest);
            // Edits that change nothing give the same bytes too.
            Assert.Equal(raw, c.WithLabels(new Dictionary<string, string>()).WithoutLabels(new[] { "absent" }).WithUser("root")
                .WithLayersAppended(Array.Empty<Digest>(), Array.Empty<ImageHistoryEntry>()).WithEnvironment(Array.Empty<string>()).RawBytes);
        }

        [Fact]
        public void Edits_ChangeOnlyTheirFieldsBytes()
        {
            var c = ImageConfig.Parse(Bytes(Full));

            Assert.Equal(ReplaceOnce(Full, "\"User\": \"root\"", "\"User\": \"app:app\""), Text(c.WithUser("app:app")));
            Assert.Equal(ReplaceOnce(Full, "\"WorkingDir\": \"/app\"", "\"WorkingDir\": \"/srv <x>\""), Text(c.WithWorkingDirectory("/srv <x>")));
            Assert.Equal(ReplaceOnce(Full, "\"Cmd\": [\"/app/run\"]", "\"Cmd\": [\"/bin/sh\",\"-c\",\"echo \\\"hi\\\"\"]"), Text(c.WithCommand(new[] { "/bin/sh", "-c", "echo \"hi\"" })));
            Assert.Equal(ReplaceOnce(Full, "\"Entrypoint\": [\"/bin/tini\", \"--\"]", "\"Entrypoint\": []"), Text(c.WithEntrypoint(Array.Empty<string>())));
            Assert.Equal(ReplaceOnce(Full, ",\n    \"Entrypoint\": [\"/bin/tini\", \"--\"]", ""), Text(c.WithEntrypoint(null)));
            Assert.Equal(ReplaceOnce(Full, "\"created\": \"2023-04-05T06:07:08.123456789Z\"", "\"created\": \"2025-06-07T08:09:10Z\""),
                Text(c.WithCreated(new DateTimeOffset(2025, 6, 7, 10, 9, 10, TimeSpan.FromHours(2)))));
            Assert.Equal(ReplaceOnce(Full, "\"StopSignal\": \"SIGTERM\"", "\"StopSignal\": \"SIGINT\""), Text(c.WithStopSignal("SIGINT")));
            Assert.Equal(ReplaceOnce(Full, ",\n  \"author\": \"Jane \\u003cjane@example.com\\u003e\"", ""), Text(c.WithAuthor(null)));
        }

        [Fact]
        public void WithLabels_ReplacesInPlace_AndAppends_LeavingOtherLabelsBytes()
        {
            var c = ImageConfig.Parse(Bytes(Full));

            var edited = c.WithLabels(new Dictionary<string, string> { ["z"] = "last", ["new"] = "<n>" });

            Assert.Equal(ReplaceOnce(Full, "\"z\": \"26\"}", "\"z\": \"last\",\"new\":\"<n>\"}"), Text(edited));
            Assert.Equal("<n>", edited.Labels["new"]);
        }

        [Fact]
        public void WithoutLabels_RemovesFirstMiddleLastAndOnly()
        {
            var c = ImageConfig.Parse(Bytes(Full));

            Assert.Equal(ReplaceOnce(Full, "\"a\": \"1\", ", ""), Text(c.WithoutLabels(new[] { "a" })));
            Assert.Equal(ReplaceOnce(Full, ", \"html\": \"\\u003ci\\u003e\"", ""), Text(c.WithoutLabels(new[] { "html" })));
            Assert.Equal(ReplaceOnce(Full, ", \"z\": \"26\"", ""), Text(c.WithoutLabels(new[] { "z" })));
            var none = c.WithoutLabels(new[] { "a", "html", "z" });
            Assert.Equal(ReplaceOnce(Full, "{\"a\": \"1\", \"html\": \"\\u003ci\\u003e\", \"z\": \"26\"}", "{}"), Text(none));
            Assert.Empty(none.Labels);
        }

        [Fact]
        public void WithEnvironment_ReplacesAVariableWhereItStands_AppendsNewOnes_AndKeepsTheOthersText()
        {
            var c = ImageConfig.Parse(Bytes(Full));

            var edited = c.WithEnvironment(new[] { "PATH=/app:/usr/bin", "NEW=1" });

            Assert.Equal(ReplaceOnce(Full, "[\"PATH=/usr/bin\", \"HTML=\\u003cb\\u003e\", \"LANG=C\"]", "[\"PATH=/app:/usr/bin\",\"HTML=\\u003cb\\u003e\",\"LANG=C\",\"NEW=1\"]"), Text(edited));
            Assert.Equal(new[] { "PATH=/app:/usr/bin", "HTML=<b>", "LANG=C", "NEW=1" }, edited.Environment);
            Assert.Equal(new[] { "PATH=/usr/bin", "LANG=C" }, c.WithoutEnvironment(new[] { "HTML" }).Environment);
            Assert.Throws<ArgumentException>(() => c.WithEnvironment(new[] { "=x" }));
        }

        [Fact]
        public void WithLayersAppended_AddsDiffIdsAndHistory_AfterTheLastEntries()
        {
            var c = ImageConfig.Parse(Bytes(Full));
            var when = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero).AddMilliseconds(500);

            var edited = c.WithLayersAppended(new[] { Digest.Parse(Diff3) }, new[] { new ImageHistoryEntry(when, "ADD file:x in /", comment: "new") });

            var expected = ReplaceOnce(Full, "\"" + Diff2 + "\"", "\"" + Diff2 + "\",\"" + Diff3 + "\"");
            expected = ReplaceOnce(expected, "{\"created\": \"2023-04-05T06:07:09Z\"}", "{\"created\": \"2023-04-05T06:07:09Z\"},{\"created\":\"2024-01-02T03:04:05.5Z\",\"created_by\":\"ADD file:x in /\",\"comment\":\"new\"}");
            Assert.Equal(expected, Text(edited));
            Assert.Equal(3, edited.DiffIds.Count);
            Assert.Equal(when, edited.History[3].Created);
            Assert.Equal("new", edited.History[3].Comment);
        }

        [Fact]
        public void UnknownFields_SurviveEveryEdit_WithTheirText()
        {
            var c = ImageConfig.Parse(Bytes(Full));

            var edited = c.WithUser("u").WithLabels(new Dictionary<string, string> { ["k"] = "v" }).WithoutLabels(new[] { "a" })
                .WithEnvironment(new[] { "X=1" }).WithEntrypoint(null).WithCommand(new[] { "x" }).WithWorkingDirectory("/")
                .WithCreated(DateTimeOffset.UnixEpoch).WithLayersAppended(new[] { Digest.Parse(Diff3) }, new[] { new ImageHistoryEntry(createdBy: "x") });

            var text = Text(edited);
            Assert.Contains("\"x-top\": {\"keep\": [1, 2.50, \"\\u0026\"], \"n\": null},", text);
            Assert.Contains("\"x-in-config\":\t\"kept\"", text);
            Assert.Contains("\"x-h\": 1", text);
            Assert.Contains("\"html\": \"\\u003ci\\u003e\"", text);
            Assert.Equal("1970-01-01T00:00:00Z", System.Text.Json.JsonDocument.Parse(edited.RawBytes).RootElement.GetProperty("created").GetString());
        }

        [Fact]
        public void Edits_MakeMissingOrNullSections()
        {
            var scratch = ImageConfig.Create(Platform.Parse("linux/arm/v7"));
            Assert.Equal("{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", Text(scratch));
            Assert.Equal("{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\",\"config\":{\"Labels\":{\"a\":\"b\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + Diff1 + "\"]},\"history\":[{\"created_by\":\"x\"}]}",
                Text(scratch.WithLabels(new Dictionary<string, string> { ["a"] = "b" }).WithLayersAppended(new[] { Digest.Parse(Diff1) }, new[] { new ImageHistoryEntry(createdBy: "x") })));

            var nulls = ImageConfig.Parse(Bytes("{ \"config\": null, \"rootfs\": null, \"history\": null }"));
            Assert.Equal("{ \"config\": {\"User\":\"1000\"}, \"rootfs\": {\"type\":\"layers\",\"diff_ids\":[\"" + Diff1 + "\"]}, \"history\": [{\"empty_layer\":true}] }",
                Text(nulls.WithUser("1000").WithLayersAppended(new[] { Digest.Parse(Diff1) }, new[] { new ImageHistoryEntry(emptyLayer: true) })));

            var bare = ImageConfig.Parse(Bytes("{\"rootfs\":{\"type\":\"layers\"}}"));
            Assert.Equal("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + Diff1 + "\"]}}", Text(bare.WithLayersAppended(new[] { Digest.Parse(Diff1) }, Array.Empty<ImageHistoryEntry>())));
        }

        [Theory]
        [InlineData("not json", "not valid JSON")]
        [InlineData("{\"os\":\"linux\"", "not valid JSON")]
        [InlineData("[1,2]", "an array, not a JSON object")]
        [InlineData("{\"os\":5}", "os is a number, not a string")]
        [InlineData("{\"created\":\"yesterday\"}", "created is 'yesterday', not an RFC 3339 time")]
        [InlineData("{\"config\":[]}", "config is an array, not an object")]
        [InlineData("{\"config\":{\"Env\":\"A=b\"}}", "config.Env is a string, not an array")]
        [InlineData("{\"config\":{\"Cmd\":[1]}}", "config.Cmd has a number where a string belongs")]
        [InlineData("{\"config\":{\"Labels\":{\"a\":1}}}", "label 'a' is a number, not a string")]
        [InlineData("{\"rootfs\":{\"diff_ids\":[\"sha256:zz\"]}}", "rootfs.diff_ids has 'sha256:zz', which is not a digest")]
        [InlineData("{\"history\":[{\"empty_layer\":\"yes\"}]}", "history[0].empty_layer is a string")]
        [InlineData("{\"os\":\"linux\",\"os\":\"windows\"}", "has the property 'os' twice")]
        [InlineData("{\"config\":{\"User\":\"a\",\"User\":\"b\"}}", "config has the property 'User' twice")]
        public void Parse_BadConfigs_AreInvalidData_WithAMessageNamingTheField(string json, string message)
        {
            var e = Assert.Throws<InvalidDataException>(() => ImageConfig.Parse(Bytes(json)));
            Assert.Contains(message, e.Message);
        }
    }
}
