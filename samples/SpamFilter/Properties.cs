using System.Runtime.CompilerServices;

// The tests use the npm seam of SpamAssassin.EnsureTarball and the e-mail parser's internals.
[assembly: InternalsVisibleTo("SingLoRA.Tests")]
