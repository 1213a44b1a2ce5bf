using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using MobyDistribution.Errors;
using MobyDistribution.Manifests;
using MobyDistribution.Registry;

namespace MobyDistribution.Operations
{
    /// <summary>A file to publish as one layer of an artifact.</summary>
    public sealed class ArtifactFileSource
    {
        public ArtifactFileSource(string path, string? mediaType = null)
        {
            Path = path ?? throw new ArgumentNullException(nameof(path));
            MediaType = string.IsNullOrWhiteSpace(mediaType) ? ImageArtifacts.DefaultFileMediaType : mediaType!;
        }

        /// <summary>The file; its name becomes the layer's title.</summary>
        public string Path { get; }

        /// <summary>The layer's media type (<see cref="ImageArtifacts.DefaultFileMediaType"/> unless given).</summary>
        public string MediaType { get; }
    }

    /// <summary>What <see cref="ImageArtifacts.PublishAsync"/> pushes.</summary>
    public sealed class ArtifactPublishRequest
    {
        /// <summary>The files, one layer each, in order.</summary>
        public IList<ArtifactFileSource> Files { get; } = new List<ArtifactFileSource>();

        /// <summary>The manifest's <c>artifactType</c>, e.g. <c>application/spdx+json</c>.</summary>
        public string ArtifactType { get; set; } = string.Empty;

        /// <summary>The manifest the artifact refers to (its <c>subject</c>); the artifact goes into its repository.</summary>
        public ImageReference? Subject { get; set; }

        /// <summary>
        /// Where to push: a repository and tag. Without it, the subject's repository, by digest; a destination without a tag
        /// is pushed by digest when there is a subject, else as <c>latest</c>.
        /// </summary>
        public ImageReference? Destination { get; set; }

        /// <summary>The manifest's annotations.</summary>
        public IDictionary<string, string>? Annotations { get; set; }
    }

    /// <summary>An artifact pushed by <see cref="ImageArtifacts.PublishAsync"/>.</summary>
    public sealed class PublishedArtifact
    {
        internal PublishedArtifact(Descriptor descriptor, OciImageManifest manifest, Descriptor? subject, Descriptor? tagSchemaIndex)
        {
            Descriptor = descriptor;
            Manifest = manifest;
            Subject = subject;
            TagSchemaIndex = tagSchemaIndex;
        }

        /// <summary>The artifact manifest's descriptor (with artifactType and annotations), its Source where it was pushed.</summary>
        public Descriptor Descriptor { get; }

        public OciImageManifest Manifest { get; }

        /// <summary>The subject's descriptor, when there is one.</summary>
        public Descriptor? Subject { get; }

        /// <summary>The tag-schema index updated, when the registry has no referrers API; null otherwise.</summary>
        public Descriptor? TagSchemaIndex { get; }
    }

    /// <summary>One titled file of an artifact.</summary>
    public sealed class ArtifactFile
    {
        internal ArtifactFile(string title, Descriptor layer)
        {
            Title = title;
            Layer = layer;
        }

        /// <summary>The layer's <c>org.opencontainers.image.title</c>: a plain file name, checked.</summary>
        public string Title { get; }

        /// <summary>The layer's descriptor, with its Source.</summary>
        public Descriptor Layer { get; }
    }

    /// <summary>An artifact as read back: its manifest and its files.</summary>
    public sealed class ArtifactContents
    {
        internal ArtifactContents(ImageManifest manifest, IReadOnlyList<ArtifactFile> files, IReadOnlyList<Descriptor> untitled)
        {
            Manifest = manifest;
            Files = files;
            Untitled = untitled;
        }

        public ImageManifest Manifest { get; }

        /// <summary>The layers with a title, each a file to write.</summary>
        public IReadOnlyList<ArtifactFile> Files { get; }

        /// <summary>Layers without a title: blobs of the artifact that are not files.</summary>
        public IReadOnlyList<Descriptor> Untitled { get; }
    }

    /// <summary>
    /// OCI 1.1 artifacts (oras push, attach, pull): an image manifest with an <c>artifactType</c>, the empty config, one layer
    /// per file titled with its name, and a <c>subject</c> when it is attached to an image.
    /// </summary>
    public sealed class ImageArtifacts
    {
        /// <summary>The layer annotation that names a file.</summary>
        public const string TitleAnnotation = "org.opencontainers.image.title";

        /// <summary>The media type of a file unless another is given.</summary>
        public const string DefaultFileMediaType = "application/octet-stream";

        /// <summary>The empty config's bytes, <c>{}</c>.</summary>
        public static IReadOnlyList<byte> EmptyConfig { get; } = Encoding.ASCII.GetBytes("{}");

        /// <summary>The empty config's descriptor (sha256:44136fa3…, 2 bytes).</summary>
        public static Descriptor EmptyConfigDescriptor { get; } = new Descriptor(MediaTypes.OciEmpty, Digest.Compute(Encoding.ASCII.GetBytes("{}")), 2);

        private const int MaxTitleLength = 255;
        private static readonly string[] ReservedNames = { "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
            "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9" };

        private readonly Func<ImageReference, RegistryClient> _clients;

        /// <summary>Artifacts over the sessions of <paramref name="connections"/>.</summary>
        public ImageArtifacts(RegistryConnections connections) : this(r => connections.GetClient(r)) { }

        /// <summary>Artifacts over the client <paramref name="clients"/> gives for each reference.</summary>
        public ImageArtifacts(Func<ImageReference, RegistryClient> clients) =>
            _clients = clients ?? throw new ArgumentNullException(nameof(clients));

        /// <summary>
        /// Why <paramref name="title"/> cannot be a file name in a folder (a path separator, <c>..</c>, a drive or stream colon,
        /// a control character, a name Windows reserves or trims), or null when it can.
        /// </summary>
        public static string? TitleProblem(string? title)
        {
            if (string.IsNullOrWhiteSpace(title)) return "The title is empty.";
            var t = title!;
            if (t.Length > MaxTitleLength) return $"The title is {t.Length} characters long; at most {MaxTitleLength} are accepted.";
            if (t.IndexOf('/') >= 0 || t.IndexOf('\\') >= 0) return $"The title '{Show(t)}' holds a path separator; a title is a file name.";
            if (t == "." || t == "..") return $"The title '{t}' names a folder, not a file.";
            if (t.IndexOf(':') >= 0) return $"The title '{Show(t)}' holds a colon (a drive or a stream on Windows).";
            if (t.Any(c => c < 0x20 || c == 0x7f) || t.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || t.IndexOfAny(new[] { '<', '>', '"', '|', '?', '*' }) >= 0)
                return $"The title '{Show(t)}' holds a character a file name cannot hold.";
            if (t.EndsWith(".", StringComparison.Ordinal) || t.EndsWith(" ", StringComparison.Ordinal) || t.StartsWith(" ", StringComparison.Ordinal))
                return $"The title '{Show(t)}' starts or ends with a character Windows drops from file names.";
            var stem = t.Split('.')[0];
            if (ReservedNames.Contains(stem, StringComparer.OrdinalIgnoreCase)) return $"The title '{Show(t)}' is a device name on Windows.";
            return null;
        }

        private static string Show(string title) => Transport.Redaction.Shorten(new string(title.Select(c => c < 0x20 || c == 0x7f ? '?' : c).ToArray()), 80);

        /// <summary>
        /// Pushes an artifact: the empty config and each file (through <see cref="BlobTransfer.PushAsync"/>, skipped when the
        /// repository has it), then the manifest, under the destination's tag, or by digest. With a subject, on a registry that
        /// does not answer <c>OCI-Subject</c> (no referrers API), the subject's tag-schema index is updated too
        /// (<see cref="ReferrerService.AddToTagSchemaAsync(string, Digest, Descriptor, System.Threading.CancellationToken)"/>).
        /// </summary>
        public async Task<PublishedArtifact> PublishAsync(ArtifactPublishRequest request, CancellationToken cancellationToken = default)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            if (string.IsNullOrWhiteSpace(request.ArtifactType)) throw new ArgumentException("An artifact type is required.", nameof(request));
            if (request.ArtifactType.Length > Manifest.MaxMediaTypeLength) throw new ArgumentException("The artifact type is too long to be a media type.", nameof(request));
            if (request.Files.Count == 0) throw new ArgumentException("An artifact needs at least one file.", nameof(request));
            var target = request.Destination ?? request.Subject ?? throw new ArgumentException("Give a subject, a destination, or both.", nameof(request));
            if (request.Subject != null && request.Destination != null
                && !string.Equals(request.Subject.WithoutReference().ToString(), request.Destination.WithoutReference().ToString(), StringComparison.Ordinal))
                throw new ArgumentException($"A referrer lives in its subject's repository: the destination {request.Destination.WithoutReference()} is not {request.Subject.WithoutReference()}.", nameof(request));
            if (request.Destination != null && request.Destination.Digest != null)
                throw new ArgumentException($"The destination {request.Destination} names a digest; give a repository, with a tag or without.", nameof(request));

            // Everything is checked before anything is pushed: files, titles, the subject.
            var files = new List<(ArtifactFileSource Source, Descriptor Layer)>();
            var titles = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var file in request.Files)
            {
                var title = Path.GetFileName(file.Path);
                var problem = TitleProblem(title);
                if (problem != null) throw new ArgumentException(problem, nameof(request));
                if (!titles.Add(title)) throw new ArgumentException($"Two files are named '{title}'; the titles of an artifact's files must differ.", nameof(request));
                if (file.MediaType.Length > Manifest.MaxMediaTypeLength) throw new ArgumentException($"The media type of '{title}' is too long.", nameof(request));
                var (digest, size) = await HashFileAsync(file.Path, cancellationToken).ConfigureAwait(false);
                files.Add((file, new Descriptor(file.MediaType, digest, size) { Annotations = new Dictionary<string, string> { [TitleAnnotation] = title } }));
            }

            var client = _clients(target);
            var repository = target.Repository;
            Descriptor? subject = null;
            if (request.Subject != null)
                subject = await client.Manifests.GetDescriptorAsync(repository, request.Subject.Reference, cancellationToken).ConfigureAwait(false);

            var empty = EmptyConfig.ToArray();
            await BlobTransfer.PushAsync(_ => Task.FromResult<Stream>(new MemoryStream(empty, writable: false)), EmptyConfigDescriptor, client, repository,
                cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var (source, layer) in files)
                await BlobTransfer.PushAsync(_ => Task.FromResult<Stream>(new FileStream(source.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true)),
                    layer, client, repository, cancellationToken: cancellationToken).ConfigureAwait(false);

            var manifest = OciImageManifest.Create(EmptyConfigDescriptor, files.Select(f => f.Layer), request.Annotations, request.ArtifactType, subject);
            // A referrer needs no tag (its subject finds it); a standalone artifact without one would be lost, so it is "latest".
            var reference = request.Destination?.Tag ?? (subject == null ? "latest" : manifest.Digest.ToString());
            var (pushed, indexed) = await client.Manifests.PutWithSubjectAsync(repository, reference, manifest.RawBytes, manifest.MediaType, cancellationToken).ConfigureAwait(false);
            var descriptor = new Descriptor(pushed.MediaType, pushed.Digest, pushed.Size)
            {
                ArtifactType = request.ArtifactType,
                Annotations = request.Annotations == null || request.Annotations.Count == 0 ? null : new Dictionary<string, string>(request.Annotations),
                Source = pushed.Source,
            };

            Descriptor? tagSchema = null;
            if (subject != null && indexed == null)
                tagSchema = await client.Referrers.AddToTagSchemaAsync(repository, subject.Digest, descriptor, cancellationToken).ConfigureAwait(false);
            manifest.AttachSource(ImageReference.Create(client.Endpoint.Registry, repository));
            return new PublishedArtifact(descriptor, manifest, subject, tagSchema);
        }

        /// <summary>
        /// Reads an artifact's manifest and its titled layers, checking every title (<see cref="TitleProblem"/>) and that no two
        /// are the same file name: a hostile manifest is refused (InvalidDataException) before anything is written.
        /// </summary>
        public async Task<ArtifactContents> ReadAsync(ImageReference reference, CancellationToken cancellationToken = default)
        {
            if (reference == null) throw new ArgumentNullException(nameof(reference));
            var client = _clients(reference);
            var manifest = await client.Manifests.GetAsync(reference.Repository, reference.Reference, cancellationToken).ConfigureAwait(false);
            if (!(manifest is ImageManifest image))
                throw new InvalidDataException($"{reference} is a {manifest.MediaType}, not an artifact's image manifest.");
            var files = new List<ArtifactFile>();
            var untitled = new List<Descriptor>();
            var titles = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var layer in image.Layers)
            {
                if (layer.Annotations == null || !layer.Annotations.TryGetValue(TitleAnnotation, out var title))
                {
                    untitled.Add(layer);
                    continue;
                }
                var problem = TitleProblem(title);
                if (problem != null) throw new InvalidDataException($"{reference}: layer {layer.Digest}: {problem}");
                if (!titles.Add(title)) throw new InvalidDataException($"{reference}: two layers are titled '{Show(title)}'.");
                files.Add(new ArtifactFile(title, layer));
            }
            return new ArtifactContents(image, files, untitled);
        }

        /// <summary>
        /// The path <paramref name="file"/> is written to in <paramref name="folder"/>; throws when it would not be directly in
        /// the folder (the title is checked again here, so that no caller can skip it).
        /// </summary>
        public static string PathIn(string folder, ArtifactFile file)
        {
            if (folder == null) throw new ArgumentNullException(nameof(folder));
            if (file == null) throw new ArgumentNullException(nameof(file));
            var problem = TitleProblem(file.Title);
            if (problem != null) throw new InvalidDataException(problem);
            var root = Path.GetFullPath(folder);
            var path = Path.GetFullPath(Path.Combine(root, file.Title));
            if (!string.Equals(Path.GetDirectoryName(path)?.TrimEnd(Path.DirectorySeparatorChar), root.TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
                throw new RegistryException(RegistryErrorKind.Security, $"The title '{Show(file.Title)}' would be written outside {root}.");
            return path;
        }

        private static async Task<(Digest, long)> HashFileAsync(string path, CancellationToken cancellationToken)
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
            using var hasher = new DigestHasher();
            var buffer = new byte[81920];
            long size = 0;
            int n;
            while ((n = await stream.ReadAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hasher.Append(buffer, 0, n);
                size += n;
            }
            return (hasher.Finish(), size);
        }
    }
}
