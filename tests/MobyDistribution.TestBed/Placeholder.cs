namespace MobyDistribution.TestBed { internal static class Placeholder { } }
