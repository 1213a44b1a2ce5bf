using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace MobyDistribution.TestBed
{
    public sealed class FixtureOptions
    {
        /// <summary>Where to write the OCI layout. Null: a new temp dir, deleted when the FixtureImage is disposed.</summary>
        public string? OutputDirectory { get; set; }
        /// <summary>The <c>org.opencontainers.image.ref.name</c> annotation in index.json.</summary>
        public string RefName { get; set; } = "latest";
        public int LayerCount { get; set; } = 2;
        public int FilesPerLayer { get; set; } = 3;
        /// <summary>Size of each file in a layer (bytes); half of each file is random, half repeats (so gzip has work).</summary>
        public int FileSize { get; set; } = 4096;
        public long Seed { get; set; } = 1;
        /// <summary>Build an image index of linux/amd64 and linux/arm64/v8 instead of a single image.</summary>
        public bool MultiPlatform { get; set; }
        /// <summary>When &gt; 0: the image has one layer, a tar holding one file of this many random bytes.</summary>
        public long LargeLayerSize { get; set; }
        /// <summary>gzip the layers (media type tar+gzip); otherwise plain tar layers.</summary>
        public bool Compress { get; set; } = true;
    }

    public sealed class FixtureLayer
    {
        public string MediaType { get; init; } = "";
        public string Digest { get; init; } = "";
        public long Size { get; init; }
        /// <summary>sha256 of the uncompressed tar (the config's rootfs.diff_ids entry).</summary>
        public string DiffId { get; init; } = "";
        public long UncompressedSize { get; init; }
        public string BlobPath { get; init; } = "";
        public override string ToString() => $"{Digest} ({Size} bytes)";
    }

    public sealed class FixtureManifest
    {
        public string MediaType { get; init; } = "";
        public string Digest { get; init; } = "";
        public long Size { get; init; }
        public string Os { get; init; } = "linux";
        public string Architecture { get; init; } = "amd64";
        public string? Variant { get; init; }
        public string Platform => Variant == null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
        public string ConfigMediaType { get; init; } = "";
        public string ConfigDigest { get; init; } = "";
        public long ConfigSize { get; init; }
        public FixtureLayer[] Layers { get; init; } = Array.Empty<FixtureLayer>();
        public string[] DiffIds => Layers.Select(l => l.DiffId).ToArray();
        public override string ToString() => $"{Platform} {Digest}";
    }

    /// <summary>
    /// An OCI image layout on disk (oci-layout, index.json, blobs/sha256/...) made of seeded random content, and
    /// the description of what was written. Build with <see cref="Build(FixtureOptions)"/> or the shortcuts.
    /// </summary>
    public sealed class FixtureImage : IDisposable
    {
        public const string OciManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
        public const string OciIndexMediaType = "application/vnd.oci.image.index.v1+json";
        public const string OciConfigMediaType = "application/vnd.oci.image.config.v1+json";
        public const string OciLayerGzipMediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
        public const string OciLayerTarMediaType = "application/vnd.oci.image.layer.v1.tar";
        public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

        private static readonly DateTimeOffset FixedTime = new(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);
        private readonly string? _tempDirectory;

        private FixtureImage(string layoutPath, string? tempDirectory)
        {
            LayoutPath = layoutPath;
            _tempDirectory = tempDirectory;
        }

        public string LayoutPath { get; }
        public string RefName { get; private set; } = "";
        public bool IsIndex { get; private set; }
        /// <summary>The digest index.json points at: the index digest for a multi-platform fixture, else the manifest's.</summary>
        public string Digest { get; private set; } = "";
        public string MediaType { get; private set; } = "";
        public long Size { get; private set; }
        /// <summary>The index digest (multi-platform) or null.</summary>
        public string? IndexDigest => IsIndex ? Digest : null;
        /// <summary>One entry per platform (one for a single image).</summary>
        public FixtureManifest[] Manifests { get; private set; } = Array.Empty<FixtureManifest>();

        /// <summary>The first (or only) image manifest's digest.</summary>
        public string ManifestDigest => Manifests[0].Digest;
        public string ConfigDigest => Manifests[0].ConfigDigest;
        public FixtureLayer[] Layers => Manifests[0].Layers;
        public string[] DiffIds => Manifests[0].DiffIds;
        public string[] ManifestDigests => Manifests.Select(m => m.Digest).ToArray();
        /// <summary>"oci:LAYOUT:REF" for skopeo.</summary>
        public string OciReference => $"oci:{LayoutPath}:{RefName}";

        public string BlobPath(string digest)
        {
            if (!digest.StartsWith("sha256:", StringComparison.Ordinal) || digest.Length != 71)
                throw new ArgumentException("Not a sha256 digest: " + digest);
            return Path.Combine(LayoutPath, "blobs", "sha256", digest.Substring(7));
        }

        public byte[] ReadBlob(string digest) => File.ReadAllBytes(BlobPath(digest));

        public static FixtureImage Create(int layerCount = 2, long seed = 1) =>
            Build(new FixtureOptions { LayerCount = layerCount, Seed = seed });

        public static FixtureImage CreateIndex(int layerCount = 2, long seed = 1) =>
            Build(new FixtureOptions { LayerCount = layerCount, Seed = seed, MultiPlatform = true });

        public static FixtureImage CreateLargeLayer(long size, long seed = 1) =>
            Build(new FixtureOptions { LargeLayerSize = size, Seed = seed });

        public static FixtureImage Build(FixtureOptions options)
        {
            if (options == null) throw new ArgumentNullException(nameof(options));
            if (options.LayerCount < 0 || options.FilesPerLayer < 1 || options.FileSize < 0)
                throw new ArgumentException("Invalid layer options.");
            // A temp layout lives in a subdirectory, beside the test bed's owner marker.
            string? temp = options.OutputDirectory == null ? Util.CreateTempDirectory("moby-testbed-fixture") : null;
            string dir = options.OutputDirectory ?? Path.Combine(temp!, "layout");
            Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256"));
            var image = new FixtureImage(dir, temp) { RefName = options.RefName };
            try
            {
                image.Write(options);
            }
            catch
            {
                image.Dispose();
                throw;
            }
            return image;
        }

        private void Write(FixtureOptions options)
        {
            var platforms = options.MultiPlatform
                ? new[] { ("linux", "amd64", (string?)null), ("linux", "arm64", (string?)"v8") }
                : new[] { ("linux", "amd64", (string?)null) };

            var manifests = new List<FixtureManifest>();
            for (int p = 0; p < platforms.Length; p++)
            {
                var (os, arch, variant) = platforms[p];
                long seed = options.Seed * 1000003 + p * 7919;
                manifests.Add(WriteImage(options, seed, os, arch, variant));
            }
            Manifests = manifests.ToArray();

            string topMediaType, topDigest;
            long topSize;
            if (options.MultiPlatform)
            {
                byte[] index = Util.JsonObject(w =>
                {
                    w.WriteNumber("schemaVersion", 2);
                    w.WriteString("mediaType", OciIndexMediaType);
                    w.WriteStartArray("manifests");
                    foreach (var m in Manifests)
                    {
                        w.WriteStartObject();
                        w.WriteString("mediaType", m.MediaType);
                        w.WriteString("digest", m.Digest);
                        w.WriteNumber("size", m.Size);
                        w.WriteStartObject("platform");
                        w.WriteString("architecture", m.Architecture);
                        w.WriteString("os", m.Os);
                        if (m.Variant != null) w.WriteString("variant", m.Variant);
                        w.WriteEndObject();
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                });
                topDigest = WriteBlob(index);
                topMediaType = OciIndexMediaType;
                topSize = index.Length;
                IsIndex = true;
            }
            else
            {
                topDigest = Manifests[0].Digest;
                topMediaType = Manifests[0].MediaType;
                topSize = Manifests[0].Size;
            }
            Digest = topDigest;
            MediaType = topMediaType;
            Size = topSize;

            File.WriteAllText(Path.Combine(LayoutPath, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
            // index.json of the layout: keep entries other builders put there (several fixtures may share a layout).
            var entries = new List<JsonElement>();
            string indexPath = Path.Combine(LayoutPath, "index.json");
            if (File.Exists(indexPath))
            {
                using var existing = JsonDocument.Parse(File.ReadAllBytes(indexPath));
                if (existing.RootElement.TryGetProperty("manifests", out var list))
                    foreach (var e in list.EnumerateArray())
                    {
                        bool sameRef = e.TryGetProperty("annotations", out var ann) &&
                                       ann.TryGetProperty(RefNameAnnotation, out var rn) && rn.GetString() == RefName;
                        if (!sameRef) entries.Add(e.Clone());
                    }
            }
            byte[] layoutIndex = Util.JsonObject(w =>
            {
                w.WriteNumber("schemaVersion", 2);
                w.WriteString("mediaType", OciIndexMediaType);
                w.WriteStartArray("manifests");
                foreach (var e in entries) e.WriteTo(w);
                w.WriteStartObject();
                w.WriteString("mediaType", topMediaType);
                w.WriteString("digest", topDigest);
                w.WriteNumber("size", topSize);
                w.WriteStartObject("annotations");
                w.WriteString(RefNameAnnotation, RefName);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
            });
            File.WriteAllBytes(indexPath, layoutIndex);
        }

        private FixtureManifest WriteImage(FixtureOptions options, long seed, string os, string arch, string? variant)
        {
            var layers = new List<FixtureLayer>();
            if (options.LargeLayerSize > 0)
            {
                layers.Add(WriteLayer(options, seed, 0, large: true));
            }
            else
            {
                for (int i = 0; i < options.LayerCount; i++) layers.Add(WriteLayer(options, seed, i, large: false));
            }

            byte[] config = Util.JsonObject(w =>
            {
                w.WriteString("created", FixedTime.ToString("yyyy-MM-ddTHH:mm:ssZ"));
                w.WriteString("architecture", arch);
                w.WriteString("os", os);
                if (variant != null) w.WriteString("variant", variant);
                w.WriteStartObject("config");
                w.WriteStartArray("Env");
                w.WriteStringValue("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
                w.WriteEndArray();
                w.WriteStartArray("Cmd");
                w.WriteStringValue("/bin/sh");
                w.WriteEndArray();
                w.WriteStartObject("Labels");
                w.WriteString("org.opencontainers.image.title", "moby-testbed-fixture");
                w.WriteString("moby.testbed.seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteStartObject("rootfs");
                w.WriteString("type", "layers");
                w.WriteStartArray("diff_ids");
                foreach (var l in layers) w.WriteStringValue(l.DiffId);
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteStartArray("history");
                for (int i = 0; i < layers.Count; i++)
                {
                    w.WriteStartObject();
                    w.WriteString("created", FixedTime.AddMinutes(i).ToString("yyyy-MM-ddTHH:mm:ssZ"));
                    w.WriteString("created_by", $"moby-testbed: layer {i} (seed {seed})");
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
            string configDigest = WriteBlob(config);

            byte[] manifest = Util.JsonObject(w =>
            {
                w.WriteNumber("schemaVersion", 2);
                w.WriteString("mediaType", OciManifestMediaType);
                w.WriteStartObject("config");
                w.WriteString("mediaType", OciConfigMediaType);
                w.WriteString("digest", configDigest);
                w.WriteNumber("size", config.Length);
                w.WriteEndObject();
                w.WriteStartArray("layers");
                foreach (var l in layers)
                {
                    w.WriteStartObject();
                    w.WriteString("mediaType", l.MediaType);
                    w.WriteString("digest", l.Digest);
                    w.WriteNumber("size", l.Size);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
            string manifestDigest = WriteBlob(manifest);

            return new FixtureManifest
            {
                MediaType = OciManifestMediaType,
                Digest = manifestDigest,
                Size = manifest.Length,
                Os = os,
                Architecture = arch,
                Variant = variant,
                ConfigMediaType = OciConfigMediaType,
                ConfigDigest = configDigest,
                ConfigSize = config.Length,
                Layers = layers.ToArray(),
            };
        }

        private FixtureLayer WriteLayer(FixtureOptions options, long imageSeed, int index, bool large)
        {
            string tmp = Path.Combine(LayoutPath, "blobs", "sha256", ".tmp-" + Guid.NewGuid().ToString("N"));
            string diffId, digest;
            long size, uncompressedSize;
            var random = new SeededRandom(imageSeed * 31 + index);
            using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                using var compressedHash = new HashingWriteStream(file, leaveOpen: true);
                Stream? gzip = options.Compress
                    ? new GZipStream(compressedHash, large ? CompressionLevel.NoCompression : CompressionLevel.Optimal, leaveOpen: true)
                    : null;
                using (var tarHash = new HashingWriteStream(gzip ?? (Stream)compressedHash, leaveOpen: true))
                {
                    using (var tar = new TarWriter(tarHash, TarEntryFormat.Ustar, leaveOpen: true))
                    {
                        string dirName = $"layer{index}/";
                        tar.WriteEntry(new UstarTarEntry(TarEntryType.Directory, dirName)
                        {
                            Mode = (UnixFileMode)Convert.ToInt32("755", 8),
                            ModificationTime = FixedTime,
                            Uid = 0, Gid = 0, UserName = "root", GroupName = "root",
                        });
                        if (large)
                        {
                            var entryFormat = options.LargeLayerSize >= 8L * 1024 * 1024 * 1024 - 1 ? TarEntryFormat.Gnu : TarEntryFormat.Ustar;
                            using var data = new SeededRandomStream(imageSeed * 31 + index + 17, options.LargeLayerSize);
                            TarEntry entry = entryFormat == TarEntryFormat.Gnu
                                ? new GnuTarEntry(TarEntryType.RegularFile, dirName + "large.bin")
                                : new UstarTarEntry(TarEntryType.RegularFile, dirName + "large.bin");
                            entry.Mode = (UnixFileMode)Convert.ToInt32("644", 8);
                            entry.ModificationTime = FixedTime;
                            entry.DataStream = data;
                            if (entry is PosixTarEntry posix) { posix.UserName = "root"; posix.GroupName = "root"; }
                            tar.WriteEntry(entry);
                        }
                        else
                        {
                            for (int f = 0; f < options.FilesPerLayer; f++)
                            {
                                var content = new byte[options.FileSize];
                                int randomPart = content.Length / 2;
                                random.Fill(content.AsSpan(0, randomPart));
                                for (int k = randomPart; k < content.Length; k++) content[k] = (byte)('a' + (k % 26));
                                tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, $"{dirName}file-{f}.bin")
                                {
                                    Mode = (UnixFileMode)Convert.ToInt32("644", 8),
                                    ModificationTime = FixedTime,
                                    Uid = 0, Gid = 0, UserName = "root", GroupName = "root",
                                    DataStream = new MemoryStream(content, writable: false),
                                });
                            }
                            var text = Encoding.UTF8.GetBytes($"moby-testbed layer {index} seed {imageSeed}\n");
                            tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, $"{dirName}README.txt")
                            {
                                Mode = (UnixFileMode)Convert.ToInt32("644", 8),
                                ModificationTime = FixedTime,
                                Uid = 0, Gid = 0, UserName = "root", GroupName = "root",
                                DataStream = new MemoryStream(text, writable: false),
                            });
                        }
                    }
                    tarHash.Flush();
                    diffId = tarHash.Digest();
                    uncompressedSize = tarHash.BytesWritten;
                }
                gzip?.Dispose();
                compressedHash.Flush();
                digest = compressedHash.Digest();
                size = compressedHash.BytesWritten;
            }
            string final = Path.Combine(LayoutPath, "blobs", "sha256", digest.Substring(7));
            if (File.Exists(final)) File.Delete(tmp);
            else File.Move(tmp, final);
            return new FixtureLayer
            {
                MediaType = options.Compress ? OciLayerGzipMediaType : OciLayerTarMediaType,
                Digest = digest,
                Size = size,
                DiffId = diffId,
                UncompressedSize = uncompressedSize,
                BlobPath = final,
            };
        }

        private string WriteBlob(byte[] data)
        {
            string digest = Util.Sha256Digest(data);
            string path = Path.Combine(LayoutPath, "blobs", "sha256", digest.Substring(7));
            if (!File.Exists(path)) File.WriteAllBytes(path, data);
            return digest;
        }

        public void Dispose()
        {
            if (_tempDirectory != null) Util.TryDeleteDirectory(_tempDirectory);
        }

        public override string ToString() => $"{(IsIndex ? "index" : "image")} {Digest} at {LayoutPath}:{RefName}";
    }
}
