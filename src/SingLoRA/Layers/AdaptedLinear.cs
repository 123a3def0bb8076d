using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// A frozen TorchSharp <see cref="Linear"/> plus a trainable low-rank update: the common base of
/// <see cref="SingLoRALinear"/> and the <see cref="LoRALinear"/> baseline.
/// </summary>
/// <remarks>
/// <para><see cref="Linear"/> is sealed, so the adapter wraps it. The base weight and bias are registered on the
/// adapter under their own names (<c>weight</c>, <c>bias</c>), so a module that holds the adapter where it held the
/// linear layer keeps the state-dict keys of the pretrained model (<c>q.weight</c>, <c>q.bias</c>); the adapter's own
/// tensors get keys that start with the adapter kind (<c>q.singlora_A</c>, <c>q.lora_B</c>).</para>
/// <para>Merge rules: the update is computed in float32 (float64 for a float64 base) and cast to the base dtype;
/// merging twice or unmerging an unmerged layer throws; a non-finite update is refused with the weights untouched;
/// unmerge subtracts exactly what merge added (the adapter tensors and the scale factor are recorded at merge time);
/// a merged layer's forward does not add the update again. A merged layer refuses to produce or accept a state dict,
/// because its <c>weight</c> is then <c>W0 + ΔW</c> and would be mistaken for <c>W0</c>.</para>
/// </remarks>
public abstract class AdaptedLinear : nn.Module<Tensor, Tensor>
{
    private MergeRecord? _merge;

    /// <summary>The name of the adapter every layer is created with.</summary>
    public const string DefaultAdapterName = "default";

    /// <summary>
    /// Wraps <paramref name="baseLayer"/>. Once the derived constructor has created the first adapter, the base's weight and
    /// bias are frozen and calls on it run this adapter (<see cref="AddSlot"/>), so a constructor that fails changes nothing.
    /// </summary>
    /// <param name="name">The module name TorchSharp shows.</param>
    /// <param name="baseLayer">The pretrained layer.</param>
    /// <param name="options">The first adapter's options, already validated; the rank is checked against the layer's sizes.</param>
    private protected AdaptedLinear(string name, Linear baseLayer, AdapterOptions options) : base(name)
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        if (Wrapping(baseLayer) is { } existing)
            throw new ArgumentException($"This Linear layer is already wrapped by a {existing.GetType().Name}; wrap each layer once.", nameof(baseLayer));
        Base = baseLayer;
        in_features = baseLayer.in_features;
        out_features = baseLayer.out_features;
        if (in_features < 1 || out_features < 1)
            throw new ArgumentException($"The base layer has shape [{out_features}, {in_features}]; both sizes must be at least 1.", nameof(baseLayer));
        if (!torch.is_floating_point(baseLayer.weight))
            throw new ArgumentException($"The base layer's weight has dtype {baseLayer.weight.dtype}; adapters need a floating-point layer.", nameof(baseLayer));
        CheckRank(options.Rank);
        Precision = options.Precision;
        RegisterBase();
    }

    /// <summary>The adapter that wraps <paramref name="baseLayer"/> now, or null when it is not wrapped (never, or no longer).</summary>
    public static AdaptedLinear? Wrapping(Linear baseLayer) => LayerRoutes.AdapterOf(baseLayer);

    /// <summary>The adapter kind, as adapter files name it: <c>singlora</c> or <c>lora</c>.</summary>
    public abstract string Kind { get; }

    /// <summary>
    /// One named adapter of the layer: its options and its tensors (parameters, then buffers), each under the key the kind
    /// gives it (<c>singlora_A</c>, <c>lora_B</c>); registered as <see cref="KeyOf"/> that key and the adapter's name.
    /// </summary>
    private protected sealed class AdapterSlot(string name, AdapterOptions options)
    {
        public string Name { get; } = name;
        public AdapterOptions Options { get; } = options;
        public List<(string Key, Parameter Value)> Parameters { get; } = new();
        public List<(string Key, Tensor Value)> Buffers { get; } = new();
    }

    private readonly List<AdapterSlot> _slots = new();
    private AdapterSlot? _active;

    /// <summary>The active adapter.</summary>
    private protected AdapterSlot Active => _active ?? throw new InvalidOperationException($"This {GetName()} layer has no adapter yet.");

    /// <summary>
    /// Creates the tensors of a new adapter with <paramref name="slot"/>'s options (trainable parameters in
    /// <see cref="AdapterDType"/> on the base weight's device, freshly initialised) and adds them to the slot.
    /// </summary>
    private protected abstract void CreateTensors(AdapterSlot slot);

    /// <summary>Creates and registers an adapter; the first one becomes active, later ones start frozen (only the active adapter trains).</summary>
    private protected AdapterSlot AddSlot(string adapterName, AdapterOptions options)
    {
        var slot = new AdapterSlot(adapterName, options);
        using (no_grad()) CreateTensors(slot);
        foreach (var (key, p) in slot.Parameters) register_parameter(KeyOf(key, adapterName), p);
        foreach (var (key, b) in slot.Buffers) register_buffer(KeyOf(key, adapterName), b);
        _slots.Add(slot);
        if (_active is null)
        {
            // The first adapter exists: the layer is complete. Freeze the base and route calls on it here.
            _active = slot;
            Base.weight!.requires_grad = false;
            if (Base.bias is not null) Base.bias.requires_grad = false;
            LayerRoutes.Wrap(Base, this);
        }
        else foreach (var (_, p) in slot.Parameters) p.requires_grad = false;
        return slot;
    }

    /// <summary>The state-dict key of a tensor of the adapter <paramref name="adapterName"/>: <c>key</c> for the default adapter, <c>key@name</c> otherwise.</summary>
    public static string KeyOf(string key, string adapterName) => adapterName == DefaultAdapterName ? key : key + "@" + adapterName;

    /// <summary>The options of the active adapter.</summary>
    public virtual AdapterOptions Options => Active.Options;

    /// <summary>The options of the adapter <paramref name="adapterName"/> (active or not).</summary>
    /// <exception cref="ArgumentException">No such adapter.</exception>
    public virtual AdapterOptions OptionsOf(string adapterName) => Find(adapterName).Options;

    /// <summary>The names of the layer's adapters, the default one first.</summary>
    public IReadOnlyList<string> AdapterNames => _slots.ConvertAll(s => s.Name);

    /// <summary>The name of the active adapter.</summary>
    public string ActiveAdapter => Active.Name;

    /// <summary>The rank <c>r</c> of the active adapter.</summary>
    public int Rank => Options.Rank;

    /// <summary>
    /// Adds an adapter called <paramref name="adapterName"/> with <paramref name="options"/> (fresh tensors; for SingLoRA a
    /// new <c>A</c> and step 0), not active. Names are letters, digits, <c>_</c> and <c>-</c>, starting with a letter.
    /// </summary>
    /// <exception cref="ArgumentException">The name is invalid or taken, or the options do not fit this layer.</exception>
    private protected void AddAdapterCore(string adapterName, AdapterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ValidateOptions();
        ValidateName(adapterName);
        if (_slots.Exists(s => s.Name == adapterName))
            throw new ArgumentException($"This layer already has an adapter named '{adapterName}'. Delete it first or choose another name.", nameof(adapterName));
        CheckRank(options.Rank);
        if (options.Precision != Precision)
            throw new ArgumentException($"Adapter '{adapterName}' asks for precision {options.Precision}, but this layer's adapters use {Precision}: all adapters of a layer share one precision.", nameof(options));
        AddSlot(adapterName, options);
    }

    /// <summary>Adds an adapter with options of this layer's kind (checked), as the typed <c>AddAdapter</c> of each kind does.</summary>
    /// <exception cref="ArgumentException">The options are of another kind or invalid, the name is invalid or taken, or the options do not fit.</exception>
    internal void AddAdapter(string adapterName, AdapterOptions options)
    {
        if (options is not null && options.GetType() != Options.GetType())
            throw new ArgumentException($"A {Kind} layer takes {Options.GetType().Name}, not {options.GetType().Name}.", nameof(options));
        AddAdapterCore(adapterName, options!);
    }

    /// <summary>
    /// Makes <paramref name="adapterName"/> the adapter the forward, the merge and training use (and, for SingLoRA, the ramp);
    /// its parameters require gradients (if the active ones did) and the others' do not. No tensor is copied.
    /// </summary>
    /// <exception cref="ArgumentException">No such adapter.</exception>
    /// <exception cref="InvalidOperationException">The layer is merged (unmerge first).</exception>
    public void SetActiveAdapter(string adapterName)
    {
        var slot = Find(adapterName);
        if (ReferenceEquals(slot, _active)) return;
        if (IsMerged)
            throw new InvalidOperationException($"This layer is merged with adapter '{Active.Name}'; call Unmerge() before switching to '{adapterName}'.");
        bool trainable = Active.Parameters.Any(p => p.Value.requires_grad);
        foreach (var (_, p) in Active.Parameters) p.requires_grad = false;
        foreach (var (_, p) in slot.Parameters) p.requires_grad = trainable;
        _active = slot;
    }

    /// <summary>Deletes the adapter <paramref name="adapterName"/> and frees its tensors. The active adapter cannot be deleted.</summary>
    /// <exception cref="ArgumentException">No such adapter.</exception>
    /// <exception cref="InvalidOperationException">It is the active adapter.</exception>
    public void DeleteAdapter(string adapterName)
    {
        var slot = Find(adapterName);
        if (ReferenceEquals(slot, _active))
            throw new InvalidOperationException($"'{adapterName}' is the active adapter; activate another one (SetActiveAdapter) before deleting it.");
        foreach (var (key, _) in slot.Parameters) ConditionallyRegisterParameter(KeyOf(key, adapterName), null);
        foreach (var (key, _) in slot.Buffers) ConditionallyRegisterBuffer(KeyOf(key, adapterName), null);
        _slots.Remove(slot);
        foreach (var (_, p) in slot.Parameters) p.Dispose();
        foreach (var (_, b) in slot.Buffers) b.Dispose();
    }

    /// <summary>The adapter called <paramref name="adapterName"/>.</summary>
    /// <exception cref="ArgumentException">No such adapter (the message lists the layer's adapters).</exception>
    private protected AdapterSlot Find(string adapterName)
    {
        ArgumentNullException.ThrowIfNull(adapterName);
        return _slots.Find(s => s.Name == adapterName)
            ?? throw new ArgumentException($"This {GetName()} layer has no adapter named '{adapterName}' (it has {string.Join(", ", _slots.Select(s => $"'{s.Name}'"))}).", nameof(adapterName));
    }

    /// <summary>Throws unless <paramref name="adapterName"/> is a valid adapter name (a letter, then letters, digits, <c>_</c> or <c>-</c>; at most 64).</summary>
    public static void ValidateName(string adapterName)
    {
        ArgumentNullException.ThrowIfNull(adapterName);
        bool ok = adapterName.Length is > 0 and <= 64 && char.IsAsciiLetter(adapterName[0])
            && adapterName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
        if (!ok)
            throw new ArgumentException($"'{adapterName}' is not a valid adapter name: use a letter followed by letters, digits, '_' or '-' (at most 64 characters).", nameof(adapterName));
    }


    /// <summary>The wrapped pretrained layer; its <c>weight</c> and <c>bias</c> are the adapter's <see cref="weight"/> and <see cref="bias"/>.</summary>
    public Linear Base { get; }

    /// <summary>The frozen base weight <c>W0</c>, shape <c>[d_out, d_in]</c> (it holds <c>W0 + ΔW</c> while merged).</summary>
    public Parameter weight => Base.weight;

    /// <summary>The frozen base bias, or null.</summary>
    public Parameter? bias => Base.bias;

    /// <summary><c>d_in</c>, the base layer's input size (named as on TorchSharp's <see cref="Linear"/>, which the adapter stands in for).</summary>
    public long in_features { get; }

    /// <summary><c>d_out</c>, the base layer's output size (named as on TorchSharp's <see cref="Linear"/>, which the adapter stands in for).</summary>
    public long out_features { get; }

    /// <summary>The active adapter's dropout probability on the adapter path's input.</summary>
    public double Dropout => Options.Dropout;

    /// <summary>
    /// False while the adapter is switched off: the forward is then exactly the base layer's (bit-identical), and the
    /// adapter keeps its tensors. Set it through <c>model.DisableAdapters()</c>, a scope that restores it. A merged layer
    /// cannot be switched off (its weight holds the update): unmerge first.
    /// </summary>
    public bool AdapterEnabled
    {
        get => _enabled;
        set
        {
            if (!value && _merge is not null)
                throw new InvalidOperationException($"This {GetName()} layer is merged: its weight holds W0 + ΔW, so switching the adapter off would not give the base model. Call UnmergeAdapters() first.");
            _enabled = value;
        }
    }

    private bool _enabled = true;

    /// <summary>Throws unless <paramref name="rank"/> fits this layer (at most <c>min(d_in, d_out)</c>: <c>common/RankBound.cs</c>).</summary>
    private protected void CheckRank(int rank)
    {
        if (SingLoRA.Common.RankBound.Problem(rank, in_features, out_features) is { } problem)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, char.ToUpperInvariant(problem[0]) + problem[1..] + ".");
    }

    /// <summary>The dtype rule for the adapter's trainable tensors.</summary>
    public AdapterPrecision Precision { get; }

    /// <summary>
    /// The dtype the adapter's trainable tensors have for the base weight's current dtype: float32 on a 16-bit base
    /// under <see cref="AdapterPrecision.AtLeastFloat32"/>, the base weight's dtype otherwise.
    /// </summary>
    public ScalarType AdapterDType => AdapterMath.AdapterDType(Base.weight.dtype, Precision);

    /// <summary>True while the update is folded into <see cref="weight"/>.</summary>
    public bool IsMerged => _merge is not null;

    /// <summary>The active adapter's trainable tensors, in registration order.</summary>
    public IReadOnlyList<Parameter> AdapterParameters => Active.Parameters.ConvertAll(p => p.Value);

    /// <summary>The number of trainable adapter values.</summary>
    public long AdapterParameterCount => AdapterParameters.Sum(p => p.numel());

    /// <summary>The factor the update is multiplied by now (for SingLoRA it includes the ramp value).</summary>
    public abstract double CurrentScale { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckCompatible(input);
        using var scope = NewDisposeScope();
        var output = nn.functional.linear(input, Base.weight, Base.bias);
        if (_merge is null && _enabled)
        {
            double p = Dropout;
            var x = p > 0 && training ? nn.functional.dropout(input, p, training: true) : input;
            // Both as 2-D (the leading dimensions folded into rows), so the adapter's last product takes the base output
            // as the GEMM's accumulator (addmm, beta = 1) instead of writing a [rows, d_out] delta and adding it: one pass
            // over the output fewer. Out of place on purpose: an in-place op on a view of an autograd output makes
            // backward clone the whole output gradient (CopySlices), which measured up to 1.5x slower on a CPU.
            output = WithAdapterOutput(output.view(-1, out_features), x.reshape(-1, in_features)).view(output.shape);
        }
        return output.MoveToOuterDisposeScope();
    }

    // Metadata checks only (no host synchronisation): a mismatch gets an error that says what to do, rather than
    // LibTorch's "expected scalar type" deep inside a matmul.
    private void CheckCompatible(Tensor input)
    {
        var w = Base.weight;
        if (input.dtype != w.dtype || input.device_type != w.device_type || input.device_index != w.device_index)
            throw new ArgumentException(
                $"The input is {input.dtype} on {input.device} but this {GetName()} layer is {w.dtype} on {w.device}. " +
                $"Convert the input (input.to({w.dtype}, {w.device})) or move the whole model with model.to(...).", nameof(input));
        var adapterType = AdapterDType;
        foreach (var (_, p) in Active.Parameters)   // the list itself: no copy per forward
            if (p.dtype != adapterType || p.device_type != w.device_type || p.device_index != w.device_index)
                throw new InvalidOperationException(
                    $"The adapter of this {GetName()} layer is {p.dtype} on {p.device} but its base layer is {w.dtype} on {w.device} (the adapter should be {adapterType} there, precision {Precision}): " +
                    "the base layer or the adapter was moved alone. Move the whole model (model.to(...)) so that both move together.");
    }

    /// <summary>
    /// The base output plus the adapter path: <c>output + s · u · (x A_in) A_outᵀ</c> for SingLoRA,
    /// <c>output + s · (x Aᵀ) Bᵀ</c> for LoRA, as a new tensor. <paramref name="output"/> is <c>[rows, d_out]</c> (a view
    /// of the base output), <paramref name="x"/> is <c>[rows, d_in]</c> in the base dtype. Computed as thin products;
    /// the full <c>ΔW</c> is never built, and the last product takes <paramref name="output"/> as its accumulator (<c>addmm</c>).
    /// </summary>
    protected abstract Tensor WithAdapterOutput(Tensor output, Tensor x);

    // A dtype move replaced the adapter parameter registered as `registered` (already re-registered) with `replacement`:
    // point its adapter's slot at the new tensor.
    private void OnAdapterTensorReplaced(string registered, Parameter replacement)
    {
        foreach (var slot in _slots)
            for (int i = 0; i < slot.Parameters.Count; i++)
                if (KeyOf(slot.Parameters[i].Key, slot.Name) == registered)
                {
                    slot.Parameters[i] = (slot.Parameters[i].Key, replacement);
                    return;
                }
        throw new InvalidOperationException($"{GetName()} has no adapter parameter registered as '{registered}'.");
    }

    /// <summary>An adapter tensor in the dtype of the activations: itself, or a cast of a float32 master copy (autograd flows back through the cast).</summary>
    protected static Tensor InComputeType(Tensor adapterTensor, ScalarType dtype) =>
        adapterTensor.dtype == dtype ? adapterTensor : adapterTensor.to_type(dtype);


    /// <summary>
    /// The unscaled update <c>ΔW / scale</c> (shape <c>[d_out, d_in]</c>) in <paramref name="computeType"/>, built from
    /// the given adapter tensors (the live ones, or the copies recorded at merge time).
    /// </summary>
    protected abstract Tensor UnscaledUpdate(IReadOnlyList<Tensor> adapterTensors, ScalarType computeType);

    /// <summary>The full update <c>ΔW</c> as it would be merged now, in float32 (float64 for a float64 base). For tests and inspection.</summary>
    public Tensor DeltaWeight()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var delta = UnscaledUpdate(AdapterParameters, ComputeType).mul_(CurrentScale);
        return delta.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Folds the update into the base weight: <c>W ← W0 + ΔW</c>, computed in float32 and cast to the base dtype.
    /// Throws if the layer is already merged, or if the update is not finite (then nothing changes). A float32 or
    /// float64 base is updated in place; a low-precision base is merged through a float32 copy, which is checked whole.
    /// </summary>
    public void Merge() => MergeCore(checkResult: false);

    /// <summary>
    /// Like <see cref="Merge"/>, but for every dtype the merged weight is built in a copy and every value of it is
    /// checked (catching an overflow of <c>W0 + ΔW</c> that a finite update can still cause) before it replaces the base weight.
    /// </summary>
    public void SafeMerge() => MergeCore(checkResult: true);

    /// <summary>
    /// Checks, without changing anything, whether <see cref="SafeMerge"/> would succeed. Used by model-level safe merges so
    /// that either every layer merges or none does.
    /// </summary>
    /// <param name="reason">Null when the merge would succeed; otherwise why it would not.</param>
    /// <returns>True when <see cref="SafeMerge"/> would succeed.</returns>
    public bool CanMerge([NotNullWhen(false)] out string? reason)
    {
        reason = null;
        if (IsMerged)
        {
            reason = $"{GetName()} is already merged.";
            return false;
        }
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var merged = MergedWeight(UnscaledUpdate(AdapterParameters, ComputeType).mul_(CurrentScale));
        if (merged.isfinite().all().item<bool>()) return true;
        reason = NonFiniteMessage();
        return false;
    }

    /// <summary>
    /// Merges with a given scale instead of <see cref="CurrentScale"/> (checked like <see cref="SafeMerge"/>): restores the
    /// merge state recorded in an adapter file, whose merged scale may differ from the current ramp value.
    /// </summary>
    internal void MergeWithScale(double scale) => MergeCore(checkResult: true, scale);

    /// <summary>The copies of the adapter tensors that the current merge used, or null when not merged.</summary>
    internal IReadOnlyList<Tensor>? MergedAdapterTensors => _merge?.Adapter;

    private void MergeCore(bool checkResult, double? scaleOverride = null)
    {
        if (_merge is not null)
            throw new InvalidOperationException($"This {GetName()} layer is already merged. Call Unmerge() before merging again.");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        double scale = scaleOverride ?? CurrentScale;
        var snapshot = AdapterParameters.Select(p => (Tensor)p.detach().clone()).ToArray();
        var delta = UnscaledUpdate(snapshot, ComputeType).mul_(scale);
        if (checkResult || Base.weight.dtype != ComputeType)
        {
            // Built in a copy (always so for a low-precision base, which is merged through float32): check it all.
            var merged = MergedWeight(delta);
            if (!merged.isfinite().all().item<bool>()) throw new InvalidOperationException(NonFiniteMessage());
            Base.weight.copy_(merged);
        }
        else
        {
            // Fast path: in place, after checking the update itself.
            if (!delta.isfinite().all().item<bool>()) throw new InvalidOperationException(NonFiniteMessage());
            Base.weight.add_(delta);
        }
        foreach (var t in snapshot) t.DetachFromDisposeScope();
        _merge = new MergeRecord(scale, snapshot);
    }

    /// <summary>
    /// Subtracts exactly the update that <see cref="Merge"/> added (recomputed from the adapter tensors and scale recorded
    /// at merge time, in float32). <c>W0</c> comes back up to one rounding per element, not bit for bit: the merged weight
    /// <c>W0 + ΔW</c> was rounded to the base dtype, so <c>|W − W0| ≤ ε · max(|W0|, |W0 + ΔW|)</c> with <c>ε = 2⁻²³</c> for
    /// float32 (2⁻⁸ for bfloat16). For the exact base, switch the adapter off instead (<c>model.DisableAdapters()</c>).
    /// Throws if not merged.
    /// </summary>
    public void Unmerge()
    {
        if (_merge is not { } record)
            throw new InvalidOperationException($"This {GetName()} layer is not merged; there is nothing to unmerge.");
        using (no_grad())
        using (NewDisposeScope())
        {
            var delta = UnscaledUpdate(record.Adapter, ComputeType).mul_(record.Scale);
            if (Base.weight.dtype == ComputeType) Base.weight.sub_(delta);
            else Base.weight.copy_(Base.weight.to_type(ComputeType).sub_(delta));
        }
        foreach (var t in record.Adapter) t.Dispose();
        _merge = null;
    }

    /// <summary>True when the weight holds the update of the adapter <paramref name="adapterName"/>.</summary>
    internal bool IsMergedWith(string adapterName) => IsMerged && ActiveAdapter == adapterName;

    // ------------------------------------------------------------------ how adapter files see this kind

    /// <summary>
    /// The tensors an adapter file holds for the adapter <paramref name="adapterName"/>, keyed relative to the layer. The keys
    /// do not name the adapter (<c>singlora_A</c> whichever adapter it is), so a file fits any adapter slot.
    /// </summary>
    internal IReadOnlyList<(string Key, Tensor Tensor)> FileTensors(string adapterName)
    {
        var slot = Find(adapterName);
        return slot.Parameters.Select(p => (p.Key, (Tensor)p.Value)).Concat(slot.Buffers).ToList();
    }

    /// <summary>The adapter <paramref name="adapterName"/> of this layer as an adapter file describes it: sizes, dtypes, options, merge state.</summary>
    internal virtual AdapterFiles.AdapterTarget Describe(string path, string adapterName)
    {
        var options = OptionsOf(adapterName);
        var own = FileTensors(adapterName);
        bool merged = IsMergedWith(adapterName);
        return new AdapterFiles.AdapterTarget
        {
            Path = path,
            Kind = Kind,
            InFeatures = in_features,
            OutFeatures = out_features,
            Dtype = AdapterFiles.SafeTensors.DTypeName(weight.dtype),
            AdapterDtype = AdapterFiles.SafeTensors.DTypeName(own[0].Tensor.dtype),
            Rank = options.Rank,
            Alpha = options.Alpha,
            Scaling = options.Scaling,
            Dropout = options.Dropout,
            Merged = merged,
            MergedScale = merged ? MergedScale : null,
            Tensors = own.ToDictionary(o => o.Key, o => o.Tensor.shape, StringComparer.Ordinal),
        };
    }

    /// <summary>What is wrong with the saved tensors of <paramref name="saved"/> beyond names, shapes and dtypes (a kind's own invariants); empty when nothing.</summary>
    internal virtual IEnumerable<string> CheckSaved(AdapterFiles.AdapterTarget saved, Func<string, Tensor?> savedTensor) => Array.Empty<string>();

    /// <summary>Adds the adapter <paramref name="adapterName"/> with the options <paramref name="saved"/> describes (loading a file into a new name).</summary>
    /// <exception cref="ArgumentException">The options do not fit this layer.</exception>
    internal abstract void AddAdapterFrom(string adapterName, AdapterFiles.AdapterTarget saved);

    /// <summary>
    /// Keeps the merged weight and forgets how to unmerge it (frees the adapter copies the merge recorded): what
    /// <see cref="SingLoRAModuleExtensions.MergeAndUnload"/> does to each layer before it puts the plain layer back.
    /// </summary>
    internal void CommitMerge()
    {
        if (_merge is not { } record) throw new InvalidOperationException($"This {GetName()} layer is not merged; there is nothing to commit.");
        foreach (var t in record.Adapter) t.Dispose();
        _merge = null;
        _enabled = false;   // the weight holds the update now: the adapter path must never add it again
    }

    /// <summary>The scale factor that the current merge used, or null when not merged.</summary>
    public double? MergedScale => _merge?.Scale;

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The layer is merged.</exception>
    public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null)
    {
        if (_merge is not null)
            throw new InvalidOperationException(
                $"The adapted layer '{prefix ?? GetName()}' is merged: its weight holds W0 + ΔW, which a state dict would pass off as W0. " +
                "Call UnmergeAdapters() before saving or loading a state dict (merge again afterwards), or export the merged weights on purpose.");
        return base.state_dict(destination, prefix);
    }

    /// <summary>The dtype merges are computed in: float64 for a float64 base, float32 otherwise.</summary>
    protected ScalarType ComputeType => Base.weight.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <summary><c>W0 + delta</c>, added in the compute dtype and cast back to the base dtype, in a new tensor.</summary>
    private Tensor MergedWeight(Tensor delta) => Base.weight.to_type(ComputeType).add(delta).to_type(Base.weight.dtype);

    private string NonFiniteMessage() =>
        $"Merging this {GetName()} layer would write non-finite values (NaN or infinity) into the base weight of dtype {Base.weight.dtype}; the weights were left untouched. " +
        "Check the adapter for NaNs (a diverged run) or use a wider base dtype.";

    /// <summary>
    /// Does nothing: the adapter registers its tensors itself (<c>weight</c>, <c>bias</c> and its own) in its constructor.
    /// Without this override, an owner's <c>RegisterComponents()</c> reaches the adapter and TorchSharp's reflection
    /// registers the <see cref="Base"/> property's backing field as a submodule, duplicating the base weights under
    /// <c>&lt;Base&gt;k__BackingField.weight</c> keys.
    /// </summary>
    protected override void RegisterComponents()
    {
    }

    private void RegisterBase()
    {
        ConditionallyRegisterParameter("weight", Base.weight);
        ConditionallyRegisterParameter("bias", Base.bias);
    }

    // Moves. Linear is sealed and not registered as a child of the adapter (its tensors are registered directly, to
    // keep the pretrained keys), so every move first goes through Linear's own move. The base implementation then
    // checks the target and calls _toEpilog, which this class replaces: TorchSharp's generic epilog would replace
    // every registered tensor whose device index differs from the requested one (always the case on CUDA, where
    // torch.CUDA is cuda:-1 and tensors report cuda:0) and assign it through a public property of the same name
    // (this class's get-only `weight`), which throws. Here the epilog re-registers the tensors Base moved and moves
    // the adapter's own tensors by the precision rule.

    /// <inheritdoc />
    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
    {
        Base.to(device, dtype, non_blocking);
        RegisterBase();   // also when the base implementation finds nothing left to move and skips the epilog
        return base._to(device, dtype, non_blocking);
    }

    /// <inheritdoc />
    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
    {
        Base.to(deviceType, deviceIndex, non_blocking);
        RegisterBase();   // also when the base implementation finds nothing left to move and skips the epilog
        return base._to(deviceType, deviceIndex, non_blocking);
    }

    /// <inheritdoc />
    protected override nn.Module _to(ScalarType dtype, bool non_blocking)
    {
        Base.to(dtype, non_blocking);
        RegisterBase();   // also when the base implementation finds nothing left to move and skips the epilog
        return base._to(dtype, non_blocking);
    }

    /// <summary>
    /// After a move: re-registers the base layer's moved <c>weight</c> and <c>bias</c>, and moves the adapter's own
    /// parameters (to <see cref="AdapterDType"/>, so a float32 master <c>A</c> stays float32 when a 16-bit model moves) and
    /// buffers (keeping their dtype: the step counter stays int64). A move that keeps a tensor's dtype (a device move, or
    /// <c>model.to(bfloat16)</c> with a float32 master <c>A</c>) is done <b>in place</b>, as PyTorch's <c>module.to()</c> does:
    /// the same <see cref="Parameter"/> object holds the moved data, so an optimizer made before the move still updates it.
    /// A change of <c>A</c>'s dtype needs a new tensor (TorchSharp has no <c>set_data</c>); an optimizer made before such a move
    /// holds the old, disposed one. Tensors recorded by a merge move too.
    /// </summary>
    protected override void _toEpilog(ScalarType? dtype, Device? device, bool non_blocking)
    {
        RegisterBase();
        var adapterType = AdapterDType;
        using (no_grad())
        {
            foreach (var (name, param) in named_parameters(recurse: false).ToList())
            {
                if (name is "weight" or "bias") continue;
                if (param.dtype == adapterType)
                {
                    MoveInPlace(param, device, non_blocking);
                }
                else if (ReplaceParameter(adapterType, device, param, out var moved))
                {
                    ConditionallyRegisterParameter(name, moved);
                    OnAdapterTensorReplaced(name, moved!);
                    param.Dispose();
                }
            }
            foreach (var (_, buffer) in named_buffers(recurse: false).ToList())
                MoveInPlace(buffer, device, non_blocking);   // buffers keep their dtype: the step counter stays int64
        }
        if (device is not null)
        {
            if (_merge is { } record)
                for (int i = 0; i < record.Adapter.Length; i++)
                    record.Adapter[i] = record.Adapter[i].to(device, disposeAfter: true).DetachFromDisposeScope();
            _deviceType = device.type;
            _deviceIndex = device.index;
        }
    }

    private static void MoveInPlace(Tensor tensor, Device? device, bool nonBlocking)
    {
        if (device is null) return;
        using (var moved = tensor.to(device, non_blocking: nonBlocking)) tensor.set_(moved);   // `to` aliases when nothing changes
        if (tensor.grad is { } grad)
            using (grad)
            using (var movedGrad = grad.to(device, non_blocking: nonBlocking))
                tensor.grad = movedGrad;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_merge is { } record) foreach (var t in record.Adapter) t.Dispose();
            Base.Dispose();
        }
        base.Dispose(disposing);
    }

    private sealed record MergeRecord(double Scale, Tensor[] Adapter);
}
