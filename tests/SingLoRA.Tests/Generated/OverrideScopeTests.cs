using System;
using System.Linq;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Generated;

/// <summary>SingLoRAOverrides: the run-time way to change the attribute's constants (rank, ramp, init...).</summary>
public class OverrideScopeTests
{
    [Fact]
    public void Modules_built_in_a_scope_get_the_changed_options_and_report_them()
    {
        using var scope = NewDisposeScope();
        var declared = new LinearAttention(16);
        Assert.Equal(declared.SingLoRAOptions, declared.QAdapter.Options);

        LinearAttention changed;
        using (SingLoRAOverrides.Scope(o => o with { Rank = 3, RampLength = 7 }))
        using (SingLoRAOverrides.Scope(o => o with { Init = AdapterInit.KaimingRank })) // nested: applied after the outer one
            changed = new LinearAttention(16);

        Assert.Equal(declared.SingLoRAOptions with { Rank = 3, RampLength = 7, Init = AdapterInit.KaimingRank }, changed.SingLoRAOptions);
        Assert.All(changed.Adapters, a => Assert.Equal(changed.SingLoRAOptions, a.Value.Options));
        Assert.Equal(new long[] { 16, 3 }, changed.QAdapter.A.shape);
        Assert.Equal(7, changed.QAdapter.RampLength);

        var after = new LinearAttention(16); // the scope is gone
        Assert.Equal(declared.SingLoRAOptions, after.SingLoRAOptions);
    }

    [Fact]
    public void Invalid_changed_options_fail_when_the_module_is_built()
    {
        using var scope = NewDisposeScope();
        using var _ = SingLoRAOverrides.Scope(o => o with { Rank = 0 });
        var e = Assert.Throws<InvalidOperationException>(() => new LinearAttention(16));
        Assert.Contains("Rank", e.Message);
    }
}
