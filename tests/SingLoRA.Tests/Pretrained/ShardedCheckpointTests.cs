using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using SingLoRA.AdapterFiles;
using SingLoRA.Pretrained;
using SingLoRA.Tests.AdapterFiles;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Pretrained;

/// <summary>
/// The checkpoints hubs ship for larger models (issue 20, item 5): <c>model.safetensors.index.json</c> plus shards, loaded
/// with the same all-or-nothing checks as one file, one shard in memory at a time; and PyTorch pickles, refused with the reason.
/// </summary>
public class ShardedCheckpointTests(ITestOutputHelper output)
{
    private static Dictionary<string, Tensor> Checkpoint(long seed = 11)
    {
        manual_seed(seed);
        using var plain = new PlainNet(2);
        return plain.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    /// <summary>Writes <paramref name="checkpoint"/> as Hugging Face does: shards of about equal size and an index that maps every tensor to its shard.</summary>
    private static string WriteSharded(TempDir dir, IReadOnlyDictionary<string, Tensor> checkpoint, int shards)
    {
        var keys = checkpoint.Keys.ToList();
        var map = new Dictionary<string, string>();
        for (int s = 0; s < shards; s++)
        {
            string name = $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            var part = keys.Where((_, i) => i % shards == s).ToList();
            SafeTensors.Save(dir.File(name), part.Select(k => new KeyValuePair<string, Tensor>(k, checkpoint[k])));
            foreach (var k in part) map[k] = name;
        }
        long total = checkpoint.Values.Sum(t => t.numel() * t.ElementSize);
        File.WriteAllText(dir.File(PretrainedLoader.ShardIndexFileName), JsonSerializer.Serialize(new { metadata = new { total_size = total }, weight_map = map }));
        return dir.File(PretrainedLoader.ShardIndexFileName);
    }

    private static void AssertLoaded(nn.Module model, IReadOnlyDictionary<string, Tensor> checkpoint)
    {
        var state = Helpers.Snapshot(model);
        foreach (var (key, tensor) in checkpoint)
            Assert.True(tensor.eq(state[key]).all().item<bool>(), $"'{key}' was not loaded.");
    }

    [Fact]
    public void A_sharded_checkpoint_loads_like_one_file_by_its_index_or_its_folder()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var checkpoint = Checkpoint();
        string index = WriteSharded(dir, checkpoint, shards: 3);

        var byIndex = new Net(2);
        var report = byIndex.LoadPretrained(index);
        AssertLoaded(byIndex, checkpoint);
        Assert.Equal(checkpoint.Count, report.Loaded.Count);

        var byFolder = new Net(2);
        byFolder.LoadPretrained(dir.Path);
        AssertLoaded(byFolder, checkpoint);
    }

    [Theory]
    [InlineData("missing-shard", "which is not in")]
    [InlineData("tensor-in-wrong-shard", "which has no such tensor")]
    [InlineData("no-weight-map", "has no \"weight_map\" object")]
    [InlineData("not-json", "is not valid JSON")]
    [InlineData("shard-outside-folder", "is not a shard file name in the index's folder")]
    [InlineData("model-mismatch", "Missing: the model's")]
    public void A_broken_sharded_checkpoint_is_refused_whole_and_the_model_is_unchanged(string how, string expected)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var checkpoint = Checkpoint();
        string index = WriteSharded(dir, checkpoint, shards: 2);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(index))!;
        var map = json["weight_map"]!.AsObject();
        switch (how)
        {
            case "missing-shard": File.Delete(dir.File("model-00002-of-00002.safetensors")); break;
            case "tensor-in-wrong-shard": map[map.First().Key] = "model-00002-of-00002.safetensors"; break;
            case "no-weight-map": json.AsObject().Remove("weight_map"); break;
            case "not-json": break;
            case "shard-outside-folder": map[map.First().Key] = "../elsewhere.safetensors"; break;
            case "model-mismatch": map.Remove(map.First().Key); break;
        }
        File.WriteAllText(index, how == "not-json" ? "{ \"weight_map\": " : json.ToJsonString());

        var model = new Net(2);
        var before = Helpers.Snapshot(model);
        var e = Assert.Throws<PretrainedLoadException>(() => model.LoadPretrained(index));
        Helpers.AssertUnchanged(model, before);
        Assert.Contains(expected, e.Message);
        Assert.Contains("the model was not changed", e.Message);
    }

    [Fact]
    public void A_pytorch_pickle_is_refused_with_the_reason_and_the_conversion()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("pytorch_model.bin"), new byte[] { 0x80, 0x02, 0x63, 0x6F, 0x6C, 0x6C, 0x65, 0x63, 0x74, 0x69, 0x6F, 0x6E, 0x73 });
        var e = Assert.Throws<PretrainedLoadException>(() => new Net(2).LoadPretrained(dir.File("pytorch_model.bin")));
        Assert.Contains("read safely only by a restricted unpickler", e.Message);
        Assert.Contains("safetensors.torch.save_file", e.Message);
    }

    /// <summary>
    /// A real <c>pytorch_model.bin</c>, written by <c>torch.save(state_dict)</c> (a zip of pickles) with the keys of the C#
    /// model, is refused with the reason and the conversion, and the model is left as it was.
    /// </summary>
    [PythonTorchFact]
    public void A_bin_file_written_by_torch_save_is_refused_and_the_model_is_unchanged()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var checkpoint = Checkpoint(seed: 6);
        SafeTensors.Save(dir.File("whole.safetensors"), checkpoint);
        string bin = dir.File("pytorch_model.bin");
        string script = $$"""
            import torch
            from singlora.safetensors import load_file
            torch.save(load_file({{JsonSerializer.Serialize(dir.File("whole.safetensors"))}}), {{JsonSerializer.Serialize(bin)}})
            print("saved", len(torch.load({{JsonSerializer.Serialize(bin)}}, weights_only=True)), "tensors with torch.save")
            """;
        PythonProcess.Run(output, new[] { "-c", script });
        Assert.Equal((byte)'P', File.ReadAllBytes(bin)[0]); // torch.save's zip format

        var model = new Net(2);
        var before = Helpers.Snapshot(model);
        var e = Assert.Throws<PretrainedLoadException>(() => model.LoadPretrained(bin));
        Helpers.AssertUnchanged(model, before);
        Assert.Contains("a PyTorch pickle (.bin, .pt) is refused", e.Message);
        Assert.Contains("torch.load(path, weights_only=True)", e.Message);
        Assert.Contains("the model was not changed", e.Message);
    }

    /// <summary>Shards written by PyTorch with the twin's safetensors writer, under the Hugging Face names, load into the C# model.</summary>
    [PythonTorchFact]
    public void Shards_written_by_PyTorch_load_into_the_CSharp_model()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var checkpoint = Checkpoint(seed: 5);
        SafeTensors.Save(dir.File("whole.safetensors"), checkpoint);
        string script = $$"""
            import json, os
            from singlora.safetensors import load_file, save_file
            whole = load_file({{JsonSerializer.Serialize(dir.File("whole.safetensors"))}})
            names = sorted(whole)
            out = {{JsonSerializer.Serialize(dir.Path)}}
            weight_map = {}
            for s in range(2):
                shard = f"model-{s + 1:05d}-of-00002.safetensors"
                part = {n: whole[n] for i, n in enumerate(names) if i % 2 == s}
                save_file(part, os.path.join(out, shard), {"format": "pt"})
                weight_map.update({n: shard for n in part})
            total = sum(t.numel() * t.element_size() for t in whole.values())
            with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
            print("wrote", len(weight_map), "tensors in 2 shards")
            """;
        PythonProcess.Run(output, new[] { "-c", script });
        File.Delete(dir.File("whole.safetensors"));

        var model = new Net(2);
        model.LoadPretrained(dir.Path);
        AssertLoaded(model, checkpoint);
    }
}
