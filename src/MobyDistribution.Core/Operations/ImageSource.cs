using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>One image of a registry, resolved to a single platform: its manifest and its config.</summary>
    internal sealed class ImageSource
    {
        private ImageSource(ImageReference reference, RegistryClient client, ImageManifest manifest, ImageConfig config, Platform? platform)
        {
            Reference = reference;
            Client = client;
            Manifest = manifest;
            Config = config;
            Platform = platform;
        }

        public ImageReference Reference { get; }
        public RegistryClient Client { get; }
        public string Repository => Reference.Repository;
        public ImageManifest Manifest { get; }
        public ImageConfig Config { get; }

        /// <summary>The platform of the index entry the image was chosen by; null when the reference named a single image.</summary>
        public Platform? Platform { get; }

        /// <summary>
        /// Resolves <paramref name="reference"/> with <see cref="ImageResolver"/>: from an index, the image for
        /// <paramref name="platform"/> (default: the resolver's rule, this machine's platform first).
        /// </summary>
        public static async Task<ImageSource> ResolveAsync(RegistryClient client, ImageReference reference, Platform? platform, CancellationToken cancellationToken)
        {
            var resolved = await new ImageResolver(_ => client).ResolveAsync(reference, platform, cancellationToken).ConfigureAwait(false);
            var manifest = resolved.Manifest;
            var chosen = resolved.Platform;
            var image = ImageConfigReader.RequireImage(manifest, reference);
            var config = await ImageConfigReader.ReadConfigAsync(client, reference, image, cancellationToken).ConfigureAwait(false);
            return new ImageSource(reference, client, image, config, chosen);
        }

        /// <summary>The image's platform: the index entry's, else the config's os/architecture/variant.</summary>
        public Platform ConfigPlatform() => Platform ?? Config.Platform;
    }

    /// <summary>Counts bytes read through it and reports them; owns its inner stream.</summary>
    internal sealed class ProgressReadStream : Stream
    {
        private readonly Stream _inner;
        private readonly Action<long> _report;
        private long _read;

        public ProgressReadStream(Stream inner, Action<long> report)
        {
            _inner = inner;
            _report = report;
        }

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            int n = await _inner.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
            if (n > 0) _report(_read += n);
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = _inner.Read(buffer, offset, count);
            if (n > 0) _report(_read += n);
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => _inner.CanSeek;
        public override bool CanWrite => false;
        public override long Length => _inner.Length;

        public override long Position
        {
            get => _inner.Position;
            set
            {
                _inner.Position = value;
                _read = value;
            }
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => _read = _inner.Seek(offset, origin);
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

namespace MobyDistribution.Operations
{
    /// <summary>Reports on the calling thread (<see cref="Progress{T}"/> would post to a captured context and reorder reports).</summary>
    internal sealed class ActionProgress : IProgress<long>
    {
        private readonly Action<long> _report;

        public ActionProgress(Action<long> report) => _report = report;

        public void Report(long value) => _report(value);
    }
}
