using System.Collections.Generic;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// What every <c>[SingLoRA]</c>-annotated module implements, so that library code and outer models treat every
/// annotated module alike. The generator writes only what is per class (<see cref="SingLoRAOptions"/>,
/// <see cref="Adapters"/>, the class's descriptor and its typed adapter properties); the operations are default members that call <see cref="SingLoRAModuleExtensions"/> on the
/// module, so every one covers the module's whole subtree: adapters of nested annotated blocks are included, exactly as
/// the extension methods do for any module. An implementing class must derive from <see cref="nn.Module"/>.
/// </summary>
public interface ISingLoRAModule
{
    /// <summary>
    /// The options of the module's adapters (its default adapter's, read from the adapters themselves): the
    /// <c>[SingLoRA]</c> attribute's, as changed by a <see cref="SingLoRAOverrides"/> scope active when they were created or
    /// replaced by <see cref="SingLoRAModuleExtensions.ApplySingLoRA"/>; the attribute's while the module has none.
    /// </summary>
    SingLoRAOptions SingLoRAOptions { get; }

    /// <summary>This module's own adapters (not those of nested modules), keyed by target field name, in attribute order.</summary>
    IReadOnlyList<KeyValuePair<string, SingLoRALinear>> Adapters { get; }

    /// <summary>Counts one optimizer step on every SingLoRA adapter of the subtree.</summary>
    void AdvanceRamp() => SingLoRAModuleExtensions.AdvanceRamp((nn.Module)this);

    /// <summary>Sets the ramp step of every SingLoRA adapter of the subtree.</summary>
    void SetRampStep(long step) => SingLoRAModuleExtensions.SetRampStep((nn.Module)this, step);

    /// <summary>The ramp value <c>u(t)</c> shared by the subtree's adapters.</summary>
    double RampValue() => SingLoRAModuleExtensions.RampValue((nn.Module)this);

    /// <summary>Merges every adapter of the subtree.</summary>
    void MergeAdapters() => SingLoRAModuleExtensions.MergeAdapters((nn.Module)this);

    /// <summary>Unmerges every adapter of the subtree.</summary>
    void UnmergeAdapters() => SingLoRAModuleExtensions.UnmergeAdapters((nn.Module)this);

    /// <summary>Merges every adapter of the subtree after checking that all of them would merge to finite weights; otherwise nothing changes.</summary>
    void SafeMergeAdapters() => SingLoRAModuleExtensions.SafeMergeAdapters((nn.Module)this);

    /// <summary>Freezes every parameter of the subtree except the adapters' own, which become trainable.</summary>
    void FreezeAllButAdapters() => SingLoRAModuleExtensions.FreezeAllButAdapters((nn.Module)this);

    /// <summary>
    /// The class's generated descriptor, through which <see cref="SingLoRAModuleExtensions.ApplySingLoRA"/> re-creates the
    /// module's adapters from a <see cref="SingLoRA.SingLoRAConfig"/>; null for a class that implements the interface by hand.
    /// </summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    Generation.ModuleDescriptor? Descriptor => null;

    /// <summary>The adapters' trainable parameters, for the optimizer.</summary>
    IEnumerable<Parameter> AdapterParameters() => SingLoRAModuleExtensions.AdapterParameters((nn.Module)this);
}
