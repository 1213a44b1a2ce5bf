using System;

namespace MobyDistribution.Errors
{
    /// <summary>
    /// Two images meant for one index have the same platform, so a client could not tell which to pull. Its
    /// <see cref="RegistryException.Kind"/> is <see cref="RegistryErrorKind.InvalidRequest"/>; the message names both references.
    /// </summary>
    public sealed class DuplicatePlatformException : RegistryException
    {
        /// <summary>Makes the error for <paramref name="platform"/>, claimed by <paramref name="first"/> and <paramref name="second"/>.</summary>
        /// <param name="platform">The platform both images are for.</param>
        /// <param name="first">The reference given for the first image (an image, or the index it was taken from).</param>
        /// <param name="firstDigest">The first image's manifest digest.</param>
        /// <param name="second">The reference given for the second image.</param>
        /// <param name="secondDigest">The second image's manifest digest.</param>
        public DuplicatePlatformException(Platform platform, ImageReference first, Digest firstDigest, ImageReference second, Digest secondDigest)
            : base(RegistryErrorKind.InvalidRequest,
                $"{first} (image {firstDigest}) and {second} (image {secondDigest}) are both for platform {platform}: an index holds one image per platform.")
        {
            FirstDigest = firstDigest ?? throw new ArgumentNullException(nameof(firstDigest));
            SecondDigest = secondDigest ?? throw new ArgumentNullException(nameof(secondDigest));
            Platform = platform ?? throw new ArgumentNullException(nameof(platform));
            First = first ?? throw new ArgumentNullException(nameof(first));
            Second = second ?? throw new ArgumentNullException(nameof(second));
        }

        /// <summary>The platform both images are for.</summary>
        public Platform Platform { get; }

        /// <summary>The image that claimed the platform first (the reference given for it).</summary>
        public ImageReference First { get; }

        /// <summary>The image that claimed it again.</summary>
        public ImageReference Second { get; }

        /// <summary>The first image's manifest digest.</summary>
        public Digest FirstDigest { get; }

        /// <summary>The second image's manifest digest.</summary>
        public Digest SecondDigest { get; }
    }
}
