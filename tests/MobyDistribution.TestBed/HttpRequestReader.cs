using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

// The one HTTP/1.x request reader of the test bed's servers (FaultProxy, its BlobRedirectTarget, MiniHttpServer):
// a hostile-input parser written once, so a fix to it reaches every server.
namespace MobyDistribution.TestBed
{
    /// <summary>A client connection with a read buffer (request heads are parsed from it; bodies drain it first).</summary>
    internal sealed class HttpConn
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        public HttpConn(Socket socket, Stream stream)
        {
            Socket = socket;
            Stream = stream;
        }

        public Socket Socket { get; }
        public Stream Stream { get; }

        /// <summary>A line without its CRLF; null at end of stream before any byte.</summary>
        public async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            var line = new StringBuilder();
            while (true)
            {
                if (_start == _end)
                {
                    _start = 0;
                    _end = await Stream.ReadAsync(_buffer.AsMemory(), ct).ConfigureAwait(false);
                    if (_end == 0) return line.Length == 0 ? null : throw new IOException("The connection ended inside a line.");
                }
                while (_start < _end)
                {
                    char c = (char)_buffer[_start++];
                    if (c == '\n')
                    {
                        if (line.Length > 0 && line[line.Length - 1] == '\r') line.Length--;
                        return line.ToString();
                    }
                    line.Append(c);
                    if (line.Length > 64 * 1024) throw new IOException("A header line is too long.");
                }
            }
        }

        public async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct)
        {
            if (count == 0) return 0;
            if (_start < _end)
            {
                int n = Math.Min(count, _end - _start);
                Buffer.BlockCopy(_buffer, _start, buffer, offset, n);
                _start += n;
                return n;
            }
            return await Stream.ReadAsync(buffer.AsMemory(offset, count), ct).ConfigureAwait(false);
        }

        /// <summary>Resets the connection (RST), after a moment for the client to take in what was already sent.</summary>
        public async Task ResetAsync()
        {
            try { await Stream.FlushAsync().ConfigureAwait(false); } catch (Exception e) when (e is IOException || e is ObjectDisposedException) { }
            await Task.Delay(150).ConfigureAwait(false);
            try
            {
                Socket.LingerState = new LingerOption(true, 0);
                Socket.Close();
            }
            catch (Exception e) when (e is SocketException || e is ObjectDisposedException) { }
        }

        /// <summary>Ends the connection with a FIN (the client sees the body end early).</summary>
        public void CloseGracefully()
        {
            try
            {
                Stream.Flush();
                Socket.Shutdown(SocketShutdown.Send);
                Thread.Sleep(50);
                Socket.Close();
            }
            catch (Exception e) when (e is SocketException || e is ObjectDisposedException || e is IOException) { }
        }
    }

    /// <summary>Request line and headers.</summary>
    internal sealed class RequestHead
    {
        public string Method { get; private set; } = "";
        public string Target { get; private set; } = "";
        public string Path { get; private set; } = "";
        public string Query { get; private set; } = "";
        public string Version { get; private set; } = "HTTP/1.1";
        public List<(string Name, string Value)> Headers { get; } = new();

        public string? Header(string name)
        {
            foreach (var (n, v) in Headers) if (n.Equals(name, StringComparison.OrdinalIgnoreCase)) return v;
            return null;
        }

        public bool KeepAlive
        {
            get
            {
                var connection = Header("Connection");
                if (connection != null && connection.Contains("close", StringComparison.OrdinalIgnoreCase)) return false;
                return Version != "HTTP/1.0";
            }
        }

        public static async Task<RequestHead?> ReadAsync(HttpConn conn, CancellationToken ct)
        {
            var line = await conn.ReadLineAsync(ct).ConfigureAwait(false);
            while (line != null && line.Length == 0) line = await conn.ReadLineAsync(ct).ConfigureAwait(false);
            if (line == null) return null;
            var parts = line.Split(' ');
            if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal) || !parts[1].StartsWith("/", StringComparison.Ordinal))
                throw new IOException("Not an HTTP/1.x request.");
            var head = new RequestHead { Method = parts[0].ToUpperInvariant(), Target = parts[1], Version = parts[2] };
            int q = head.Target.IndexOf('?');
            head.Path = q < 0 ? head.Target : head.Target.Substring(0, q);
            head.Query = q < 0 ? "" : head.Target.Substring(q + 1);
            for (int i = 0; ; i++)
            {
                if (i > 200) throw new IOException("Too many headers.");
                var h = await conn.ReadLineAsync(ct).ConfigureAwait(false) ?? throw new IOException("The connection ended inside the headers.");
                if (h.Length == 0) break;
                int colon = h.IndexOf(':');
                if (colon <= 0) continue;
                head.Headers.Add((h.Substring(0, colon).Trim(), h.Substring(colon + 1).Trim()));
            }
            return head;
        }
    }
}
