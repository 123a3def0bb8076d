using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using SingLoRA.Testing;
using Xunit;
using Xunit.Abstractions;

namespace SingLoRA.Packaging.Tests;

/// <summary>
/// Packs SingLoRA.Gen into a local folder feed, then builds and runs a fresh consumer project from it: the attribute,
/// the generated code (field wrapping and interceptors), one training step, adapter save and load. The consumer lives
/// outside the repository, so no Directory.Build.props and no project reference can reach it.
/// </summary>
[Trait("Category", "Packaging")]
public class PackageConsumerTests(ITestOutputHelper output)
{
    private static string Meta(string key) =>
        typeof(PackageConsumerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    [Fact]
    public void Package_from_a_local_feed_builds_and_trains_a_fresh_consumer()
    {
        string repo = Meta("SingLoRA.RepoRoot");
        string configuration = Meta("SingLoRA.Configuration");
        // A version no earlier run (and no local build of a consumer) can have put in a NuGet cache: a stale
        // SingLoRA.Gen there would otherwise be restored instead of the package just packed.
        string version = $"{Meta("SingLoRA.Version")}-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Guid.NewGuid().ToString("N")[..8]}";
        string globalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string work = Path.Combine(Path.GetTempPath(), "singlora-package-test-" + Guid.NewGuid().ToString("N")[..12]);
        string feed = Path.Combine(work, "feed");
        string consumer = Path.Combine(work, "consumer");
        Directory.CreateDirectory(consumer);
        try
        {
            // 1. Pack (the test project's reference built everything in this configuration already).
            Run("dotnet", $"pack \"{Path.Combine(repo, "src", "SingLoRA.Gen.Package", "SingLoRA.Gen.Package.csproj")}\" --no-build -c {configuration} -o \"{feed}\" -p:PackageVersion={version}", repo, 300);
            string nupkg = Path.Combine(feed, $"SingLoRA.Gen.{version}.nupkg");
            Assert.True(File.Exists(nupkg), $"{nupkg} was not produced.");
            using (var zip = ZipFile.OpenRead(nupkg))
            {
                var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
                foreach (var expected in new[]
                {
                    "lib/net10.0/SingLoRA.dll", "lib/net10.0/SingLoRA.xml", "README.md",
                    "analyzers/dotnet/cs/SingLoRA.Generator.dll", "analyzers/dotnet/cs/SingLoRA.Analyzers.dll", "analyzers/dotnet/cs/SingLoRA.CodeFixes.dll",
                    "buildTransitive/SingLoRA.Gen.props", "buildTransitive/SingLoRA.Gen.targets", "buildTransitive/SingLoRA.NativeFix.targets",
                })
                    Assert.Contains(expected, entries);
                using var nuspec = new StreamReader(zip.GetEntry("SingLoRA.Gen.nuspec")!.Open());
                string spec = nuspec.ReadToEnd();
                Assert.Contains("<dependency id=\"TorchSharp\"", spec);
                Assert.Contains("<dependency id=\"libtorch-cpu-linux-x64\"", spec);
                Assert.DoesNotContain("id=\"SingLoRA\"", spec);                    // no project-reference leak
            }

            // 2. A fresh consumer: its own packages folder (the machine's cache only as a read-only fallback, so a
            //    stale SingLoRA.Gen there cannot be picked up), the feed added to the user's normal NuGet sources.
            File.WriteAllText(Path.Combine(consumer, "NuGet.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="singlora-local-feed" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <RestorePackagesPath>{Path.Combine(work, "packages")}</RestorePackagesPath>
                    <RestoreAdditionalProjectFallbackFolders>{globalPackages}</RestoreAdditionalProjectFallbackFolders>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="SingLoRA.Gen" Version="{version}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(consumer, "Program.cs"), ConsumerProgram);

            // 3. Build once, then run.
            string build = Run("dotnet", "build -c Release", consumer, 480);
            Assert.DoesNotContain("CS8032", build);      // an analyzer failed to load
            Assert.DoesNotContain("CS9057", build);      // an analyzer built against a newer compiler
            Assert.DoesNotContain("CS9137", build);      // interceptors used without the opt-in
            Assert.True(File.Exists(Path.Combine(work, "packages", "singlora.gen", version, $"singlora.gen.{version}.nupkg")),
                "SingLoRA.Gen was not restored from the local feed into the consumer's own packages folder.");
            string run = Run("dotnet", "run -c Release --no-build", consumer, 240);
            Assert.Contains("generated: ISingLoRAModule with 2 adapters", run);
            Assert.Contains("interceptors: q and k calls reach the adapters", run);
            Assert.Contains("trained: 1 step", run);
            Assert.Contains("adapter files: round trip ok", run);
            Assert.Contains("CONSUMER OK", run);

            // 4. A project on an older framework gets one error naming the requirement, not CS0246 for every SingLoRA type.
            string old = Path.Combine(work, "old");
            Directory.CreateDirectory(old);
            File.Copy(Path.Combine(consumer, "NuGet.config"), Path.Combine(old, "NuGet.config"));
            File.WriteAllText(Path.Combine(old, "Old.csproj"), File.ReadAllText(Path.Combine(consumer, "Consumer.csproj")).Replace("net10.0", "net8.0"));
            File.WriteAllText(Path.Combine(old, "Program.cs"), ConsumerProgram);
            var (exit, text) = RunAllowingFailure("dotnet", "build -c Release", old, 480);
            Assert.NotEqual(0, exit);
            var errors = text.Split('\n').Where(l => l.Contains(": error ", StringComparison.Ordinal)).Select(l => l.Trim()).Distinct().ToList();
            Assert.True(errors.Count == 1, "expected one error, got:\n" + string.Join("\n", errors));
            Assert.Contains("SingLoRA.Gen requires .NET 10 or later: this project targets 'net8.0'", errors[0]);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            // Nothing of this version may stay in the machine's cache (restores went to the work folder; this is a guard).
            try { Directory.Delete(Path.Combine(globalPackages, "singlora.gen", version), recursive: true); } catch (DirectoryNotFoundException) { } catch (IOException) { }
        }
    }

    private string Run(string file, string arguments, string directory, int timeoutSeconds)
    {
        var (exit, text) = RunAllowingFailure(file, arguments, directory, timeoutSeconds);
        Assert.True(exit == 0, $"`{file} {arguments}` exited with {exit}:\n{text}");
        return text;
    }

    private (int ExitCode, string Output) RunAllowingFailure(string file, string arguments, string directory, int timeoutSeconds) =>
        DotnetProcess.Run(file, arguments, directory, timeoutSeconds, output.WriteLine);

    private const string ConsumerProgram = """
        using System;
        using System.IO;
        using System.Linq;
        using SingLoRA;
        using SingLoRA.AdapterFiles;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        namespace Consumer;

        [SingLoRA(Rank = 2, Targets = "q,k", Alpha = 4, RampLength = 0)]
        public partial class Attention : Module<Tensor, Tensor>
        {
            private readonly Linear q = Linear(8, 8);
            private readonly Linear k = Linear(8, 8);

            public Attention() : base(nameof(Attention)) => RegisterComponents();

            public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x);
        }

        public static class Program
        {
            public static int Main()
            {
                manual_seed(0);
                var model = new Attention();
                if (model is not ISingLoRAModule generated || generated.Adapters.Count != 2) throw new Exception("generated code missing");
                Console.WriteLine($"generated: ISingLoRAModule with {generated.Adapters.Count} adapters");

                // RampLength = 0: u = 1, so the adapters change the output iff the intercepted calls reach them.
                var x = randn(16, 8);
                var frozen = functional.linear(x, model.QAdapter.weight, model.QAdapter.bias) + functional.linear(x, model.KAdapter.weight, model.KAdapter.bias);
                var expected = frozen + model.QAdapter.DeltaWeight().matmul(x.t()).t() + model.KAdapter.DeltaWeight().matmul(x.t()).t();
                if (!model.forward(x).allclose(expected, rtol: 1e-4, atol: 1e-5)) throw new Exception("calls on q and k were not intercepted");
                Console.WriteLine("interceptors: q and k calls reach the adapters");

                model.FreezeAllButAdapters();
                var before = model.QAdapter.A.detach().clone();
                var optimizer = optim.AdamW(model.AdapterParameters(), lr: 1e-2);
                var loss = functional.mse_loss(model.forward(x), randn(16, 8));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                model.AdvanceRamp();
                if (model.QAdapter.A.eq(before).all().item<bool>() || model.QAdapter.RampStep != 1) throw new Exception("the training step changed nothing");
                Console.WriteLine($"trained: 1 step, loss {loss.item<float>():0.0000}");

                string dir = Path.Combine(Path.GetTempPath(), "singlora-consumer-" + Guid.NewGuid().ToString("N"));
                try
                {
                    model.SaveAdapters(dir);
                    manual_seed(0);
                    var reloaded = new Attention();
                    reloaded.LoadAdapters(dir);
                    if (!reloaded.forward(x).eq(model.forward(x)).all().item<bool>() || reloaded.QAdapter.RampStep != 1) throw new Exception("adapter round trip failed");
                    Console.WriteLine("adapter files: round trip ok");
                }
                finally { Directory.Delete(dir, recursive: true); }
                Console.WriteLine("CONSUMER OK");
                return 0;
            }
        }
        """;
}
