using System;
using MobyDistribution.TestBed;
using Xunit;

namespace MobyDistribution.Core.Tests
{
    /// <summary>
    /// The "registries" collection: every test class marked <c>[Collection("registries")]</c> shares one
    /// <see cref="TestBedFixture"/>, i.e. one anonymous, one Basic-auth and one token-auth registry for the run.
    /// </summary>
    [CollectionDefinition("registries")]
    public sealed class RegistryCollection : ICollectionFixture<TestBedFixture>
    {
    }

    /// <summary>Starts the test bed's standard trio once, and builds the shared fixture images on first use.</summary>
    public sealed class TestBedFixture : IDisposable
    {
        private readonly Lazy<FixtureImage> _image = new(() => FixtureImage.Create(layerCount: 2, seed: 42));
        private readonly Lazy<FixtureImage> _index = new(() => FixtureImage.CreateIndex(layerCount: 2, seed: 43));

        public TestBedFixture()
        {
            Env = TestBedEnvironment.Start();
        }

        public TestBedEnvironment Env { get; }
        public RegistryServer Anonymous => Env.Anonymous;
        public RegistryServer Basic => Env.Basic;
        public RegistryServer Token => Env.Token;
        public TokenIssuer Issuer => Env.Issuer;

        /// <summary>A single-platform OCI image (2 layers, seed 42); do not modify its layout.</summary>
        public FixtureImage Image => _image.Value;

        /// <summary>An OCI index of linux/amd64 and linux/arm64/v8 (seed 43); do not modify its layout.</summary>
        public FixtureImage Index => _index.Value;

        public void Dispose()
        {
            if (_image.IsValueCreated) _image.Value.Dispose();
            if (_index.IsValueCreated) _index.Value.Dispose();
            Env.Dispose();
        }
    }
}
