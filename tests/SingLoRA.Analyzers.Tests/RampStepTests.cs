using System.Threading.Tasks;
using Xunit;
using V = SingLoRA.Analyzers.Tests.Verify<SingLoRA.Analyzers.RampStepAnalyzer>;

namespace SingLoRA.Analyzers.Tests;

/// <summary>SLG0021: SetRampStep with a negative constant always throws.</summary>
public class RampStepTests
{
    [Fact]
    public Task Negative_constant_steps_are_reported() =>
        V.AnalyzeAsync("""
            public static class Training
            {
                public static void Run(SingLoRALinear adapter, ISingLoRAModule module, Module<Tensor, Tensor> model)
                {
                    adapter.SetRampStep({|SLG0021:-1|});
                    module.SetRampStep({|SLG0021:-2|});
                    model.SetRampStep({|SLG0021:-3L|});
                }
            }
            """);

    [Fact]
    public Task Valid_or_unknown_steps_and_expected_throws_are_not_reported() =>
        V.AnalyzeAsync("""
            public static class Training
            {
                private sealed class Scheduler { public void SetRampStep(long step) { } }

                public static void Run(SingLoRALinear adapter, ISingLoRAModule module, long step)
                {
                    adapter.SetRampStep(0);
                    module.SetRampStep(step);
                    new Scheduler().SetRampStep(-1);
                    Action expectThrow = () => adapter.SetRampStep(-1);
                }
            }
            """);
}
