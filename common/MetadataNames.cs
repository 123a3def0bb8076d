namespace SingLoRA.Common;

/// <summary>The metadata names of the types the generator and the analyzers look for.</summary>
internal static class MetadataNames
{
    /// <summary>The attribute that marks an adapted module.</summary>
    public const string SingLoRAAttribute = "SingLoRA.SingLoRAAttribute";

    /// <summary>The runtime adapter.</summary>
    public const string SingLoRALinear = "SingLoRA.SingLoRALinear";

    /// <summary>The interface every annotated module implements.</summary>
    public const string ISingLoRAModule = "SingLoRA.ISingLoRAModule";

    /// <summary>The attribute's scaling rule enum.</summary>
    public const string ScalingRule = "SingLoRA.ScalingRule";

    /// <summary>The attribute's initialisation enum.</summary>
    public const string AdapterInit = "SingLoRA.AdapterInit";

    /// <summary><c>SingLoRA.AdapterPrecision</c>.</summary>
    public const string AdapterPrecision = "SingLoRA.AdapterPrecision";

    /// <summary>TorchSharp's sealed linear layer.</summary>
    public const string Linear = "TorchSharp.Modules.Linear";

    /// <summary>TorchSharp's root module type, <c>torch.nn.Module</c>.</summary>
    public const string Module = "TorchSharp.torch+nn+Module";

    /// <summary>TorchSharp's <c>torch.nn.Module&lt;T, TResult&gt;</c>.</summary>
    public const string ModuleOfTwo = "TorchSharp.torch+nn+Module`2";

    /// <summary>TorchSharp's tensor.</summary>
    public const string Tensor = "TorchSharp.torch+Tensor";

    /// <summary>TorchSharp's <c>torch.nn</c>, home of the <c>Linear(in, out, ...)</c> factory.</summary>
    public const string Nn = "TorchSharp.torch+nn";

    /// <summary>TorchSharp's <c>torch.nn.functional</c>, home of <c>linear(input, weight, bias)</c>.</summary>
    public const string Functional = "TorchSharp.torch+nn+functional";
}
