using System;
using System.IO;
using System.Linq;
using System.Xml.Linq;
using Spectre.Console;
using Xunit;

namespace SingLoRA.Tests.Samples;

/// <summary>
/// Every sample app is referenced by this project (so building the tests builds the samples) and run here in-process
/// with tiny settings, so that none of them can rot. Each run takes a few seconds.
/// </summary>
public class SampleSmokeTests
{
    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "singlora-samples-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static (IAnsiConsole Console, StringWriter Text) CaptureConsole()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(text),
        });
        return (console, text);
    }

    private static readonly string[] TinyFineTune = { "--pretrain-steps", "3", "--steps", "3", "--second-steps", "2", "--batch", "8", "--eval-size", "16" };

    [Fact]
    public void Quickstart_runs_end_to_end_with_tiny_settings()
    {
        var dir = TempDir();
        var (console, text) = CaptureConsole();
        // --device cuda: on a machine without CUDA this must fall back to the CPU with a message, not fail.
        int code = Quickstart.QuickstartApp.Run(TinyFineTune.Concat(new[] { "--log-every", "1", "--out", dir, "--device", "cuda" }).ToArray(), console);
        var output = text.ToString();
        Assert.True(code == 0, output);
        Assert.Contains("trainable params:", output);
        Assert.Contains("LoRA at the same rank would train", output);
        Assert.Contains("agree", output);
        Assert.Contains("Adapters switched off (model.DisableAdapters())", output);
        Assert.Contains("Second adapter 'copy3' (2 steps", output);
        Assert.Contains("switched back to 'default'", output);
        Assert.Contains("dotnet run --project samples/Quickstart -c Release --", output);
        if (!TorchSharp.torch.cuda.is_available()) Assert.Contains("Falling back to the CPU", output);
        Assert.True(new FileInfo(Path.Combine(dir, "loss-curve.png")).Length > 1000);
        Assert.True(File.Exists(Path.Combine(dir, "adapter", "adapter_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(dir, "adapter", "adapter_config.json")));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Quickstart_serves_a_saved_base_and_adapter_folder_without_training()
    {
        var first = TempDir();
        var (console, text) = CaptureConsole();
        Assert.True(Quickstart.QuickstartApp.Run(TinyFineTune.Concat(new[] { "--out", first }).ToArray(), console) == 0, text.ToString());
        Assert.True(File.Exists(Path.Combine(first, "base.safetensors")), "the pre-trained model is saved for other engines");
        Assert.DoesNotContain("--base", text.ToString()); // options not given stay out of the printed command

        // What the README's scale-out round trip does after torchrun: the saved base, the trained adapters, no training here.
        var second = TempDir();
        (console, text) = CaptureConsole();
        int code = Quickstart.QuickstartApp.Run(new[] { "--base", Path.Combine(first, "base.safetensors"), "--adapters", Path.Combine(first, "adapter"),
            "--steps", "0", "--eval-size", "16", "--out", second }, console);
        var output = text.ToString();
        Assert.True(code == 0, output);
        Assert.Contains("Pre-trained model loaded from", output);
        Assert.Contains("(ramp step 3)", output);
        Assert.Contains("With the loaded adapters: accuracy", output);
        Assert.Contains("agree", output);
        Assert.False(File.Exists(Path.Combine(second, "base.safetensors")), "a loaded base is not copied");

        (console, text) = CaptureConsole();
        Assert.Equal(1, Quickstart.QuickstartApp.Run(new[] { "--base", Path.Combine(first, "base.safetensors"), "--d-model", "32", "--steps", "0", "--out", second }, console));
        Assert.Contains("Cannot load the pre-trained model", text.ToString());
        Directory.Delete(first, recursive: true);
        Directory.Delete(second, recursive: true);
    }

    [Fact]
    public void Quickstart_adapter_options_change_the_attributes_defaults()
    {
        var dir = TempDir();
        var (console, text) = CaptureConsole();
        int code = Quickstart.QuickstartApp.Run(TinyFineTune.Concat(new[] { "--out", dir, "--rank", "4", "--ramp-steps", "0", "--init", "kaimingrank" }).ToArray(), console);
        var output = text.ToString();
        Assert.True(code == 0, output);
        Assert.Contains("rank 4 on q, k, v", output);
        var config = File.ReadAllText(Path.Combine(dir, "adapter", "adapter_config.json"));
        Assert.Contains("\"init\": \"kaiming_rank\"", config);
        Assert.Contains("\"r\": 4", config);
        Directory.Delete(dir, recursive: true);
        var (console2, text2) = CaptureConsole();
        Assert.Equal(2, Quickstart.QuickstartApp.Run(new[] { "--rank", "0" }, console2));
        Assert.Contains("Rank", text2.ToString());
    }

    [Fact]
    public void Quickstart_help_lists_every_option_and_unknown_options_are_refused()
    {
        var (console, text) = CaptureConsole();
        Assert.Equal(0, Quickstart.QuickstartApp.Run(new[] { "--help" }, console));
        foreach (var option in new[] { "--steps", "--lr", "--pretrain-steps", "--device", "--seed", "--out", "--d-model", "--rank", "--alpha", "--ramp-steps", "--dropout", "--init", "--scaling" })
            Assert.Contains(option, text.ToString());
        var (console2, text2) = CaptureConsole();
        Assert.Equal(2, Quickstart.QuickstartApp.Run(new[] { "--stpes", "3" }, console2));
        Assert.Contains("--stpes", text2.ToString());
    }

    [Theory]
    [InlineData("attention", new[] { "--seeds", "2", "--steps", "3" })]
    [InlineData("lr-sweep", new[] { "--seeds", "1", "--lrs", "1e-3,1e-1", "--pretrain-steps", "3", "--steps", "3", "--batch", "8", "--eval-size", "16" })]
    [InlineData("ramp", new[] { "--seeds", "1", "--fractions", "0,0.5", "--pretrain-steps", "3", "--steps", "3", "--batch", "8", "--eval-size", "16" })]
    public void Each_experiment_runs_from_one_command_and_writes_its_table_and_plot(string command, string[] options)
    {
        var dir = TempDir();
        var log = new StringWriter();
        int code = Experiments.ExperimentsApp.Run(new[] { command }.Concat(options).Concat(new[] { "--out", dir }).ToArray(), log);
        Assert.True(code == 0, log.ToString());
        var md = File.ReadAllText(Path.Combine(dir, command + ".md"));
        Assert.Contains("dotnet run --project samples/Experiments -c Release -- " + command, md);
        Assert.Contains("| --- |", md);
        Assert.Contains("Hardware:", md);
        Assert.True(new FileInfo(Path.Combine(dir, command + ".png")).Length > 1000);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Experiments_without_a_command_print_usage_and_fail()
    {
        var log = new StringWriter();
        Assert.Equal(2, Experiments.ExperimentsApp.Run(Array.Empty<string>(), log));
        Assert.Contains("lr-sweep", log.ToString());
    }

    [Fact]
    public void Every_sample_app_is_in_the_solution_and_referenced_by_this_test_project()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "SingLoRA.Gen.sln"))) root = root.Parent;
        Assert.NotNull(root);
        var sln = File.ReadAllText(Path.Combine(root!.FullName, "SingLoRA.Gen.sln"));
        var testProject = File.ReadAllText(Path.Combine(root.FullName, "tests", "SingLoRA.Tests", "SingLoRA.Tests.csproj"));
        var samples = Directory.GetFiles(Path.Combine(root.FullName, "samples"), "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .ToList();
        Assert.NotEmpty(samples);
        foreach (var project in samples)
        {
            var relative = Path.GetRelativePath(root.FullName, project);
            Assert.True(sln.Contains(relative.Replace('/', '\\'), StringComparison.Ordinal), $"{relative} is not in SingLoRA.Gen.sln (dotnet sln add --solution-folder samples {relative}).");
            bool isApp = XDocument.Load(project).Descendants("OutputType").Any(e => e.Value == "Exe");
            if (isApp)
                Assert.True(testProject.Contains(Path.GetFileName(project), StringComparison.Ordinal), $"{relative} is an app that the smoke tests do not reference.");
        }
    }
}
