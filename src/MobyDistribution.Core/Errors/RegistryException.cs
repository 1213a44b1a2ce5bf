using System;
using System.Collections.Generic;
using System.Linq;

namespace MobyDistribution.Errors
{
    /// <summary>What went wrong, in terms a caller can act on; the PowerShell layer maps it to an ErrorCategory.</summary>
    public enum RegistryErrorKind
    {
        /// <summary>The registry said something this client cannot make sense of.</summary>
        Protocol,
        /// <summary>Repository, manifest, blob or tag unknown (404).</summary>
        NotFound,
        /// <summary>No or wrong credentials (401).</summary>
        Unauthorized,
        /// <summary>Authenticated, but not allowed (403 DENIED, or insufficient scope after re-authentication).</summary>
        Denied,
        /// <summary>Rate limited (429 TOOMANYREQUESTS) and the retry budget ran out.</summary>
        TooManyRequests,
        /// <summary>Content does not match its digest or size.</summary>
        DigestMismatch,
        /// <summary>The request was refused as invalid (400: MANIFEST_INVALID, NAME_INVALID, TAG_INVALID …).</summary>
        InvalidRequest,
        /// <summary>The registry does not support the operation (405, UNSUPPORTED).</summary>
        Unsupported,
        /// <summary>A limit was exceeded (size of a manifest, error body, token response, SIZE_INVALID).</summary>
        LimitExceeded,
        /// <summary>The registry failed (5xx) and the retry budget ran out.</summary>
        ServerError,
        /// <summary>The connection failed or dropped and the retry budget ran out.</summary>
        Connection,
        /// <summary>A request timed out.</summary>
        Timeout,
        /// <summary>The operation is refused for safety (https → http redirect, insecure token realm, escaping path).</summary>
        Security,
    }

    /// <summary>One entry of a registry error body: <c>{"errors":[{"code","message","detail"}]}</c>.</summary>
    public sealed class RegistryError
    {
        public RegistryError(string code, string? message, string? detail)
        {
            Code = code;
            Message = message;
            Detail = detail;
        }

        /// <summary>The spec's code: BLOB_UNKNOWN, MANIFEST_UNKNOWN, UNAUTHORIZED, DENIED, TOOMANYREQUESTS, …</summary>
        public string Code { get; }
        public string? Message { get; }
        /// <summary>The detail, as raw JSON text (it may be any JSON value), capped in length.</summary>
        public string? Detail { get; }

        public override string ToString() => string.IsNullOrEmpty(Message) ? Code : Code + ": " + Message;
    }

    /// <summary>
    /// A failure talking to a registry. Carries the HTTP status, the registry's error codes and the request
    /// (method and URL with credentials, <c>_state</c> and presigned parameters redacted).
    /// </summary>
    public class RegistryException : Exception
    {
        public RegistryException(RegistryErrorKind kind, string message, Exception? inner = null)
            : base(message, inner)
        {
            Kind = kind;
            Errors = Array.Empty<RegistryError>();
        }

        public RegistryException(RegistryErrorKind kind, string message, int? statusCode, string? method, string? requestUri,
            IReadOnlyList<RegistryError>? errors, Exception? inner = null)
            : base(message, inner)
        {
            Kind = kind;
            StatusCode = statusCode;
            Method = method;
            RequestUri = requestUri;
            Errors = errors ?? Array.Empty<RegistryError>();
        }

        public RegistryErrorKind Kind { get; }

        /// <summary>HTTP status of the response, when there was one.</summary>
        public int? StatusCode { get; }

        public string? Method { get; }

        /// <summary>The request URL, redacted.</summary>
        public string? RequestUri { get; }

        public IReadOnlyList<RegistryError> Errors { get; }

        /// <summary>The first error code of the body (e.g. MANIFEST_UNKNOWN), or null.</summary>
        public string? ErrorCode => Errors.Count > 0 ? Errors[0].Code : null;

        /// <summary>True when the retry budget of the resource was used up: no loop around the failure tries again.</summary>
        internal bool RetriesSpent { get; set; }

        internal bool HasCode(string code) => Errors.Any(e => string.Equals(e.Code, code, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Content that does not match its digest or its declared size. Nothing was kept.</summary>
    public sealed class DigestMismatchException : RegistryException
    {
        public DigestMismatchException(string message, Digest? expected, Digest? actual, string? requestUri = null)
            : base(RegistryErrorKind.DigestMismatch, message, null, null, requestUri, null)
        {
            Expected = expected;
            Actual = actual;
        }

        /// <summary>A mismatch the registry reported (DIGEST_INVALID): keeps its status, error codes and (redacted) request.</summary>
        internal DigestMismatchException(string message, Digest? expected, Digest? actual, RegistryException response)
            : base(RegistryErrorKind.DigestMismatch, message, response.StatusCode, response.Method, response.RequestUri, response.Errors, response)
        {
            Expected = expected;
            Actual = actual;
        }

        public Digest? Expected { get; }
        public Digest? Actual { get; }
    }
}
