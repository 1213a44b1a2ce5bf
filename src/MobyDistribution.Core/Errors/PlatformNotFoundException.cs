using System;
using System.Collections.Generic;
using System.Linq;

namespace MobyDistribution.Errors
{
    /// <summary>
    /// A multi-platform index has no image for the platform asked for (or, when none was asked for, for any platform of
    /// the default rule). Its <see cref="RegistryException.Kind"/> is <see cref="RegistryErrorKind.NotFound"/>; the message
    /// lists the platforms the index has.
    /// </summary>
    public sealed class PlatformNotFoundException : RegistryException
    {
        /// <summary>Makes the error for <paramref name="reference"/>'s index.</summary>
        /// <param name="reference">The index's reference; may be null for an index read from elsewhere.</param>
        /// <param name="wanted">The platforms looked for, in order of preference.</param>
        /// <param name="available">The platforms the index has images for.</param>
        /// <param name="byDefault">True when no platform was asked for and <paramref name="wanted"/> is the default rule's list.</param>
        public PlatformNotFoundException(ImageReference? reference, IReadOnlyList<Platform> wanted, IReadOnlyList<Platform> available, bool byDefault)
            : base(RegistryErrorKind.NotFound, Describe(reference, wanted, available, byDefault))
        {
            Reference = reference;
            Wanted = wanted ?? throw new ArgumentNullException(nameof(wanted));
            Available = available ?? throw new ArgumentNullException(nameof(available));
            ByDefault = byDefault;
        }

        /// <summary>The index's reference, when known.</summary>
        public ImageReference? Reference { get; }

        /// <summary>The platforms looked for, in order of preference: the one asked for, or those of the default rule.</summary>
        public IReadOnlyList<Platform> Wanted { get; }

        /// <summary>The platforms the index has images for (attestations left out), each once.</summary>
        public IReadOnlyList<Platform> Available { get; }

        /// <summary>True when no platform was asked for, so <see cref="Wanted"/> is the default rule's list.</summary>
        public bool ByDefault { get; }

        private static string Describe(ImageReference? reference, IReadOnlyList<Platform> wanted, IReadOnlyList<Platform> available, bool byDefault)
        {
            var what = reference != null ? "The index " + reference : "The index";
            var looked = byDefault
                ? "this machine's platform or the default ones (" + string.Join(", ", wanted) + ")"
                : "platform " + string.Join(", ", wanted);
            var has = available.Count > 0 ? string.Join(", ", available) : "no platform-specific images";
            return $"{what} has no image for {looked}. It has: {has}.";
        }
    }
}
