"""The PyTorch side of the TorchSharp-against-PyTorch benchmark (``--pytorch`` mode of tests/SingLoRA.Benchmarks; what it
measures and the results: docs/performance.md).

A worker that the .NET benchmark starts once and drives over standard input and output, one JSON object per line, so
that the two sides run in alternation (interleaved, round after round) on the same machine, cores and thread count:

    {"cmd": "setup", "threads": 1, "checkpoint": PATH, "batch": PATH}   -> {"ok": true, "torch": "1.13.0"}
    {"cmd": "build", "name": N, "method": "singlora"|"lora"|"merged"|"plain", "rank": 8, "alpha": 8,
     "lr": 1e-3, "head_lr": 3e-3, "seed": 0}                            -> {"ok": true, "trainable": 12345}
    {"cmd": "train", "name": N, "steps": K}                              -> {"ok": true, "seconds": S, "loss": L}
    {"cmd": "infer", "name": N, "calls": K}                              -> {"ok": true, "seconds": S}
    {"cmd": "logits", "name": N}                                         -> {"ok": true, "logits": [[...], ...]}
    {"cmd": "quit"}

``batch`` is a safetensors file written by .NET: ``input_ids`` and ``attention_mask`` ``[B, L]`` (the training batch),
``labels`` ``[B]``, and ``one_ids`` / ``one_mask`` ``[1, L]`` (the e-mail that inference classifies). ``seconds`` is
measured here, around the work only. A training step is what the .NET side times: forward in training mode (dropout
on), cross-entropy, backward, AdamW on the adapters (``lr``) and the head (``head_lr``), the ramp advanced.

LoRA here is PEFT's formulation (``base(x) + B(A(x)) · alpha / r``, A Kaiming-uniform, B zero): what a PyTorch user
fine-tuning with LoRA runs. SingLoRA is this repository's PyTorch twin (``singlora.SingLoRALinear``).
"""
from __future__ import annotations

import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

import minilm_twin
import singlora

TARGETS = ["query", "key", "value"]


class PeftLoRALinear(nn.Module):
    """LoRA as PEFT's ``lora.Linear`` computes it (no dropout): ``base(x) + lora_B(lora_A(x)) · scaling``."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_layer(x) + self.lora_B(self.lora_A(x)) * self.scaling


class Run:
    """One model of the benchmark, with its optimizer when it trains."""

    def __init__(self, spec: dict, checkpoint: str):
        torch.manual_seed(int(spec.get("seed", 0)))
        self.model = minilm_twin.SpamClassifier(classes=2)
        minilm_twin.load_encoder(self.model, checkpoint)
        method = spec["method"]
        rank, alpha = int(spec.get("rank", 8)), float(spec.get("alpha", 8))
        for p in self.model.parameters():
            p.requires_grad_(False)
        if method in ("singlora", "merged"):
            singlora.inject_singlora(self.model, TARGETS, singlora.SingLoRAOptions(rank, alpha=alpha, ramp_length=int(spec.get("ramp", 0))))
            singlora.freeze_all_but_adapters(self.model)
            if method == "merged":
                singlora.merge_adapters(self.model)
        elif method == "lora":
            for name, module in list(self.model.named_modules()):
                if name.rsplit(".", 1)[-1] in TARGETS and type(module) is nn.Linear:
                    singlora.model.replace_module(self.model, name, PeftLoRALinear(module, rank, alpha))
        elif method != "plain":
            raise ValueError(f"unknown method '{method}' (singlora, lora, merged, plain)")
        self.adapters = [p for n, p in self.model.named_parameters() if "singlora_A" in n or ".lora_" in n]
        for p in self.adapters:
            p.requires_grad_(True)
        self.head = list(self.model.classifier.parameters())
        self.optimizer = None
        if method in ("singlora", "lora"):
            for p in self.head:
                p.requires_grad_(True)
            self.optimizer = torch.optim.AdamW([{"params": self.adapters, "lr": float(spec.get("lr", 1e-3))},
                                                {"params": self.head, "lr": float(spec.get("head_lr", 3e-3))}], weight_decay=0.0)
        self.trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def train(self, batch: dict, steps: int):
        self.model.train()
        started = time.perf_counter()
        for _ in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(batch["input_ids"], batch["attention_mask"]), batch["labels"])
            loss.backward()
            self.optimizer.step()
            singlora.advance_ramp(self.model)
        seconds = time.perf_counter() - started
        return seconds, float(loss.detach())

    def infer(self, batch: dict, calls: int):
        self.model.eval()
        with torch.no_grad():
            started = time.perf_counter()
            for _ in range(calls):
                logits = self.model(batch["one_ids"], batch["one_mask"])
            return time.perf_counter() - started, logits


def main() -> int:
    runs, batch, checkpoint = {}, None, None
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            cmd = request["cmd"]
            if cmd == "quit":
                break
            if cmd == "setup":
                torch.set_num_threads(int(request["threads"]))
                checkpoint = request["checkpoint"]
                batch = singlora.load_file(request["batch"])
                reply = {"torch": torch.__version__, "threads": torch.get_num_threads()}
            elif cmd == "build":
                run = runs[request["name"]] = Run(request, checkpoint)
                reply = {"trainable": run.trainable}
            elif cmd == "train":
                seconds, loss = runs[request["name"]].train(batch, int(request["steps"]))
                reply = {"seconds": seconds, "loss": loss}
            elif cmd == "infer":
                seconds, _ = runs[request["name"]].infer(batch, int(request["calls"]))
                reply = {"seconds": seconds}
            elif cmd == "logits":
                _, logits = runs[request["name"]].infer(batch, 1)
                reply = {"logits": logits.tolist()}
            else:
                raise ValueError(f"unknown command '{cmd}'")
            reply["ok"] = True
        except Exception as e:  # the .NET side shows the reason and stops
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
