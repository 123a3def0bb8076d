using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using SingLoRA.AdapterFiles;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>The file is standard safetensors, read and written for every supported dtype; corrupt files are refused clearly.</summary>
public class SafeTensorsFormatTests
{
    [Fact]
    public void Adapter_file_is_standard_safetensors_parsed_with_plain_dotnet()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net(1);
        Helpers.Randomise(model, 42);
        model.SaveAdapters(dir.Path);

        // Parse without TorchSharp: u64 LE header length, JSON header, raw little-endian data.
        var bytes = File.ReadAllBytes(dir.File(AdapterFile.WeightsFileName));
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0, 8));
        Assert.True(8 + n <= bytes.Length);
        Assert.Equal(0, (8 + n) % 8);                                   // data aligned, header padded with spaces
        var headerText = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("{", headerText);
        using var header = JsonDocument.Parse(headerText);
        var data = bytes.AsSpan((int)(8 + n));
        var names = new List<string>();
        long covered = 0;
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                Assert.All(entry.Value.EnumerateObject(), m => Assert.Equal(JsonValueKind.String, m.Value.ValueKind));
                continue;
            }
            names.Add(entry.Name);
            string dtype = entry.Value.GetProperty("dtype").GetString()!;
            long[] shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            long[] offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            int size = dtype switch { "F32" => 4, "I64" => 8, _ => throw new Xunit.Sdk.XunitException($"unexpected dtype {dtype}") };
            Assert.Equal(shape.Aggregate(1L, (a, b) => a * b) * size, offsets[1] - offsets[0]);
            covered += offsets[1] - offsets[0];
            var raw = data[(int)offsets[0]..(int)offsets[1]];
            if (entry.Name.EndsWith(".singlora_step"))
            {
                Assert.Equal("I64", dtype);
                Assert.Empty(shape);
                Assert.Equal(42, BinaryPrimitives.ReadInt64LittleEndian(raw));
            }
            else
            {
                Assert.Equal("F32", dtype);
                var adapter = model.GetSingLoRALayers().Single(a => a.Path + ".singlora_A" == entry.Name).Adapter;
                Assert.Equal(adapter.A.shape, shape);
                var values = new float[raw.Length / 4];
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
                Assert.Equal(adapter.A.detach().data<float>().ToArray(), values);
            }
        }
        Assert.Equal(data.Length, covered);
        Assert.Equal(new[] { "blocks.0.q.singlora_A", "blocks.0.q.singlora_step", "blocks.0.k.singlora_A", "blocks.0.k.singlora_step" }, names);
    }

    [Fact]
    public void Every_supported_dtype_round_trips_bit_for_bit()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var source = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 4),
            ["f64"] = randn(2, 2, dtype: ScalarType.Float64),
            ["bf16"] = randn(5, dtype: ScalarType.BFloat16),
            ["f16"] = randn(2, 3, dtype: ScalarType.Float16),
            ["i64"] = tensor(new long[] { long.MinValue, -1, 0, long.MaxValue }),
            ["i32"] = tensor(new[] { 1, -2, 3 }),
            ["i16"] = tensor(new short[] { -7, 7 }),
            ["i8"] = tensor(new sbyte[] { -1, 1 }),
            ["u8"] = tensor(new byte[] { 0, 255 }),
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(17L),
            ["empty"] = zeros(0, 3),
        };
        string path = dir.File("all.safetensors");
        SafeTensors.Save(path, source, new Dictionary<string, string> { ["note"] = "hi" });
        using var file = SafeTensors.Load(path);
        Assert.Equal(source.Keys, file.Names);
        Assert.Equal("hi", file.Metadata["note"]);
        foreach (var (name, t) in source)
        {
            var back = file.Tensors[name];
            Assert.Equal(t.dtype, back.dtype);
            Assert.Equal(t.shape, back.shape);
            Assert.True(t.eq(back).all().item<bool>(), name);
        }
    }

    [Fact]
    public void Non_contiguous_tensors_are_written_in_logical_order()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var t = arange(6, dtype: ScalarType.Float32).reshape(2, 3).t();
        SafeTensors.Save(dir.File("t.safetensors"), new Dictionary<string, Tensor> { ["t"] = t });
        using var file = SafeTensors.Load(dir.File("t.safetensors"));
        Assert.True(file.Tensors["t"].eq(t).all().item<bool>());
    }

    public static IEnumerable<object[]> CorruptCases() => new[]
    {
        new object[] { "empty", "fewer than the 8-byte header length" },
        new object[] { "short", "fewer than the 8-byte header length" },
        new object[] { "huge-header-length", "header length field says" },
        new object[] { "header-past-end", "is truncated: its header needs" },
        new object[] { "not-json", "header is not valid JSON" },
        new object[] { "json-array", "not an object" },
        new object[] { "unknown-dtype", "has dtype F8_E4M3, which is not supported" },
        new object[] { "negative-shape", "has an invalid shape" },
        new object[] { "size-mismatch", "need 24 bytes" },
        new object[] { "overlap", "expected 24 (overlapping or missing data)" },
        new object[] { "data-truncated", "is truncated: the header describes" },
        new object[] { "trailing-bytes", "bytes after the last tensor's data" },
        new object[] { "duplicate-name", "names 'a' twice" },
        new object[] { "metadata-not-strings", "metadata value 'n' is not a string" },
    };

    [Theory]
    [MemberData(nameof(CorruptCases))]
    public void Corrupt_files_give_a_clear_format_error(string how, string expected)
    {
        using var dir = Helpers.NewDir();
        byte[] Build(string json, int dataBytes)
        {
            var h = Encoding.UTF8.GetBytes(json);
            var bytes = new byte[8 + h.Length + dataBytes];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
            h.CopyTo(bytes, 8);
            return bytes;
        }
        const string ok = """{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I64","shape":[],"data_offsets":[24,32]}}""";
        byte[] file = how switch
        {
            "empty" => Array.Empty<byte>(),
            "short" => new byte[] { 1, 2, 3 },
            "huge-header-length" => BitConverter.GetBytes(ulong.MaxValue - 3).Concat(new byte[16]).ToArray(),
            "header-past-end" => Build(ok, 32)[..40],
            "not-json" => Build("{\"a\": [", 0),
            "json-array" => Build("[1,2]", 0),
            "unknown-dtype" => Build("""{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}""", 2),
            "negative-shape" => Build("""{"a":{"dtype":"F32","shape":[-2,3],"data_offsets":[0,24]}}""", 24),
            "size-mismatch" => Build("""{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}""", 20),
            "overlap" => Build("""{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I64","shape":[],"data_offsets":[16,24]}}""", 32),
            "data-truncated" => Build(ok, 30),
            "trailing-bytes" => Build(ok, 40),
            "duplicate-name" => Build("""{"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"a":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}""", 16),
            _ => Build("""{"__metadata__":{"n":1},"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}""", 8),
        };
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, file);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Random_garbage_never_crashes_the_reader()
    {
        using var dir = Helpers.NewDir();
        var rng = new Random(12345);
        string path = dir.File("garbage.safetensors");
        var valid = Encoding.UTF8.GetBytes("""{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}""");
        for (int i = 0; i < 300; i++)
        {
            // Half pure noise, half a valid file with a few flipped bytes.
            byte[] bytes;
            if (i % 2 == 0) { bytes = new byte[rng.Next(0, 200)]; rng.NextBytes(bytes); }
            else
            {
                bytes = new byte[8 + valid.Length + 24];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)valid.Length);
                valid.CopyTo(bytes, 8);
                for (int k = 0; k < 3; k++) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
            }
            File.WriteAllBytes(path, bytes);
            try { using var f = SafeTensors.Load(path); }
            catch (SafeTensorsFormatException) { }
        }
    }
}
