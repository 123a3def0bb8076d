using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

/// <summary>
/// Device and dtype moves of adapted layers and models. A GPU is not needed to see the move bug that stopped training
/// on CUDA (see <see cref="CudaLikeMove"/>); these tests fail on the code before the fix with that exact error.
/// </summary>
public class DeviceMoveTests
{
    public static TheoryData<string, int, int, bool, bool> Layers()
    {
        var data = new TheoryData<string, int, int, bool, bool>();
        foreach (var kind in new[] { "singlora", "lora" })
            foreach (var (dIn, dOut) in new[] { (16, 16), (24, 12), (12, 24) })
                foreach (var bias in new[] { true, false })
                    foreach (var merged in new[] { false, true })
                        data.Add(kind, dIn, dOut, bias, merged);
        return data;
    }

    private static AdaptedLinear Make(string kind, int dIn, int dOut, bool bias, ScalarType dtype = ScalarType.Float32,
        AdapterPrecision precision = AdapterPrecision.AtLeastFloat32)
    {
        var linear = nn.Linear(dIn, dOut, hasBias: bias, dtype: dtype);
        if (kind == "singlora")
        {
            var s = new SingLoRALinear(linear, new SingLoRAOptions(4, Alpha: 8, RampLength: 10, Precision: precision));
            s.SetRampStep(6);
            return s;
        }
        var l = new LoRALinear(linear, new LoRAOptions(4, Alpha: 8, Precision: precision));
        using (no_grad()) l.B.normal_(0, 0.1);
        return l;
    }

    private static IEnumerable<(string Name, Tensor Tensor)> Tensors(nn.Module m) =>
        m.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(m.named_buffers());

    private static Dictionary<string, Tensor> Snapshot(nn.Module m) => Tensors(m).ToDictionary(p => p.Name, p => p.Tensor.detach().clone());

    [Theory]
    [MemberData(nameof(Layers))]
    public void An_adapter_survives_a_move_whose_tensors_report_another_device_index(string kind, int dIn, int dOut, bool bias, bool merged)
    {
        using var scope = NewDisposeScope();
        manual_seed(dIn * 7 + dOut + (bias ? 1 : 0));
        var layer = Make(kind, dIn, dOut, bias);
        var w0 = layer.Base.weight.detach().clone();
        if (merged) layer.Merge();
        var x = randn(5, dIn);
        var before = layer.forward(x).detach();
        var values = Snapshot(layer);

        CudaLikeMove.Apply(layer);

        // Same registrations, same values, and the registered tensors are the live ones (not stale copies).
        var registered = layer.named_parameters(recurse: false).ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(values.Keys.Where(k => registered.ContainsKey(k)).OrderBy(k => k), registered.Keys.OrderBy(k => k));
        Assert.Same(layer.Base.weight, registered["weight"]);
        Assert.Same(layer.weight, registered["weight"]);
        if (bias) Assert.Same(layer.Base.bias, registered["bias"]);
        foreach (var p in layer.AdapterParameters) Assert.Contains(registered.Values, r => ReferenceEquals(r, p));
        foreach (var (name, tensor) in Tensors(layer))
            Assert.True(Reference.Identical(tensor, values[name]), $"{name} changed in the move");
        Assert.True(Reference.Identical(layer.forward(x), before));
        Assert.False(layer.weight.requires_grad);
        Assert.All(layer.AdapterParameters, p => Assert.True(p.requires_grad));

        if (merged)
        {
            layer.Unmerge();   // the tensors recorded at merge time moved with the layer
            Assert.True((layer.Base.weight - w0).abs().max().item<float>() < 1e-6);
        }

        // An optimizer made after the move trains the adapter, and only the adapter.
        var optimizer = optim.AdamW(layer.AdapterParameters, lr: 1e-2);
        var adapterBefore = layer.AdapterParameters.Select(p => p.detach().clone()).ToList();
        var baseBefore = layer.Base.weight.detach().clone();
        var loss = layer.forward(x).square().mean();
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        Assert.Contains(layer.AdapterParameters.Zip(adapterBefore), pair => !Reference.Identical(pair.First, pair.Second));
        Assert.True(Reference.Identical(layer.Base.weight, baseBefore));
    }

    [Fact]
    public void A_generated_model_survives_the_move_and_trains_after_it()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var model = CudaLikeMove.GeneratedModel();
        model.SetRampStep(2);
        var tokens = randint(0, Generated.TinyTransformer.Vocab, new long[] { 4, 6 });
        var before = model.forward(tokens).detach();
        var keys = model.state_dict().Keys.ToList();

        CudaLikeMove.Apply(model);

        Assert.Equal(keys, model.state_dict().Keys.ToList());
        Assert.True(Reference.Identical(model.forward(tokens), before));
        Assert.Equal(6, model.GetSingLoRALayers().Count);   // per block: q, k and the MLP's up-projection
        model.FreezeAllButAdapters();
        var optimizer = optim.AdamW(model.AdapterParameters(), lr: 1e-2);
        var a0 = model.GetSingLoRALayers().Select(a => a.Adapter.A.detach().clone()).ToList();
        for (int step = 0; step < 3; step++)
        {
            using var stepScope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(tokens).flatten(0, 1), tokens.flatten());
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            model.AdvanceRamp();
        }
        Assert.All(model.GetSingLoRALayers().Zip(a0), pair => Assert.False(Reference.Identical(pair.First.Adapter.A, pair.Second)));
        var logits = model.forward(tokens).detach();
        model.MergeAdapters();
        Assert.True((model.forward(tokens) - logits).abs().max().item<float>() < 1e-5);
        model.UnmergeAdapters();
    }

    [Theory]
    [InlineData(AdapterPrecision.AtLeastFloat32, ScalarType.BFloat16, ScalarType.Float32)]
    [InlineData(AdapterPrecision.AtLeastFloat32, ScalarType.Float16, ScalarType.Float32)]
    [InlineData(AdapterPrecision.AtLeastFloat32, ScalarType.Float64, ScalarType.Float64)]
    [InlineData(AdapterPrecision.SameAsBase, ScalarType.BFloat16, ScalarType.BFloat16)]
    [InlineData(AdapterPrecision.SameAsBase, ScalarType.Float64, ScalarType.Float64)]
    public void A_dtype_move_applies_the_precision_rule(AdapterPrecision precision, ScalarType to, ScalarType adapterType)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        foreach (var kind in new[] { "singlora", "lora" })
        {
            var layer = Make(kind, 16, 24, bias: true, precision: precision);
            var a32 = layer.AdapterParameters[0].detach().clone();

            layer.to(to);

            Assert.Equal(to, layer.weight.dtype);
            Assert.Equal(to, layer.Base.weight.dtype);
            Assert.All(layer.AdapterParameters, p => Assert.Equal(adapterType, p.dtype));
            Assert.Equal(adapterType, layer.AdapterDType);
            if (adapterType == ScalarType.Float32)
                Assert.True(Reference.Identical(layer.AdapterParameters[0], a32), "a float32 master A must not pass through the 16-bit dtype");
            if (layer is SingLoRALinear s) Assert.Equal(ScalarType.Int64, s.StepTensor.dtype);
            var y = layer.forward(randn(3, 16).to(to));
            Assert.Equal(to, y.dtype);

            // And back, with a device and a dtype at once.
            layer.to(new Device(DeviceType.CPU), ScalarType.Float32);
            Assert.All(layer.AdapterParameters, p => Assert.Equal(ScalarType.Float32, p.dtype));
        }
    }

    [Fact]
    public void A_float32_master_A_keeps_an_update_that_a_bfloat16_A_loses()
    {
        using var scope = NewDisposeScope();
        // One SGD step of size ~1e-6 on entries of size up to 1/sqrt(64) = 0.125, where bf16's spacing is up to 2^-10 ≈ 1e-3:
        // only entries very close to 0 can move at all in bf16.
        double ChangedFraction(AdapterPrecision precision)
        {
            manual_seed(21);
            var layer = new SingLoRALinear(nn.Linear(64, 64, dtype: ScalarType.BFloat16), new SingLoRAOptions(8, RampLength: 0, Precision: precision));
            var a0 = layer.A.detach().clone();
            var x = randn(16, 64, dtype: ScalarType.BFloat16);
            var optimizer = optim.SGD(layer.AdapterParameters, learningRate: 1e-5);
            layer.forward(x).to_type(ScalarType.Float32).square().mean().backward();
            optimizer.step();
            return layer.A.detach().ne(a0).to_type(ScalarType.Float64).mean().item<double>();
        }

        double bf16 = ChangedFraction(AdapterPrecision.SameAsBase);
        double fp32 = ChangedFraction(AdapterPrecision.AtLeastFloat32);

        Assert.True(bf16 < 0.2, $"{bf16:P1} of the bf16 entries changed (float32: {fp32:P1})");
        Assert.True(fp32 > 0.95, $"only {fp32:P1} of the float32 entries changed (bf16: {bf16:P1})");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Both_product_layouts_compute_the_formula(bool transposeCopy)
    {
        using var scope = NewDisposeScope();
        try
        {
            SingLoRALinear.TransposeCopyLayoutOverride = transposeCopy;
            foreach (var (dIn, dOut) in new[] { (32, 32), (48, 16), (16, 48) })
            {
                manual_seed(dIn + dOut);
                var layer = new SingLoRALinear(nn.Linear(dIn, dOut), new SingLoRAOptions(4, Alpha: 6, RampLength: 8));
                layer.SetRampStep(3);
                var x = randn(2, 5, dIn);
                var expected = Reference.SingLoRA(x, layer.weight, layer.bias, layer.A, 6.0 / 4, 3.0 / 8);
                Assert.True(Reference.RelativeError(layer.forward(x), expected) < 1e-6);
                layer.forward(x).sum().backward();
                Assert.NotNull(layer.A.grad);
            }
        }
        finally
        {
            SingLoRALinear.TransposeCopyLayoutOverride = null;
        }
    }

    [Fact]
    public void A_float64_layer_forward_equals_its_merged_weights_to_1e_12()
    {
        using var scope = NewDisposeScope();
        manual_seed(8);
        var layer = new SingLoRALinear(nn.Linear(32, 48, dtype: ScalarType.Float64), new SingLoRAOptions(4, RampLength: 7));
        layer.SetRampStep(3);   // u = 3/7: not a float32 number
        var x = randn(6, 32, dtype: ScalarType.Float64);
        var unmerged = layer.forward(x).detach();
        layer.Merge();
        var merged = layer.forward(x);
        Assert.True((merged - unmerged).abs().max().item<double>() < 1e-12);
    }

    /// <summary>
    /// TorchSharp's generic move assigns replaced tensors through any public property named like them. Every module type
    /// of the runtime must either give such properties setters or own its move logic (override <c>_toEpilog</c>).
    /// </summary>
    [Fact]
    public void Every_runtime_module_type_owns_its_moves_or_can_take_its_tensors_back()
    {
        using var scope = NewDisposeScope();
        var instances = new nn.Module[] { Make("singlora", 8, 4, true), Make("lora", 4, 8, true) };
        var moduleTypes = typeof(AdaptedLinear).Assembly.GetTypes()
            .Where(t => typeof(nn.Module).IsAssignableFrom(t) && !t.IsAbstract).ToList();
        Assert.Equal(moduleTypes.OrderBy(t => t.Name), instances.Select(i => i.GetType()).OrderBy(t => t.Name));   // a new module type must be added here

        foreach (var module in instances)
        {
            var type = module.GetType();
            bool ownsMoves = type.GetMethod("_toEpilog", BindingFlags.Instance | BindingFlags.NonPublic,
                new[] { typeof(ScalarType?), typeof(Device), typeof(bool) })!.DeclaringType != typeof(nn.Module);
            var names = module.named_parameters(false).Select(p => p.name).Concat(module.named_buffers(false).Select(b => b.name));
            foreach (var name in names)
            {
                var property = type.GetProperty(name, BindingFlags.Instance | BindingFlags.Public);
                Assert.True(property is null || property.CanWrite || ownsMoves,
                    $"{type.Name}.{name} is a get-only public property named like a registered tensor, and {type.Name} leaves moves to TorchSharp's epilog, which would assign it.");
            }
        }
    }
}
