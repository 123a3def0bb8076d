#!/usr/bin/env python3
"""PEFT LoRA timed with the protocol of `SingLoRA.Benchmarks --device` (tests/SingLoRA.Benchmarks/DeviceBench.cs), so the
two can be compared in one GPU session (tools/gpu/gpu-check.sh --bench runs both).

Per shape and dtype: the frozen base (forward + MSE + backward to the input) and PEFT LoRA's training step (forward + MSE +
backward to the input and the adapter + AdamW lr 1e-4, no weight decay), with PEFT's default float32 adapters
(autocast_adapter_dtype=True) and with adapters cast to the base dtype. Every call is timed between two
torch.cuda.synchronize() calls, variants interleaved call by call; median / min / p90 in milliseconds, as markdown.

    python3 tools/gpu/peft_bench.py [--device cuda] [--tokens 8192] [--shapes 4096x4096,4096x11008,11008x4096]
                                    [--ranks 8] [--dtypes bfloat16,float32] [--iters 20] [--warmup 5] [--report FILE]
"""
import argparse
import statistics
import sys
import time

import torch


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--shapes", default="4096x4096,4096x11008,11008x4096")
    p.add_argument("--ranks", default="8")
    p.add_argument("--dtypes", default="bfloat16,float32")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--report", default="")
    return p.parse_args()


def measure(ops, device, warmup, iters):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = [[] for _ in ops]
    for it in range(warmup + iters):
        for j in range(len(ops)):
            i = (j + it) % len(ops)
            sync()
            start = time.perf_counter()
            ops[i]()
            sync()
            if it >= warmup:
                times[i].append((time.perf_counter() - start) * 1000)
    return times


def main():
    a = parse()
    try:
        import peft
    except ImportError:
        print("peft_bench: the peft package is not installed for this Python; nothing to compare (pip install peft)", file=sys.stderr)
        return 3
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("peft_bench: --device cuda but torch.cuda.is_available() is false", file=sys.stderr)
        return 2
    dtypes = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}
    rows = []
    for dname in a.dtypes.split(","):
        dtype = dtypes[dname]
        for shape in a.shapes.split(","):
            d_in, d_out = (int(s) for s in (shape.split("x") * 2)[:2])
            torch.manual_seed(0)
            w0 = torch.randn(d_out, d_in, device=device, dtype=dtype) / d_in ** 0.5
            x = torch.randn(a.tokens, d_in, device=device, dtype=dtype)
            target = torch.randn(a.tokens, d_out, device=device, dtype=dtype)

            def fresh():
                layer = torch.nn.Linear(d_in, d_out, device=device, dtype=dtype)
                with torch.no_grad():
                    layer.weight.copy_(w0)
                    layer.bias.zero_()
                return layer

            ops, names = [], []
            base = fresh().requires_grad_(False)
            xb = x.detach().clone().requires_grad_(True)

            def base_step(base=base, xb=xb):
                torch.nn.functional.mse_loss(base(xb), target).backward()
                xb.grad = None
            ops.append(base_step); names.append((0, "base"))
            for rank in (int(r) for r in a.ranks.split(",")):
                for fp32_adapters in (True, False):
                    holder = torch.nn.Sequential(fresh())
                    config = peft.LoraConfig(r=rank, lora_alpha=16, target_modules=["0"], lora_dropout=0.0)
                    model = peft.get_peft_model(holder, config, autocast_adapter_dtype=fp32_adapters)
                    if not fp32_adapters:
                        for n, p in model.named_parameters():
                            if "lora_" in n:
                                p.data = p.data.to(dtype)
                    params = [p for p in model.parameters() if p.requires_grad]
                    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0)
                    xi = x.detach().clone().requires_grad_(True)

                    def step(model=model, opt=opt, xi=xi):
                        loss = torch.nn.functional.mse_loss(model(xi), target)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        xi.grad = None
                    ops.append(step); names.append((rank, "peft-lora" + ("" if fp32_adapters else "-bf16A")))
            times = measure(ops, device, a.warmup, a.iters)
            for (rank, name), t in zip(names, times):
                t = sorted(t)
                rows.append((shape, rank, dname, name, statistics.median(t), t[0], t[min(len(t) - 1, int(0.9 * (len(t) - 1) + 0.999))]))
            print(f"peft_bench: {shape} {dname} done", file=sys.stderr)
    lines = [f"# PEFT LoRA on {device} (peft {peft.__version__}, torch {torch.__version__})", "",
             f"{a.tokens} tokens, warm-up {a.warmup}, {a.iters} timed calls, protocol of tests/SingLoRA.Benchmarks --device; "
             "`-bf16A`: adapters cast to the base dtype; otherwise PEFT's default float32 adapters.", "",
             "| shape | rank | dtype | variant | median ms | min ms | p90 ms | / base |", "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for shape, rank, dname, name, med, mn, p90 in rows:
        base = next(r[4] for r in rows if r[0] == shape and r[2] == dname and r[3] == "base")
        lines.append(f"| {shape} | {rank or '-'} | {dname} | {name} | {med:.3f} | {mn:.3f} | {p90:.3f} | {med / base:.3f} |")
    text = "\n".join(lines) + "\n"
    if a.report:
        with open(a.report, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
