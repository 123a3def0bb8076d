using Microsoft.CodeAnalysis;

namespace SingLoRA.Generator;

/// <summary>Placeholder: the generator issue replaces this with the real pipeline.</summary>
[Generator(LanguageNames.CSharp)]
public sealed class SingLoRAGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
    }
}
