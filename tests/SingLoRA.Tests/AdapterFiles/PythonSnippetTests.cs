using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using SingLoRA.AdapterFiles;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>The Python snippet of docs/adapter-format.md, run in PyTorch, reproduces SingLoRA.Gen's merged export.</summary>
public class PythonSnippetTests(ITestOutputHelper output)
{
    /// <summary>
    /// The snippet's text as written in the doc, run twice: with the safetensors wheel (a stand-in here: Debian does not
    /// package it) and without it, where it falls back to the repository's reader (<c>python/</c> on PYTHONPATH, as
    /// the doc says). Each run also checks which reader the snippet bound, so a broken first import cannot hide
    /// behind the fallback.
    /// </summary>
    [PythonTorchTheory]
    [InlineData("wheel", "safetensors.torch")]
    [InlineData("no-wheel", "singlora.safetensors")]
    public void The_documented_snippet_applies_an_adapter_file_in_PyTorch_exactly_as_SaveMerged_folds_it(string reader, string module)
    {
        var dir = Directory.CreateTempSubdirectory("singlora-python-").FullName;
        try
        {
            using (var scope = NewDisposeScope())
            {
                manual_seed(3);
                var model = nn.Sequential(
                    ("down", new SingLoRALinear(nn.Linear(6, 4), new SingLoRAOptions(2, Alpha: 3, RampLength: 10))),
                    ("up", new SingLoRALinear(nn.Linear(4, 8, hasBias: false), new SingLoRAOptions(3, Alpha: 2, RampLength: 0, Scaling: ScalingRule.AlphaOverSqrtRank))),
                    ("sq", new SingLoRALinear(nn.Linear(8, 8), new SingLoRAOptions(4, RampLength: 20))));
                model.SetRampStep(7); // mid-ramp for two of the three layers
                using (no_grad()) foreach (var p in model.AdapterParameters()) p.normal_(0, 0.5);
                var plain = model.named_parameters().Where(p => !p.name.Contains("singlora", StringComparison.Ordinal))
                    .Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter));
                SafeTensors.Save(Path.Combine(dir, "base.safetensors"), plain);
                model.SaveAdapters(Path.Combine(dir, "adapter"));
                model.SaveMerged(Path.Combine(dir, "merged.safetensors"));
            }

            // The snippet exactly as documented: the python block of the section "Applying an adapter in PyTorch".
            var doc = File.ReadAllText(Path.Combine(PythonProcess.RepoRoot(), "docs", "adapter-format.md"));
            var section = doc[doc.IndexOf("## Applying an adapter in PyTorch", StringComparison.Ordinal)..];
            var snippet = Regex.Match(section, "```python\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
            Assert.Contains("def apply_adapter(", snippet);
            File.WriteAllText(Path.Combine(dir, "snippet.py"), snippet);
            var python = PythonProcess.TestScripts;
            if (reader == "wheel")
            {
                Directory.CreateDirectory(Path.Combine(dir, "safetensors"));
                File.WriteAllText(Path.Combine(dir, "safetensors", "__init__.py"), "");
                File.Copy(Path.Combine(python, "safetensors_torch_standin.py"), Path.Combine(dir, "safetensors", "torch.py"));
            }

            var stdout = PythonProcess.Run(output, new[] { Path.Combine(python, "check_snippet.py"), dir, reader });
            Assert.Contains($"snippet's load_file: {module}\n", stdout);
            Assert.Contains("max |python - SaveMerged|", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
