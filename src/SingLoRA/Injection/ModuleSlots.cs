using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// One place in a module tree that holds a reference to a layer: a registration in a parent's submodule dictionary,
/// an item of a <see cref="Sequential"/>, <see cref="ModuleList{T}"/> or <see cref="ModuleDict{T}"/>, or an instance
/// field of a module. Runtime injection writes the adapter into every place that holds the layer, and writes the
/// layer back to undo.
/// </summary>
internal abstract class ModuleSlot
{
    /// <summary>What the report says about this place, for example <c>field Block.q_proj (Module&lt;Tensor, Tensor&gt;) of 'blocks.0'</c>.</summary>
    public abstract string Description { get; }

    /// <summary>
    /// True when the model calls the layer through this place (a container's forward or iteration, or a field);
    /// false for a bare registration, which only makes the layer visible to <c>named_modules()</c> and the state dict.
    /// </summary>
    public abstract bool CallsThrough { get; }

    /// <summary>Null when the place can hold a <see cref="SingLoRALinear"/>; otherwise why it cannot.</summary>
    public abstract string? CannotHoldAdapter { get; }

    /// <summary>True when the place can hold a module of type <paramref name="type"/> (a slot emptied of an adapter must take its plain layer back).</summary>
    public virtual bool CanHold(Type type) => true;

    /// <summary>A key that is equal for two slots that denote the same place.</summary>
    public abstract (object Owner, string Place) Key { get; }

    /// <summary>Writes <paramref name="module"/> into the place (the adapter, or the original layer to undo).</summary>
    public abstract void Put(nn.Module module);

    /// <summary>Shows a path to the user: the root is <c>(the model)</c>.</summary>
    public static string Show(string path) => path.Length == 0 ? "(the model)" : $"'{path}'";

    /// <summary>A C#-like type name: <c>ModuleList&lt;Module&lt;Tensor, Tensor&gt;&gt;</c>, not <c>ModuleList`1</c>.</summary>
    public static string TypeName(Type type)
    {
        if (!type.IsGenericType) return type.Name;
        var name = type.Name;
        int tick = name.IndexOf('`');
        return $"{(tick < 0 ? name : name[..tick])}<{string.Join(", ", type.GetGenericArguments().Select(TypeName))}>";
    }
}

/// <summary>The entry of a parent's <c>_internal_submodules</c> (what <c>named_modules()</c> and <c>state_dict()</c> walk).</summary>
internal sealed class RegistrationSlot(nn.Module parent, string parentPath, int index) : ModuleSlot
{
    private readonly OrderedDict<string, nn.Module> _submodules = TorchSharpInternals.Submodules(parent);

    public override string Description => $"registration '{_submodules[index].Item1}' of {Show(parentPath)}";

    public override bool CallsThrough => false;

    public override string? CannotHoldAdapter => null;

    public override (object Owner, string Place) Key => (parent, $"registration {index}");

    public override void Put(nn.Module module) => _submodules[index] = (_submodules[index].Item1, module);
}

/// <summary>An item of a <see cref="Sequential"/>, which its <c>forward</c> calls in order.</summary>
internal sealed class SequentialSlot(Sequential sequential, string path, int index) : ModuleSlot
{
    public override string Description => $"item {index} of Sequential {Show(path)}";

    public override bool CallsThrough => true;

    public override string? CannotHoldAdapter => null;

    public override (object Owner, string Place) Key => (sequential, $"item {index}");

    public override void Put(nn.Module module) => TorchSharpInternals.SequentialItems(sequential)[index] = (nn.IModule<Tensor, Tensor>)module;
}

/// <summary>
/// An item of a <see cref="ModuleList{T}"/> (<paramref name="place"/> <c>item 2</c>) or a value of a
/// <see cref="ModuleDict{T}"/> (<c>key 'cls'</c>), which the model iterates or indexes; written through the container's indexer.
/// </summary>
internal sealed class ContainerSlot(nn.Module container, Type elementType, string path, string place, Action<nn.Module> put) : ModuleSlot
{
    public override string Description => $"{place} of {TypeName(container.GetType())} {Show(path)}";

    public override bool CallsThrough => true;

    public override string? CannotHoldAdapter => CanHold(typeof(SingLoRALinear))
        ? null
        : $"{TypeName(container.GetType())} {Show(path)} can hold only {TypeName(elementType)} items, and a SingLoRALinear is not one (Linear is sealed)";

    public override bool CanHold(Type type) => elementType.IsAssignableFrom(type);

    public override (object Owner, string Place) Key => (container, place);

    public override void Put(nn.Module module) => put(module);
}

/// <summary>An instance field of a module (readonly or not), through which the module's compiled code calls the layer.</summary>
internal sealed class FieldSlot(nn.Module owner, string ownerPath, FieldInfo holder) : ModuleSlot
{
    public string FieldName { get; } = FieldDisplayName(holder);

    public override string Description => $"field {holder.DeclaringType!.Name}.{FieldName} ({TypeName(holder.FieldType)}) of {Show(ownerPath)}";

    public override bool CallsThrough => true;

    public override string? CannotHoldAdapter => CanHold(typeof(SingLoRALinear))
        ? null
        : holder.FieldType == typeof(Linear)
            ? $"field {holder.DeclaringType!.Name}.{FieldName} of {Show(ownerPath)} is typed Linear: Linear is sealed, so the field cannot hold an adapter, " +
              $"and the compiled code that calls {FieldName}.forward(x) cannot be redirected at run time"
            : $"field {holder.DeclaringType!.Name}.{FieldName} of {Show(ownerPath)} is typed {TypeName(holder.FieldType)}, which a SingLoRALinear is not";

    public override bool CanHold(Type type) => holder.FieldType.IsAssignableFrom(type);

    public override (object Owner, string Place) Key => (owner, $"field {holder.DeclaringType!.FullName}.{holder.Name}");

    public override void Put(nn.Module module) => holder.SetValue(owner, module);

    // An auto-property's backing field <Proj>k__BackingField is shown as the property, Proj.
    private static string FieldDisplayName(FieldInfo field) =>
        field.Name.StartsWith('<') && field.Name.IndexOf('>') is > 1 and var end ? field.Name[1..end] : field.Name;
}

/// <summary>
/// The members that runtime injection must read or write and that their owners expose only to derived classes
/// (TorchSharp's <c>Module._internal_submodules</c>, protected) or keep private (TorchSharp's <c>Sequential._modules</c>).
/// Read by reflection, each looked up once and
/// checked by <see cref="EnsureAvailable"/> before a model is changed, so a version that renamed one gets an error naming it.
/// </summary>
internal static class TorchSharpInternals
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    private static readonly Lazy<FieldInfo> s_submodules = new(() => Require(typeof(nn.Module), "_internal_submodules", typeof(OrderedDict<string, nn.Module>)));
    private static readonly Lazy<FieldInfo> s_sequentialItems = new(() => Require(typeof(Sequential), "_modules", typeof(List<nn.IModule<Tensor, Tensor>>)));

    /// <summary>The module's own ordered submodule dictionary (protected in TorchSharp: what <c>register_module</c> fills).</summary>
    public static OrderedDict<string, nn.Module> Submodules(nn.Module module) => (OrderedDict<string, nn.Module>)s_submodules.Value.GetValue(module)!;

    /// <summary>The list a <see cref="Sequential"/> calls in its <c>forward</c> (private in TorchSharp; a Sequential does not use <c>_internal_submodules</c>).</summary>
    public static List<nn.IModule<Tensor, Tensor>> SequentialItems(Sequential sequential) => (List<nn.IModule<Tensor, Tensor>>)s_sequentialItems.Value.GetValue(sequential)!;

    /// <summary>Throws now, before a model is changed, if this TorchSharp (or SingLoRALinear) keeps those members differently.</summary>
    public static void EnsureAvailable()
    {
        _ = s_submodules.Value;
        _ = s_sequentialItems.Value;
    }

    /// <summary>The element type <c>T</c> when <paramref name="module"/> is a <c>ModuleList&lt;T&gt;</c> (or derives from one).</summary>
    public static Type? ListElementType(nn.Module module) => GenericArgumentOf(module.GetType(), typeof(ModuleList<>));

    /// <summary>The value type <c>T</c> when <paramref name="module"/> is a <c>ModuleDict&lt;T&gt;</c> (or derives from one).</summary>
    public static Type? DictElementType(nn.Module module) => GenericArgumentOf(module.GetType(), typeof(ModuleDict<>));

    /// <summary>The indices of the list's items that are <paramref name="item"/> (by reference).</summary>
    public static IReadOnlyList<int> ListIndicesOf(nn.Module list, Type elementType, nn.Module item) =>
        (IReadOnlyList<int>)Generic(nameof(ListIndicesOfCore), elementType).Invoke(null, new object[] { list, item })!;

    /// <summary>The keys of the dictionary's values that are <paramref name="item"/> (by reference).</summary>
    public static IReadOnlyList<string> DictKeysOf(nn.Module dict, Type elementType, nn.Module item) =>
        (IReadOnlyList<string>)Generic(nameof(DictKeysOfCore), elementType).Invoke(null, new object[] { dict, item })!;

    /// <summary>Writes item <paramref name="index"/> through the list's public indexer.</summary>
    public static void SetListItem(nn.Module list, Type elementType, int index, nn.Module value) =>
        Invoke(Generic(nameof(SetListItemCore), elementType), list, index, value);

    /// <summary>Writes the value of <paramref name="key"/> through the dictionary's public indexer.</summary>
    public static void SetDictItem(nn.Module dict, Type elementType, string key, nn.Module value) =>
        Invoke(Generic(nameof(SetDictItemCore), elementType), dict, key, value);

    private static IReadOnlyList<int> ListIndicesOfCore<T>(ModuleList<T> list, nn.Module item) where T : nn.Module =>
        Enumerable.Range(0, list.Count).Where(i => ReferenceEquals(list[i], item)).ToList();

    private static IReadOnlyList<string> DictKeysOfCore<T>(ModuleDict<T> dict, nn.Module item) where T : nn.Module
    {
        var keys = new List<string>();
        for (int i = 0; i < dict.Count; i++)
            if (ReferenceEquals(dict[i].Item2, item)) keys.Add(dict[i].Item1);
        return keys;
    }

    private static void SetListItemCore<T>(ModuleList<T> list, int index, nn.Module value) where T : nn.Module => list[index] = (T)value;

    private static void SetDictItemCore<T>(ModuleDict<T> dict, string key, nn.Module value) where T : nn.Module => dict[key] = (T)value;

    private static MethodInfo Generic(string name, Type elementType) =>
        typeof(TorchSharpInternals).GetMethod(name, BindingFlags.Static | BindingFlags.NonPublic)!.MakeGenericMethod(elementType);

    // Unwraps the TargetInvocationException, so the caller sees the real error.
    private static void Invoke(MethodInfo method, params object[] args)
    {
        try
        {
            method.Invoke(null, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
    }

    private static Type? GenericArgumentOf(Type? type, Type definition)
    {
        for (; type is not null; type = type.BaseType)
            if (type.IsGenericType && type.GetGenericTypeDefinition() == definition) return type.GetGenericArguments()[0];
        return null;
    }

    private static FieldInfo Require(Type owner, string name, Type fieldType, BindingFlags flags = Instance)
    {
        var field = owner.GetField(name, flags);
        if (field is null || field.FieldType != fieldType)
            throw new NotSupportedException(
                $"{owner.FullName} ({owner.Assembly.GetName().Name} {owner.Assembly.GetName().Version}) has no field {name} of type {ModuleSlot.TypeName(fieldType)}, " +
                "which SingLoRA's runtime injection (AddSingLoRA) needs to replace a layer where the model calls it. Use the TorchSharp version SingLoRA.Gen was built with (0.107), " +
                "or adapt the layers with [SingLoRA] or by hand (new SingLoRALinear(layer, options)). The model was not changed.");
        return field;
    }
}
