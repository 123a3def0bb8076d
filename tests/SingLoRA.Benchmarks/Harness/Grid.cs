using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>A layer case: shape, rank and rows, written <c>"512x2048 r8 n256"</c>.</summary>
public sealed record LayerCase(LayerShape Shape, int Rank, int Rows)
{
    /// <summary>Parses <c>"512 r8 n64"</c> or <c>"512x2048 r8 n256"</c>.</summary>
    public static LayerCase Parse(string text)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return new LayerCase(LayerShape.Parse(parts[0]), int.Parse(parts[1].TrimStart('r'), CultureInfo.InvariantCulture), int.Parse(parts[2].TrimStart('n'), CultureInfo.InvariantCulture));
    }

    /// <summary>Rows at most <c>min(d_in, d_out)</c>: where the 1.5× target against the materialising foil applies.</summary>
    public bool RowsAtMostD => Rows <= Math.Min(Shape.In, Shape.Out);

    /// <inheritdoc />
    public override string ToString() => $"{Shape} r{Rank} n{Rows}";
}

/// <summary>The size/rank/rows grid of issue 7, and the subset a 2-core machine runs by default.</summary>
public static class Grid
{
    /// <summary>
    /// The default run: every shape kind (square 512, 1024, 2048; d→4d and 4d→d at d = 512), ranks 8 and 64 (4 and 32 at
    /// one shape), rows from 64 to 4096 — 10 cases, each against 7 variants.
    /// </summary>
    public static readonly IReadOnlyList<LayerCase> Default = new[]
    {
        "512 r8 n64", "512 r8 n512", "512 r64 n512", "512 r8 n4096",
        "1024 r4 n256", "1024 r32 n1024",
        "2048 r8 n256",
        "512x2048 r8 n256", "2048x512 r8 n256", "2048x512 r64 n1024",
    }.Select(LayerCase.Parse).ToArray();

    /// <summary>The whole grid: 5 shapes × ranks 4, 8, 16, 32, 64 × rows 64, 256, 1024, 4096 (100 cases; many hours on 2 cores).</summary>
    public static IEnumerable<LayerCase> Full()
    {
        var shapes = new[] { "512", "1024", "2048", "512x2048", "2048x512" };
        foreach (var s in shapes)
            foreach (var r in new[] { 4, 8, 16, 32, 64 })
                foreach (var n in new[] { 64, 256, 1024, 4096 })
                    yield return new LayerCase(LayerShape.Parse(s), r, n);
    }

    /// <summary>
    /// The cases for this run: SINGLORA_BENCH_GRID=full for <see cref="Full"/>, SINGLORA_BENCH_GRID="512 r8 n64;1024 r16 n256"
    /// for a list of your own, otherwise <see cref="Default"/>.
    /// </summary>
    public static IReadOnlyList<LayerCase> Current()
    {
        var env = Environment.GetEnvironmentVariable("SINGLORA_BENCH_GRID");
        if (string.IsNullOrWhiteSpace(env)) return Default;
        if (env.Trim().Equals("full", StringComparison.OrdinalIgnoreCase)) return Full().ToArray();
        return env.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(LayerCase.Parse).ToArray();
    }
}
