using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.AdapterFiles;

/// <summary>
/// A small reader and writer for the standard <a href="https://github.com/huggingface/safetensors">safetensors</a>
/// format: an 8-byte little-endian header length <c>N</c>, a UTF-8 JSON header of <c>N</c> bytes
/// (<c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>, offsets relative
/// to the start of the data), then the raw little-endian tensor bytes.
/// </summary>
/// <remarks>
/// Reading validates the whole header before any tensor is created (header size, JSON shape, known dtypes, non-negative
/// shapes, offsets that match each tensor's size and tile the data section exactly, no duplicate names) and reports
/// the first problem as a <see cref="SafeTensorsFormatException"/>. Supported dtypes: <c>BOOL</c>, <c>U8</c>, <c>I8</c>,
/// <c>I16</c>, <c>I32</c>, <c>I64</c>, <c>F16</c>, <c>BF16</c>, <c>F32</c>, <c>F64</c>. Files are written atomically
/// (see <see cref="Save(string, IEnumerable{KeyValuePair{string, Tensor}}, IReadOnlyDictionary{string, string}?)"/>).
/// </remarks>
public static class SafeTensors
{
    /// <summary>The largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly (string Name, ScalarType Type, int Size)[] s_dtypes =
    {
        ("BOOL", ScalarType.Bool, 1), ("U8", ScalarType.Byte, 1), ("I8", ScalarType.Int8, 1), ("I16", ScalarType.Int16, 2),
        ("I32", ScalarType.Int32, 4), ("I64", ScalarType.Int64, 8), ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2), ("F32", ScalarType.Float32, 4), ("F64", ScalarType.Float64, 8),
    };

    /// <summary>The safetensors name of a TorchSharp dtype (<c>F32</c>, <c>BF16</c>, <c>I64</c>, ...).</summary>
    /// <exception cref="NotSupportedException">The dtype has no supported safetensors name.</exception>
    public static string DTypeName(ScalarType type)
    {
        foreach (var d in s_dtypes) if (d.Type == type) return d.Name;
        throw new NotSupportedException($"The dtype {type} cannot be stored in a safetensors file by SingLoRA (supported: {string.Join(", ", s_dtypes.Select(d => d.Type))}).");
    }

    /// <summary>The TorchSharp dtype of a safetensors dtype name, or null when it is not supported.</summary>
    public static ScalarType? ParseDType(string name)
    {
        foreach (var d in s_dtypes) if (d.Name == name) return d.Type;
        return null;
    }

    private static int ElementSize(ScalarType type) => s_dtypes.First(d => d.Type == type).Size;

    /// <summary>
    /// Writes <paramref name="tensors"/> (in the given order) to <paramref name="path"/> atomically: the file is written
    /// to a temporary file in the same folder, flushed to disk and renamed over <paramref name="path"/>, so an
    /// interrupted save leaves any previous file intact.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        AtomicFile.Write(path, stream => Write(stream, list, metadata));
    }

    /// <summary>Writes a safetensors file to <paramref name="stream"/>. Tensors may be on any device; they are copied to the CPU.</summary>
    /// <exception cref="ArgumentException">A name is empty, reserved or repeated.</exception>
    public static void Write(Stream stream, IReadOnlyList<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        RequireLittleEndian();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var header = new MemoryStream();
        long offset = 0;
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            foreach (var (name, tensor) in tensors)
            {
                if (string.IsNullOrEmpty(name) || name == MetadataKey)
                    throw new ArgumentException($"'{name}' cannot name a tensor in a safetensors file.", nameof(tensors));
                if (!names.Add(name)) throw new ArgumentException($"The tensor name '{name}' appears twice.", nameof(tensors));
                ArgumentNullException.ThrowIfNull(tensor, name);
                long size = tensor.numel() * ElementSize(ParseDType(DTypeName(tensor.dtype))!.Value);
                json.WriteStartObject(name);
                json.WriteString("dtype", DTypeName(tensor.dtype));
                json.WriteStartArray("shape");
                foreach (var dim in tensor.shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + size);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += size;
            }
            json.WriteEndObject();
        }
        // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does, so the data is aligned.
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        header.Position = 0;
        header.CopyTo(stream);
        foreach (var (name, tensor) in tensors)
        {
            using var scope = NewDisposeScope();
            var cpu = tensor.detach().cpu().contiguous();
            if (cpu.numel() == 0) continue;
            long bytes = cpu.numel() * ElementSize(cpu.dtype);
            if (bytes > int.MaxValue)
                throw new NotSupportedException($"The tensor '{name}' has {bytes} bytes; tensors above 2 GiB are not supported by this writer.");
            stream.Write(cpu.bytes);
        }
        stream.Flush();
    }

    /// <summary>
    /// Reads every tensor of a safetensors file onto the CPU. The header is validated whole before any tensor is read.
    /// The caller owns (and should dispose) the returned tensors.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">The file is not a valid safetensors file (corrupt, truncated, unsupported dtype).</exception>
    public static SafeTensorsFile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Read(stream, path);
    }

    /// <summary>Reads a safetensors file from a seekable stream (see <see cref="Load"/>).</summary>
    public static SafeTensorsFile Read(Stream stream, string? displayName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        RequireLittleEndian();
        string what = displayName ?? "the stream";
        var (entries, metadata, dataStart) = ReadHeader(stream, what);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var e in entries)
            {
                var t = empty(e.Shape, dtype: e.DType);
                tensors.Add(e.Name, t);
                if (e.Length == 0) continue;
                if (e.Length > int.MaxValue)
                    throw new SafeTensorsFormatException($"The tensor '{e.Name}' in {what} has {e.Length} bytes; tensors above 2 GiB are not supported by this reader.");
                var buffer = new byte[e.Length];
                stream.Position = dataStart + e.Begin;
                stream.ReadExactly(buffer);
                t.bytes = buffer;
            }
        }
        catch (EndOfStreamException ex)
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw new SafeTensorsFormatException($"{what} is truncated: a tensor's data ends past the end of the file.", ex);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return new SafeTensorsFile(tensors, entries.Select(e => e.Name).ToList(), metadata);
    }

    /// <summary>One tensor's header entry.</summary>
    internal sealed record Entry(string Name, ScalarType DType, long[] Shape, long Begin, long End)
    {
        public long Length => End - Begin;
    }

    /// <summary>Reads and validates the header; leaves the stream anywhere. Returns the entries in file order and the data's start.</summary>
    internal static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(Stream stream, string what)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new SafeTensorsFormatException($"{what} is not a safetensors file: it has {fileLength} bytes, fewer than the 8-byte header length (truncated or empty).");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength < 2 || headerLength > MaxHeaderBytes)
            throw new SafeTensorsFormatException($"{what} is not a safetensors file: its header length field says {headerLength} bytes (expected 2 to {MaxHeaderBytes}).");
        if ((long)headerLength > fileLength - 8)
            throw new SafeTensorsFormatException($"{what} is truncated: its header needs {headerLength} bytes but only {fileLength - 8} follow the length field.");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        try
        {
            _ = s_strictUtf8.GetCharCount(headerBytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw new SafeTensorsFormatException($"{what} is corrupt: its header is not valid UTF-8.", ex);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { AllowTrailingCommas = false, MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            throw new SafeTensorsFormatException($"{what} is corrupt: its header is not valid JSON ({ex.Message}).", ex);
        }
        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException($"{what} is corrupt: its header is JSON but not an object.");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new SafeTensorsFormatException($"{what} is corrupt: the header names '{property.Name}' twice.");
                if (property.Name == MetadataKey)
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw new SafeTensorsFormatException($"{what} is corrupt: '{MetadataKey}' must be an object of strings.");
                    foreach (var m in property.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new SafeTensorsFormatException($"{what} is corrupt: metadata value '{m.Name}' is not a string.");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(ParseEntry(property, what));
            }
        }

        // The data offsets must tile the data section exactly: no gaps, no overlaps, nothing past the end.
        long expected = 0;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin != expected)
                throw new SafeTensorsFormatException($"{what} is corrupt: tensor '{e.Name}' starts at data offset {e.Begin}, expected {expected} (overlapping or missing data).");
            expected = e.End;
        }
        if (expected > dataLength)
            throw new SafeTensorsFormatException($"{what} is truncated: the header describes {expected} bytes of tensor data but the file holds {dataLength}.");
        if (expected < dataLength)
            throw new SafeTensorsFormatException($"{what} is corrupt: the file holds {dataLength - expected} bytes after the last tensor's data.");
        return (entries, metadata, dataStart);
    }

    private static Entry ParseEntry(JsonProperty property, string what)
    {
        string name = property.Name;
        string Bad(string reason) => $"{what} is corrupt: tensor '{name}' {reason}.";
        var v = property.Value;
        if (v.ValueKind != JsonValueKind.Object) throw new SafeTensorsFormatException(Bad("is not described by an object"));
        if (!v.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new SafeTensorsFormatException(Bad("has no dtype"));
        string dtypeName = dtypeElement.GetString()!;
        var dtype = ParseDType(dtypeName)
            ?? throw new SafeTensorsFormatException($"{what}: tensor '{name}' has dtype {dtypeName}, which is not supported (supported: {string.Join(", ", s_dtypes.Select(d => d.Name))}).");
        if (!v.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsFormatException(Bad("has no shape"));
        var shape = new List<long>();
        long numel = 1;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                throw new SafeTensorsFormatException(Bad($"has an invalid shape {shapeElement.GetRawText()}"));
            shape.Add(d);
            try { numel = checked(numel * d); }
            catch (OverflowException) { throw new SafeTensorsFormatException(Bad($"has a shape {shapeElement.GetRawText()} too large to address")); }
        }
        if (!v.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new SafeTensorsFormatException(Bad("has no [begin, end] data_offsets"));
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new SafeTensorsFormatException(Bad($"has invalid data_offsets {offsets.GetRawText()}"));
        long size;
        try { size = checked(numel * ElementSize(dtype)); }
        catch (OverflowException) { throw new SafeTensorsFormatException(Bad("is too large to address")); }
        if (end - begin != size)
            throw new SafeTensorsFormatException(Bad($"has data_offsets {offsets.GetRawText()} ({end - begin} bytes) but its dtype {dtypeName} and shape {shapeElement.GetRawText()} need {size} bytes"));
        return new Entry(name, dtype, shape.ToArray(), begin, end);
    }

    private static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors files are little-endian; this reader and writer run on little-endian machines only.");
    }
}

/// <summary>The tensors of a safetensors file (on the CPU, owned by this object) and its <c>__metadata__</c>.</summary>
public sealed class SafeTensorsFile : IDisposable
{
    internal SafeTensorsFile(Dictionary<string, Tensor> tensors, IReadOnlyList<string> order, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Names = order;
        Metadata = metadata;
    }

    /// <summary>The tensors by name.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>The tensor names in file order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The header's <c>__metadata__</c> strings (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors as a state dict (for <c>module.load_state_dict(...)</c>); the tensors stay owned by this object.</summary>
    public Dictionary<string, Tensor> ToStateDict() => Names.ToDictionary(n => n, n => Tensors[n], StringComparer.Ordinal);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}

/// <summary>A file is not a valid safetensors file: corrupt, truncated, or using an unsupported dtype.</summary>
public sealed class SafeTensorsFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public SafeTensorsFormatException(string message, Exception? inner = null) : base(message, inner) { }
}
