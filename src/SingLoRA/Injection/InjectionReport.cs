using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace SingLoRA.Injection;

/// <summary>What <see cref="RuntimeInjection.AddSingLoRA(TorchSharp.torch.nn.Module, IEnumerable{string}, SingLoRAOptions, bool)"/> did to a model.</summary>
/// <remarks>
/// Every module a target matched appears once, either in <see cref="Adapted"/> or in <see cref="Skipped"/> with the
/// reason; every pattern that matched no module is in <see cref="UnmatchedPatterns"/>. <see cref="ToString"/> prints it all.
/// </remarks>
public sealed class SingLoRAInjectionReport
{
    internal SingLoRAInjectionReport(IReadOnlyList<InjectedLayer> adapted, IReadOnlyList<SkippedTarget> skipped, IReadOnlyList<string> unmatchedPatterns)
    {
        Adapted = adapted;
        Skipped = skipped;
        UnmatchedPatterns = unmatchedPatterns;
    }

    /// <summary>The layers adapted (in a <see cref="SingLoRAInjectionException"/>'s report: that would have been adapted), in module order.</summary>
    public IReadOnlyList<InjectedLayer> Adapted { get; }

    /// <summary>The matched modules that were not adapted, each with the reason.</summary>
    public IReadOnlyList<SkippedTarget> Skipped { get; }

    /// <summary>The target patterns that matched no module of the model (always empty for a predicate).</summary>
    public IReadOnlyList<string> UnmatchedPatterns { get; }

    /// <summary>True when every matched module was adapted and every pattern matched something.</summary>
    public bool IsComplete => Skipped.Count == 0 && UnmatchedPatterns.Count == 0;

    /// <summary>One line per skipped module and per unmatched pattern; empty when <see cref="IsComplete"/>.</summary>
    public IReadOnlyList<string> Problems =>
        Skipped.Select(s => $"{ModuleSlot.Show(s.Path)} ({s.ModuleType}) not adapted: {s.Message}")
            .Concat(UnmatchedPatterns.Select(p => $"Target '{p}' matched no module."))
            .ToList();

    /// <summary>A readable summary: adapted layers with shape and rank, then every problem.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append($"SingLoRA adapted {Adapted.Count} layer(s)");
        text.AppendLine(Adapted.Count == 0 ? "." : ":");
        foreach (var a in Adapted)
            text.AppendLine($"  {a.Path}  [{a.OutFeatures}, {a.InFeatures}]  rank {a.Rank}  via {string.Join("; ", a.Via)}");
        var problems = Problems;
        if (problems.Count > 0)
        {
            text.AppendLine($"{problems.Count} problem(s):");
            foreach (var p in problems) text.AppendLine($"  {p}");
        }
        return text.ToString();
    }
}

/// <summary>A layer that runtime injection adapted.</summary>
/// <param name="Path">The module path, as <c>named_modules()</c> gives it (<c>blocks.0.q_proj</c>).</param>
/// <param name="InFeatures"><c>d_in</c> of the layer.</param>
/// <param name="OutFeatures"><c>d_out</c> of the layer.</param>
/// <param name="Rank">The adapter rank.</param>
/// <param name="Via">Every place of the model that holds the adapter and through which the model calls it.</param>
/// <remarks>The adapter itself is <c>model.GetSingLoRALayers()</c>' entry with this path.</remarks>
public sealed record InjectedLayer(string Path, long InFeatures, long OutFeatures, int Rank, IReadOnlyList<string> Via);

/// <summary>A matched module that runtime injection did not adapt.</summary>
/// <param name="Path">The module path.</param>
/// <param name="ModuleType">The module's type name.</param>
/// <param name="Reason">Why, as a category.</param>
/// <param name="Message">Why, in words, with what to do instead.</param>
public sealed record SkippedTarget(string Path, string ModuleType, SkipReason Reason, string Message);

/// <summary>Why a matched module was not adapted.</summary>
public enum SkipReason
{
    /// <summary>The module is not a TorchSharp <c>Linear</c> (for example a container, an activation, an embedding).</summary>
    NotLinear,

    /// <summary>The layer is already adapted (an adapter, or a <c>Linear</c> that an adapter already wraps).</summary>
    AlreadyAdapted,

    /// <summary>The layer does not fit the options (a rank above <c>min(d_in, d_out)</c>, an integer weight).</summary>
    InvalidForOptions,

    /// <summary>
    /// A place that holds the layer is typed <c>Linear</c> (a field, a <c>ModuleList&lt;Linear&gt;</c>): <c>Linear</c> is
    /// sealed, so the place cannot hold an adapter and compiled calls through it cannot be redirected at run time.
    /// </summary>
    TypedAsLinear,

    /// <summary>
    /// The layer is registered under several paths (one instance held by two registrations): the model-level operations
    /// walk <c>named_modules()</c> and would count its adapter once per path (stepping its ramp twice per step).
    /// </summary>
    SharedModule,

    /// <summary>
    /// The layer is registered, but no field or container of the model that the runtime can see holds it, so how the
    /// model calls it is unknown (for example it keeps the layer in a <c>List&lt;Linear&gt;</c>).
    /// </summary>
    UnknownCaller,
}

/// <summary>
/// Thrown by <see cref="RuntimeInjection"/> when it changes nothing: in strict mode when a matched module cannot be
/// adapted or a pattern matches nothing, and in any mode when no layer at all can be adapted. The model is unchanged.
/// </summary>
public sealed class SingLoRAInjectionException : InvalidOperationException
{
    /// <summary>Creates the exception from the report of what would have been done.</summary>
    public SingLoRAInjectionException(string summary, SingLoRAInjectionReport report)
        : base(Format(summary, report ?? throw new ArgumentNullException(nameof(report))))
    {
        Report = report;
    }

    /// <summary>What would have been adapted and what could not; nothing of it was applied.</summary>
    public SingLoRAInjectionReport Report { get; }

    /// <summary>Every problem, one per line (as <see cref="SingLoRAInjectionReport.Problems"/>).</summary>
    public IReadOnlyList<string> Problems => Report.Problems;

    private static string Format(string summary, SingLoRAInjectionReport report) =>
        summary + " The model was not changed." + string.Concat(report.Problems.Select(p => Environment.NewLine + "  " + p));
}
