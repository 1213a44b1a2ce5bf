using System;
using System.Collections.Generic;
using System.Threading.Tasks;

namespace MobyDistribution.TestBed
{
    /// <summary>
    /// The standard trio: an anonymous registry, a Basic-auth registry and a token-auth registry with its issuer.
    /// Dispose stops all of them.
    /// </summary>
    public sealed class TestBedEnvironment : IDisposable
    {
        public const string User = "tester";
        public const string Password = "s3cret-Passw0rd";
        public const string ReaderUser = "reader";
        public const string ReaderPassword = "reader-pass";

        private TestBedEnvironment(TokenIssuer issuer, RegistryServer anonymous, RegistryServer basic, RegistryServer token)
        {
            Issuer = issuer;
            Anonymous = anonymous;
            Basic = basic;
            Token = token;
        }

        public TokenIssuer Issuer { get; }
        public RegistryServer Anonymous { get; }
        public RegistryServer Basic { get; }
        public RegistryServer Token { get; }
        public RegistryServer[] All => new[] { Anonymous, Basic, Token };

        /// <summary>The registry for an <see cref="AuthMode"/>.</summary>
        public RegistryServer this[AuthMode mode] => mode switch
        {
            AuthMode.Anonymous => Anonymous,
            AuthMode.Basic => Basic,
            _ => Token,
        };

        /// <summary>The registry named "anonymous", "basic" or "token" (case-insensitive).</summary>
        public RegistryServer Get(string name) => this[Enum.Parse<AuthMode>(name, ignoreCase: true)];

        public static TestBedEnvironment Start() => Start(relativeUrls: false);

        public static TestBedEnvironment Start(bool relativeUrls)
        {
            var issuer = new TokenIssuer();
            issuer.AddUser(User, Password);
            issuer.AddUser(ReaderUser, ReaderPassword, pullOnly: true);
            var anonymous = Task.Run(() => RegistryServer.Start(new RegistryOptions
            {
                AuthMode = AuthMode.Anonymous,
                RelativeUrls = relativeUrls,
            }));
            var basic = Task.Run(() => RegistryServer.Start(new RegistryOptions
            {
                AuthMode = AuthMode.Basic,
                Username = User,
                Password = Password,
                RelativeUrls = relativeUrls,
            }));
            var token = Task.Run(() => RegistryServer.Start(new RegistryOptions
            {
                AuthMode = AuthMode.Token,
                Username = User,
                Password = Password,
                Issuer = issuer,
                RelativeUrls = relativeUrls,
            }));
            try
            {
                Task.WaitAll(anonymous, basic, token);
            }
            catch (AggregateException ex)
            {
                foreach (var t in new[] { anonymous, basic, token })
                    if (t.IsCompletedSuccessfully) t.Result.Dispose();
                issuer.Dispose();
                throw ex.InnerExceptions.Count == 1 ? ex.InnerExceptions[0] : ex;
            }
            return new TestBedEnvironment(issuer, anonymous.Result, basic.Result, token.Result);
        }

        public void Dispose()
        {
            var errors = new List<Exception>();
            foreach (var d in new IDisposable[] { Anonymous, Basic, Token, Issuer })
            {
                try { d.Dispose(); } catch (Exception ex) { errors.Add(ex); }
            }
            if (errors.Count > 0) throw new AggregateException(errors);
        }
    }
}
