using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MobyDistribution.Manifests
{
    /// <summary>One entry of an image config's <c>history</c>: how a layer (or an empty step) was made.</summary>
    public sealed class ImageHistoryEntry
    {
        /// <summary>A new entry; every field is optional.</summary>
        public ImageHistoryEntry(DateTimeOffset? created = null, string? createdBy = null, string? author = null, string? comment = null, bool emptyLayer = false)
        {
            Created = created;
            CreatedBy = createdBy;
            Author = author;
            Comment = comment;
            EmptyLayer = emptyLayer;
        }

        /// <summary>When the step ran (<c>created</c>).</summary>
        public DateTimeOffset? Created { get; }

        /// <summary>The command that made it (<c>created_by</c>), such as <c>ADD file:… in /</c>.</summary>
        public string? CreatedBy { get; }

        /// <summary><c>author</c>.</summary>
        public string? Author { get; }

        /// <summary><c>comment</c>.</summary>
        public string? Comment { get; }

        /// <summary><c>empty_layer</c>: the step made no layer (so it has no <c>rootfs.diff_ids</c> entry).</summary>
        public bool EmptyLayer { get; }

        internal string ToJson()
        {
            var parts = new List<string>();
            if (Created != null) parts.Add("\"created\":" + ImageConfig.Quote(ImageConfig.FormatTime(Created.Value)));
            if (CreatedBy != null) parts.Add("\"created_by\":" + ImageConfig.Quote(CreatedBy));
            if (Author != null) parts.Add("\"author\":" + ImageConfig.Quote(Author));
            if (Comment != null) parts.Add("\"comment\":" + ImageConfig.Quote(Comment));
            if (EmptyLayer) parts.Add("\"empty_layer\":true");
            return "{" + string.Join(",", parts) + "}";
        }
    }

    /// <summary>
    /// An image config: the JSON blob a manifest's <c>config</c> descriptor names (OCI image-spec <c>config.md</c>, Docker image
    /// spec v1.2). Read it with the typed properties; change it with the <c>With…</c> methods, which return a new config.
    /// </summary>
    /// <remarks>
    /// The config is kept as its bytes, and an edit splices new text into them: only the edited value's bytes change, while every
    /// other field, known or not, keeps its exact text, its place and the whitespace around it. A config nobody edits gives back
    /// the bytes it was parsed from, so its digest is kept. New text is compact JSON with only the escaping JSON requires.
    /// Objects this model reads (the root, <c>config</c>, <c>rootfs</c>, <c>config.Labels</c>) must not repeat a property name:
    /// which copy counts differs between JSON parsers.
    /// </remarks>
    public sealed class ImageConfig
    {
        private static readonly JsonSerializerOptions TextJson = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        private readonly byte[] _raw;

        private ImageConfig(byte[] raw, JsonElement root)
        {
            _raw = raw;
            Root = root;
            Digest = Digest.Compute(raw);
            Created = Time(root, "created", "created");
            Author = Text(root, "author", "author");
            Architecture = Text(root, "architecture", "architecture");
            OS = Text(root, "os", "os");
            Variant = Text(root, "variant", "variant");
            OSVersion = Text(root, "os.version", "os.version");
            OSFeatures = Strings(root, "os.features", "os.features") ?? Array.Empty<string>();

            var config = Object(root, "config", "config");
            if (config is JsonElement c)
            {
                CheckUnique(c, "config");
                Environment = Strings(c, "Env", "config.Env") ?? Array.Empty<string>();
                Entrypoint = Strings(c, "Entrypoint", "config.Entrypoint");
                Command = Strings(c, "Cmd", "config.Cmd");
                WorkingDirectory = Text(c, "WorkingDir", "config.WorkingDir");
                User = Text(c, "User", "config.User");
                StopSignal = Text(c, "StopSignal", "config.StopSignal");
                ExposedPorts = Keys(c, "ExposedPorts", "config.ExposedPorts");
                Volumes = Keys(c, "Volumes", "config.Volumes");
                var labels = new Dictionary<string, string>(StringComparer.Ordinal);
                if (Object(c, "Labels", "config.Labels") is JsonElement l)
                {
                    CheckUnique(l, "config.Labels");
                    foreach (var p in l.EnumerateObject())
                    {
                        if (p.Value.ValueKind != JsonValueKind.String)
                            throw new InvalidDataException($"The image config's label '{p.Name}' is {Kind(p.Value)}, not a string.");
                        labels[p.Name] = p.Value.GetString()!;
                    }
                }
                Labels = new ReadOnlyDictionary<string, string>(labels);
            }
            else
            {
                Environment = Array.Empty<string>();
                ExposedPorts = Array.Empty<string>();
                Volumes = Array.Empty<string>();
                Labels = new ReadOnlyDictionary<string, string>(new Dictionary<string, string>(StringComparer.Ordinal));
            }

            var diffIds = new List<Digest>();
            if (Object(root, "rootfs", "rootfs") is JsonElement rootfs)
            {
                CheckUnique(rootfs, "rootfs");
                RootfsType = Text(rootfs, "type", "rootfs.type");
                foreach (var s in Strings(rootfs, "diff_ids", "rootfs.diff_ids") ?? Array.Empty<string>())
                {
                    if (!Digest.TryParse(s, out var d)) throw new InvalidDataException($"The image config's rootfs.diff_ids has '{s}', which is not a digest.");
                    diffIds.Add(d);
                }
            }
            DiffIds = diffIds.AsReadOnly();

            var history = new List<ImageHistoryEntry>();
            if (Property(root, "history") is JsonElement h && h.ValueKind != JsonValueKind.Null)
            {
                if (h.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"The image config's history is {Kind(h)}, not an array.");
                int i = 0;
                foreach (var e in h.EnumerateArray())
                {
                    var what = $"history[{i++}]";
                    if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"The image config's {what} is {Kind(e)}, not an object.");
                    bool empty = false;
                    if (Property(e, "empty_layer") is JsonElement el && el.ValueKind != JsonValueKind.Null)
                    {
                        if (el.ValueKind != JsonValueKind.True && el.ValueKind != JsonValueKind.False)
                            throw new InvalidDataException($"The image config's {what}.empty_layer is {Kind(el)}, not true or false.");
                        empty = el.ValueKind == JsonValueKind.True;
                    }
                    history.Add(new ImageHistoryEntry(Time(e, "created", what + ".created"), Text(e, "created_by", what + ".created_by"),
                        Text(e, "author", what + ".author"), Text(e, "comment", what + ".comment"), empty));
                }
            }
            History = history.AsReadOnly();
        }

        /// <summary>When the image was made (<c>created</c>); null when the config has none.</summary>
        public DateTimeOffset? Created { get; }

        /// <summary><c>author</c>.</summary>
        public string? Author { get; }

        /// <summary><c>architecture</c>, such as <c>amd64</c> or <c>arm64</c>.</summary>
        public string? Architecture { get; }

        /// <summary><c>os</c>, such as <c>linux</c>.</summary>
        public string? OS { get; }

        /// <summary><c>variant</c>, such as <c>v8</c> for arm64.</summary>
        public string? Variant { get; }

        /// <summary><c>os.version</c> (Windows images).</summary>
        public string? OSVersion { get; }

        /// <summary><c>os.features</c>; empty when none.</summary>
        public IReadOnlyList<string> OSFeatures { get; }

        /// <summary>The platform the config records; <c>linux</c> and <c>amd64</c> stand in for a missing os or architecture, as docker assumes.</summary>
        public Platform Platform => new Platform(OS ?? "linux", Architecture ?? "amd64", Variant, OSVersion)
        {
            OSFeatures = OSFeatures.Count == 0 ? null : OSFeatures.ToList(),
        };

        /// <summary><c>config.Env</c>, as <c>NAME=value</c> entries; empty when none.</summary>
        public IReadOnlyList<string> Environment { get; }

        /// <summary><c>config.Entrypoint</c>; null when the config sets none.</summary>
        public IReadOnlyList<string>? Entrypoint { get; }

        /// <summary><c>config.Cmd</c>; null when the config sets none.</summary>
        public IReadOnlyList<string>? Command { get; }

        /// <summary><c>config.WorkingDir</c>.</summary>
        public string? WorkingDirectory { get; }

        /// <summary><c>config.User</c>.</summary>
        public string? User { get; }

        /// <summary><c>config.Labels</c>; empty when none.</summary>
        public IReadOnlyDictionary<string, string> Labels { get; }

        /// <summary>The keys of <c>config.ExposedPorts</c>, such as <c>80/tcp</c>; empty when none.</summary>
        public IReadOnlyList<string> ExposedPorts { get; }

        /// <summary>The keys of <c>config.Volumes</c>; empty when none.</summary>
        public IReadOnlyList<string> Volumes { get; }

        /// <summary><c>config.StopSignal</c>.</summary>
        public string? StopSignal { get; }

        /// <summary><c>rootfs.type</c> (<c>layers</c>).</summary>
        public string? RootfsType { get; }

        /// <summary><c>rootfs.diff_ids</c>: the digest of each layer's uncompressed tar, bottom first; empty when none.</summary>
        public IReadOnlyList<Digest> DiffIds { get; }

        /// <summary><c>history</c>, oldest first; empty when none.</summary>
        public IReadOnlyList<ImageHistoryEntry> History { get; }

        /// <summary>The config's digest (docker's image ID): the sha256 of <see cref="RawBytes"/>.</summary>
        public Digest Digest { get; }

        /// <summary>The root JSON object, for code that needs fields this model does not name.</summary>
        internal JsonElement Root { get; }

        /// <summary>The config's exact bytes (a copy).</summary>
        public byte[] RawBytes => (byte[])_raw.Clone();

        /// <summary>The bytes without a copy, for code that only reads them.</summary>
        internal byte[] Bytes => _raw;

        /// <summary>
        /// Parses a config. Throws <see cref="InvalidDataException"/> when it is not a JSON object or a field this model reads has
        /// the wrong type (the message names the field). The bytes are kept as given.
        /// </summary>
        public static ImageConfig Parse(byte[] raw)
        {
            if (raw == null) throw new ArgumentNullException(nameof(raw));
            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(raw, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false });
                root = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException("The image config is not valid JSON: " + e.Message, e);
            }
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"The image config is {Kind(root)}, not a JSON object.");
            CheckUnique(root, "image config");
            return new ImageConfig((byte[])raw.Clone(), root);
        }

        /// <summary>A config with no layers for an image made from nothing (<c>scratch</c>): the platform, an empty <c>config</c> and <c>rootfs</c>.</summary>
        public static ImageConfig Create(Platform platform)
        {
            if (platform == null) throw new ArgumentNullException(nameof(platform));
            var sb = new StringBuilder("{\"architecture\":").Append(Quote(platform.Architecture)).Append(",\"os\":").Append(Quote(platform.OS));
            if (!string.IsNullOrEmpty(platform.OSVersion)) sb.Append(",\"os.version\":").Append(Quote(platform.OSVersion!));
            if (!string.IsNullOrEmpty(platform.Variant)) sb.Append(",\"variant\":").Append(Quote(platform.Variant!));
            sb.Append(",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
            return Parse(Encoding.UTF8.GetBytes(sb.ToString()));
        }

        /// <summary>Appends layers (to <c>rootfs.diff_ids</c>) and history entries; either may be empty. Nothing else changes.</summary>
        public ImageConfig WithLayersAppended(IEnumerable<Digest> diffIds, IEnumerable<ImageHistoryEntry> historyEntries)
        {
            if (diffIds == null) throw new ArgumentNullException(nameof(diffIds));
            if (historyEntries == null) throw new ArgumentNullException(nameof(historyEntries));
            var ids = diffIds.Select(d => Quote((d ?? throw new ArgumentException("A diff_id is null.", nameof(diffIds))).ToString())).ToList();
            var entries = historyEntries.Select(h => (h ?? throw new ArgumentException("A history entry is null.", nameof(historyEntries))).ToJson()).ToList();
            var raw = _raw;
            if (ids.Count > 0)
            {
                if (Locate(raw, new[] { "rootfs" }) is not Located r || r.Kind != JsonTokenType.StartObject)
                    raw = SetValue(raw, new[] { "rootfs" }, "{\"type\":\"layers\",\"diff_ids\":[" + string.Join(",", ids) + "]}");
                else
                    raw = Append(raw, new[] { "rootfs", "diff_ids" }, ids);
            }
            if (entries.Count > 0) raw = Append(raw, new[] { "history" }, entries);
            return raw == _raw ? this : Parse(raw);
        }

        /// <summary>Sets <c>created</c> (written in UTC, RFC 3339).</summary>
        public ImageConfig WithCreated(DateTimeOffset created) => Edit(SetValue(_raw, new[] { "created" }, Quote(FormatTime(created))));

        /// <summary>Sets <c>author</c>; null removes it.</summary>
        public ImageConfig WithAuthor(string? author) => Edit(SetOrRemove(_raw, new[] { "author" }, author == null ? null : Quote(author)));

        /// <summary>
        /// Sets environment variables (<c>NAME=value</c>): a variable the config has is replaced where it stands, a new one is
        /// appended, as a Dockerfile's <c>ENV</c> does. The other entries keep their text.
        /// </summary>
        public ImageConfig WithEnvironment(IEnumerable<string> variables)
        {
            var set = CheckVariables(variables);
            if (set.Count == 0) return this;
            var entries = ExistingArray(new[] { "config", "Env" });
            foreach (var v in set)
            {
                var name = v.Substring(0, v.IndexOf('=') + 1);
                int at = entries.FindIndex(e => e.Value != null && e.Value.StartsWith(name, StringComparison.Ordinal));
                if (at >= 0) entries[at] = (Quote(v), v);
                else entries.Add((Quote(v), v));
            }
            return Edit(SetValue(_raw, new[] { "config", "Env" }, "[" + string.Join(",", entries.Select(e => e.Raw)) + "]"));
        }

        /// <summary>Removes the environment variables named (without <c>=</c>); the other entries keep their text.</summary>
        public ImageConfig WithoutEnvironment(IEnumerable<string> names)
        {
            var drop = new HashSet<string>((names ?? throw new ArgumentNullException(nameof(names))).Select(n => n + "="), StringComparer.Ordinal);
            var entries = ExistingArray(new[] { "config", "Env" });
            int before = entries.Count;
            entries.RemoveAll(e => e.Value != null && drop.Any(d => e.Value.StartsWith(d, StringComparison.Ordinal)));
            if (entries.Count == before) return this;
            return Edit(SetValue(_raw, new[] { "config", "Env" }, "[" + string.Join(",", entries.Select(e => e.Raw)) + "]"));
        }

        /// <summary>Sets labels: a label the config has gets the new value in its place, a new one is appended. Other labels keep their text.</summary>
        public ImageConfig WithLabels(IEnumerable<KeyValuePair<string, string>> labels)
        {
            if (labels == null) throw new ArgumentNullException(nameof(labels));
            var raw = _raw;
            foreach (var kv in labels)
            {
                if (string.IsNullOrEmpty(kv.Key)) throw new ArgumentException("A label has an empty name.", nameof(labels));
                if (kv.Value == null) throw new ArgumentException($"Label '{kv.Key}' has no value.", nameof(labels));
                raw = SetValue(raw, new[] { "config", "Labels", kv.Key }, Quote(kv.Value));
            }
            return Edit(raw);
        }

        /// <summary>Removes the labels named; a name the config does not have is ignored.</summary>
        public ImageConfig WithoutLabels(IEnumerable<string> names)
        {
            if (names == null) throw new ArgumentNullException(nameof(names));
            var raw = _raw;
            foreach (var n in names) raw = Remove(raw, new[] { "config", "Labels", n ?? throw new ArgumentException("A label name is null.", nameof(names)) });
            return Edit(raw);
        }

        /// <summary>Sets <c>config.Entrypoint</c>; null removes it (an image then runs its command alone).</summary>
        public ImageConfig WithEntrypoint(IEnumerable<string>? entrypoint) => Edit(SetOrRemove(_raw, new[] { "config", "Entrypoint" }, StringArray(entrypoint, nameof(entrypoint))));

        /// <summary>Sets <c>config.Cmd</c>; null removes it.</summary>
        public ImageConfig WithCommand(IEnumerable<string>? command) => Edit(SetOrRemove(_raw, new[] { "config", "Cmd" }, StringArray(command, nameof(command))));

        /// <summary>Sets <c>config.WorkingDir</c>; null removes it.</summary>
        public ImageConfig WithWorkingDirectory(string? directory) => Edit(SetOrRemove(_raw, new[] { "config", "WorkingDir" }, directory == null ? null : Quote(directory)));

        /// <summary>Sets <c>config.User</c> (<c>user</c>, <c>uid</c>, <c>user:group</c> or <c>uid:gid</c>); null removes it.</summary>
        public ImageConfig WithUser(string? user) => Edit(SetOrRemove(_raw, new[] { "config", "User" }, user == null ? null : Quote(user)));

        /// <summary>Sets <c>config.StopSignal</c>, such as <c>SIGTERM</c>; null removes it.</summary>
        public ImageConfig WithStopSignal(string? signal) => Edit(SetOrRemove(_raw, new[] { "config", "StopSignal" }, signal == null ? null : Quote(signal)));

        /// <summary>The config's exact bytes as UTF-8 text.</summary>
        public override string ToString() => Encoding.UTF8.GetString(_raw);

        private ImageConfig Edit(byte[] raw) => ReferenceEquals(raw, _raw) ? this : Parse(raw);

        private static List<string> CheckVariables(IEnumerable<string> variables)
        {
            if (variables == null) throw new ArgumentNullException(nameof(variables));
            var list = variables.ToList();
            foreach (var e in list)
                if (string.IsNullOrEmpty(e) || e.IndexOf('=') <= 0) throw new ArgumentException($"Environment entry '{e}' is not NAME=value.", nameof(variables));
            return list;
        }

        /// <summary>The elements of an array of strings at <paramref name="path"/>, each with its original text; empty when there is none.</summary>
        private List<(string Raw, string? Value)> ExistingArray(string[] path)
        {
            var list = new List<(string, string?)>();
            if (Locate(_raw, path) is Located s && s.Kind == JsonTokenType.StartArray)
            {
                foreach (var e in s.Children)
                {
                    var text = Encoding.UTF8.GetString(_raw, e.ValueStart, e.ValueEnd - e.ValueStart);
                    using var doc = JsonDocument.Parse(text);
                    list.Add((text, doc.RootElement.ValueKind == JsonValueKind.String ? doc.RootElement.GetString() : null));
                }
            }
            return list;
        }

        private static string? StringArray(IEnumerable<string>? values, string parameter)
        {
            if (values == null) return null;
            var list = values.ToList();
            if (list.Any(v => v == null)) throw new ArgumentException("An argument is null.", parameter);
            return "[" + string.Join(",", list.Select(Quote)) + "]";
        }

        internal static string Quote(string value) => JsonSerializer.Serialize(value, TextJson);

        /// <summary>RFC 3339 in UTC, with fractions of a second only when there are any (as Go's time.Time writes it).</summary>
        internal static string FormatTime(DateTimeOffset time) =>
            time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFF'Z'", CultureInfo.InvariantCulture).Replace(".Z", "Z");

        // ---- reading ----

        private static JsonElement? Property(JsonElement obj, string name) => obj.TryGetProperty(name, out var v) ? v : (JsonElement?)null;

        private static string? Text(JsonElement obj, string name, string what)
        {
            if (!(Property(obj, name) is JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.String) throw new InvalidDataException($"The image config's {what} is {Kind(v)}, not a string.");
            return v.GetString();
        }

        private static DateTimeOffset? Time(JsonElement obj, string name, string what)
        {
            var text = Text(obj, name, what);
            if (text == null) return null;
            if (!DateTimeOffset.TryParse(TruncateFraction(text), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
                throw new InvalidDataException($"The image config's {what} is '{text}', not an RFC 3339 time.");
            return time;
        }

        /// <summary>
        /// Go writes up to nanoseconds (9 digits), finer than .NET's 100 ns ticks: the digits past the 7th are dropped, so every
        /// runtime reads the same time (some would round, some refuse).
        /// </summary>
        private static string TruncateFraction(string text)
        {
            int dot = text.IndexOf('.');
            if (dot < 0) return text;
            int end = dot + 1;
            while (end < text.Length && text[end] >= '0' && text[end] <= '9') end++;
            return end - dot - 1 <= 7 ? text : text.Substring(0, dot + 8) + text.Substring(end);
        }

        private static JsonElement? Object(JsonElement obj, string name, string what)
        {
            if (!(Property(obj, name) is JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"The image config's {what} is {Kind(v)}, not an object.");
            return v;
        }

        private static IReadOnlyList<string>? Strings(JsonElement obj, string name, string what)
        {
            if (!(Property(obj, name) is JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"The image config's {what} is {Kind(v)}, not an array.");
            var list = new List<string>();
            foreach (var e in v.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.String) throw new InvalidDataException($"The image config's {what} has {Kind(e)} where a string belongs.");
                list.Add(e.GetString()!);
            }
            return list.AsReadOnly();
        }

        private static IReadOnlyList<string> Keys(JsonElement obj, string name, string what) =>
            Object(obj, name, what) is JsonElement o ? o.EnumerateObject().Select(p => p.Name).ToList().AsReadOnly() : (IReadOnlyList<string>)Array.Empty<string>();

        private static void CheckUnique(JsonElement obj, string what)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in obj.EnumerateObject())
                if (!seen.Add(p.Name)) throw new InvalidDataException($"The {what} has the property '{p.Name}' twice; which one counts would depend on the reader.");
        }

        private static string Kind(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Null => "null",
            _ => "undefined",
        };

        // ---- splicing: edits replace byte ranges of the original, so everything else keeps its bytes ----

        /// <summary>Where a value is in the bytes; for an object, its properties; for an array, its elements (Name null).</summary>
        private sealed class Located
        {
            public JsonTokenType Kind;
            public int Start;
            public int End;
            public List<Child> Children = new List<Child>();
        }

        private struct Child
        {
            public string? Name;
            public int NameStart;
            public int ValueStart;
            public int ValueEnd;
        }

        /// <summary>The value at <paramref name="path"/> (property names from the root); null when a step is missing or not an object.</summary>
        private static Located? Locate(byte[] raw, IReadOnlyList<string> path)
        {
            var reader = new Utf8JsonReader(raw, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            reader.Read();
            foreach (var name in path)
            {
                if (reader.TokenType != JsonTokenType.StartObject) return null;
                bool found = false;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    bool match = reader.ValueTextEquals(name);
                    reader.Read();
                    if (match)
                    {
                        found = true;
                        break;
                    }
                    reader.Skip();
                }
                if (!found) return null;
            }
            var span = new Located { Kind = reader.TokenType, Start = (int)reader.TokenStartIndex };
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var child = new Child { Name = reader.GetString(), NameStart = (int)reader.TokenStartIndex };
                    reader.Read();
                    child.ValueStart = (int)reader.TokenStartIndex;
                    reader.Skip();
                    child.ValueEnd = (int)reader.BytesConsumed;
                    span.Children.Add(child);
                }
            }
            else if (reader.TokenType == JsonTokenType.StartArray)
            {
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var child = new Child { ValueStart = (int)reader.TokenStartIndex };
                    reader.Skip();
                    child.ValueEnd = (int)reader.BytesConsumed;
                    span.Children.Add(child);
                }
            }
            span.End = (int)reader.BytesConsumed;
            return span;
        }

        private static byte[] Splice(byte[] raw, int start, int end, string text)
        {
            var insert = Encoding.UTF8.GetBytes(text);
            var result = new byte[raw.Length - (end - start) + insert.Length];
            Buffer.BlockCopy(raw, 0, result, 0, start);
            Buffer.BlockCopy(insert, 0, result, start, insert.Length);
            Buffer.BlockCopy(raw, end, result, start + insert.Length, raw.Length - end);
            return result;
        }

        private static byte[] SetOrRemove(byte[] raw, string[] path, string? value) => value == null ? Remove(raw, path) : SetValue(raw, path, value);

        /// <summary>Sets the value at <paramref name="path"/> to the JSON text <paramref name="value"/>, making missing (or null) parent objects.</summary>
        private static byte[] SetValue(byte[] raw, string[] path, string value)
        {
            var parentPath = path.Take(path.Length - 1).ToArray();
            var name = path[path.Length - 1];
            var parent = Locate(raw, parentPath);
            if (parent == null || parent.Kind != JsonTokenType.StartObject)
            {
                if (parentPath.Length == 0) throw new InvalidOperationException("The image config's root is not an object.");
                return SetValue(raw, parentPath, "{" + Quote(name) + ":" + value + "}");
            }
            int at = parent.Children.FindLastIndex(c => c.Name == name);
            if (at >= 0)
            {
                var child = parent.Children[at];
                if (Encoding.UTF8.GetString(raw, child.ValueStart, child.ValueEnd - child.ValueStart) == value) return raw;
                return Splice(raw, child.ValueStart, child.ValueEnd, value);
            }
            var text = Quote(name) + ":" + value;
            return parent.Children.Count == 0
                ? Splice(raw, parent.Start + 1, parent.Start + 1, text)
                : Splice(raw, parent.Children[parent.Children.Count - 1].ValueEnd, parent.Children[parent.Children.Count - 1].ValueEnd, "," + text);
        }

        /// <summary>Removes the property at <paramref name="path"/> with the separator before (or after) it; unchanged when there is none.</summary>
        private static byte[] Remove(byte[] raw, string[] path)
        {
            var parent = Locate(raw, path.Take(path.Length - 1).ToArray());
            if (parent == null || parent.Kind != JsonTokenType.StartObject) return raw;
            int at = parent.Children.FindLastIndex(c => c.Name == path[path.Length - 1]);
            if (at < 0) return raw;
            var child = parent.Children[at];
            if (at > 0) return Splice(raw, parent.Children[at - 1].ValueEnd, child.ValueEnd, string.Empty);
            if (parent.Children.Count > 1) return Splice(raw, child.NameStart, parent.Children[1].NameStart, string.Empty);
            return Splice(raw, parent.Start + 1, parent.End - 1, string.Empty);
        }

        /// <summary>Appends JSON texts to the array at <paramref name="path"/>, making it when it is missing or null.</summary>
        private static byte[] Append(byte[] raw, string[] path, IReadOnlyList<string> values)
        {
            var array = Locate(raw, path);
            if (array == null || array.Kind == JsonTokenType.Null) return SetValue(raw, path, "[" + string.Join(",", values) + "]");
            if (array.Kind != JsonTokenType.StartArray) throw new InvalidOperationException($"The image config's {string.Join(".", path)} is not an array.");
            var joined = string.Join(",", values);
            return array.Children.Count == 0
                ? Splice(raw, array.Start + 1, array.Start + 1, joined)
                : Splice(raw, array.Children[array.Children.Count - 1].ValueEnd, array.Children[array.Children.Count - 1].ValueEnd, "," + joined);
        }
    }
}
