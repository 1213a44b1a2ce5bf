using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace MobyDistribution
{
    /// <summary>
    /// The platform of an image in an index: <c>os/architecture[/variant]</c>, with an optional OS version.
    /// Parses from strings like <c>linux/arm64/v8</c>, so PowerShell binds plain strings to it.
    /// </summary>
    public sealed class Platform : IEquatable<Platform>
    {
        [JsonPropertyName("architecture")]
        public string Architecture { get; set; } = string.Empty;

        [JsonPropertyName("os")]
        public string OS { get; set; } = string.Empty;

        [JsonPropertyName("os.version")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? OSVersion { get; set; }

        [JsonPropertyName("os.features")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IList<string>? OSFeatures { get; set; }

        [JsonPropertyName("variant")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Variant { get; set; }

        [JsonPropertyName("features")]
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IList<string>? Features { get; set; }

        public Platform() { }

        public Platform(string os, string architecture, string? variant = null, string? osVersion = null)
        {
            OS = os;
            Architecture = architecture;
            Variant = variant;
            OSVersion = osVersion;
        }

        /// <summary>
        /// Parses <c>os/arch[/variant]</c>, optionally followed by <c>:osversion</c>
        /// (e.g. <c>windows/amd64:10.0.17763.5576</c>). Throws <see cref="FormatException"/>.
        /// </summary>
        public static Platform Parse(string value)
        {
            if (TryParse(value, out var p)) return p!;
            throw new FormatException($"'{value}' is not a platform: expected os/architecture[/variant], e.g. linux/arm64/v8.");
        }

        public static bool TryParse(string? value, out Platform? platform)
        {
            platform = null;
            if (string.IsNullOrWhiteSpace(value)) return false;
            var text = value!.Trim();
            string? osVersion = null;
            int colon = text.IndexOf(':');
            if (colon >= 0)
            {
                osVersion = text.Substring(colon + 1);
                text = text.Substring(0, colon);
                if (osVersion.Length == 0) return false;
            }
            var parts = text.Split('/');
            if (parts.Length < 2 || parts.Length > 3) return false;
            foreach (var part in parts)
            {
                if (part.Length == 0) return false;
                foreach (var c in part)
                {
                    if (!(char.IsLetterOrDigit(c) || c == '_' || c == '-' || c == '.')) return false;
                }
            }
            platform = new Platform(parts[0].ToLowerInvariant(), parts[1].ToLowerInvariant(), parts.Length == 3 ? parts[2].ToLowerInvariant() : null, osVersion);
            return true;
        }

        /// <summary>The platform this process runs on, as docker would pick it from an index.</summary>
        public static Platform Current
        {
            get
            {
                var os = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "windows"
                    : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "darwin" : "linux";
                // Images for macOS hosts are linux images run in a VM, as docker does.
                if (os == "darwin") os = "linux";
                string arch;
                string? variant = null;
                switch (RuntimeInformation.OSArchitecture)
                {
                    case System.Runtime.InteropServices.Architecture.X64: arch = "amd64"; break;
                    case System.Runtime.InteropServices.Architecture.X86: arch = "386"; break;
                    case System.Runtime.InteropServices.Architecture.Arm64: arch = "arm64"; variant = "v8"; break;
                    case System.Runtime.InteropServices.Architecture.Arm: arch = "arm"; variant = "v7"; break;
                    default: arch = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(); break;
                }
                return new Platform(os, arch, variant);
            }
        }

        /// <summary>Architecture and variant in the canonical form containerd uses (x86_64 → amd64, aarch64 → arm64/v8).</summary>
        internal static (string Arch, string? Variant) NormalizeArch(string arch, string? variant)
        {
            arch = (arch ?? string.Empty).ToLowerInvariant();
            variant = string.IsNullOrEmpty(variant) ? null : variant!.ToLowerInvariant();
            switch (arch)
            {
                case "i386": return ("386", null);
                case "x86_64":
                case "x86-64":
                case "amd64": return ("amd64", variant == "v1" ? null : variant);
                case "aarch64":
                case "arm64": return ("arm64", variant == null || variant == "8" || variant == "v8" ? null : variant);
                case "armhf": return ("arm", "v7");
                case "armel": return ("arm", "v6");
                case "arm":
                    if (variant == null || variant == "7") return ("arm", "v7");
                    if (variant == "5" || variant == "6" || variant == "8") return ("arm", "v" + variant);
                    return ("arm", variant);
                default: return (arch, variant);
            }
        }

        /// <summary>
        /// True when an image for <paramref name="candidate"/> satisfies this requested platform: OS and
        /// architecture equal after normalization; variant equal when requested; OS version equal when requested.
        /// </summary>
        public bool Matches(Platform? candidate)
        {
            if (candidate == null) return false;
            if (!string.Equals(OS, candidate.OS, StringComparison.OrdinalIgnoreCase)) return false;
            var want = NormalizeArch(Architecture, Variant);
            var have = NormalizeArch(candidate.Architecture, candidate.Variant);
            if (want.Arch != have.Arch) return false;
            if (!string.IsNullOrEmpty(Variant) && want.Variant != have.Variant) return false;
            if (!string.IsNullOrEmpty(OSVersion) && !string.Equals(OSVersion, candidate.OSVersion, StringComparison.OrdinalIgnoreCase)) return false;
            return true;
        }

        /// <inheritdoc />
        public override string ToString()
        {
            var s = OS + "/" + Architecture + (string.IsNullOrEmpty(Variant) ? string.Empty : "/" + Variant);
            return string.IsNullOrEmpty(OSVersion) ? s : s + ":" + OSVersion;
        }

        public bool Equals(Platform? other) => other is not null && ToString() == other.ToString();

        public override bool Equals(object? obj) => obj is Platform p && Equals(p);

        public override int GetHashCode() => ToString().GetHashCode();
    }
}
