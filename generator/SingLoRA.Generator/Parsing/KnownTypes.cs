using Microsoft.CodeAnalysis;

namespace SingLoRA.Generator.Parsing;

/// <summary>The metadata names the generator recognises.</summary>
public static class KnownTypes
{
    /// <summary>The attribute that marks an adapted module.</summary>
    public const string SingLoRAAttribute = "SingLoRA.SingLoRAAttribute";

    /// <summary>TorchSharp's sealed linear layer.</summary>
    public const string Linear = "TorchSharp.Modules.Linear";

    /// <summary>The runtime adapter.</summary>
    public const string SingLoRALinear = "SingLoRA.SingLoRALinear";

    /// <summary>TorchSharp's tensor.</summary>
    public const string Tensor = "TorchSharp.torch+Tensor";

    /// <summary>True when <paramref name="type"/> is TorchSharp's non-generic <c>torch.nn.Module</c>.</summary>
    public static bool IsTorchModule(ITypeSymbol type) =>
        type is INamedTypeSymbol { Name: "Module", Arity: 0, ContainingType: { Name: "nn", ContainingType: { Name: "torch", ContainingType: null } torch } }
        && torch.ContainingNamespace is { Name: "TorchSharp", ContainingNamespace.IsGlobalNamespace: true };

    /// <summary>True when <paramref name="type"/> derives (directly or not) from TorchSharp's <c>torch.nn.Module</c>.</summary>
    public static bool DerivesFromTorchModule(INamedTypeSymbol type)
    {
        for (var t = type.BaseType; t is not null; t = t.BaseType)
            if (IsTorchModule(t)) return true;
        return false;
    }
}
