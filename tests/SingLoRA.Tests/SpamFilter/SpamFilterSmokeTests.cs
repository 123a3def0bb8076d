using System;
using System.IO;
using System.Linq;
using Spectre.Console;
using Xunit;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>The SpamFilter sample, run in-process on a few dozen e-mails with tiny settings (the real model, the real data).</summary>
public class SpamFilterSmokeTests
{
    /// <summary>A console that records plain text (no colours, no live widgets), 200 columns wide; also used by <see cref="TextClassifierTests"/>.</summary>
    internal static (IAnsiConsole Console, StringWriter Text) CaptureConsole()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(text),
        });
        console.Profile.Width = 200;   // wide enough that the results table does not wrap a method's name over two lines
        return (console, text);
    }

    private static string[] Tiny(string outDir) => new[]
    {
        "--cache", RealModelCache.Root, "--out", outDir, "--train", "32", "--test", "24", "--max-tokens", "16", "--steps", "2", "--batch", "8",
    };

    [Fact]
    public void The_sample_fine_tunes_every_method_on_a_few_dozen_emails_and_reports_test_accuracy()
    {
        var dir = Path.Combine(Path.GetTempPath(), "singlora-spamfilter-" + Guid.NewGuid().ToString("N"));
        var (console, text) = CaptureConsole();
        int code = global::SpamFilter.SpamFilterApp.Run(Tiny(dir), console);
        var output = text.ToString();
        Assert.True(code == 0, output);
        foreach (var method in new[] { "SingLoRA r=8", "LoRA r=4 (equal params)", "LoRA r=8 (equal rank)", "head only", "full fine-tuning" })
            Assert.Contains(method, output);
        Assert.Contains("Test accuracy: SingLoRA", output);
        Assert.Contains("Loaded 101 tensors", output);                // the LoadPretrained report of the converted checkpoint
        Assert.Contains("32 training e-mails", output);
        Assert.Contains("24 test e-mails", output);
        Assert.Contains("56,066", output);      // SingLoRA r=8 on q, k, v of 6 layers (55,296) plus the head (770)
        Assert.Contains("111,362", output);     // LoRA r=8: twice the adapter values
        Assert.Contains("SingLoRA adapters and the trained head saved to", output);   // SaveAdapters(modulesToSave: ["classifier"])
        var reload = System.Text.RegularExpressions.Regex.Match(output, @"reloaded\s+into\s+a\s+fresh\s+classifier:\s+max\s+logit\s+difference\s+(\S+)");
        Assert.True(reload.Success, output);
        Assert.True(double.Parse(reload.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) < 1e-4, reload.Value);
        Assert.Contains("dotnet run --project samples/SpamFilter -c Release --", output);
        Assert.True(new FileInfo(Path.Combine(dir, "loss-curves.png")).Length > 1000);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Layers_adapts_only_the_chosen_encoder_layers_for_SingLoRA_and_LoRA_alike()
    {
        var dir = Path.Combine(Path.GetTempPath(), "singlora-spamfilter-" + Guid.NewGuid().ToString("N"));
        var (console, text) = CaptureConsole();
        int code = global::SpamFilter.SpamFilterApp.Run(Tiny(dir).Concat(new[] { "--methods", "singlora,lora-half", "--layers", "5,4" }).ToArray(), console);
        var output = text.ToString();
        Assert.True(code == 0, output);
        Assert.Contains("adapters on layers 4, 5", output);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(output, "19,202").Count);   // q, k, v of 2 layers: 18,432 adapter values, plus the head (770), for both
        Assert.Contains("--layers 5,4", output);                                                    // the command that reproduces the run
        Assert.Matches(@"reloaded\s+into\s+a\s+fresh\s+classifier", output);                         // the reload builds the same layers
        Directory.Delete(dir, recursive: true);

        var (console2, text2) = CaptureConsole();
        Assert.Equal(2, global::SpamFilter.SpamFilterApp.Run(new[] { "--layers", "4,6" }, console2));
        Assert.Contains("--layers: '6' is not a layer of the encoder (0 to 5)", text2.ToString());
    }

    [Fact]
    public void The_sweep_writes_its_report_and_plot()
    {
        var dir = Path.Combine(Path.GetTempPath(), "singlora-spamfilter-" + Guid.NewGuid().ToString("N"));
        var (console, text) = CaptureConsole();
        int code = global::SpamFilter.SpamFilterApp.Run(new[] { "sweep" }.Concat(Tiny(dir)).Concat(new[] { "--methods", "singlora,head", "--lrs", "1e-3,1e-2", "--seeds", "1", "--steps", "1" }).ToArray(), console);
        Assert.True(code == 0, text.ToString());
        var md = File.ReadAllText(Path.Combine(dir, "real-model-lr-sweep.md"));
        Assert.Contains("dotnet run --project samples/SpamFilter -c Release -- sweep", md);
        Assert.Contains("| 1e-2 |", md);
        Assert.Contains("head only (no encoder lr", md);
        Assert.True(new FileInfo(Path.Combine(dir, "real-model-lr-sweep.png")).Length > 1000);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Help_lists_the_options_and_bad_options_are_refused()
    {
        var (console, text) = CaptureConsole();
        Assert.Equal(0, global::SpamFilter.SpamFilterApp.Run(new[] { "--help" }, console));
        foreach (var option in new[] { "--methods", "--steps", "--train", "--test", "--max-tokens", "--lr-singlora", "--rank", "--alpha", "--ramp-steps", "--layers", "--cache", "--device" })
            Assert.Contains(option, text.ToString());
        var (console2, text2) = CaptureConsole();
        Assert.Equal(2, global::SpamFilter.SpamFilterApp.Run(new[] { "--methods", "singlora,dora" }, console2));
        Assert.Contains("unknown method 'dora'", text2.ToString());
    }
}
