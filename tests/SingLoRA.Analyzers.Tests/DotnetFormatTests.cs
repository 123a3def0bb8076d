using System;
using System.IO;
using System.Linq;
using SingLoRA.Testing;
using Xunit;
using Xunit.Abstractions;

namespace SingLoRA.Analyzers.Tests;

/// <summary>
/// Every code fix through <c>dotnet format analyzers</c>, which applies them with Fix All in Solution: a throwaway
/// project (outside the repository) with several diagnostics of each fixable ID, fixed in one run, then checked with
/// <c>--verify-no-changes</c> (nothing left to fix) and by what the fixed files say.
/// </summary>
[Trait("Category", "Format")]
public class DotnetFormatTests(ITestOutputHelper output)
{
    private static readonly string[] FixableIds = { "SLG0002", "SLG0003", "SLG0012", "SLG0015", "SLG0016", "SLG0020", "SLG0031" };

    private const string Usings = "using SingLoRA;\nusing TorchSharp.Modules;\nusing static TorchSharp.torch;\nusing static TorchSharp.torch.nn;\n\n";

    [Fact]
    public void Dotnet_format_applies_every_fix_to_every_occurrence()
    {
        var bin = AppContext.BaseDirectory;
        var work = Path.Combine(Path.GetTempPath(), "singlora-format-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        try
        {
            File.WriteAllText(Path.Combine(work, "Models.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable></PropertyGroup>
                  <ItemGroup>
                    <Reference Include="{Path.Combine(bin, "TorchSharp.dll")}" />
                    <Reference Include="{Path.Combine(bin, "SingLoRA.dll")}" />
                    <Analyzer Include="{Path.Combine(bin, "SingLoRA.Analyzers.dll")}" />
                    <Analyzer Include="{Path.Combine(bin, "SingLoRA.CodeFixes.dll")}" />
                  </ItemGroup>
                </Project>
                """);
            // No fix here reveals a diagnostic another fix would have to handle in the same run.
            File.WriteAllText(Path.Combine(work, "Attention.cs"), Usings + """
                [SingLoRA(Rank = 32, Targets = "q, k")]
                public class Attention : Module<Tensor, Tensor>
                {
                    private readonly Linear q = Linear(16, 16), k = Linear(16, 8);
                    public Attention() : base("attention") { }
                    public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x);
                }

                [SingLoRA(Rank = 2, Targets = "qq, kk")]
                public partial class Typos : Module<Tensor, Tensor>
                {
                    private readonly Linear q = Linear(16, 16), k = Linear(16, 8);
                    public Typos() : base("typos") { RegisterComponents(); }
                    public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x);
                }

                [SingLoRA(Rank = 4, Targets = "q", LayerIndex = nameof(layer_idx), Layers = "0-1")]
                public partial class Indexed : Module<Tensor, Tensor>
                {
                    private readonly Linear q = Linear(8, 8);
                    private int layer_idx;
                    public Indexed(int i) : base("indexed") { RegisterComponents(); layer_idx = i; }
                    public Indexed(int i, int j) : base("indexed") { RegisterComponents(); this.layer_idx = i + j; }
                    public override Tensor forward(Tensor x) => q.forward(x);
                }

                [SingLoRA(Rank = 16, Targets = "q")]
                public class Square : Module<Tensor, Tensor>
                {
                    private readonly Linear q = Linear(16, 16);
                    public Square(int unused) : base("square") => RegisterComponents();
                    public override Tensor forward(Tensor x) => q.forward(x);
                }
                """);
            File.WriteAllText(Path.Combine(work, "Nested.cs"), Usings + """
                public static class Zoo
                {
                    [SingLoRA(Rank = 4, Targets = "q")]
                    public class Primary(long d) : Module<Tensor, Tensor>(nameof(Primary))
                    {
                        private readonly Linear q = Linear(d, d);
                        public override Tensor forward(Tensor x) => q.forward(x);
                    }

                    [SingLoRA(Rank = 4, Targets = "q")]
                    public class Two : Module<Tensor, Tensor>
                    {
                        private readonly Linear q;
                        public Two(long d) : base("two") { q = Linear(d, d); }
                        public Two() : this(8) { }
                        public override Tensor forward(Tensor x) => q.forward(x);
                    }
                }
                """);

            Run($"restore", work);
            var format = Run($"format analyzers Models.csproj --no-restore --severity info --diagnostics {string.Join(" ", FixableIds)} -v diag", work);
            Assert.DoesNotContain("Unable to fix", format);
            Run($"format analyzers Models.csproj --no-restore --severity info --diagnostics {string.Join(" ", FixableIds)} --verify-no-changes", work);

            var attention = File.ReadAllText(Path.Combine(work, "Attention.cs"));
            var nested = File.ReadAllText(Path.Combine(work, "Nested.cs"));
            Assert.Contains("[SingLoRA(Rank = 4, Targets = \"q, k\")]\npublic partial class Attention", attention.Replace("\r\n", "\n"));
            Assert.Contains("[SingLoRA(Rank = 2, Targets = \"q, k\")]\npublic partial class Typos", attention.Replace("\r\n", "\n"));
            Assert.Contains("public Attention() : base(\"attention\") { RegisterComponents(); }", attention);
            Assert.Contains("[SingLoRA(Rank = 8, Targets = \"q\")]\npublic partial class Square", attention.Replace("\r\n", "\n"));
            Assert.Contains("public Indexed(int i) : base(\"indexed\") { layer_idx = i; RegisterComponents(); }", attention);
            Assert.Contains("public Indexed(int i, int j) : base(\"indexed\") { this.layer_idx = i + j; RegisterComponents(); }", attention);
            Assert.Contains("public static partial class Zoo", nested);
            Assert.Contains("public partial class Primary : Module<Tensor, Tensor>", nested);
            Assert.Contains("public Primary(long d) : base(nameof(Primary))", nested);
            Assert.Contains("private readonly Linear q;", nested);
            Assert.Contains("public partial class Two", nested);
            Assert.Equal(2, nested.Split("RegisterComponents();").Length - 1);   // Primary's new constructor, and Two(long) (Two() chains to it)
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private string Run(string arguments, string directory)
    {
        var (exit, text) = DotnetProcess.Run("dotnet", arguments, directory, 240, output.WriteLine);
        Assert.True(exit == 0, $"`dotnet {arguments}` exited with {exit}:\n{text}");
        return text;
    }
}
