using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MobyDistribution.Registry;
using MobyDistribution.TestBed;

namespace MobyDistribution.Core.Tests
{
    /// <summary>Temporary folders, tars read and made with System.Formats.Tar (an independent codec), and skopeo read-backs.</summary>
    internal static class Archives
    {
        /// <summary>A new temporary folder, deleted when disposed.</summary>
        public sealed class TempDir : IDisposable
        {
            public TempDir() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "moby-archive-test-" + Guid.NewGuid().ToString("N").Substring(0, 10)));
            public string Path { get; }
            public string File(string name) => System.IO.Path.Combine(Path, name);
            public void Dispose()
            {
                try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }

        /// <summary>Every entry of a tar file, read by System.Formats.Tar: name → (entry type, link target, data).</summary>
        public static Dictionary<string, (TarEntryType Type, string Link, byte[] Data, System.Formats.Tar.TarEntry Entry)> ReadTar(Stream stream)
        {
            var result = new Dictionary<string, (TarEntryType, string, byte[], System.Formats.Tar.TarEntry)>(StringComparer.Ordinal);
            using var reader = new TarReader(stream, leaveOpen: true);
            System.Formats.Tar.TarEntry? e;
            while ((e = reader.GetNextEntry()) != null)
            {
                byte[] data = Array.Empty<byte>();
                if (e.DataStream != null)
                {
                    using var ms = new MemoryStream();
                    e.DataStream.CopyTo(ms);
                    data = ms.ToArray();
                }
                result[e.Name] = (e.EntryType, e.LinkName, data, e);
            }
            return result;
        }

        public static Dictionary<string, (TarEntryType Type, string Link, byte[] Data, System.Formats.Tar.TarEntry Entry)> ReadTar(string path)
        {
            using var f = File.OpenRead(path);
            return ReadTar(f);
        }

        /// <summary>The entry names of a tar in order.</summary>
        public static List<string> EntryNames(string path)
        {
            using var f = File.OpenRead(path);
            using var reader = new TarReader(f);
            var names = new List<string>();
            System.Formats.Tar.TarEntry? e;
            while ((e = reader.GetNextEntry(copyData: false)) != null) names.Add(e.Name);
            return names;
        }

        /// <summary>
        /// Copies a tar, replacing entries by name (null data removes one) and appending extra entries.
        /// </summary>
        public static void Rewrite(string source, string destination, Func<string, byte[], byte[]?>? replace = null, IEnumerable<System.Formats.Tar.TarEntry>? extra = null)
        {
            using var input = File.OpenRead(source);
            using var output = File.Create(destination);
            using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
            using (var reader = new TarReader(input))
            {
                System.Formats.Tar.TarEntry? e;
                while ((e = reader.GetNextEntry(copyData: true)) != null)
                {
                    if (replace != null && e.EntryType == TarEntryType.RegularFile)
                    {
                        using var ms = new MemoryStream();
                        e.DataStream?.CopyTo(ms);
                        var data = replace(e.Name, ms.ToArray());
                        if (data == null) continue;
                        writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, e.Name) { DataStream = new MemoryStream(data) });
                        continue;
                    }
                    writer.WriteEntry(e);
                }
                if (extra != null) foreach (var x in extra) writer.WriteEntry(x);
            }
        }

        /// <summary>A pax regular file entry.</summary>
        public static System.Formats.Tar.TarEntry File_(string name, string content) =>
            new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };

        /// <summary>What skopeo made of an archive: copies it to an OCI layout and returns manifest and config.</summary>
        public static (JsonObject Manifest, byte[] Config, string Dir) SkopeoToOci(string sourceReference, TempDir temp)
        {
            var dir = temp.File("oci-" + Guid.NewGuid().ToString("N").Substring(0, 6));
            Skopeo.Copy(sourceReference, "oci:" + dir + ":x");
            return ReadOciLayout(dir, "x");
        }

        public static (JsonObject Manifest, byte[] Config, string Dir) ReadOciLayout(string dir, string refName)
        {
            var index = JsonNode.Parse(File.ReadAllBytes(Path.Combine(dir, "index.json")))!.AsObject();
            var desc = index["manifests"]!.AsArray().First(m => m!["annotations"]?["org.opencontainers.image.ref.name"]?.GetValue<string>() == refName)!;
            var manifestBytes = Blob(dir, desc["digest"]!.GetValue<string>());
            var manifest = JsonNode.Parse(manifestBytes)!.AsObject();
            var config = Blob(dir, manifest["config"]!["digest"]!.GetValue<string>());
            return (manifest, config, dir);
        }

        /// <summary>The digest of the config skopeo reads from a docker archive, unconverted.</summary>
        public static string SkopeoArchiveConfigDigest(string archive, string repoTag) =>
            Reg.Sha256(Skopeo.Run("inspect", "--config", "--raw", $"docker-archive:{archive}:{repoTag}").StandardOutputBytes);

        public static byte[] Blob(string layoutDir, string digest) => File.ReadAllBytes(Path.Combine(layoutDir, "blobs", "sha256", digest.Substring(7)));

        public static string[] DiffIds(byte[] config) =>
            JsonNode.Parse(config)!["rootfs"]!["diff_ids"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray();

        /// <summary>The uncompressed bytes of a gzip (or plain) blob.</summary>
        public static byte[] Uncompressed(byte[] blob)
        {
            if (blob.Length < 2 || blob[0] != 0x1f || blob[1] != 0x8b) return blob;
            using var gz = new GZipStream(new MemoryStream(blob), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            gz.CopyTo(ms);
            return ms.ToArray();
        }

        /// <summary>True when the repository has no tags (or does not exist).</summary>
        public static bool HasNoTags(RegistryClient client, string repository)
        {
            try
            {
                var tags = client.Tags.ListAsync(repository).GetAwaiter().GetResult();
                return tags.Count == 0;
            }
            catch (Errors.RegistryException e) when (e.Kind == Errors.RegistryErrorKind.NotFound)
            {
                return true;
            }
        }
    }
}
