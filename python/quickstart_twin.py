"""The PyTorch twin of the quickstart's model (samples/Shared/TinyTransformer.cs) and its fine-tuning data.

``TinyTransformer`` has the same modules, state-dict keys and forward as the C# class, so the quickstart's pre-trained
checkpoint (``base.safetensors``) loads into it strictly and its adapter folder attaches to it (``q``, ``k``, ``v`` of
each block). The defaults are the quickstart's default model.

Run as a script, it writes the quickstart's fine-tuning task ("copy OFFSET back": ``y_i = x_(i - OFFSET)``, earlier
positions ignored) as a data file for ``train_ddp.py``:

    python3 python/quickstart_twin.py --out data.safetensors [--sequences 19200] [--offset 2] [--seed 0]
"""
from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn

IGNORE = -100


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """``softmax(q kᵀ / sqrt(d_head) + causal mask) v`` per head; inputs and output are ``[B, L, D]`` (AttentionOps.Causal)."""
    b, length, d = q.shape
    dh = d // heads

    def split(t):
        return t.view(b, length, heads, dh).transpose(1, 2)

    scores = split(q).matmul(split(k).transpose(-2, -1)) / math.sqrt(dh)
    mask = torch.ones(length, length, dtype=torch.bool, device=q.device).triu(1)
    scores = scores.masked_fill(mask, float("-inf"))
    return scores.softmax(-1).matmul(split(v)).transpose(1, 2).reshape(b, length, d)


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, x):
        return self.o(causal_attention(self.q(x), self.k(x), self.v(x), self.heads))


class Block(nn.Module):
    def __init__(self, d_model: int, heads: int, hidden: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = Attention(d_model, heads)
        self.fc1, self.fc2 = nn.Linear(d_model, hidden), nn.Linear(hidden, d_model)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyTransformer(nn.Module):
    """Token embedding plus the sinusoidal ``pos`` buffer, ``layers`` blocks, a final layer norm and a vocabulary head."""

    def __init__(self, vocab: int = 32, length: int = 32, d_model: int = 64, heads: int = 4, layers: int = 2, hidden: int = 128):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pos = torch.zeros(length, d_model)
        pos[:, 0::2], pos[:, 1::2] = torch.sin(position * div), torch.cos(position * div)
        self.register_buffer("pos", pos)  # a buffer in the C# model too: the checkpoint carries it
        self.blocks = nn.ModuleList(Block(d_model, heads, hidden) for _ in range(layers))
        self.lnf = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens):
        x = self.tok(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.lnf(x))


def copy_task(sequences: int, vocab: int, length: int, offset: int, generator: torch.Generator):
    """Random tokens ``x`` and targets ``y_i = x_(i - offset)`` (``-100``, ignored, before ``offset``), as CopyTask.cs."""
    x = torch.randint(0, vocab, (sequences, length), generator=generator)
    y = torch.full((sequences, length), IGNORE, dtype=torch.int64)
    y[:, offset:] = x[:, : length - offset]
    return x, y


def main() -> None:
    from singlora import save_file
    p = argparse.ArgumentParser(description="Write the quickstart's fine-tuning task as a data file for train_ddp.py.")
    p.add_argument("--out", required=True, help="the .safetensors file to write (inputs, targets, eval_inputs, eval_targets)")
    p.add_argument("--sequences", type=int, default=19200, help="training sequences (the quickstart's 300 steps x 64)")
    p.add_argument("--eval-sequences", type=int, default=512)
    p.add_argument("--vocab", type=int, default=32)
    p.add_argument("--length", type=int, default=32)
    p.add_argument("--offset", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    g = torch.Generator().manual_seed(a.seed)
    x, y = copy_task(a.sequences, a.vocab, a.length, a.offset, g)
    ex, ey = copy_task(a.eval_sequences, a.vocab, a.length, a.offset, g)
    save_file({"inputs": x, "targets": y, "eval_inputs": ex, "eval_targets": ey}, a.out)
    print(f"wrote {a.out}: {a.sequences} training and {a.eval_sequences} evaluation sequences of 'copy {a.offset} back'")


if __name__ == "__main__":
    main()
