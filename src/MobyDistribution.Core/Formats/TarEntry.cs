using System;
using System.Collections.Generic;
using MobyDistribution.Errors;

namespace MobyDistribution.Formats
{
    /// <summary>The kind of a tar entry.</summary>
    public enum TarEntryType
    {
        RegularFile,
        Directory,
        SymbolicLink,
        HardLink,
        CharacterDevice,
        BlockDevice,
        Fifo,
        /// <summary>Anything else (GNU sparse files, volume labels, unknown type flags).</summary>
        Other,
    }

    /// <summary>One entry of a tar archive: its header, after GNU long names and pax records are applied.</summary>
    public sealed class TarEntry
    {
        /// <summary>The path as written in the archive (long forms resolved; not normalized).</summary>
        public string Name { get; set; } = string.Empty;

        public TarEntryType Type { get; set; } = TarEntryType.RegularFile;

        /// <summary>The target of a symbolic or hard link; empty otherwise.</summary>
        public string LinkName { get; set; } = string.Empty;

        /// <summary>Bytes of data (0 for everything but regular files).</summary>
        public long Size { get; set; }

        /// <summary>Permission bits (e.g. 0644 octal = 420).</summary>
        public int Mode { get; set; } = Convert.ToInt32("644", 8);

        public long UserId { get; set; }

        public long GroupId { get; set; }

        public string UserName { get; set; } = string.Empty;

        public string GroupName { get; set; } = string.Empty;

        /// <summary>Modification time, whole seconds since the Unix epoch.</summary>
        public long ModificationTime { get; set; }

        /// <summary>Offset of the entry's first header (including any long-name or pax headers) in the stream; -1 when made locally.</summary>
        public long HeaderOffset { get; internal set; } = -1;

        /// <summary>Offset of the entry's data in the stream; -1 when made locally.</summary>
        public long DataOffset { get; internal set; } = -1;

        /// <summary>True when pax records of the entry marked it as a GNU sparse file (whose data is not the file's content).</summary>
        public bool IsSparse { get; internal set; }

        public override string ToString() => Type == TarEntryType.SymbolicLink || Type == TarEntryType.HardLink
            ? $"{Name} -> {LinkName}"
            : $"{Name} ({Size} bytes)";
    }

    /// <summary>
    /// Archive paths: normalization and the checks that refuse entries escaping the archive's root
    /// (absolute paths, <c>..</c>, drive letters, backslashes, NUL, links pointing outside).
    /// </summary>
    public static class TarPath
    {
        /// <summary>
        /// The clean relative form of an entry name (<c>./a//b/</c> → <c>a/b</c>). Throws <see cref="ImageArchiveException"/>
        /// (<see cref="RegistryErrorKind.Security"/>) for a name that is absolute, has a <c>..</c> component, a drive letter,
        /// a backslash or a NUL character.
        /// </summary>
        public static string Normalize(string name)
        {
            if (name == null) throw new ArgumentNullException(nameof(name));
            if (name.IndexOf('\0') >= 0) throw ImageArchiveException.Unsafe($"Archive entry '{Printable(name)}' has a NUL character in its name.", name);
            if (name.IndexOf('\\') >= 0) throw ImageArchiveException.Unsafe($"Archive entry '{Printable(name)}' has a backslash in its name; it could escape on Windows.", name);
            if (name.StartsWith("/", StringComparison.Ordinal))
                throw ImageArchiveException.Unsafe($"Archive entry '{Printable(name)}' has an absolute path.", name);
            if (name.Length >= 2 && name[1] == ':' && char.IsLetter(name[0]))
                throw ImageArchiveException.Unsafe($"Archive entry '{Printable(name)}' names a drive.", name);
            var parts = new List<string>();
            foreach (var part in name.Split('/'))
            {
                if (part.Length == 0 || part == ".") continue;
                if (part == "..") throw ImageArchiveException.Unsafe($"Archive entry '{Printable(name)}' has a '..' component.", name);
                parts.Add(part);
            }
            return string.Join("/", parts);
        }

        /// <summary>
        /// Resolves a symbolic link's target against the directory of the link (both archive paths) and returns the archive path it
        /// points at. Throws <see cref="ImageArchiveException"/> (Security) when the target is absolute or climbs out of the archive.
        /// </summary>
        public static string ResolveSymbolicLink(string linkPath, string target)
        {
            if (string.IsNullOrEmpty(target)) throw ImageArchiveException.Unsafe($"Symbolic link '{Printable(linkPath)}' has an empty target.", linkPath);
            if (target.IndexOf('\0') >= 0 || target.IndexOf('\\') >= 0)
                throw ImageArchiveException.Unsafe($"Symbolic link '{Printable(linkPath)}' has a target with a NUL or a backslash.", linkPath);
            if (target.StartsWith("/", StringComparison.Ordinal) || (target.Length >= 2 && target[1] == ':' && char.IsLetter(target[0])))
                throw ImageArchiveException.Unsafe($"Symbolic link '{Printable(linkPath)}' points at the absolute path '{Printable(target)}'.", linkPath);
            var stack = new List<string>(Normalize(linkPath).Split('/'));
            stack.RemoveAt(stack.Count - 1);
            foreach (var part in target.Split('/'))
            {
                if (part.Length == 0 || part == ".") continue;
                if (part == "..")
                {
                    if (stack.Count == 0)
                        throw ImageArchiveException.Unsafe($"Symbolic link '{Printable(linkPath)}' points outside the archive ('{Printable(target)}').", linkPath);
                    stack.RemoveAt(stack.Count - 1);
                }
                else
                {
                    stack.Add(part);
                }
            }
            return string.Join("/", stack);
        }

        /// <summary>Checks one entry: its name, and where a link points. Returns the normalized name.</summary>
        /// <param name="entry">The entry.</param>
        /// <param name="allowAbsoluteSymbolicLinks">True inside a layer, where <c>/usr/bin/x</c> is a target within the image's root.</param>
        public static string Check(TarEntry entry, bool allowAbsoluteSymbolicLinks)
        {
            var name = Normalize(entry.Name);
            if (name.Length == 0 && entry.Type != TarEntryType.Directory)
                throw ImageArchiveException.Unsafe($"Archive entry '{Printable(entry.Name)}' has an empty name.", entry.Name);
            switch (entry.Type)
            {
                case TarEntryType.HardLink:
                    if (Normalize(entry.LinkName).Length == 0)
                        throw ImageArchiveException.Unsafe($"Hard link '{Printable(entry.Name)}' has an empty target.", entry.Name);
                    break;
                case TarEntryType.SymbolicLink:
                    if (allowAbsoluteSymbolicLinks && entry.LinkName.StartsWith("/", StringComparison.Ordinal))
                    {
                        if (entry.LinkName.IndexOf('\0') >= 0) throw ImageArchiveException.Unsafe($"Symbolic link '{Printable(entry.Name)}' has a NUL in its target.", entry.Name);
                        break;
                    }
                    if (allowAbsoluteSymbolicLinks)
                    {
                        // Within a root file system, .. past the root stays at the root: only refuse what cannot be meant.
                        if (entry.LinkName.Length == 0 || entry.LinkName.IndexOf('\0') >= 0)
                            throw ImageArchiveException.Unsafe($"Symbolic link '{Printable(entry.Name)}' has an invalid target.", entry.Name);
                        break;
                    }
                    ResolveSymbolicLink(name, entry.LinkName);
                    break;
            }
            return name;
        }

        internal static string Printable(string s)
        {
            var chars = s.Length > 200 ? s.Substring(0, 200) + "…" : s;
            var sb = new System.Text.StringBuilder(chars.Length);
            foreach (var c in chars) sb.Append(char.IsControl(c) ? '?' : c);
            return sb.ToString();
        }
    }
}
