using Xunit;

// TorchSharp's default random generator is process-wide: a test that seeds it and draws twice expecting the same
// values (twin models, variants of one layer, a save and a reload) sees other tests' draws in between when test
// classes run in parallel. LibTorch already uses every core inside each test, so running them one at a time costs little.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
