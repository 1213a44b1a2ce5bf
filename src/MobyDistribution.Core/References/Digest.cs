using System;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MobyDistribution
{
    /// <summary>
    /// A content digest, <c>algorithm:hex</c>. Only <c>sha256</c> (64 lowercase hex digits) and
    /// <c>sha512</c> (128) are accepted, so a parsed digest is always safe in a URL or a file name.
    /// </summary>
    [JsonConverter(typeof(DigestJsonConverter))]
    public sealed class Digest : IEquatable<Digest>
    {
        private Digest(string algorithm, string hex)
        {
            Algorithm = algorithm;
            Hex = hex;
        }

        /// <summary><c>sha256</c> or <c>sha512</c>.</summary>
        public string Algorithm { get; }

        /// <summary>The encoded hash, lowercase hex.</summary>
        public string Hex { get; }

        /// <summary>Parses and validates a digest; throws <see cref="FormatException"/> naming the problem.</summary>
        public static Digest Parse(string value)
        {
            if (TryParse(value, out var digest, out var error)) return digest;
            throw new FormatException(error);
        }

        /// <summary>Parses a digest without throwing.</summary>
        public static bool TryParse(string? value, [NotNullWhen(true)] out Digest? digest) => TryParse(value, out digest, out _);

        private static bool TryParse(string? value, [NotNullWhen(true)] out Digest? digest, out string error)
        {
            digest = null;
            if (string.IsNullOrEmpty(value)) { error = "A digest must not be empty."; return false; }
            int colon = value!.IndexOf(':');
            if (colon <= 0) { error = $"'{Shorten(value)}' is not a digest: expected 'sha256:<64 hex digits>'."; return false; }
            var algorithm = value.Substring(0, colon);
            var hex = value.Substring(colon + 1);
            int expected;
            switch (algorithm)
            {
                case "sha256": expected = 64; break;
                case "sha512": expected = 128; break;
                default: error = $"Digest algorithm '{Shorten(algorithm)}' is not supported: use sha256 or sha512."; return false;
            }
            if (hex.Length != expected) { error = $"A {algorithm} digest has {expected} hex digits, '{Shorten(value)}' has {hex.Length}."; return false; }
            foreach (var c in hex)
            {
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                {
                    error = $"'{Shorten(value)}' is not a digest: the hex part must be lowercase 0-9a-f.";
                    return false;
                }
            }
            digest = new Digest(algorithm, hex);
            error = string.Empty;
            return true;
        }

        private static string Shorten(string s) => s.Length > 80 ? s.Substring(0, 77) + "..." : s;

        /// <summary>SHA-256 of a byte array.</summary>
        public static Digest Compute(byte[] data) => Compute(data, 0, data.Length);

        /// <summary>SHA-256 of part of a byte array.</summary>
        public static Digest Compute(byte[] data, int offset, int count)
        {
            using var sha = SHA256.Create();
            return FromHash("sha256", sha.ComputeHash(data, offset, count));
        }

        /// <summary>Computes the digest of a stream with this digest's algorithm, reading it to the end.</summary>
        public static Digest Compute(Stream stream, string algorithm = "sha256")
        {
            using var hasher = new DigestHasher(algorithm);
            var buffer = new byte[81920];
            int n;
            while ((n = stream.Read(buffer, 0, buffer.Length)) > 0) hasher.Append(buffer, 0, n);
            return hasher.Finish();
        }

        internal static Digest FromHash(string algorithm, byte[] hash)
        {
            var chars = new char[hash.Length * 2];
            const string hexDigits = "0123456789abcdef";
            for (int i = 0; i < hash.Length; i++)
            {
                chars[2 * i] = hexDigits[hash[i] >> 4];
                chars[2 * i + 1] = hexDigits[hash[i] & 0xF];
            }
            return new Digest(algorithm, new string(chars));
        }

        /// <summary>A short form for display: the first 12 hex digits.</summary>
        public string Short => Hex.Substring(0, 12);

        /// <inheritdoc />
        public override string ToString() => Algorithm + ":" + Hex;

        public bool Equals(Digest? other) => other is not null && other.Algorithm == Algorithm && other.Hex == Hex;

        public override bool Equals(object? obj) => obj is Digest d ? Equals(d) : obj is string s && s == ToString();

        public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Hex);

        public static bool operator ==(Digest? a, Digest? b) => a is null ? b is null : a.Equals(b);

        public static bool operator !=(Digest? a, Digest? b) => !(a == b);

        public static implicit operator string(Digest digest) => digest.ToString();
    }

    /// <summary>Incremental hashing of a stream as it passes, for the algorithm of an expected digest.</summary>
    public sealed class DigestHasher : IDisposable
    {
        private readonly IncrementalHash _hash;
        private readonly string _algorithm;

        /// <summary>Creates a hasher for <c>sha256</c> or <c>sha512</c>.</summary>
        public DigestHasher(string algorithm = "sha256")
        {
            _algorithm = algorithm;
            _hash = algorithm switch
            {
                "sha256" => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
                "sha512" => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
                _ => throw new ArgumentException($"Digest algorithm '{algorithm}' is not supported.", nameof(algorithm)),
            };
        }

        /// <summary>Bytes hashed so far.</summary>
        public long Length { get; private set; }

        public void Append(byte[] buffer, int offset, int count)
        {
            _hash.AppendData(buffer, offset, count);
            Length += count;
        }

        /// <summary>Returns the digest of everything appended and resets the hasher.</summary>
        public Digest Finish()
        {
            Length = 0;
            return Digest.FromHash(_algorithm, _hash.GetHashAndReset());
        }

        public void Dispose() => _hash.Dispose();
    }

    internal sealed class DigestJsonConverter : JsonConverter<Digest>
    {
        public override Digest? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Null) return null;
            var s = reader.GetString();
            try { return Digest.Parse(s!); }
            catch (FormatException e) { throw new JsonException(e.Message, e); }
        }

        public override void Write(Utf8JsonWriter writer, Digest value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
