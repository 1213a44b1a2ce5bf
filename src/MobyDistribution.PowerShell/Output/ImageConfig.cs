using System;
using System.Collections.Generic;
using System.Linq;
using MobyDistribution.Manifests;
using MobyDistribution.Operations;

// In the root namespace so that its type name is MobyDistribution.ImageConfig, the name scripts and views use.
namespace MobyDistribution
{
    /// <summary>
    /// An image's config as Get-ImageConfig writes it: one per image (per platform of an index), with the tag it was read by.
    /// </summary>
    /// <remarks>
    /// <see cref="Reference"/> is the image's tag reference (its digest reference when read by digest), so a config binds by
    /// property name to the cmdlets that take a reference: Remove-RegistryTag, Copy-RegistryImage, Get-ImageManifest.
    /// </remarks>
    public sealed class ImageConfig
    {
        /// <summary>Makes the record of a config read from a registry.</summary>
        public ImageConfig(ImageConfigRead read)
        {
            if (read == null) throw new ArgumentNullException(nameof(read));
            var config = read.Config;
            // Named without tag or digest, the image is latest's: say so, so that the reference binds to Remove-RegistryTag.
            var reference = read.Reference.Tag == null && read.Reference.Digest is null ? read.Reference.WithTag("latest") : read.Reference;
            Reference = reference.Tag != null ? reference.WithDigest(null) : reference;
            Tag = reference.Tag;
            ManifestDigest = read.Manifest.Digest;
            Digest = config.Digest;
            Platform = read.Platform;
            Created = config.Created;
            Author = config.Author;
            Architecture = config.Architecture;
            OS = config.OS;
            Variant = config.Variant;
            OSVersion = config.OSVersion;
            Environment = config.Environment.ToArray();
            Entrypoint = config.Entrypoint?.ToArray();
            Command = config.Command?.ToArray();
            WorkingDirectory = config.WorkingDirectory;
            User = config.User;
            Labels = new Dictionary<string, string>(config.Labels.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal);
            ExposedPorts = config.ExposedPorts.ToArray();
            Volumes = config.Volumes.ToArray();
            StopSignal = config.StopSignal;
            History = config.History.ToArray();
            DiffIds = config.DiffIds.ToArray();
            Raw = config.ToString();
            Config = config;
        }

        /// <summary>The image: registry/repository:tag (registry/repository@digest when it was read by digest). For an index's images, the index's tag.</summary>
        public ImageReference Reference { get; }

        /// <summary>The tag the image was read by; null when read by digest.</summary>
        public string? Tag { get; }

        /// <summary>The digest of the image manifest the config belongs to (for an index, the platform's image, not the index).</summary>
        public Digest ManifestDigest { get; }

        /// <summary>The config's digest (docker's image ID).</summary>
        public Digest Digest { get; }

        /// <summary>The image's platform: the index entry's, else the one the config records.</summary>
        public Platform Platform { get; }

        /// <summary>When the image was made (<c>created</c>); null when the config has no time.</summary>
        public DateTimeOffset? Created { get; }

        /// <summary><c>author</c>.</summary>
        public string? Author { get; }

        /// <summary><c>architecture</c>.</summary>
        public string? Architecture { get; }

        /// <summary><c>os</c>.</summary>
        public string? OS { get; }

        /// <summary><c>variant</c>.</summary>
        public string? Variant { get; }

        /// <summary><c>os.version</c>.</summary>
        public string? OSVersion { get; }

        /// <summary><c>config.Env</c>, as NAME=value entries.</summary>
        public string[] Environment { get; }

        /// <summary><c>config.Entrypoint</c>; null when none is set.</summary>
        public string[]? Entrypoint { get; }

        /// <summary><c>config.Cmd</c>; null when none is set.</summary>
        public string[]? Command { get; }

        /// <summary><c>config.WorkingDir</c>.</summary>
        public string? WorkingDirectory { get; }

        /// <summary><c>config.User</c>.</summary>
        public string? User { get; }

        /// <summary><c>config.Labels</c> (names compared exactly, as the registry does).</summary>
        public IDictionary<string, string> Labels { get; }

        /// <summary>The keys of <c>config.ExposedPorts</c>, such as 80/tcp.</summary>
        public string[] ExposedPorts { get; }

        /// <summary>The keys of <c>config.Volumes</c>.</summary>
        public string[] Volumes { get; }

        /// <summary><c>config.StopSignal</c>.</summary>
        public string? StopSignal { get; }

        /// <summary><c>history</c>, oldest first.</summary>
        public ImageHistoryEntry[] History { get; }

        /// <summary><c>rootfs.diff_ids</c>, bottom layer first.</summary>
        public Digest[] DiffIds { get; }

        /// <summary>The config's exact bytes as text (UTF-8).</summary>
        public string Raw { get; }

        /// <summary>The config as Core's model, for its other fields (<c>OSFeatures</c>, <c>RootfsType</c>).</summary>
        public MobyDistribution.Manifests.ImageConfig Config { get; }

        /// <inheritdoc />
        public override string ToString() => $"{Reference} ({Platform})";
    }
}
