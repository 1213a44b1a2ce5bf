using System;
using System.Diagnostics;
using System.IO;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// A real, small filesystem (a tmpfs of a few MiB, mounted for the test and unmounted after), so that writes hit a real
    /// ENOSPC where the kernel says so, not where a fake stream decides. Mounting needs root on Linux.
    /// </summary>
    internal sealed class SmallFileSystem : IDisposable
    {
        private SmallFileSystem(string path) => Path = path;

        /// <summary>The mount point.</summary>
        public string Path { get; }

        /// <summary>Why a tmpfs cannot be mounted here, or null when it can (checked once, by mounting one).</summary>
        public static string? Unavailable => LazyUnavailable.Value;

        private static readonly Lazy<string?> LazyUnavailable = new Lazy<string?>(() =>
        {
            if (!OperatingSystem.IsLinux()) return "a tmpfs can be mounted only on Linux";
            try
            {
                using var probe = Mount(1);
                return null;
            }
            catch (InvalidOperationException e)
            {
                return e.Message;
            }
        });

        /// <summary>Mounts a tmpfs of <paramref name="mebibytes"/> MiB on a new folder.</summary>
        public static SmallFileSystem Mount(int mebibytes)
        {
            var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "moby-smallfs-" + Guid.NewGuid().ToString("N").Substring(0, 12));
            Directory.CreateDirectory(path);
            var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={mebibytes}m", "tmpfs", path);
            if (code != 0)
            {
                Directory.Delete(path);
                throw new InvalidOperationException($"mount -t tmpfs is not permitted here (exit {code}: {output.Trim()}).");
            }
            return new SmallFileSystem(path);
        }

        /// <summary>Fills the filesystem until at most <paramref name="leaveBytes"/> are free (a file named <c>filler</c>).</summary>
        public void Fill(long leaveBytes)
        {
            var drive = new DriveInfo(Path);
            long want = drive.AvailableFreeSpace - leaveBytes;
            if (want <= 0) return;
            using var filler = new FileStream(System.IO.Path.Combine(Path, "filler"), FileMode.CreateNew, FileAccess.Write);
            var block = new byte[64 * 1024];
            for (long written = 0; written < want; written += block.Length)
                filler.Write(block, 0, (int)Math.Min(block.Length, want - written));
        }

        public void Dispose()
        {
            Run("umount", Path);
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }

        private static (int Code, string Output) Run(string file, params string[] arguments)
        {
            try
            {
                var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
                foreach (var a in arguments) start.ArgumentList.Add(a);
                using var process = Process.Start(start)!;
                var output = process.StandardError.ReadToEnd() + process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                return (process.ExitCode, output);
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                return (-1, e.Message);
            }
        }
    }

    /// <summary>A fact that needs <see cref="SmallFileSystem"/>: reported as skipped, with the reason, where no tmpfs can be mounted.</summary>
    public sealed class SmallFileSystemFactAttribute : FactAttribute
    {
        public SmallFileSystemFactAttribute()
        {
            if (SmallFileSystem.Unavailable is string reason) Skip = reason;
        }
    }
}
