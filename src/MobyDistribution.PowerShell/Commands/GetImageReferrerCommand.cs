using System.Management.Automation;
using MobyDistribution.Operations;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// <para type="synopsis">Lists the referrers of an image: its signatures, SBOMs and attestations.</para>
    /// <para type="description">
    /// Asks the registry's OCI referrers API (GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;) first; where the registry has none,
    /// reads the referrers tag schema (the tag sha256-&lt;hex&gt; that holds an index of the referrers). Cosign's legacy tags
    /// (sha256-&lt;hex&gt;.sig, .att, .sbom) and the Docker buildx attestations of an index (entries for platform unknown/unknown)
    /// are reported too. Each referrer is an ImageReferrer with Kind (Referrer, TagSchema, CosignTag, Attestation), Reference,
    /// MediaType, Digest, Size, ArtifactType, Annotations, Subject and Depth. It can be piped to Get-ImageManifest (its
    /// Reference), and on to Save-ImageBlob for the artifact's files. -Recurse also lists the referrers of referrers, such as a signature
    /// on an SBOM, to a depth of 16; a manifest reached twice is listed once.
    /// </para>
    /// </summary>
    /// <example><code>Get-ImageReferrer localhost:5000/app:v1</code></example>
    /// <example><code>Get-ImageReferrer localhost:5000/app:v1 -ArtifactType application/spdx+json | Get-ImageManifest</code></example>
    /// <example><code>Get-ImageReferrer localhost:5000/app:v1 -Recurse</code></example>
    [Cmdlet(VerbsCommon.Get, "ImageReferrer")]
    [OutputType(typeof(ImageReferrer))]
    public sealed class GetImageReferrerCommand : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">The image whose referrers are listed: <c>registry/repository:tag</c> or
        /// <c>registry/repository@digest</c>. Without tag or digest, <c>latest</c>. For an index, the referrers of the index
        /// itself and the buildx attestations of its images.</para>
        /// </summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ImageReferenceTransformation]
        [ArgumentCompleter(typeof(ImageReferenceCompleter))]
        public ImageReference[] Reference { get; set; } = null!;

        /// <summary>
        /// <para type="description">Only referrers of this artifact type, e.g. <c>application/spdx+json</c>. With -Recurse, the
        /// walk still goes through referrers of other types.</para>
        /// </summary>
        [Parameter(Position = 1)]
        [ValidateNotNullOrEmpty]
        public string? ArtifactType { get; set; }

        /// <summary>
        /// <para type="description">Also lists the referrers of each referrer, and theirs, to a depth of 16.</para>
        /// </summary>
        [Parameter]
        public SwitchParameter Recurse { get; set; }

        /// <summary>
        /// <para type="description">For an index, the referrers of this platform's image (e.g. <c>linux/amd64</c>), with its buildx
        /// attestation, instead of those of the index.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Platform? Platform { get; set; }

        /// <inheritdoc />
        protected override void ProcessRecord()
        {
            var discovery = new ReferrerDiscovery(Connections);
            foreach (var reference in Reference)
            {
                var query = new ReferrerQuery { ArtifactType = ArtifactType, Recurse = Recurse, Platform = Platform };
                if (!TryRun(ct => discovery.FindAsync(reference, query, ct), "Manifest", reference, out ReferrerGraph graph)) continue;
                WriteVerbose($"Referrers of {graph.Subject.Source ?? reference}: {graph.Referrers.Count}, " +
                    (graph.UsedApi ? "from the referrers API." : "from the tag schema and cosign tags (the registry has no referrers API)."));
                foreach (var referrer in graph.Referrers) WriteObject(referrer);
                if (graph.DepthLimitReached)
                    WriteWarning($"The referrers of {reference} go deeper than {ReferrerQuery.DefaultMaxDepth} levels; those below were not listed.");
            }
        }
    }
}
