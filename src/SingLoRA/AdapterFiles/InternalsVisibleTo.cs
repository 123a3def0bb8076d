using System.Runtime.CompilerServices;

// The adapter-file tests use the atomic-save test seam (AtomicFile.WrapStreamForTests).
[assembly: InternalsVisibleTo("SingLoRA.Tests")]
