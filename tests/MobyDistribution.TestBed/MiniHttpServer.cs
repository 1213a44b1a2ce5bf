using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace MobyDistribution.TestBed
{
    public sealed class MiniHttpRequest
    {
        public string Method { get; init; } = "";
        public string Target { get; init; } = "";
        public string Path { get; init; } = "";
        public string Query { get; init; } = "";
        public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
        public byte[] Body { get; init; } = Array.Empty<byte>();

        /// <summary>Parses an application/x-www-form-urlencoded string (query or body) keeping repeated keys.</summary>
        public static List<KeyValuePair<string, string>> ParseForm(string s)
        {
            var list = new List<KeyValuePair<string, string>>();
            foreach (var part in s.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = part.IndexOf('=');
                string k = eq < 0 ? part : part.Substring(0, eq);
                string v = eq < 0 ? "" : part.Substring(eq + 1);
                list.Add(new(Decode(k), Decode(v)));
            }
            return list;
        }

        private static string Decode(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));
    }

    public sealed class MiniHttpResponse
    {
        public int Status { get; set; } = 200;
        public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
        public byte[] Body { get; set; } = Array.Empty<byte>();

        /// <summary>The reason phrase of the status line; null for the usual one.</summary>
        public string? Reason { get; set; }

        public static MiniHttpResponse Json(int status, string json)
        {
            var r = new MiniHttpResponse { Status = status, Body = Encoding.UTF8.GetBytes(json) };
            r.Headers["Content-Type"] = "application/json";
            return r;
        }
    }

    /// <summary>
    /// A minimal HTTP/1.1 server on a loopback TcpListener bound to port 0 (no port race). One request per
    /// connection (it answers with Connection: close), which every client handles.
    /// </summary>
    public sealed class MiniHttpServer : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly Func<MiniHttpRequest, MiniHttpResponse> _handler;
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _acceptLoop;

        public int Port { get; }

        public MiniHttpServer(Func<MiniHttpRequest, MiniHttpResponse> handler)
        {
            _handler = handler;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _acceptLoop = Task.Run(AcceptLoop);
        }

        private async Task AcceptLoop()
        {
            while (!_cts.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_cts.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
                catch (SocketException) { if (_cts.IsCancellationRequested) return; continue; }
                _ = Task.Run(() => Serve(client));
            }
        }

        private async Task Serve(TcpClient client)
        {
            using (client)
            {
                try
                {
                    client.NoDelay = true;
                    var stream = client.GetStream();
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(30));
                    var request = await ReadRequest(new HttpConn(client.Client, stream), timeout.Token).ConfigureAwait(false);
                    if (request == null) return;
                    MiniHttpResponse response;
                    try { response = _handler(request); }
                    catch (Exception ex) { response = MiniHttpResponse.Json(500, "{\"error\":" + System.Text.Json.JsonSerializer.Serialize(ex.Message) + "}"); }
                    await WriteResponse(stream, request, response, timeout.Token).ConfigureAwait(false);
                }
                catch (IOException) { }
                catch (OperationCanceledException) { }
                catch (ObjectDisposedException) { }
                catch (SocketException) { }
            }
        }

        /// <summary>The request head (read by the shared <see cref="RequestHead"/>) and up to 1 MiB of a Content-Length body.</summary>
        private static async Task<MiniHttpRequest?> ReadRequest(HttpConn conn, CancellationToken ct)
        {
            var head = await RequestHead.ReadAsync(conn, ct).ConfigureAwait(false);
            if (head == null) return null;
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, value) in head.Headers) headers[name] = value;
            var body = new MemoryStream();
            if (headers.TryGetValue("Content-Length", out var cl) && long.TryParse(cl, out long contentLength))
            {
                var chunk = new byte[4096];
                while (body.Length < contentLength && body.Length < 1024 * 1024)
                {
                    int n = await conn.ReadAsync(chunk, 0, (int)Math.Min(chunk.Length, contentLength - body.Length), ct).ConfigureAwait(false);
                    if (n == 0) break;
                    body.Write(chunk, 0, n);
                }
            }
            var request = new MiniHttpRequest { Method = head.Method, Target = head.Target, Path = head.Path, Query = head.Query, Body = body.ToArray() };
            foreach (var kv in headers) request.Headers[kv.Key] = kv.Value;
            return request;
        }

        private static async Task WriteResponse(NetworkStream stream, MiniHttpRequest request, MiniHttpResponse response, CancellationToken ct)
        {
            var sb = new StringBuilder();
            sb.Append("HTTP/1.1 ").Append(response.Status).Append(' ').Append(response.Reason ?? Reason(response.Status)).Append("\r\n");
            foreach (var h in response.Headers) sb.Append(h.Key).Append(": ").Append(h.Value).Append("\r\n");
            sb.Append("Content-Length: ").Append(response.Body.Length).Append("\r\n");
            sb.Append("Connection: close\r\n\r\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), ct).ConfigureAwait(false);
            if (!string.Equals(request.Method, "HEAD", StringComparison.OrdinalIgnoreCase) && response.Body.Length > 0)
                await stream.WriteAsync(response.Body, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }

        private static string Reason(int status) => status switch
        {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Status",
        };

        public void Dispose()
        {
            if (_cts.IsCancellationRequested) return;
            _cts.Cancel();
            _listener.Stop();
            try { _acceptLoop.Wait(2000); } catch (AggregateException) { }
            _cts.Dispose();
        }
    }
}
