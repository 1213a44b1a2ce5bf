using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;

namespace MobyDistribution.TestBed
{
    /// <summary>Small helpers shared by the test bed.</summary>
    internal static class Util
    {
        /// <summary>Binds port 0 on loopback, reads the port the kernel picked and releases it.</summary>
        public static int FreeLoopbackPort()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            try { return ((IPEndPoint)listener.LocalEndpoint).Port; }
            finally { listener.Stop(); }
        }

        private const string OwnerFile = ".moby-testbed-owner";
        private static int _swept;

        /// <summary>
        /// Creates a temp dir marked with the owning process id. The first call in a process also deletes the
        /// dirs left behind by test-bed processes that died without cleaning up (killed hard).
        /// </summary>
        public static string CreateTempDirectory(string prefix)
        {
            if (Interlocked.Exchange(ref _swept, 1) == 0) SweepStaleTempDirectories();
            ProcessTracker.EnsureExitHook();
            string path = Path.Combine(Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N").Substring(0, 12));
            Directory.CreateDirectory(path);
            LiveTempDirectories[path] = 0;
            File.WriteAllText(Path.Combine(path, OwnerFile), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return path;
        }

        private static void SweepStaleTempDirectories()
        {
            try
            {
                foreach (var dir in Directory.EnumerateDirectories(Path.GetTempPath(), "moby-testbed-*"))
                {
                    string owner = Path.Combine(dir, OwnerFile);
                    if (!File.Exists(owner)) continue;
                    if (!int.TryParse(File.ReadAllText(owner).Trim(), out int pid) || pid == Environment.ProcessId) continue;
                    bool alive;
                    try { using var p = Process.GetProcessById(pid); alive = !p.HasExited; }
                    catch (ArgumentException) { alive = false; }
                    catch (InvalidOperationException) { alive = false; }
                    if (!alive) TryDeleteDirectory(dir);
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }

        private static readonly ConcurrentDictionary<string, byte> LiveTempDirectories = new();

        /// <summary>Deletes every temp dir this process created and has not deleted yet (called on process exit).</summary>
        public static void DeleteAllTempDirectories()
        {
            foreach (var dir in LiveTempDirectories.Keys) TryDeleteDirectory(dir);
        }

        public static void TryDeleteDirectory(string? path)
        {
            if (string.IsNullOrEmpty(path)) return;
            LiveTempDirectories.TryRemove(path, out _);
            if (!Directory.Exists(path)) return;
            for (int attempt = 0; attempt < 5; attempt++)
            {
                try { Directory.Delete(path, recursive: true); return; }
                catch (IOException) { Thread.Sleep(100); }
                catch (UnauthorizedAccessException) { Thread.Sleep(100); }
            }
        }

        public static string Sha256Digest(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

        /// <summary>The UTF-8 bytes of one JSON object whose members <paramref name="members"/> writes.</summary>
        public static byte[] JsonObject(Action<System.Text.Json.Utf8JsonWriter> members)
        {
            using var ms = new MemoryStream();
            using (var w = new System.Text.Json.Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                members(w);
                w.WriteEndObject();
            }
            return ms.ToArray();
        }

        public static string Base64Url(byte[] data) =>
            Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        /// <summary>Quotes a string as a YAML double-quoted scalar.</summary>
        public static string Yaml(string value)
        {
            var sb = new StringBuilder("\"");
            foreach (char c in value)
            {
                if (c == '"' || c == '\\') sb.Append('\\');
                sb.Append(c);
            }
            return sb.Append('"').ToString();
        }

        /// <summary>Runs a short command, returns stdout, throws with stderr on failure.</summary>
        public static string RunTool(string file, IEnumerable<string> args, TimeSpan timeout)
        {
            var psi = new ProcessStartInfo(file)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi) ?? throw new InvalidOperationException("Could not start " + file);
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit((int)timeout.TotalMilliseconds))
            {
                try { p.Kill(true); } catch { }
                throw new TimeoutException($"{file} did not finish within {timeout}.");
            }
            p.WaitForExit();
            if (p.ExitCode != 0)
                throw new InvalidOperationException($"{file} exited with {p.ExitCode}: {stderr.Result}{stdout.Result}");
            return stdout.Result;
        }
    }

    /// <summary>
    /// Keeps track of every child process the test bed starts, kills them when the host process exits
    /// (AppDomain.ProcessExit), and pairs each with a tiny shell watchdog that kills it if the host dies hard (SIGKILL).
    /// </summary>
    internal static class ProcessTracker
    {
        private static readonly ConcurrentDictionary<int, Process> Live = new();
        private static int _hooked;

        public static void EnsureExitHook()
        {
            if (Interlocked.Exchange(ref _hooked, 1) == 0)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    KillAll();
                    Util.DeleteAllTempDirectories();
                };
            }
        }

        public static void Track(Process process, bool watchdog = true)
        {
            EnsureExitHook();
            Live[process.Id] = process;
            if (watchdog) StartWatchdog(process.Id);
        }

        public static void Untrack(Process process)
        {
            try { Live.TryRemove(process.Id, out _); } catch (InvalidOperationException) { }
        }

        public static void Kill(Process process)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException) { }
            catch (System.ComponentModel.Win32Exception) { }
            finally { Untrack(process); }
        }

        public static void KillAll()
        {
            foreach (var p in Live.Values) Kill(p);
        }

        private static void StartWatchdog(int childPid)
        {
            if (OperatingSystem.IsWindows() || !File.Exists("/bin/sh")) return;
            int self = Environment.ProcessId;
            var psi = new ProcessStartInfo("/bin/sh")
            {
                UseShellExecute = false,
                // Redirected so the watchdog does not inherit (and hold open) the host's stdout/stderr.
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(
                $"while kill -0 {self} 2>/dev/null && kill -0 {childPid} 2>/dev/null; do sleep 1; done; kill -9 {childPid} 2>/dev/null; exit 0");
            try
            {
                var watchdog = Process.Start(psi);
                watchdog?.StandardInput.Close();
                // Not tracked: it ends by itself within a second of the child or the host going away.
                watchdog?.Dispose();
            }
            catch (System.ComponentModel.Win32Exception) { }
        }
    }

    /// <summary>Keeps the last N lines written by a process.</summary>
    internal sealed class OutputTail
    {
        private readonly Queue<string> _lines = new();
        private readonly int _max;
        public OutputTail(int max) { _max = max; }

        public void Add(string? line)
        {
            if (line == null) return;
            lock (_lines)
            {
                _lines.Enqueue(line);
                while (_lines.Count > _max) _lines.Dequeue();
            }
        }

        public override string ToString()
        {
            lock (_lines) return string.Join(Environment.NewLine, _lines);
        }
    }

    /// <summary>Deterministic, fast pseudo-random bytes (xorshift64*).</summary>
    internal sealed class SeededRandom
    {
        private ulong _state;
        public SeededRandom(long seed)
        {
            _state = (ulong)seed * 0x9E3779B97F4A7C15UL + 0xD1B54A32D192ED03UL;
            if (_state == 0) _state = 0x2545F4914F6CDD1DUL;
            for (int i = 0; i < 4; i++) NextUInt64();
        }

        public ulong NextUInt64()
        {
            _state ^= _state >> 12;
            _state ^= _state << 25;
            _state ^= _state >> 27;
            return _state * 0x2545F4914F6CDD1DUL;
        }

        public int Next(int minInclusive, int maxExclusive) =>
            minInclusive + (int)(NextUInt64() % (ulong)(maxExclusive - minInclusive));

        public void Fill(Span<byte> buffer)
        {
            int i = 0;
            while (i + 8 <= buffer.Length)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(buffer.Slice(i), NextUInt64());
                i += 8;
            }
            if (i < buffer.Length)
            {
                ulong v = NextUInt64();
                for (; i < buffer.Length; i++) { buffer[i] = (byte)v; v >>= 8; }
            }
        }
    }

    /// <summary>A read-only stream of <see cref="Length"/> seeded random bytes, produced on the fly (flat memory).</summary>
    internal sealed class SeededRandomStream : Stream
    {
        private readonly long _seed;
        private readonly long _length;
        private SeededRandom _random;
        private long _position;
        private readonly byte[] _carry = new byte[8];
        private int _carryOffset = 8;

        public SeededRandomStream(long seed, long length)
        {
            _seed = seed; _length = length; _random = new SeededRandom(seed);
        }

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => _length;
        public override long Position { get => _position; set => Seek(value, SeekOrigin.Begin); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            long remaining = _length - _position;
            if (remaining <= 0) return 0;
            int n = (int)Math.Min(buffer.Length, remaining);
            int i = 0;
            while (i < n && _carryOffset < 8) buffer[i++] = _carry[_carryOffset++];
            int whole = (n - i) / 8 * 8;
            if (whole > 0) { _random.Fill(buffer.Slice(i, whole)); i += whole; }
            if (i < n)
            {
                _random.Fill(_carry);
                _carryOffset = 0;
                while (i < n) buffer[i++] = _carry[_carryOffset++];
            }
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            long target = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                _ => _length + offset,
            };
            if (target == _position) return _position;
            if (target != 0) throw new NotSupportedException("SeededRandomStream can only rewind to the start.");
            _random = new SeededRandom(_seed);
            _position = 0;
            _carryOffset = 8;
            return 0;
        }

        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Write-through stream that hashes (SHA-256) and counts what passes.</summary>
    /// <remarks>
    /// Not Core's <c>MobyDistribution.Formats.HashingWriteStream</c>, on purpose: the test bed references nothing of Core,
    /// because its fixtures are what Core is checked against (a digest bug in Core must not also be in the expected
    /// values) and because Pester loads it with Add-Type next to the module's own copy of Core. So this stays a plain
    /// <see cref="IncrementalHash"/> wrapper, the test bed's only one.
    /// </remarks>
    internal sealed class HashingWriteStream : Stream
    {
        private readonly Stream _inner;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly bool _leaveOpen;
        public long BytesWritten { get; private set; }

        public HashingWriteStream(Stream inner, bool leaveOpen) { _inner = inner; _leaveOpen = leaveOpen; }

        public string Digest() => "sha256:" + Convert.ToHexStringLower(_hash.GetCurrentHash());

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => BytesWritten;
        public override long Position { get => BytesWritten; set => throw new NotSupportedException(); }
        public override void Flush() => _inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            _inner.Write(buffer);
            BytesWritten += buffer.Length;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                if (!_leaveOpen) _inner.Dispose();
                _hash.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
