using System;
using System.IO;
using System.Management.Automation;
using MobyDistribution.Errors;
using MobyDistribution.Registry;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// Turns Core's failures into error records with stable ids (<c>&lt;Noun&gt;&lt;Problem&gt;</c>) and categories,
    /// keeping the original exception. The noun names what the cmdlet was working on: Tag, Manifest, Blob, Repository.
    /// </summary>
    /// <remarks>
    /// Ids that do not depend on the noun: RegistryAuthenticationFailed, RegistryAccessDenied, RegistryRateLimited,
    /// RegistryUnreachable, RegistryTimeout, PlatformNotFound (an index without the platform asked for), RegistryOperationUnsupported, RegistryProtocolError,
    /// RegistrySecurityViolation, RegistryServerError, RepositoryNotFound (NAME_UNKNOWN), InvalidArgument,
    /// FileNotFound, DirectoryNotFound, FileAccessDenied. Noun ids: &lt;Noun&gt;NotFound, &lt;Noun&gt;DigestMismatch,
    /// &lt;Noun&gt;TooLarge, &lt;Noun&gt;Rejected, &lt;Noun&gt;Invalid, &lt;Noun&gt;WriteFailed.
    /// DuplicatePlatform: two images for one platform of a new index.
    /// </remarks>
    internal static class RegistryErrors
    {
        /// <summary>Failures that are the user's or the registry's, reported without a stack trace; anything else is a bug.</summary>
        public static bool IsExpected(Exception e) =>
            e is RegistryException || e is FormatException || e is ArgumentException || e is IOException
            || e is UnauthorizedAccessException || e is InvalidDataException || e is OperationCanceledException
            || e is System.Security.SecurityException;

        /// <summary>An error record for <paramref name="e"/>, raised while working on a <paramref name="noun"/>.</summary>
        public static ErrorRecord Create(Exception e, string noun, object? target)
        {
            var (id, category) = Classify(e, noun);
            var record = new ErrorRecord(e, id, category, target);
            if (e is UntagIncompleteException u)
            {
                record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = $"Remove-ImageManifest {RegistryOf(target) ?? "<registry>"}/{u.Repository}@{u.PlaceholderDigest} -Confirm:$false" };
            }
            else if (e is RegistryException r && r.Kind == RegistryErrorKind.Unauthorized)
            {
                var registry = RegistryOf(target);
                record.ErrorDetails = new ErrorDetails(e.Message)
                {
                    RecommendedAction = registry != null
                        ? $"Connect-Registry -Registry {registry} -Credential (Get-Credential)"
                        : "Connect to the registry with Connect-Registry -Credential.",
                };
            }
            else if (e is PlatformNotFoundException p)
            {
                record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = PlatformHint(p) };
            }
            else if (e is RegistryException s && s.Kind == RegistryErrorKind.Security && s.Message.IndexOf("certificate", StringComparison.OrdinalIgnoreCase) >= 0)
            {
                // Core names no parameter: the module says how to trust the registry.
                var registry = RegistryOf(target) ?? "<registry>";
                record.ErrorDetails = new ErrorDetails(e.Message)
                {
                    RecommendedAction = $"Connect-Registry -Registry {registry} -CertificateAuthority <ca.pem>, or (for a throwaway registry) -SkipCertificateCheck.",
                };
            }
            return record;
        }

        /// <summary>What to do about a missing platform: name one the index has with -Platform.</summary>
        private static string PlatformHint(PlatformNotFoundException e)
        {
            if (e.Available.Count == 0) return "The index has no platform-specific images to choose from with -Platform.";
            var example = "-Platform " + e.Available[0];
            return e.ByDefault
                ? $"No platform was given and the index has none of the default ones; choose one of its platforms, e.g. {example}."
                : $"Choose one of the index's platforms with -Platform, e.g. {example}.";
        }

        /// <summary>The error id and category for a failure.</summary>
        public static (string Id, ErrorCategory Category) Classify(Exception e, string noun)
        {
            switch (e)
            {
                // Before RegistryException, whose NotFound would make it <Noun>NotFound: a missing platform is the same error in every cmdlet.
                case PlatformNotFoundException _: return ("PlatformNotFound", ErrorCategory.ObjectNotFound);
                case DuplicatePlatformException _: return ("DuplicatePlatform", ErrorCategory.InvalidArgument);
                case TagMovedException _: return ("TagMoved", ErrorCategory.ResourceBusy);
                case UntagIncompleteException _: return ("TagRemovalIncomplete", ErrorCategory.WriteError);
                case RegistryException r:
                    switch (r.Kind)
                    {
                        case RegistryErrorKind.NotFound:
                            return (string.Equals(r.ErrorCode, "NAME_UNKNOWN", StringComparison.OrdinalIgnoreCase) ? "RepositoryNotFound" : noun + "NotFound",
                                ErrorCategory.ObjectNotFound);
                        case RegistryErrorKind.Unauthorized: return ("RegistryAuthenticationFailed", ErrorCategory.AuthenticationError);
                        case RegistryErrorKind.Denied: return ("RegistryAccessDenied", ErrorCategory.PermissionDenied);
                        case RegistryErrorKind.DigestMismatch: return (noun + "DigestMismatch", ErrorCategory.InvalidData);
                        case RegistryErrorKind.TooManyRequests: return ("RegistryRateLimited", ErrorCategory.LimitsExceeded);
                        case RegistryErrorKind.LimitExceeded: return (noun + "TooLarge", ErrorCategory.LimitsExceeded);
                        case RegistryErrorKind.Connection: return ("RegistryUnreachable", ErrorCategory.ConnectionError);
                        case RegistryErrorKind.Timeout: return ("RegistryTimeout", ErrorCategory.OperationTimeout);
                        case RegistryErrorKind.InvalidRequest: return (noun + "Rejected", ErrorCategory.InvalidArgument);
                        case RegistryErrorKind.Unsupported: return ("RegistryOperationUnsupported", ErrorCategory.NotImplemented);
                        case RegistryErrorKind.Security: return ("RegistrySecurityViolation", ErrorCategory.SecurityError);
                        case RegistryErrorKind.ServerError: return ("RegistryServerError", ErrorCategory.ResourceUnavailable);
                        default: return ("RegistryProtocolError", ErrorCategory.ProtocolError);
                    }
                case FileNotFoundException _: return ("FileNotFound", ErrorCategory.ObjectNotFound);
                case DirectoryNotFoundException _: return ("DirectoryNotFound", ErrorCategory.ObjectNotFound);
                case IOException _: return (noun + "WriteFailed", ErrorCategory.WriteError);
                case UnauthorizedAccessException _: return ("FileAccessDenied", ErrorCategory.PermissionDenied);
                case InvalidDataException _: return (noun + "Invalid", ErrorCategory.InvalidData);
                case FormatException _:
                case ArgumentException _: return ("InvalidArgument", ErrorCategory.InvalidArgument);
                case OperationCanceledException _: return ("RegistryTimeout", ErrorCategory.OperationTimeout);
                case System.Security.SecurityException _: return ("RegistrySecurityViolation", ErrorCategory.SecurityError);
                default: return (noun + "Failed", ErrorCategory.NotSpecified);
            }
        }

        private static string? RegistryOf(object? target) => target switch
        {
            ImageReference r => r.Registry,
            string s => s,
            _ => null,
        };
    }
}
