using System;
using System.Linq;
using SingLoRA.Benchmarks.Harness;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
namespace SingLoRA.Benchmarks;

public static class LayoutProbe
{
    /// <summary>
    /// Bare-op variants of a square SingLoRA step against LoRA's, interleaved, to locate why SingLoRA's step is a few per
    /// cent slower than LoRA's at equal rank (docs/performance.md): the layout of A in the two thin products.
    /// </summary>
    public static void Run(string shapeCase)
    {
        var c = LayerCase.Parse(shapeCase);
        long d = c.Shape.In; int r = c.Rank; int n = c.Rows;
        manual_seed(0);
        var w = randn(d, d) / Math.Sqrt(d); var b = zeros(d);
        var x = randn(n, d); var y = randn(n, d);
        Action Make(Func<Tensor, Tensor> delta, Parameter[] ps)
        {
            var opt = optim.AdamW(ps, lr: 1e-3);
            return () =>
            {
                using var s = NewDisposeScope();
                var outp = nn.functional.linear(x, w, b).add_(delta(x));
                var loss = nn.functional.mse_loss(outp, y);
                opt.zero_grad(); loss.backward(); opt.step();
            };
        }
        var A1 = new Parameter(randn(d, r) * 0.01);
        var A2 = new Parameter(randn(d, r) * 0.01);
        var A3 = new Parameter(randn(r, d) * 0.01);
        var A4 = new Parameter(randn(d, r) * 0.01);
        var A5 = new Parameter(randn(d, r) * 0.01);
        var A6 = new Parameter(randn(d, r) * 0.01);
        var LA = new Parameter(randn(r, d) * 0.01); var LB = new Parameter(randn(d, r) * 0.01);
        var LA2 = new Parameter(randn(d, r) * 0.01); var LB2 = new Parameter(randn(d, r) * 0.01);
        var ops = new (string, Action)[]
        {
            ("lora [r,d]x[d,r]", Make(z => z.matmul(LA.t()).mul_(2.0).matmul(LB.t()), new[] { LA, LB })),
            ("sing narrow [d,r]", Make(z => z.matmul(A1.narrow(0, 0, d)).mul_(2.0).matmul(A1.narrow(0, 0, d).t()), new[] { A1 })),
            ("sing no-narrow [d,r]", Make(z => z.matmul(A2).mul_(2.0).matmul(A2.t()), new[] { A2 })),
            ("sing [r,d] layout", Make(z => z.matmul(A3.t()).mul_(2.0).matmul(A3), new[] { A3 })),
            ("lora-like two [d,r] params", Make(z => z.matmul(LA2).mul_(2.0).matmul(LB2.t()), new[] { LA2, LB2 })),
            ("sing [d,r] param, t().contiguous()", Make(z => { var at = A5.t().contiguous(); return z.matmul(at.t()).mul_(2.0).matmul(at); }, new[] { A5 })),
            ("sing [d,r] param, t().contiguous()+narrow", Make(z => { var at = A6.t().contiguous(); return z.matmul(at.narrow(1, 0, d).t()).mul_(2.0).matmul(at.narrow(1, 0, d)); }, new[] { A6 })),
        };
        var t = Interleaved.Measure(ops, rounds: 21);
        foreach (var e in t) Console.WriteLine($"{shapeCase,-16} {e.Name,-36} {e.MedianMicroseconds,9:0} us  ratio {e.RatioToReference:0.000} [{e.RatioLow:0.000}, {e.RatioHigh:0.000}]");
    }
}
