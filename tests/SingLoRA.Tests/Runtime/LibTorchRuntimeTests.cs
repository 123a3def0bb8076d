using System;
using System.IO;
using SingLoRA.Platform;
using Xunit;

namespace SingLoRA.Tests.Runtime;

/// <summary>
/// The refusals of <see cref="LibTorchRuntime"/> that can be seen inside the test process (which runs on the CPU libtorch
/// package). Binding to an installed libtorch for real is tested out of process by SingLoRA.Packaging.Tests' GpuKitTests.
/// </summary>
public class LibTorchRuntimeTests
{
    [Fact]
    public void Without_a_folder_or_the_variable_nothing_happens()
    {
        Assert.Null(Environment.GetEnvironmentVariable(LibTorchRuntime.EnvironmentVariable));
        Assert.Null(LibTorchRuntime.UseInstalled());
        Assert.Null(LibTorchRuntime.Current);
        Assert.Null(LibTorchRuntime.MissingLibTorchHint());   // this process ships the CPU libtorch package
    }

    [Fact]
    public void A_missing_folder_is_named()
    {
        var e = Assert.Throws<InvalidOperationException>(() => LibTorchRuntime.UseInstalled("/nonexistent/torch/lib"));
        Assert.Contains("/nonexistent/torch/lib, which does not exist", e.Message);
    }

    [Fact]
    public void An_app_that_ships_its_own_libtorch_is_refused_before_anything_loads()
    {
        Assert.NotNull(LibTorchRuntime.BundledLibTorch);
        var e = Assert.Throws<InvalidOperationException>(() => LibTorchRuntime.UseInstalled(Path.GetTempPath()));
        Assert.Contains("ships its own libtorch", e.Message);
        Assert.Contains("-p:SingLoRAReferenceLibTorch=false", e.Message);
        Assert.Null(LibTorchRuntime.Current);
    }
}
