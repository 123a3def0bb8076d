using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using SingLoRA.AdapterFiles;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>An attention-like block with hand-wired adapters on q and k (state-dict keys q.weight, q.singlora_A, ...).</summary>
internal sealed class Attn : nn.Module<Tensor, Tensor>
{
    private readonly SingLoRALinear q, k;
    private readonly Linear v;

    public Attn(int d, SingLoRAOptions options, ScalarType dtype) : base(nameof(Attn))
    {
        q = new SingLoRALinear(nn.Linear(d, d, dtype: dtype), options);
        k = new SingLoRALinear(nn.Linear(d, 2 * d, dtype: dtype), options);   // non-square, d_out > d_in
        v = nn.Linear(d, d, dtype: dtype);
        RegisterComponents();
    }

    public SingLoRALinear Q => q;

    public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x).narrow(-1, 0, x.shape[^1]) + v.forward(x);
}

/// <summary><c>blocks.{i}.q</c>, <c>blocks.{i}.k</c> adapters, plus a plain head.</summary>
internal sealed class Net : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Attn> blocks;
    private readonly Linear head;

    public Net(int nBlocks = 2, SingLoRAOptions? options = null, int d = 8, ScalarType dtype = ScalarType.Float32) : base(nameof(Net))
    {
        options ??= new SingLoRAOptions(2, Alpha: 4, RampLength: 10);
        blocks = nn.ModuleList(Enumerable.Range(0, nBlocks).Select(_ => new Attn(d, options, dtype)).ToArray());
        head = nn.Linear(d, 3, dtype: dtype);
        RegisterComponents();
        this.FreezeAllButAdapters();   // as prepared for fine-tuning: SaveAdapters refuses to drop trainable parameters
    }

    public override Tensor forward(Tensor x)
    {
        foreach (var b in blocks) x = b.forward(x);
        return head.forward(x);
    }
}

/// <summary>The same classes without adapters: what a merged export must load into.</summary>
internal sealed class PlainAttn : nn.Module<Tensor, Tensor>
{
    private readonly Linear q, k, v;

    public PlainAttn(int d) : base(nameof(PlainAttn))
    {
        q = nn.Linear(d, d);
        k = nn.Linear(d, 2 * d);
        v = nn.Linear(d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x).narrow(-1, 0, x.shape[^1]) + v.forward(x);
}

internal sealed class PlainNet : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<PlainAttn> blocks;
    private readonly Linear head;

    public PlainNet(int nBlocks = 2, int d = 8) : base(nameof(PlainNet))
    {
        blocks = nn.ModuleList(Enumerable.Range(0, nBlocks).Select(_ => new PlainAttn(d)).ToArray());
        head = nn.Linear(d, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        foreach (var b in blocks) x = b.forward(x);
        return head.forward(x);
    }
}

/// <summary>Helpers: temporary folders, exact model snapshots, consistent file tampering.</summary>
internal static class Helpers
{
    public static TempDir NewDir() => new();

    /// <summary>Gives every adapter non-trivial values, as training would.</summary>
    public static void Randomise(nn.Module model, long step)
    {
        using var _ = no_grad();
        foreach (var (_, layer) in model.GetAdaptedLayers())
            foreach (var p in layer.AdapterParameters) p.normal_(0, 0.3);
        model.SetRampStep(step);
    }

    /// <summary>Copies of every parameter and buffer, by name (works while merged, unlike state_dict()).</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module model) =>
        model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(model.named_buffers().Select(b => (b.name, b.buffer)))
            .ToDictionary(x => x.Item1, x => x.Item2.detach().clone());

    /// <summary>Asserts the model holds bit-for-bit what <paramref name="snapshot"/> recorded, and its merge flags.</summary>
    public static void AssertUnchanged(nn.Module model, Dictionary<string, Tensor> snapshot, bool[]? merged = null)
    {
        var now = Snapshot(model);
        Assert.Equal(snapshot.Keys.OrderBy(k => k), now.Keys.OrderBy(k => k));
        foreach (var (name, t) in snapshot)
            Assert.True(t.dtype == now[name].dtype && t.shape.SequenceEqual(now[name].shape) && t.eq(now[name]).all().item<bool>(), $"'{name}' changed.");
        if (merged is not null) Assert.Equal(merged, model.GetAdaptedLayers().Select(l => l.Layer.IsMerged).ToArray());
    }

    /// <summary>
    /// Rewrites an adapter folder's tensors and/or config and then fixes the config's SHA-256, so the loader gets past
    /// the integrity check and must catch the problem itself.
    /// </summary>
    public static void Tamper(string dir, Action<Dictionary<string, Tensor>>? tensors = null, Action<JsonObject>? config = null)
    {
        string weights = Path.Combine(dir, AdapterFile.WeightsFileName);
        if (tensors is not null)
        {
            Dictionary<string, Tensor> dict;
            using (var file = SafeTensors.Load(weights))
                dict = file.ToStateDict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            tensors(dict);
            SafeTensors.Save(weights, dict);
        }
        FixConfig(dir, config);
    }

    /// <summary>Edits the config JSON and sets its SHA-256 to the current tensors file's.</summary>
    public static void FixConfig(string dir, Action<JsonObject>? edit = null)
    {
        string configPath = Path.Combine(dir, AdapterFile.ConfigFileName);
        var json = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        edit?.Invoke(json);
        using (var s = File.OpenRead(Path.Combine(dir, AdapterFile.WeightsFileName)))
            json["weights_sha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(s));
        File.WriteAllText(configPath, json.ToJsonString());
    }
}

internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "singlora-adapter-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
