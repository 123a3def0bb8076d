"""Reference training of SingLoRA adapters on PyTorch's distributed engine, starting from and ending in adapter folders
that SingLoRA.Gen (.NET) reads and writes.

    torchrun --standalone --nproc_per_node N python/train_ddp.py \\
        --base base.safetensors --adapters adapter_from_dotnet --data data.safetensors --out trained_adapter

One process per device under torchrun (DistributedDataParallel; gloo on CPU, NCCL on GPU), or a single process when
run with plain ``python3``. The SpamFilter sample's real model (all-MiniLM-L6-v2 and a head, ``minilm_twin.py``):

    torchrun --standalone --nproc_per_node 2 python/train_ddp.py --model minilm_twin:SpamClassifier \\
        --base artifacts/cache/minilm/all-MiniLM-L6-v2.safetensors --base-loader minilm_twin:load_encoder \\
        --adapters artifacts/torchrun/start --data artifacts/torchrun/data.safetensors --out artifacts/torchrun/trained

Every step takes ``--global-batch`` consecutive rows of the data file (wrapping around),
split evenly over the processes (and over ``--grad-accum`` micro-batches within a process); the loss is the mean over
the global batch, so any process count gives the same update up to float rounding. The ramp step advances once per
optimizer step, continuing from the step saved in the adapter folder.

Files: ``--base`` a safetensors state dict of the plain model (no adapter keys), loaded strictly, or any checkpoint
that ``--base-loader`` loads; ``--adapters`` a folder written by ``model.SaveAdapters(dir)`` (or ``singlora.save_adapters``),
unmerged; the modules it saved whole (its ``modules_to_save``, a classification head) are trained too, at ``--head-lr``,
and saved back the same way; ``--data`` a safetensors file with ``inputs`` and ``targets`` (int64 targets: cross-entropy
over the last dimension of the output, -100 ignored; float targets: squared error), optionally ``attention_mask`` (then
the model is called as ``model(inputs, attention_mask)``) and ``eval_inputs`` / ``eval_targets`` / ``eval_attention_mask``
evaluated at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import singlora

IGNORE = -100


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the plain model's weights (.safetensors, no adapter keys)")
    p.add_argument("--adapters", required=True, help="adapter folder to start from (written by SaveAdapters in .NET)")
    p.add_argument("--data", required=True, help=".safetensors with inputs and targets (optionally eval_inputs, eval_targets)")
    p.add_argument("--out", required=True, help="adapter folder to write (LoadAdapters in .NET reads it)")
    p.add_argument("--model", default="quickstart_twin:TinyTransformer", help="MODULE:CALLABLE that builds the plain PyTorch model")
    p.add_argument("--model-args", default="{}", help="JSON object of keyword arguments for --model")
    p.add_argument("--base-loader", help="MODULE:CALLABLE(model, path) that loads --base (for example minilm_twin:load_encoder); "
                                         "default: a strict load_state_dict of the whole plain model")
    p.add_argument("--steps", type=int, default=100, help="optimizer steps")
    p.add_argument("--global-batch", type=int, default=64, help="rows per optimizer step, over all processes")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per process and optimizer step")
    p.add_argument("--lr", type=float, default=1e-2, help="AdamW learning rate of the adapters")
    p.add_argument("--head-lr", type=float, help="AdamW learning rate of the adapter folder's modules_to_save (a head); default: --lr")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (0, as TorchSharp's AdamW default)")
    p.add_argument("--seed", type=int, default=0, help="seed for dropout (each process adds its rank)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA when available")
    p.add_argument("--log-every", type=int, default=10, help="steps between loss lines (0: none)")
    p.add_argument("--eval-logits", help="write the model's outputs on eval_inputs to this .safetensors file ('logits')")
    p.add_argument("--eval-batch", type=int, default=64, help="rows per forward when evaluating")
    a = p.parse_args(argv)
    for name in ("steps", "global_batch", "grad_accum", "eval_batch"):
        if getattr(a, name) < (0 if name == "steps" else 1):
            p.error(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'steps' else 'at least 1'}, not {getattr(a, name)}")
    return a


def callable_of(option: str, spec: str, example: str):
    """MODULE:CALLABLE, imported (python/ is on the path when this script runs)."""
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"--{option} must look like MODULE:CALLABLE (for example {example}), not '{spec}'.")
    found = getattr(importlib.import_module(module), name, None)
    if not callable(found):
        raise SystemExit(f"--{option}: the module {module} has no callable named {name}.")
    return found


def build_model(spec: str, model_args: str) -> torch.nn.Module:
    return callable_of("model", spec, "quickstart_twin:TinyTransformer")(**json.loads(model_args))


def load_base(model: torch.nn.Module, args: argparse.Namespace) -> None:
    try:
        if args.base_loader:
            callable_of("base-loader", args.base_loader, "minilm_twin:load_encoder")(model, args.base)
        else:
            model.load_state_dict(singlora.load_file(args.base))
    except (RuntimeError, ValueError) as e:
        raise SystemExit(f"The base checkpoint {args.base} does not fit the model {args.model}: {e}") from e


def read_data(path: str) -> dict:
    """The data file's tensors, checked: rows agree between inputs, targets and the optional attention masks."""
    data = singlora.load_file(path)
    held = ", ".join(f"{k} {list(v.shape)}" for k, v in data.items())
    for prefix in ("", "eval_"):
        inputs, targets, mask = data.get(prefix + "inputs"), data.get(prefix + "targets"), data.get(prefix + "attention_mask")
        if prefix == "" and (inputs is None or targets is None or inputs.shape[0] == 0):
            raise SystemExit(f"{path} must hold 'inputs' and 'targets' with the same number of rows (at least one); it holds {held}.")
        if inputs is None:
            if mask is not None or targets is not None:
                raise SystemExit(f"{path} holds {prefix}targets or {prefix}attention_mask but no {prefix}inputs; it holds {held}.")
            continue
        if targets is not None and targets.shape[0] != inputs.shape[0]:
            raise SystemExit(f"{path}: '{prefix}inputs' and '{prefix}targets' must have the same number of rows; it holds {held}.")
        if mask is not None and mask.shape != inputs.shape:
            raise SystemExit(f"{path}: '{prefix}attention_mask' must have the shape of '{prefix}inputs'; it holds {held}.")
    if "eval_inputs" in data and ("attention_mask" in data) != ("eval_attention_mask" in data):
        raise SystemExit(f"{path}: give an attention mask for both inputs and eval_inputs, or for neither; it holds {held}.")
    return data


def model_inputs(data: dict, rows, prefix: str, device: torch.device) -> tuple:
    """The model's positional inputs for some rows: ``(inputs,)`` or ``(inputs, attention_mask)``."""
    names = [prefix + "inputs"] + ([prefix + "attention_mask"] if prefix + "attention_mask" in data else [])
    return tuple(data[n][rows].to(device) for n in names)


def loss_sum(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if targets.is_floating_point():
        return F.mse_loss(outputs, targets, reduction="sum")
    return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")


def counted(targets: torch.Tensor) -> int:
    """How many target values the loss averages over."""
    return targets.numel() if targets.is_floating_point() else int((targets != IGNORE).sum())


def main(argv=None) -> None:
    args = parse_args(argv)
    distributed = "WORLD_SIZE" in os.environ  # set by torchrun, also for --nproc_per_node 1
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if distributed:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    log = print if rank == 0 else (lambda *a, **k: None)
    torch.manual_seed(args.seed + rank)

    if args.global_batch % (world * args.grad_accum) != 0:
        raise SystemExit(f"--global-batch {args.global_batch} must be a multiple of processes x --grad-accum = {world} x {args.grad_accum}.")
    data = read_data(args.data)
    targets = data["targets"]

    # The plain model, its pre-trained weights, then the adapters (and any head saved with them) exactly as .NET saved them.
    model = build_model(args.model, args.model_args)
    load_base(model, args)
    config = singlora.attach_adapters(model, args.adapters)
    if any(layer.merged for _, layer in singlora.adapted_layers(model)):
        raise SystemExit(f"The adapters in {args.adapters} were saved merged; training continues from unmerged adapters. "
                         "Call UnmergeAdapters() before SaveAdapters in .NET.")
    singlora.freeze_all_but_adapters(model)
    saved_modules = config.get("modules_to_save", [])
    head = [p for name in saved_modules for p in model.get_submodule(name).parameters()]
    for p in head:
        p.requires_grad_(True)
    model.to(device)
    layers = singlora.adapted_layers(model)
    start_step = layers[0][1].ramp_step
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if use_cuda else None) if distributed else model
    groups = [{"params": singlora.adapter_parameters(model), "lr": args.lr}]
    if head:
        groups.append({"params": head, "lr": args.lr if args.head_lr is None else args.head_lr})
    optimizer = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)
    paths = config["target_modules"]
    log(f"{len(layers)} SingLoRA layers ({', '.join(paths) if len(paths) <= 4 else f'{paths[0]}, ..., {paths[-1]}'}), {sum(p.numel() for p in singlora.adapter_parameters(model)):,} "
        f"trainable adapter values at lr {args.lr}"
        + (f", {', '.join(saved_modules)} ({sum(p.numel() for p in head):,} values) at lr {groups[-1]['lr']}" if head else "")
        + f"; ramp step {start_step}; {world} process(es) on {device.type}"
        + (f" ({dist.get_backend()})" if distributed else "") + f"; global batch {args.global_batch}")

    rows, per_rank = targets.shape[0], args.global_batch // world
    micro = per_rank // args.grad_accum
    started = time.time()
    ddp.train()
    for step in range(args.steps):
        batch = (torch.arange(args.global_batch) + step * args.global_batch) % rows
        total = max(counted(targets[batch]), 1)  # the whole global batch's count: every process knows it, no communication
        mine = batch[rank * per_rank:(rank + 1) * per_rank]
        optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), device=device)
        for i in range(args.grad_accum):
            part = mine[i * micro:(i + 1) * micro]
            sync = not distributed or i == args.grad_accum - 1
            with contextlib.nullcontext() if sync else ddp.no_sync():
                loss = loss_sum(ddp(*model_inputs(data, part, "", device)), targets[part].to(device)) / total
                # DDP averages gradients over the processes; scaling by their number makes the sum of the per-process
                # sums over the global count: the global batch's mean, whatever the process count.
                (loss * world).backward()
            step_loss += loss.detach()
        optimizer.step()
        singlora.advance_ramp(model)  # t counts optimizer steps: once here, never per forward or micro-batch
        if args.log_every and ((step + 1) % args.log_every == 0 or step + 1 == args.steps):
            if distributed:
                dist.all_reduce(step_loss)
            log(f"step {step + 1}/{args.steps}  loss {step_loss.item():.4f}  u(t) {layers[0][1].ramp_value:.2f}  {time.time() - started:.1f} s")

    if rank == 0:
        written = singlora.save_adapters(model, args.out, modules_to_save=saved_modules)
        size = sum(os.path.getsize(os.path.join(args.out, f)) for f in (singlora.files.WEIGHTS_FILE, singlora.files.CONFIG_FILE))
        log(f"saved {args.out} ({size:,} bytes): ramp step {written['targets'][0]['step']} = {start_step} + {args.steps} optimizer steps")
        if "eval_inputs" in data:
            evaluate(model, data, device, args.eval_logits, args.eval_batch)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def evaluate(model: torch.nn.Module, data: dict, device: torch.device, logits_path, batch: int) -> None:
    model.eval()
    rows = data["eval_inputs"].shape[0]
    with torch.no_grad():
        outputs = torch.cat([model(*model_inputs(data, torch.arange(start, min(start + batch, rows)), "eval_", device)).cpu()
                             for start in range(0, rows, batch)])
    if "eval_targets" in data:
        y = data["eval_targets"]
        line = f"evaluation on {y.shape[0]} rows: loss {loss_sum(outputs, y).item() / counted(y):.4f}"
        if not y.is_floating_point():
            mask = y != IGNORE
            line += f", accuracy {((outputs.argmax(-1) == y) & mask).sum().item() / mask.sum().item():.1%}"
        print(line)
    if logits_path:
        singlora.save_file({"logits": outputs}, logits_path)
    model.train()


if __name__ == "__main__":
    sys.exit(main())
