// Minimal quickstart: fine-tune one frozen Linear layer with SingLoRA and print the loss and the parameter counts.
using System;
using SingLoRA;
using TorchSharp;
using static TorchSharp.torch;

manual_seed(0);
const int d = 64, rank = 8, steps = 300;
var layer = new SingLoRALinear(nn.Linear(d, d), new SingLoRAOptions(rank, Alpha: rank, RampSteps: 30));
var lora = new LoRALinear(nn.Linear(d, d), new LoRAOptions(rank));
Console.WriteLine($"SingLoRA: {layer.TrainableParameters()}");
Console.WriteLine($"LoRA at the same rank would train {lora.AdapterParameterCount:N0} values ({(double)lora.AdapterParameterCount / layer.AdapterParameterCount:0.0}x).");

// The task: the frozen layer plus a symmetric low-rank change.
var u = randn(d, rank) / Math.Sqrt(d) * 2;
var target = (layer.weight.detach() + u.matmul(u.t())).detach();
var optimizer = optim.AdamW(layer.AdapterParameters, lr: 2e-2);
for (int step = 1; step <= steps; step++)
{
    using var scope = NewDisposeScope();
    var x = randn(64, d);
    var loss = nn.functional.mse_loss(layer.forward(x), x.matmul(target.t()));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    layer.AdvanceRamp();
    if (step % 50 == 0 || step == 1) Console.WriteLine($"step {step,4}  u(t) = {layer.RampValue:0.00}  loss = {loss.item<float>():0.000000}");
}
