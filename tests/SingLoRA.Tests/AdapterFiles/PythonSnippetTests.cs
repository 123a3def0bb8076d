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
    [PythonTorchFact]
    public void The_documented_snippet_applies_an_adapter_file_in_PyTorch_exactly_as_SaveMerged_folds_it()
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

            // The snippet exactly as documented; safetensors' load_file is replaced by a small stand-in, as the wheel is
            // not installable from Debian's packages.
            var doc = File.ReadAllText(Path.Combine(PythonProcess.RepoRoot(), "docs", "adapter-format.md"));
            File.WriteAllText(Path.Combine(dir, "snippet.py"), Regex.Match(doc, "```python\n(.*?)```", RegexOptions.Singleline).Groups[1].Value);
            var python = PythonProcess.TestScripts;
            Directory.CreateDirectory(Path.Combine(dir, "safetensors"));
            File.WriteAllText(Path.Combine(dir, "safetensors", "__init__.py"), "");
            File.Copy(Path.Combine(python, "safetensors_torch_standin.py"), Path.Combine(dir, "safetensors", "torch.py"));

            var stdout = PythonProcess.Run(output, new[] { Path.Combine(python, "check_snippet.py"), dir });
            Assert.Contains("max |python - SaveMerged|", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
