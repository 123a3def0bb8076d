using Microsoft.CodeAnalysis;

namespace SingLoRA.Common;

/// <summary>The SingLoRA runtime and TorchSharp symbols of one compilation, and the type tests built on them.</summary>
internal sealed class KnownSymbols
{
    private KnownSymbols(Compilation compilation, INamedTypeSymbol attribute)
    {
        Compilation = compilation;
        Attribute = attribute;
        SingLoRALinear = compilation.GetTypeByMetadataName(MetadataNames.SingLoRALinear);
        SingLoRAModule = compilation.GetTypeByMetadataName(MetadataNames.ISingLoRAModule);
        ScalingRule = compilation.GetTypeByMetadataName(MetadataNames.ScalingRule);
        AdapterInit = compilation.GetTypeByMetadataName(MetadataNames.AdapterInit);
        AdapterPrecision = compilation.GetTypeByMetadataName(MetadataNames.AdapterPrecision);
        Linear = compilation.GetTypeByMetadataName(MetadataNames.Linear);
        Module = compilation.GetTypeByMetadataName(MetadataNames.Module);
        ModuleOfTwo = compilation.GetTypeByMetadataName(MetadataNames.ModuleOfTwo);
        Tensor = compilation.GetTypeByMetadataName(MetadataNames.Tensor);
        Nn = compilation.GetTypeByMetadataName(MetadataNames.Nn);
        Functional = compilation.GetTypeByMetadataName(MetadataNames.Functional);
        if (ModuleOfTwo is not null && Tensor is not null)
            TensorModule = ModuleOfTwo.Construct(Tensor, Tensor);
    }

    /// <summary>The compilation the symbols come from.</summary>
    public Compilation Compilation { get; }

    /// <summary><c>SingLoRA.SingLoRAAttribute</c>.</summary>
    public INamedTypeSymbol Attribute { get; }

    /// <summary><c>SingLoRA.SingLoRALinear</c>, the adapter.</summary>
    public INamedTypeSymbol? SingLoRALinear { get; }

    /// <summary><c>SingLoRA.ISingLoRAModule</c>.</summary>
    public INamedTypeSymbol? SingLoRAModule { get; }

    /// <summary><c>SingLoRA.ScalingRule</c>.</summary>
    public INamedTypeSymbol? ScalingRule { get; }

    /// <summary><c>SingLoRA.AdapterInit</c>.</summary>
    public INamedTypeSymbol? AdapterInit { get; }

    /// <summary><c>SingLoRA.AdapterPrecision</c>.</summary>
    public INamedTypeSymbol? AdapterPrecision { get; }

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

    /// <summary><c>TorchSharp.torch.nn</c>.</summary>
    public INamedTypeSymbol? Nn { get; }

    /// <summary><c>TorchSharp.torch.nn.functional</c>.</summary>
    public INamedTypeSymbol? Functional { get; }

    /// <summary>The symbols, or null when the compilation does not reference the SingLoRA runtime.</summary>
    public static KnownSymbols? TryCreate(Compilation compilation) =>
        compilation.GetTypeByMetadataName(MetadataNames.SingLoRAAttribute) is { } attribute ? new KnownSymbols(compilation, attribute) : null;

    /// <summary>The first <c>[SingLoRA]</c> attribute on <paramref name="type"/>, or null.</summary>
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
            if (Module is not null && SymbolEqualityComparer.Default.Equals(t.OriginalDefinition, Module))
                return true;
        }
        return false;
    }

    /// <summary>True for <c>TorchSharp.Modules.Linear</c>.</summary>
    public bool IsLinear(ITypeSymbol? type) => type is not null && Linear is not null && SymbolEqualityComparer.Default.Equals(type, Linear);

    /// <summary>
    /// True when both <c>Linear</c> and the <c>SingLoRALinear</c> adapter convert implicitly (by reference) to
    /// <paramref name="type"/> (usually <c>Module&lt;Tensor, Tensor&gt;</c>): a field of that type can hold the adapter.
    /// </summary>
    public bool CanHoldAdapter(ITypeSymbol? type)
    {
        if (type is not { TypeKind: TypeKind.Class or TypeKind.Interface } || Linear is null || SingLoRALinear is null)
            return false;
        return IsReferenceConversion(Linear, type) && IsReferenceConversion(SingLoRALinear, type);
    }

    /// <summary>True for the field types the generator adapts: <c>Linear</c>, and the types that can hold the adapter.</summary>
    public bool IsAdaptableFieldType(ITypeSymbol? type) => IsLinear(type) || CanHoldAdapter(type);

    private bool IsReferenceConversion(ITypeSymbol from, ITypeSymbol to)
    {
        var conversion = Compilation.ClassifyCommonConversion(from, to);
        return conversion.IsImplicit && (conversion.IsReference || conversion.IsIdentity);
    }
}
