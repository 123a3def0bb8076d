"""Model-level operations: inject adapters by module-name patterns (PEFT's ``target_modules``), and drive every
adapter of a model (ramp, merge, freezing), as the .NET extension methods of ``SingLoRAModuleExtensions`` do."""
from __future__ import annotations

import re
from typing import List, Sequence, Tuple, Union

from torch import nn

from .layer import SingLoRALinear, SingLoRAOptions


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper (whose names start with ``module.``)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def adapted_layers(model: nn.Module) -> List[Tuple[str, SingLoRALinear]]:
    """Every SingLoRA layer with its dotted path, in ``named_modules()`` order."""
    return [(name, m) for name, m in unwrap(model).named_modules() if isinstance(m, SingLoRALinear)]


def inject_singlora(model: nn.Module, target_modules: Union[str, Sequence[str]], options: SingLoRAOptions) -> List[str]:
    """Replaces the ``nn.Linear`` layers named by ``target_modules`` with :class:`SingLoRALinear` adapters, in place.

    ``target_modules`` is a list of names, each matching a module whose path equals it or ends with ``"." + name``
    (``["q", "k"]`` matches ``blocks.0.attn.q``), or one string, a regular expression that must match a whole path
    (``r"blocks\\.\\d+\\.attn\\.(q|k)"``). Every listed name must match at least one module, and every matched module must
    be an ``nn.Linear``; otherwise nothing is changed and ``ValueError`` says which. Returns the adapted paths.
    """
    model = unwrap(model)
    options.validate()
    as_regex = isinstance(target_modules, str)
    patterns: List[str] = [target_modules] if as_regex else list(target_modules)
    if not patterns or not all(isinstance(t, str) and t for t in patterns):
        raise ValueError(f"target_modules must be a regular expression or a non-empty list of module names, but was {target_modules!r}.")

    def hit(name: str, pattern: str) -> bool:
        return re.fullmatch(pattern, name) is not None if as_regex else name == pattern or name.endswith("." + pattern)

    named = [(name, m) for name, m in model.named_modules() if name]
    chosen = [(name, m) for name, m in named if any(hit(name, p) for p in patterns)]
    linears = [name for name, m in named if type(m) is nn.Linear]
    problems = []
    for pattern in patterns:
        if not any(hit(name, pattern) for name, _ in chosen):
            problems.append(f"'{pattern}' matches no module")
    for name, m in chosen:
        if isinstance(m, SingLoRALinear):
            problems.append(f"'{name}' is already adapted")
        elif type(m) is not nn.Linear:  # a subclass's owner may read its weight directly, bypassing the adapter
            problems.append(f"'{name}' is a {type(m).__name__}, not a plain nn.Linear")
        elif options.rank > min(m.in_features, m.out_features):
            problems.append(f"'{name}' ({m.out_features} x {m.in_features}) cannot take rank {options.rank}, which exceeds min(d_in, d_out)")
    if problems:
        raise ValueError(f"Cannot inject SingLoRA adapters: {'; '.join(problems)}. The model's nn.Linear layers are: "
                         f"{', '.join(linears) or '(none)'}.")
    adapters = [(name, SingLoRALinear(m, options)) for name, m in chosen]
    for name, adapter in adapters:
        replace_module(model, name, adapter)
    return [name for name, _ in adapters]


def replace_module(model: nn.Module, path: str, module: nn.Module) -> None:
    """Puts ``module`` at the dotted ``path`` (not the root) of ``model``, in place of what is there."""
    parent_path, _, child = path.rpartition(".")
    setattr(model.get_submodule(parent_path) if parent_path else model, child, module)


def freeze_all_but_adapters(model: nn.Module) -> None:
    """Makes the adapters' ``A`` the only trainable tensors of the model."""
    for p in unwrap(model).parameters():
        p.requires_grad_(False)
    for p in adapter_parameters(model):
        p.requires_grad_(True)


def adapter_parameters(model: nn.Module) -> List[nn.Parameter]:
    """The ``A`` of every adapter, for the optimizer."""
    return [layer.singlora_A for _, layer in adapted_layers(model)]


def advance_ramp(model: nn.Module) -> None:
    """Counts one optimizer step on every adapter: call it once after each ``optimizer.step()``."""
    for _, layer in adapted_layers(model):
        layer.advance_ramp()


def set_ramp_step(model: nn.Module, step: int) -> None:
    for _, layer in adapted_layers(model):
        layer.set_ramp_step(step)


def merge_adapters(model: nn.Module, safe: bool = False) -> None:
    """Merges every adapter, all or nothing: if one layer refuses, the layers merged before it are unmerged again.
    ``safe=True`` checks each merged weight whole before writing it (see ``SingLoRALinear.safe_merge``)."""
    done: List[SingLoRALinear] = []
    try:
        for _, layer in adapted_layers(model):
            layer.safe_merge() if safe else layer.merge()
            done.append(layer)
    except BaseException:
        for layer in reversed(done):
            layer.unmerge()
        raise


def unmerge_adapters(model: nn.Module) -> None:
    """Unmerges every merged adapter (exactly what its merge added)."""
    for _, layer in adapted_layers(model):
        if layer.merged:
            layer.unmerge()

