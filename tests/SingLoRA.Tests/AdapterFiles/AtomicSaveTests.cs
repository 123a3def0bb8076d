using System;
using System.IO;
using System.Linq;
using SingLoRA.AdapterFiles;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>An interrupted save never destroys the previous file (simulated through the internal stream seam).</summary>
public class AtomicSaveTests
{
    /// <summary>Passes writes through until <c>limit</c> bytes, then fails like a full disk or a killed process.</summary>
    private sealed class FailingStream(Stream inner, long limit) : Stream
    {
        private long _written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            int allowed = (int)Math.Max(0, Math.Min(buffer.Length, limit - _written));
            inner.Write(buffer[..allowed]);
            _written += allowed;
            if (allowed < buffer.Length) throw new IOException("Simulated failure in the middle of a save.");
        }
    }

    private static void WithFailingWrites(long limit, int skipFiles, Action action)
    {
        int seen = 0;
        AtomicFile.WrapStreamForTests.Value = s => seen++ < skipFiles ? s : new FailingStream(s, limit);
        try { action(); }
        finally { AtomicFile.WrapStreamForTests.Value = null; }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(100)]
    public void A_save_interrupted_in_the_tensors_file_leaves_the_previous_adapter_loadable(long failAfter)
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net();
        Helpers.Randomise(model, 3);
        model.SaveAdapters(dir.Path);
        var v1 = model.GetSingLoRALayers().Select(a => a.Adapter.A.detach().clone()).ToList();
        var filesBefore = Directory.GetFiles(dir.Path).Select(f => (f, File.ReadAllBytes(f))).ToList();

        Helpers.Randomise(model, 9);
        WithFailingWrites(failAfter, skipFiles: 0, () => Assert.Throws<IOException>(() => model.SaveAdapters(dir.Path)));

        foreach (var (f, bytes) in filesBefore) Assert.Equal(bytes, File.ReadAllBytes(f));
        Assert.Equal(filesBefore.Select(x => x.f).OrderBy(x => x), Directory.GetFiles(dir.Path).OrderBy(x => x));   // no temp file left
        var reloaded = new Net();
        reloaded.LoadAdapters(dir.Path);
        Assert.All(reloaded.GetSingLoRALayers().Zip(v1), p => Assert.True(p.First.Adapter.A.eq(p.Second).all().item<bool>()));
        Assert.Equal(3, reloaded.GetSingLoRALayers()[0].Adapter.RampStep);
    }

    [Fact]
    public void A_save_interrupted_between_the_two_files_is_detected_not_half_loaded()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net();
        Helpers.Randomise(model, 3);
        model.SaveAdapters(dir.Path);
        var config = File.ReadAllBytes(dir.File(AdapterFile.ConfigFileName));
        Helpers.Randomise(model, 9);
        WithFailingWrites(10, skipFiles: 1, () => Assert.Throws<IOException>(() => model.SaveAdapters(dir.Path)));
        Assert.Equal(config, File.ReadAllBytes(dir.File(AdapterFile.ConfigFileName)));   // the config file is intact
        var target = new Net();
        var before = Helpers.Snapshot(target);
        var e = Assert.Throws<AdapterLoadException>(() => target.LoadAdapters(dir.Path));
        Assert.Contains("interrupted", e.Message);
        Helpers.AssertUnchanged(target, before);
    }

    [Fact]
    public void Leftover_temporary_files_from_a_crash_do_not_disturb_saving_or_loading()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        File.WriteAllBytes(dir.File(".singlora-tmp-adapter_model.safetensors.0123"), new byte[] { 1, 2, 3 });
        var model = new Net();
        Helpers.Randomise(model, 3);
        model.SaveAdapters(dir.Path);
        new Net().LoadAdapters(dir.Path);
    }

    [Fact]
    public void Merged_export_save_is_atomic_too()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net();
        Helpers.Randomise(model, 10);
        string path = dir.File("merged.safetensors");
        model.SaveMerged(path);
        var before = File.ReadAllBytes(path);
        Helpers.Randomise(model, 4);
        WithFailingWrites(200, skipFiles: 0, () => Assert.Throws<IOException>(() => model.SaveMerged(path)));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
