"""The SingLoRA layer, the PyTorch twin of ``SingLoRALinear`` in ``src/SingLoRA`` (the math is in docs/method.md).

``y = x W0ᵀ + b + s · u(t) · (dropout(x) · A_in) · A_outᵀ`` with one trainable ``A`` of shape ``[n, r]``,
``n = max(d_in, d_out)``, ``A_in = A[:d_in]``, ``A_out = A[:d_out]``; ``s = alpha / r`` or ``alpha / sqrt(r)``;
``u(t) = min(t / T, 1)`` (``u ≡ 1`` for ``T = 0``) with ``t`` the number of optimizer steps, kept in the int64 buffer
``singlora_step``. State-dict keys: ``weight``, ``bias`` (the base layer's own), ``singlora_A``, ``singlora_step``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

ADAPTER_KEY = "singlora_A"
STEP_KEY = "singlora_step"
SCALINGS = ("alpha_over_rank", "alpha_over_sqrt_rank")
INITS = ("kaiming_width", "kaiming_rank", "gaussian")
PRECISIONS = ("at_least_float32", "same_as_base")


@dataclass(frozen=True)
class SingLoRAOptions:
    """The hyper-parameters of one adapter; names and defaults as ``SingLoRAOptions`` in .NET (snake_case values as in
    ``adapter_config.json``)."""

    rank: int
    alpha: float = 16.0
    ramp_length: int = 100
    dropout: float = 0.0
    scaling: str = "alpha_over_rank"
    init: str = "kaiming_width"
    precision: str = "at_least_float32"  # A in float32 on a bf16/fp16 base (AdapterPrecision.AtLeastFloat32 in .NET)

    def validate(self) -> "SingLoRAOptions":
        """Raises ``ValueError`` naming the first invalid value and the valid range; returns ``self``."""
        if not is_int(self.rank) or self.rank < 1:
            raise ValueError(f"rank must be an integer of at least 1, but was {self.rank!r}. Typical ranks are 4 to 64.")
        if not is_number(self.alpha) or not math.isfinite(self.alpha) or self.alpha <= 0:
            raise ValueError(f"alpha must be a finite positive number, but was {self.alpha!r}. A common choice is 16 or twice the rank.")
        if not is_int(self.ramp_length) or self.ramp_length < 0:
            raise ValueError(f"ramp_length must be 0 (no ramp) or a positive number of optimizer steps, but was {self.ramp_length!r}.")
        if not is_number(self.dropout) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), but was {self.dropout!r}. Use 0 to turn dropout off.")
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, but was {self.scaling!r}.")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, but was {self.init!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, but was {self.precision!r}.")
        return self

    @property
    def scale(self) -> float:
        """``s``: ``alpha / r`` or ``alpha / sqrt(r)``."""
        return self.alpha / (math.sqrt(self.rank) if self.scaling == "alpha_over_sqrt_rank" else self.rank)


def is_int(value) -> bool:
    """An int that is not a bool (JSON's true/false read as Python bools, which are ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def adapter_dtype(base_dtype: torch.dtype, precision: str) -> torch.dtype:
    """The dtype of ``A`` on a base of ``base_dtype``: float32 on a 16-bit base under ``at_least_float32``, else the base's."""
    if precision == "at_least_float32" and base_dtype in (torch.bfloat16, torch.float16):
        return torch.float32
    return base_dtype


def ramp_value(step: int, ramp_length: int) -> float:
    """``u(t) = min(t / T, 1)``, and 1 for ``T = 0``."""
    if step < 0 or ramp_length < 0:
        raise ValueError(f"The step ({step}) and the ramp length ({ramp_length}) cannot be negative.")
    return 1.0 if ramp_length == 0 else min(step / ramp_length, 1.0)


class SingLoRALinear(nn.Module):
    """A frozen ``nn.Linear`` adapted with SingLoRA. Wrap each layer once; the base ``weight`` and ``bias`` are frozen
    and registered on this module under their own names, so a parent's state-dict keys stay ``q.weight``, ``q.bias``."""

    def __init__(self, base: nn.Linear, options: SingLoRAOptions):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"SingLoRALinear wraps an nn.Linear, not {type(base).__name__}.")
        options.validate()
        d_out, d_in = base.weight.shape
        if not base.weight.is_floating_point():
            raise ValueError(f"The base layer's weight has dtype {base.weight.dtype}; adapters need a floating-point layer.")
        if options.rank > min(d_in, d_out):
            raise ValueError(f"Rank {options.rank} is larger than min(d_in, d_out) = {min(d_in, d_out)} of this [{d_out}, {d_in}] layer: "
                             f"the update could not use the extra rank. Use a rank of at most {min(d_in, d_out)}.")
        self.options = options
        self.in_features, self.out_features = d_in, d_out
        self.width = max(d_in, d_out)
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)
        self.register_parameter("weight", base.weight)
        self.register_parameter("bias", base.bias)
        a = torch.empty(self.width, options.rank, dtype=adapter_dtype(base.weight.dtype, options.precision), device=base.weight.device)
        initialize(a, options.init, self.width, options.rank)
        self.singlora_A = nn.Parameter(a)
        self.register_buffer(STEP_KEY, torch.zeros((), dtype=torch.int64, device=base.weight.device))
        self._merge: Optional[tuple] = None  # (scale, copy of A) recorded at merge time
        self.train(base.training)  # an adapter put into a model in eval mode stays in eval mode (no dropout)

    # ------------------------------------------------------------------------------------------ options and ramp
    @property
    def rank(self) -> int:
        return self.options.rank

    @property
    def ramp_length(self) -> int:
        return self.options.ramp_length

    @property
    def scale(self) -> float:
        """``s`` (without the ramp)."""
        return self.options.scale

    @property
    def ramp_step(self) -> int:
        """``t``, the optimizer steps counted so far (reads the buffer: not for hot loops on a GPU)."""
        return int(self.singlora_step.item())

    @property
    def ramp_value(self) -> float:
        return ramp_value(self.ramp_step, self.ramp_length)

    @property
    def current_scale(self) -> float:
        """``s · u(t)``."""
        return self.scale * self.ramp_value

    def advance_ramp(self) -> None:
        """Counts one optimizer step (``t ← t + 1``): call it right after ``optimizer.step()``, never per forward."""
        with torch.no_grad():
            self.singlora_step.add_(1)

    def set_ramp_step(self, step: int) -> None:
        if not is_int(step) or step < 0:
            raise ValueError(f"The ramp step counts optimizer steps and cannot be negative (got {step!r}). Use 0 to restart the ramp.")
        with torch.no_grad():
            self.singlora_step.fill_(step)

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        if self._merge is not None:
            return out  # the update is already in the weight
        if self.options.dropout > 0 and self.training:
            x = F.dropout(x, self.options.dropout, training=True)
        # Two thin products, (x A_in) A_outᵀ: O(N r (d_in + d_out)); ΔW is never built in a forward. u(t) is computed
        # on the buffer's device (no host synchronisation), in the same order of operations as the .NET layer.
        a = self.singlora_A if self.singlora_A.dtype == x.dtype else self.singlora_A.to(x.dtype)  # a float32 master A on a 16-bit base
        h = x.matmul(a[: self.in_features])
        if self.ramp_length == 0:
            h = h * self.scale
        else:  # s·u(t) = min(t·s/T, s), in float64 for a float64 layer
            t = self.singlora_step.to(torch.float64 if h.dtype == torch.float64 else torch.float32)
            h = h * (t * (self.scale / self.ramp_length)).clamp(max=self.scale)
        return out + h.matmul(a[: self.out_features].t())

    # ------------------------------------------------------------------------------------------ merge rules
    @property
    def merged(self) -> bool:
        return self._merge is not None

    @property
    def merged_scale(self) -> Optional[float]:
        """The factor ``s · u`` the current merge used, or None when not merged."""
        return None if self._merge is None else self._merge[0]

    @property
    def merged_adapter(self) -> Optional[torch.Tensor]:
        """The copy of ``A`` the current merge used, or None when not merged."""
        return None if self._merge is None else self._merge[1]

    def _compute_dtype(self) -> torch.dtype:
        return torch.float64 if self.weight.dtype == torch.float64 else torch.float32

    def _unscaled_update(self, a: torch.Tensor) -> torch.Tensor:
        a = a.to(device=self.weight.device, dtype=self._compute_dtype())
        return a[: self.out_features].matmul(a[: self.in_features].t())

    def delta_weight(self) -> torch.Tensor:
        """``ΔW = s · u(t) · A_out A_inᵀ`` as it would be merged now, in float32 (float64 for a float64 base)."""
        with torch.no_grad():
            return self._unscaled_update(self.singlora_A.detach()) * self.current_scale

    def merge(self) -> None:
        """``W ← W0 + s·u(t)·A_out A_inᵀ`` in float32 or better, cast to the base dtype; refuses a non-finite update."""
        self._merge_with(self.current_scale, check_result=False)

    def safe_merge(self) -> None:
        """Like :meth:`merge`, but the merged weight is built in a copy and every value checked before it is written."""
        self._merge_with(self.current_scale, check_result=True)

    def merge_with_scale(self, scale: float) -> None:
        """Merges with a given factor (restores the merge state recorded in an adapter file); checked like :meth:`safe_merge`."""
        self._merge_with(scale, check_result=True)

    def _merge_with(self, scale: float, check_result: bool) -> None:
        if self._merge is not None:
            raise RuntimeError("This SingLoRALinear layer is already merged. Call unmerge() before merging again.")
        with torch.no_grad():
            snapshot = self.singlora_A.detach().clone()
            delta = self._unscaled_update(snapshot) * scale
            if check_result or self.weight.dtype != delta.dtype:
                merged = (self.weight.to(delta.dtype) + delta).to(self.weight.dtype)
                if not torch.isfinite(merged).all():
                    raise RuntimeError(self._non_finite_message())
                self.weight.copy_(merged)
            else:
                if not torch.isfinite(delta).all():
                    raise RuntimeError(self._non_finite_message())
                self.weight.add_(delta)
        self._merge = (float(scale), snapshot)

    def unmerge(self) -> None:
        """Subtracts exactly what the merge added (from the ``A`` and the factor recorded at merge time)."""
        if self._merge is None:
            raise RuntimeError("This SingLoRALinear layer is not merged; there is nothing to unmerge.")
        scale, snapshot = self._merge
        with torch.no_grad():
            delta = self._unscaled_update(snapshot) * scale
            if self.weight.dtype == delta.dtype:
                self.weight.sub_(delta)
            else:
                self.weight.copy_((self.weight.to(delta.dtype) - delta).to(self.weight.dtype))
        self._merge = None

    def _non_finite_message(self) -> str:
        return (f"Merging this SingLoRALinear layer would write non-finite values (NaN or infinity) into the base weight of dtype "
                f"{self.weight.dtype}; the weights were left untouched. Check the adapter for NaNs (a diverged run) or use a wider base dtype.")

    # A merged layer's weight is W0 + ΔW: a state dict would pass it off as W0 (the same rule as the .NET layer).
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        self._refuse_when_merged(prefix)
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self._refuse_when_merged(prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _refuse_when_merged(self, prefix: str) -> None:
        if self._merge is not None:
            raise RuntimeError(f"The adapted layer '{prefix.rstrip('.')}' is merged: its weight holds W0 + ΔW, which a state dict would pass off "
                               "as W0. Call unmerge_adapters(model) before saving or loading a state dict (merge again afterwards).")

    def extra_repr(self) -> str:
        o = self.options
        return (f"in_features={self.in_features}, out_features={self.out_features}, rank={o.rank}, alpha={o.alpha}, "
                f"ramp_length={o.ramp_length}, scaling={o.scaling}, init={o.init}, dropout={o.dropout}")


def initialize(a: torch.Tensor, init: str, width: int, rank: int) -> None:
    """Fills ``a`` (``[n, r]``): ``kaiming_width`` U(±1/√n), ``kaiming_rank`` U(±1/√r), ``gaussian`` N(0, 1/n)."""
    with torch.no_grad():
        if init == "kaiming_width":
            a.uniform_(-1 / math.sqrt(width), 1 / math.sqrt(width))
        elif init == "kaiming_rank":
            a.uniform_(-1 / math.sqrt(rank), 1 / math.sqrt(rank))
        elif init == "gaussian":
            a.normal_(0.0, 1 / math.sqrt(width))
        else:
            raise ValueError(f"init must be one of {', '.join(INITS)}, but was {init!r}.")
