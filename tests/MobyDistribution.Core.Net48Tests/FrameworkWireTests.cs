using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.IO;
using MobyDistribution.Transport;
using Xunit;

namespace MobyDistribution.Core.Net48Tests
{
    /// <summary>
    /// What Core's HTTP pipeline puts on the wire where HttpClientHandler sits on HttpWebRequest (.NET Framework, and the
    /// Mono these tests run on): bodies without "Expect: 100-continue", chunked when their length is unknown (instead of
    /// buffered whole), more than two connections to one host, and stalled reads that end. The server is a plain
    /// loopback socket that writes down what it received.
    /// </summary>
    public sealed class FrameworkWireTests
    {
        private static readonly TimeSpan Guard = TimeSpan.FromSeconds(20);

        private static RedirectLayer Wire() =>
            new RedirectLayer(new HttpClient(HttpClientProvider.Configure(WebRequestHandler(), false, null)), new RegistryClientOptions(),
                uri => uri, (m, r, f, ct) => Task.CompletedTask, _ => { });

        /// <summary>
        /// An HttpClientHandler over HttpWebRequest, as .NET Framework's is. Mono's default one is SocketsHttpHandler (as .NET's),
        /// which has none of Framework's habits; its HttpWebRequest-based one, MonoWebRequestHandler, is taken by reflection.
        /// </summary>
        internal static HttpClientHandler WebRequestHandler()
        {
            var legacy = typeof(HttpClientHandler).Assembly.GetType("System.Net.Http.MonoWebRequestHandler");
            if (legacy == null) return new HttpClientHandler(); // .NET Framework itself
            var inner = Activator.CreateInstance(legacy, nonPublic: true);
            var ctor = typeof(HttpClientHandler).GetConstructor(BindingFlags.NonPublic | BindingFlags.Instance, null, new[] { typeof(HttpClientHandler).Assembly.GetType("System.Net.Http.IMonoHttpClientHandler", true)! }, null)
                ?? throw new InvalidOperationException("Mono's HttpClientHandler has no constructor taking its handler.");
            return (HttpClientHandler)ctor.Invoke(new[] { inner });
        }

        [Fact]
        public async Task A_body_of_unknown_length_goes_chunked_without_Expect_100_continue()
        {
            using var server = new RecordingServer();
            var data = Encoding.ASCII.GetBytes(new string('x', 200_000));
            var request = new RegistryRequest(new HttpMethod("PATCH"), server.Url("v2/app/blobs/uploads/1"))
            {
                ContentReplayable = false,
                Content = () => new StreamContent(new ForwardOnlyStream(data)),
            };
            using (var response = await Wire().SendAsync(request, request.Url!, null, CancellationToken.None))
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var seen = Assert.Single(server.Requests);
            Assert.False(seen.Headers.ContainsKey("expect"), "Expect: " + (seen.Headers.TryGetValue("expect", out var e) ? e : ""));
            Assert.Equal("chunked", seen.Headers["transfer-encoding"]);
            Assert.False(seen.Headers.ContainsKey("content-length"));
            Assert.Equal(data, seen.Body);
        }

        [Fact]
        public async Task A_body_of_known_length_carries_its_Content_Length_without_Expect_100_continue()
        {
            using var server = new RecordingServer();
            var data = Encoding.ASCII.GetBytes(new string('y', 50_000));
            var request = new RegistryRequest(HttpMethod.Put, server.Url("v2/app/blobs/uploads/1?digest=x"))
            {
                Content = () => new ByteArrayContent(data),
            };
            using (var response = await Wire().SendAsync(request, request.Url!, null, CancellationToken.None))
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var seen = Assert.Single(server.Requests);
            Assert.False(seen.Headers.ContainsKey("expect"));
            Assert.False(seen.Headers.ContainsKey("transfer-encoding"));
            Assert.Equal(data.Length.ToString(), seen.Headers["content-length"]);
            Assert.Equal(data, seen.Body);
        }

        [Fact]
        public void The_handler_allows_as_many_connections_per_host_as_the_widest_transfer()
        {
            // HttpWebRequest's ServicePoint default is 2 per host (ServicePointManager.DefaultConnectionLimit); .NET Framework
            // 4.7.2's HttpClientHandler maps this setting onto the ServicePoint of each host it talks to.
            using var handler = HttpClientProvider.Configure(new HttpClientHandler(), false, null);
            Assert.Equal(HttpClientProvider.MaxConnectionsPerServer, handler.MaxConnectionsPerServer);
            Assert.True(HttpClientProvider.MaxConnectionsPerServer >= MobyDistribution.Operations.ImageCopyOptions.DefaultThrottleLimit);
        }

        [Fact]
        public async Task A_response_body_that_stalls_ends_in_TimeoutException()
        {
            using var server = new RecordingServer(stallAfterHeaders: true);
            var request = new RegistryRequest(HttpMethod.Get, server.Url("v2/app/blobs/stall"));
            using var response = await Wire().SendAsync(request, request.Url!, null, CancellationToken.None);
            var body = await response.Content.ReadAsStreamAsync();
            using var stall = new StallTimer(TimeSpan.FromMilliseconds(300));
            var buffer = new byte[1024];
            var read = Task.Run(async () =>
            {
                while (await stall.ReadAsync(body, buffer, 0, buffer.Length, CancellationToken.None) > 0) { }
            });
            Assert.Same(read, await Task.WhenAny(read, Task.Delay(Guard)));
            await Assert.ThrowsAsync<TimeoutException>(() => read);
        }

        /// <summary>A stream that cannot seek, so its length is unknown to HttpClient.</summary>
        private sealed class ForwardOnlyStream : Stream
        {
            private readonly MemoryStream _inner;
            public ForwardOnlyStream(byte[] data) => _inner = new MemoryStream(data);
            public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }

        internal sealed class SeenRequest
        {
            public string Line = "";
            public Dictionary<string, string> Headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            public byte[] Body = new byte[0];
        }

        /// <summary>HTTP/1.1 on a loopback socket: reads each request (Content-Length or chunked body) and answers 202.</summary>
        private sealed class RecordingServer : IDisposable
        {
            private readonly TcpListener _listener = new TcpListener(IPAddress.Loopback, 0);
            private readonly int _holdUntil;
            private readonly TimeSpan _holdFor;
            private readonly bool _stall;
            private readonly CancellationTokenSource _stop = new CancellationTokenSource();
            private readonly TaskCompletionSource<bool> _allHere = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            private readonly List<TcpClient> _clients = new List<TcpClient>();
            private int _atOnce;
            private int _mostAtOnce;

            public RecordingServer(int holdUntil = 0, TimeSpan holdFor = default, bool stallAfterHeaders = false)
            {
                _holdUntil = holdUntil;
                _holdFor = holdFor;
                _stall = stallAfterHeaders;
                _listener.Start();
                _ = AcceptAsync();
            }

            public ConcurrentQueue<SeenRequest> Requests { get; } = new ConcurrentQueue<SeenRequest>();

            public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

            public Uri Url(string path) => new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/{path}");

            private async Task AcceptAsync()
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient client;
                    try { client = await _listener.AcceptTcpClientAsync(); }
                    catch (Exception) { return; }
                    lock (_clients) _clients.Add(client);
                    _ = Task.Run(() => ServeAsync(client));
                }
            }

            private async Task ServeAsync(TcpClient client)
            {
                try
                {
                    var stream = client.GetStream();
                    while (true)
                    {
                        var seen = await ReadRequestAsync(stream);
                        if (seen == null) return;
                        Requests.Enqueue(seen);
                        if (_holdUntil > 0)
                        {
                            int now = Interlocked.Increment(ref _atOnce);
                            int most;
                            while ((most = Volatile.Read(ref _mostAtOnce)) < now && Interlocked.CompareExchange(ref _mostAtOnce, now, most) != most) { }
                            if (now >= _holdUntil) _allHere.TrySetResult(true);
                            await Task.WhenAny(_allHere.Task, Task.Delay(_holdFor));
                        }
                        if (_stall)
                        {
                            var head = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789");
                            await stream.WriteAsync(head, 0, head.Length);
                            await Task.Delay(Timeout.Infinite, _stop.Token);
                        }
                        var answer = Encoding.ASCII.GetBytes("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
                        await stream.WriteAsync(answer, 0, answer.Length);
                        if (_holdUntil > 0) Interlocked.Decrement(ref _atOnce);
                    }
                }
                catch (Exception) { }
                finally { client.Dispose(); }
            }

            private static async Task<SeenRequest?> ReadRequestAsync(NetworkStream stream)
            {
                var head = new MemoryStream();
                var one = new byte[1];
                while (!EndsWithBlankLine(head))
                {
                    if (await stream.ReadAsync(one, 0, 1) == 0) return null;
                    head.WriteByte(one[0]);
                }
                var lines = Encoding.ASCII.GetString(head.ToArray()).Split(new[] { "\r\n" }, StringSplitOptions.RemoveEmptyEntries);
                var seen = new SeenRequest { Line = lines[0] };
                foreach (var line in lines.Skip(1))
                {
                    int colon = line.IndexOf(':');
                    seen.Headers[line.Substring(0, colon).Trim()] = line.Substring(colon + 1).Trim();
                }
                if (seen.Headers.TryGetValue("expect", out var expect) && expect.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
                {
                    var go = Encoding.ASCII.GetBytes("HTTP/1.1 100 Continue\r\n\r\n");
                    await stream.WriteAsync(go, 0, go.Length);
                }
                var body = new MemoryStream();
                if (seen.Headers.TryGetValue("content-length", out var length))
                {
                    await CopyExactlyAsync(stream, body, long.Parse(length));
                }
                else if (seen.Headers.TryGetValue("transfer-encoding", out var te) && te.Equals("chunked", StringComparison.OrdinalIgnoreCase))
                {
                    while (true)
                    {
                        var size = Convert.ToInt64((await ReadLineAsync(stream)).Split(';')[0].Trim(), 16);
                        if (size == 0) { await ReadLineAsync(stream); break; }
                        await CopyExactlyAsync(stream, body, size);
                        await ReadLineAsync(stream);
                    }
                }
                seen.Body = body.ToArray();
                return seen;
            }

            private static bool EndsWithBlankLine(MemoryStream head)
            {
                var b = head.GetBuffer();
                long n = head.Length;
                return n >= 4 && b[n - 4] == '\r' && b[n - 3] == '\n' && b[n - 2] == '\r' && b[n - 1] == '\n';
            }

            private static async Task<string> ReadLineAsync(NetworkStream stream)
            {
                var line = new StringBuilder();
                var one = new byte[1];
                while (await stream.ReadAsync(one, 0, 1) == 1)
                {
                    if (one[0] == '\n') break;
                    if (one[0] != '\r') line.Append((char)one[0]);
                }
                return line.ToString();
            }

            private static async Task CopyExactlyAsync(Stream from, Stream to, long count)
            {
                var buffer = new byte[65536];
                while (count > 0)
                {
                    int n = await from.ReadAsync(buffer, 0, (int)Math.Min(buffer.Length, count));
                    if (n == 0) throw new EndOfStreamException();
                    to.Write(buffer, 0, n);
                    count -= n;
                }
            }

            public void Dispose()
            {
                _stop.Cancel();
                _listener.Stop();
                lock (_clients) foreach (var c in _clients) c.Dispose();
            }
        }
    }
}
