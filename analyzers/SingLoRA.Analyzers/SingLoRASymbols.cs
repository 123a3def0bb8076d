using Microsoft.CodeAnalysis;

namespace SingLoRA.Analyzers;

/// <summary>The attribute, runtime and TorchSharp symbols the analyzers need, resolved once per compilation.</summary>
internal sealed class SingLoRASymbols
{
    private SingLoRASymbols(Compilation compilation, INamedTypeSymbol attribute)
    {
        Compilation = compilation;
        Attribute = attribute;
        SingLoRALinear = compilation.GetTypeByMetadataName("SingLoRA.SingLoRALinear");
        Linear = compilation.GetTypeByMetadataName("TorchSharp.Modules.Linear");
        Module = compilation.GetTypeByMetadataName("TorchSharp.torch+nn+Module");
        ModuleOfTwo = compilation.GetTypeByMetadataName("TorchSharp.torch+nn+Module`2");
        Tensor = compilation.GetTypeByMetadataName("TorchSharp.torch+Tensor");
        Nn = compilation.GetTypeByMetadataName("TorchSharp.torch+nn");
        SingLoRAModule = compilation.GetTypeByMetadataName("SingLoRA.ISingLoRAModule");
        ScalingRule = compilation.GetTypeByMetadataName("SingLoRA.ScalingRule");
        AdapterInit = compilation.GetTypeByMetadataName("SingLoRA.AdapterInit");
        if (ModuleOfTwo is not null && Tensor is not null)
            TensorModule = ModuleOfTwo.Construct(Tensor, Tensor);
    }

    /// <summary>The compilation.</summary>
    public Compilation Compilation { get; }

    /// <summary><c>SingLoRA.SingLoRALinear</c>, the adapter a Module-typed target is swapped for.</summary>
    public INamedTypeSymbol? SingLoRALinear { get; }

    /// <summary><c>SingLoRA.SingLoRAAttribute</c>.</summary>
    public INamedTypeSymbol Attribute { get; }

    /// <summary><c>TorchSharp.Modules.Linear</c>.</summary>
    public INamedTypeSymbol? Linear { get; }

    /// <summary><c>TorchSharp.torch.nn.Module</c>, the root of every module.</summary>
    public INamedTypeSymbol? Module { get; }

    /// <summary><c>TorchSharp.torch.nn.Module&lt;T, TResult&gt;</c>.</summary>
    public INamedTypeSymbol? ModuleOfTwo { get; }

    /// <summary><c>Module&lt;Tensor, Tensor&gt;</c>.</summary>
    public INamedTypeSymbol? TensorModule { get; }

    /// <summary><c>TorchSharp.torch.Tensor</c>.</summary>
    public INamedTypeSymbol? Tensor { get; }

    /// <summary><c>TorchSharp.torch.nn</c>, home of the <c>Linear(in, out, ...)</c> factory.</summary>
    public INamedTypeSymbol? Nn { get; }

    /// <summary><c>SingLoRA.ISingLoRAModule</c>.</summary>
    public INamedTypeSymbol? SingLoRAModule { get; }

    /// <summary><c>SingLoRA.ScalingRule</c>.</summary>
    public INamedTypeSymbol? ScalingRule { get; }

    /// <summary><c>SingLoRA.AdapterInit</c>.</summary>
    public INamedTypeSymbol? AdapterInit { get; }

    /// <summary>The symbols, or null when the compilation does not reference the SingLoRA runtime.</summary>
    public static SingLoRASymbols? TryCreate(Compilation compilation) =>
        compilation.GetTypeByMetadataName("SingLoRA.SingLoRAAttribute") is { } attribute ? new SingLoRASymbols(compilation, attribute) : null;

    /// <summary>The [SingLoRA] attribute on <paramref name="type"/>, or null.</summary>
    public AttributeData? FindAttribute(INamedTypeSymbol type)
    {
        foreach (var attribute in type.GetAttributes())
        {
            if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, Attribute))
                return attribute;
        }
        return null;
    }

    /// <summary>True when <paramref name="type"/> is or derives from <c>torch.nn.Module</c>.</summary>
    public bool IsModule(ITypeSymbol? type)
    {
        for (var t = type; t is not null; t = t.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(t.OriginalDefinition, Module))
                return true;
        }
        return false;
    }

    /// <summary>True for <c>TorchSharp.Modules.Linear</c>.</summary>
    public bool IsLinear(ITypeSymbol? type) => type is not null && SymbolEqualityComparer.Default.Equals(type, Linear);

    /// <summary>True for exactly <c>Module&lt;Tensor, Tensor&gt;</c>.</summary>
    public bool IsTensorModule(ITypeSymbol? type) => type is not null && TensorModule is not null && SymbolEqualityComparer.Default.Equals(type, TensorModule);

    /// <summary>
    /// True for the field types the generator adapts: <c>Linear</c> (reached through interceptors), and any class or
    /// interface type that can hold both a <c>Linear</c> and the <c>SingLoRALinear</c> adapter (usually
    /// <c>Module&lt;Tensor, Tensor&gt;</c>), into which the adapter is swapped.
    /// </summary>
    public bool IsAdaptableFieldType(ITypeSymbol? type) => IsLinear(type) || CanHoldAdapter(type);

    /// <summary>True when both <c>Linear</c> and <c>SingLoRALinear</c> convert implicitly (by reference) to <paramref name="type"/>.</summary>
    public bool CanHoldAdapter(ITypeSymbol? type)
    {
        if (type is not { TypeKind: TypeKind.Class or TypeKind.Interface } || Linear is null || SingLoRALinear is null)
            return false;
        return IsReferenceConversion(Linear, type) && IsReferenceConversion(SingLoRALinear, type);
    }

    private bool IsReferenceConversion(ITypeSymbol from, ITypeSymbol to)
    {
        var conversion = Compilation.ClassifyCommonConversion(from, to);
        return conversion.IsImplicit && (conversion.IsReference || conversion.IsIdentity);
    }
}
