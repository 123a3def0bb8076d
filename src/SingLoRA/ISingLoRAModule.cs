using System.Collections.Generic;
using TorchSharp.Modules;

namespace SingLoRA;

/// <summary>
/// What every <c>[SingLoRA]</c>-annotated module implements (the generator writes the implementation), so that
/// library code and outer models treat every annotated module alike. Every operation covers the module's whole
/// subtree: adapters of nested annotated blocks are included, exactly as <see cref="SingLoRAModuleExtensions"/> does for any module.
/// </summary>
public interface ISingLoRAModule
{
    /// <summary>
    /// The options of the module's adapters: the <c>[SingLoRA]</c> attribute's, as changed by a
    /// <see cref="SingLoRAOverrides"/> scope active when the adapters were created (the attribute's before that).
    /// </summary>
    SingLoRAOptions SingLoRAOptions { get; }

    /// <summary>This module's own adapters (not those of nested modules), keyed by target field name, in attribute order.</summary>
    IReadOnlyList<KeyValuePair<string, SingLoRALinear>> Adapters { get; }

    /// <summary>Counts one optimizer step on every SingLoRA adapter of the subtree.</summary>
    void AdvanceRamp();

    /// <summary>Sets the ramp step of every SingLoRA adapter of the subtree.</summary>
    void SetRampStep(long step);

    /// <summary>The ramp value <c>u(t)</c> shared by the subtree's adapters.</summary>
    double RampValue();

    /// <summary>Merges every adapter of the subtree.</summary>
    void MergeAdapters();

    /// <summary>Unmerges every adapter of the subtree.</summary>
    void UnmergeAdapters();

    /// <summary>Merges every adapter of the subtree after checking that all of them would merge to finite weights; otherwise nothing changes.</summary>
    void SafeMergeAdapters();

    /// <summary>Freezes every parameter of the subtree except the adapters' own, which become trainable.</summary>
    void FreezeAllButAdapters();

    /// <summary>The adapters' trainable parameters, for the optimizer.</summary>
    IEnumerable<Parameter> AdapterParameters();
}
