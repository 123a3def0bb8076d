"""Adapter files: exactly the folders that ``model.SaveAdapters(dir)`` writes in .NET and ``model.LoadAdapters(dir)``
reads (``adapter_model.safetensors`` + ``adapter_config.json``; the format is described once, in
docs/adapter-format.md). Loading is strict and all-or-nothing; saving is atomic."""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from . import __version__
from .atomic import write_atomic
from .layer import ADAPTER_KEY, INITS, SCALINGS, STEP_KEY, SingLoRALinear, SingLoRAOptions, is_int, is_number
from .model import adapted_layers, replace_module, unwrap
from .safetensors import SafeTensorsFormatError, dtype_name, read_bytes, reject_duplicate_keys, write

WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
FORMAT_NAME = "singlora-adapter"
FORMAT_VERSION = 2  # 2: the ramp length is `ramp_length`, as in the options (1 wrote `ramp_steps`)
LIBRARY = "singlora-python"


class AdapterLoadError(Exception):
    """An adapter folder could not be loaded; ``problems`` lists every reason. The model was not changed."""

    def __init__(self, directory: str, problems: List[str]):
        self.directory, self.problems = directory, list(problems)
        count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
        super().__init__(f"Cannot load the adapters in '{directory}' ({count}; the model was not changed):"
                         + "".join(f"\n - {p}" for p in problems))


def _key(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _display(path: str) -> str:
    return "'' (the root module)" if path == "" else f"'{path}'"


# ------------------------------------------------------------------------------------------------------------ save

def save_adapters(model: nn.Module, directory: str, modules_to_save: Sequence[str] = ()) -> dict:
    """Saves every SingLoRA layer's ``A`` and step (not the base weights) to ``directory/adapter_model.safetensors`` and
    its options, ramp step and merge state to ``directory/adapter_config.json``, both atomically (tensors first).
    ``modules_to_save`` names modules (a classification head) saved whole beside the adapters, as .NET's
    ``SaveAdapters(dir, modulesToSave: ...)`` does. A DDP-wrapped model is unwrapped. Returns the config that was written."""
    layers = adapted_layers(model)
    if not layers:
        raise ValueError("The model has no SingLoRALinear layers; there is nothing to save.")
    stale = [_display(path) for path, layer in layers
             if layer.merged and not torch.equal(layer.singlora_A.detach().cpu(), layer.merged_adapter.cpu())]
    if stale:
        raise RuntimeError(f"Cannot save: the adapter of merged layer(s) {', '.join(stale)} changed after it was merged, so the file "
                           "could not reproduce the merged weights. Call unmerge_adapters(model) (and merge again if needed) before saving.")

    tensors, targets = [], []
    for path, layer in layers:
        tensors += [(_key(path, ADAPTER_KEY), layer.singlora_A), (_key(path, STEP_KEY), layer.singlora_step)]
        targets.append(_describe(path, layer))
    try:
        tensors += list(_module_tensors(unwrap(model), layers, modules_to_save).items())
    except ValueError as e:
        raise ValueError(f"Cannot save modules_to_save: {e} Nothing was written.") from e
    buffer = io.BytesIO()
    write(buffer, tensors, {"format": "pt", "singlora_format": f"{FORMAT_NAME}/{FORMAT_VERSION}"})
    data = buffer.getvalue()

    def shared(field: str):
        values = {json.dumps(t[field]) for t in targets}
        return targets[0][field] if len(values) == 1 else None

    config = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "method": "singlora",
        "library": LIBRARY, "library_version": __version__, "adapter_name": "default",
        "r": shared("rank"), "alpha": shared("alpha"), "scaling": shared("scaling"), "ramp_length": shared("ramp_length"),
        "step": shared("step"), "init": shared("init"), "dropout": shared("dropout"),
        "merge_state": "merged" if all(t["merged"] for t in targets) else "partial" if any(t["merged"] for t in targets) else "unmerged",
        "target_modules": [t["path"] for t in targets],
        "targets": targets,
        "modules_to_save": list(modules_to_save),
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": hashlib.sha256(data).hexdigest(),
    }
    config = {k: v for k, v in config.items() if v is not None}
    os.makedirs(directory, exist_ok=True)
    write_atomic(os.path.join(directory, WEIGHTS_FILE), lambda stream: stream.write(data))
    text = json.dumps(config, indent=2).encode("utf-8")
    write_atomic(os.path.join(directory, CONFIG_FILE), lambda stream: stream.write(text))
    return config


def _describe(path: str, layer: SingLoRALinear) -> dict:
    o = layer.options
    target = {
        "path": path, "kind": "singlora", "in_features": layer.in_features, "out_features": layer.out_features,
        "dtype": dtype_name(layer.weight.dtype), "adapter_dtype": dtype_name(layer.singlora_A.dtype), "rank": o.rank, "alpha": float(o.alpha), "scaling": o.scaling,
        "ramp_length": o.ramp_length, "step": layer.ramp_step, "init": o.init, "dropout": float(o.dropout),
        "merged": layer.merged,
    }
    if layer.merged:
        target["merged_scale"] = layer.merged_scale
    target["tensors"] = {ADAPTER_KEY: list(layer.singlora_A.shape), STEP_KEY: []}
    return target


# ------------------------------------------------------------------------------------------------------------ config

def _finite(v) -> bool:
    return is_number(v) and math.isfinite(v)


# Every field the format defines (docs/adapter-format.md): a check and what it expects. Unknown fields are ignored (the
# format may gain fields); known ones are checked strictly.
_CHECKS = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "int>=0": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "int>=1": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "positive": (lambda v: _finite(v) and v > 0, "a finite positive number"),
    "dropout": (lambda v: _finite(v) and 0 <= v < 1, "a number in [0, 1)"),
    "finite": (_finite, "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "scaling": (lambda v: v in SCALINGS, " or ".join(SCALINGS)),
    "init": (lambda v: v in INITS, " or ".join(INITS)),
    "method": (lambda v: v in ("singlora", "lora", "mixed"), "singlora, lora or mixed"),
    "kind": (lambda v: v in ("singlora", "lora"), "singlora or lora"),
    "merge_state": (lambda v: v in ("unmerged", "merged", "partial"), "unmerged, merged or partial"),
    "float_dtype": (lambda v: v in ("F16", "BF16", "F32", "F64"), "F16, BF16, F32 or F64"),
    "paths": (lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v), "a list of strings"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "sha256": (lambda v: isinstance(v, str) and re.fullmatch("[0-9a-fA-F]{64}", v) is not None, "64 hexadecimal digits"),
    "tensors": (lambda v: isinstance(v, dict) and all(isinstance(s, list) and all(is_int(d) and d >= 0 for d in s) for s in v.values()),
                "an object of tensor name to shape"),
}
_TOP = {"format": "string", "format_version": "int>=0", "method": "method", "library": "string", "library_version": "string",
        "r": "int>=1", "alpha": "positive", "scaling": "scaling", "ramp_length": "int>=0", "step": "int>=0", "init": "init",
        "dropout": "dropout", "merge_state": "merge_state", "target_modules": "paths", "targets": "list",
        "weights_file": "string", "weights_sha256": "sha256", "adapter_name": "string", "modules_to_save": "paths"}
_TOP_REQUIRED = ("format", "format_version", "targets", "weights_sha256")
_TARGET = {"path": "string", "kind": "kind", "in_features": "int>=1", "out_features": "int>=1", "dtype": "float_dtype", "adapter_dtype": "float_dtype",
           "rank": "int>=1", "alpha": "positive", "scaling": "scaling", "ramp_length": "int>=0", "step": "int>=0", "init": "init",
           "dropout": "dropout", "merged": "bool", "merged_scale": "finite", "tensors": "tensors"}
_TARGET_REQUIRED = ("path", "kind", "in_features", "out_features", "dtype", "rank", "alpha", "scaling", "dropout", "merged", "tensors")
_SINGLORA_REQUIRED = ("ramp_length", "step", "init")


def _check_fields(obj: dict, spec: Dict[str, str], required, where: str, problems: List[str]) -> None:
    for field in required:
        if obj.get(field) is None:
            problems.append(f"{where} has no '{field}'.")
    for field, kind in spec.items():
        value = obj.get(field)
        if value is not None and not _CHECKS[kind][0](value):
            problems.append(f"{where}: '{field}' is {json.dumps(value)}; expected {_CHECKS[kind][1]}.")


def read_config(directory: str) -> dict:
    """Reads and validates ``directory/adapter_config.json`` without touching any model; raises :class:`AdapterLoadError`."""
    path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(path):
        raise AdapterLoadError(directory, [f"{CONFIG_FILE} not found in '{directory}'."])
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read().decode("utf-8"),
                                object_pairs_hook=reject_duplicate_keys(lambda key: ValueError(f"the key '{key}' appears twice in one object")))
    except ValueError as e:  # also bad UTF-8 and a repeated key
        raise AdapterLoadError(directory, [f"{CONFIG_FILE} is not a valid adapter config: {e}."]) from e
    if not isinstance(config, dict):
        raise AdapterLoadError(directory, [f"{CONFIG_FILE} is not a JSON object."])
    problems: List[str] = []
    _check_fields(config, _TOP, _TOP_REQUIRED, CONFIG_FILE, problems)
    if problems:
        raise AdapterLoadError(directory, problems)
    if config["format"] != FORMAT_NAME:
        problems.append(f"{CONFIG_FILE} has format '{config['format']}', expected '{FORMAT_NAME}'.")
    if config["format_version"] != FORMAT_VERSION:
        problems.append(f"{CONFIG_FILE} has format_version {config['format_version']}; this package reads version {FORMAT_VERSION}."
                        + (" Version 1 named the ramp length ramp_steps: rename every \"ramp_steps\" key to \"ramp_length\" and set"
                           " \"format_version\": 2, or save the adapters again." if config["format_version"] == 1 else ""))
    if config.get("weights_file", WEIGHTS_FILE) != WEIGHTS_FILE:
        problems.append(f"{CONFIG_FILE} names the tensors file '{config['weights_file']}'; the format's tensors file is '{WEIGHTS_FILE}'.")

    targets = config["targets"]
    paths = []
    for i, t in enumerate(targets):
        where = f"Target {i}" + (f" ({_display(t['path'])})" if isinstance(t, dict) and isinstance(t.get("path"), str) else "")
        if not isinstance(t, dict):
            problems.append(f"{where} is not an object.")
            continue
        before = len(problems)
        _check_fields(t, _TARGET, _TARGET_REQUIRED + (_SINGLORA_REQUIRED if t.get("kind") == "singlora" else ()), where, problems)
        if len(problems) > before:
            continue
        paths.append(t["path"])
        if t["merged"] and t.get("merged_scale") is None:
            problems.append(f"{where}: marked merged but has no finite merged_scale.")
        if t["rank"] > min(t["in_features"], t["out_features"]):
            problems.append(f"{where}: rank {t['rank']} exceeds min(in_features, out_features) = {min(t['in_features'], t['out_features'])}.")
        expected = ({ADAPTER_KEY: [max(t["in_features"], t["out_features"]), t["rank"]], STEP_KEY: []} if t["kind"] == "singlora"
                    else {"lora_A": [t["rank"], t["in_features"]], "lora_B": [t["out_features"], t["rank"]]})
        if t["tensors"] != expected:
            problems.append(f"{where}: its tensors are {json.dumps(t['tensors'])}; a {t['kind']} target of these sizes has {json.dumps(expected)}.")
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        problems.append(f"The config lists target(s) {', '.join(map(_display, duplicates))} more than once.")
    if problems:
        raise AdapterLoadError(directory, problems)

    # The summary fields, when present, must agree with the targets (which are authoritative).
    if "target_modules" in config and config["target_modules"] != paths:
        problems.append(f"target_modules {config['target_modules']} differs from the targets' paths {paths}.")
    singlora = [t for t in targets if t["kind"] == "singlora"]
    for field, per_target, among in (("r", "rank", targets), ("alpha", "alpha", targets), ("scaling", "scaling", targets),
                                     ("dropout", "dropout", targets), ("ramp_length", "ramp_length", singlora),
                                     ("step", "step", singlora), ("init", "init", singlora)):
        if config.get(field) is not None and any(t[per_target] != config[field] for t in among):
            problems.append(f"The config's {field} is {json.dumps(config[field])} but not every target has {per_target} {json.dumps(config[field])}.")
    kinds = {t["kind"] for t in targets}
    method = kinds.pop() if len(kinds) == 1 else "mixed"
    if config.get("method") is not None and targets and config["method"] != method:
        problems.append(f"The config's method is '{config['method']}' but its targets make it '{method}'.")
    merged = [t["merged"] for t in targets]
    state = "merged" if merged and all(merged) else "partial" if any(merged) else "unmerged"
    if config.get("merge_state") is not None and config["merge_state"] != state:
        problems.append(f"The config's merge_state is '{config['merge_state']}' but its targets' merged flags make it '{state}'.")
    if problems:
        raise AdapterLoadError(directory, problems)
    return config


# ------------------------------------------------------------------------------------------------------------ load

def _read_weights(directory: str, config: dict) -> Dict[str, torch.Tensor]:
    path = os.path.join(directory, WEIGHTS_FILE)
    if not os.path.isfile(path):
        raise AdapterLoadError(directory, [f"{WEIGHTS_FILE} not found in '{directory}'."])
    with open(path, "rb") as f:
        raw = f.read()
    sha = hashlib.sha256(raw).hexdigest()
    if sha != config["weights_sha256"].lower():
        raise AdapterLoadError(directory, [
            f"{WEIGHTS_FILE} does not match {CONFIG_FILE} (SHA-256 {sha}, the config expects '{config['weights_sha256']}'): the files come "
            "from different saves, a save was interrupted between the two files, or the tensors file was modified."])
    try:
        return read_bytes(raw, path)[0]
    except SafeTensorsFormatError as e:
        raise AdapterLoadError(directory, [str(e)]) from e


def _module_tensors(model: nn.Module, layers: List[Tuple[str, SingLoRALinear]], paths: Sequence[str]) -> Dict[str, torch.Tensor]:
    """The parameters and persistent buffers of each module to save, under their model keys (``head.weight``)."""
    modules = dict(model.named_modules())
    problems, result = [], {}
    for path in dict.fromkeys(paths):
        module = modules.get(path)
        if module is None or path == "":
            problems.append(f"'{path}' is not a module of the model (module paths look like 'head' or 'blocks.0.mlp').")
        elif any(p == path or p.startswith(path + ".") for p, _ in layers):
            problems.append(f"'{path}' holds adapted layers; save their adapters as adapters and name only the other modules.")
        else:
            result.update({_key(path, k): v for k, v in module.state_dict(keep_vars=True).items()})
    if problems:
        raise ValueError(" ".join(problems))
    return result


def _validate(layers: List[Tuple[str, SingLoRALinear]], config: dict, tensors: Dict[str, torch.Tensor], saved: Dict[str, torch.Tensor]) -> List[str]:
    problems: List[str] = []
    if not layers:
        problems.append("The model has no SingLoRALinear layers to load into (attach_adapters(model, dir) creates them from the config).")
    targets = {t["path"]: t for t in config["targets"]}
    by_path = dict(layers)
    for path, layer in layers:
        if layer.merged:
            problems.append(f"Layer {_display(path)} of the model is merged; call unmerge_adapters(model) before loading adapters.")
        if path not in targets:
            problems.append(f"Missing target: the model adapts {_display(path)} (singlora) but the config has no such target.")
    for path, t in targets.items():
        if path not in by_path:
            problems.append(f"Unexpected target: the config has {_display(path)} ({t['kind']}) but the model has no SingLoRA layer there.")

    expected = dict(saved)
    for path, layer in layers:
        expected[_key(path, ADAPTER_KEY)] = layer.singlora_A
        expected[_key(path, STEP_KEY)] = layer.singlora_step
    for key, live in expected.items():
        loaded = tensors.get(key)
        if loaded is None:
            problems.append(f"Missing tensor '{key}' (shape {list(live.shape)}, {dtype_name(live.dtype)}).")
            continue
        if loaded.shape != live.shape:
            problems.append(f"Tensor '{key}' has shape {list(loaded.shape)} in the file but {list(live.shape)} in the model.")
        if loaded.dtype != live.dtype:
            problems.append(f"Tensor '{key}' has dtype {dtype_name(loaded.dtype)} in the file but {dtype_name(live.dtype)} in the model "
                            "(convert the model or the file; dtypes are not converted silently).")
    for key in tensors:
        if key not in expected:
            problems.append(f"Unexpected tensor '{key}' (shape {list(tensors[key].shape)}): the model has no such adapter tensor or saved module.")

    for path, layer in layers:
        t = targets.get(path)
        if t is None:
            continue
        o = layer.options
        model_values = {"kind": "singlora", "in_features": layer.in_features, "out_features": layer.out_features,
                        "dtype": dtype_name(layer.weight.dtype), "rank": o.rank, "alpha": o.alpha, "scaling": o.scaling,
                        "ramp_length": o.ramp_length, "init": o.init, "dropout": o.dropout}
        if "adapter_dtype" in t:   # absent from files written before it was recorded; the tensor's dtype is checked either way
            model_values["adapter_dtype"] = dtype_name(layer.singlora_A.dtype)
        for field, value in model_values.items():
            if t.get(field) != value:
                problems.append(f"Target {_display(path)}: {field} is {json.dumps(t.get(field))} in the config but {json.dumps(value)} in the model.")
        step = tensors.get(_key(path, STEP_KEY))
        if step is not None and step.dtype == torch.int64 and step.numel() == 1:
            value = int(step.item())
            if value < 0:
                problems.append(f"Target {_display(path)}: the saved ramp step is {value}; it cannot be negative.")
            if t.get("step") != value:
                problems.append(f"Target {_display(path)}: the config says step {t.get('step')} but the tensors file holds step {value}.")
        for name, shape in t["tensors"].items():
            loaded = tensors.get(_key(path, name))
            if loaded is not None and list(loaded.shape) != shape:
                problems.append(f"Target {_display(path)}: the config gives tensor '{name}' shape {shape} but the tensors file has {list(loaded.shape)}.")
    return problems


def load_adapters(model: nn.Module, directory: str) -> dict:
    """Loads a folder written by ``SaveAdapters`` (.NET) or :func:`save_adapters` into a model whose SingLoRA layers and
    options match it: restores ``A``, the ramp step and the merge state. Everything is checked first; any problem raises
    one :class:`AdapterLoadError` naming all of them, and the model is left exactly as it was. Returns the config."""
    config = read_config(directory)
    tensors = _read_weights(directory, config)
    layers = adapted_layers(model)
    try:
        saved = _module_tensors(unwrap(model), layers, config.get("modules_to_save", []))
        problems = _validate(layers, config, tensors, saved)
    except ValueError as e:
        saved, problems = {}, [f"The config's modules_to_save do not fit the model: {e}"]
    if problems:
        raise AdapterLoadError(directory, problems)

    targets = {t["path"]: t for t in config["targets"]}
    backups: List[Tuple[torch.Tensor, torch.Tensor]] = []
    merged_here: List[SingLoRALinear] = []
    try:
        with torch.no_grad():
            for path, layer in layers:
                live = [layer.singlora_A, layer.singlora_step] + ([layer.weight] if targets[path]["merged"] else [])
                backups += [(t, t.detach().clone()) for t in live]
                layer.singlora_A.copy_(tensors[_key(path, ADAPTER_KEY)])
                layer.singlora_step.copy_(tensors[_key(path, STEP_KEY)])
            for key, live in saved.items():
                backups.append((live, live.detach().clone()))
                live.copy_(tensors[key])
        for path, layer in layers:
            if targets[path]["merged"]:
                layer.merge_with_scale(targets[path]["merged_scale"])
                merged_here.append(layer)
    except Exception as e:
        # Put everything back exactly: drop the merges made here, then restore every tensor (base weights included).
        for layer in merged_here:
            layer.unmerge()
        with torch.no_grad():
            for live, copy in backups:
                live.copy_(copy)
        raise AdapterLoadError(directory, [f"Restoring the saved merge state failed, so nothing was loaded: {e}"]) from e
    return config


def attach_adapters(model: nn.Module, directory: str) -> dict:
    """Creates the SingLoRA layers an adapter folder describes (at its targets' paths, with their options) in a plain
    model, then loads the folder into them (:func:`load_adapters`). The model's layers at those paths must be plain
    ``nn.Linear`` of the saved sizes and dtype. On any problem the model is left exactly as it was. Returns the config."""
    base = unwrap(model)
    config = read_config(directory)
    problems: List[str] = []
    plan: List[Tuple[str, nn.Linear, SingLoRAOptions]] = []
    modules = dict(base.named_modules())
    for t in config["targets"]:
        where = f"Target {_display(t['path'])}"
        module = modules.get(t["path"])
        if t["kind"] != "singlora":
            problems.append(f"{where} is a {t['kind']} layer; this package implements SingLoRA layers only (load LoRA baselines in .NET).")
        elif t["path"] == "":
            problems.append(f"{where}: the model itself is the adapted layer; wrap it yourself (SingLoRALinear(layer, options)) and use load_adapters.")
        elif module is None:
            problems.append(f"{where}: the model has no module at this path.")
        elif type(module) is not nn.Linear:
            problems.append(f"{where}: the model's module there is a {type(module).__name__}, not a plain nn.Linear"
                            + (" (it is already adapted: use load_adapters)." if isinstance(module, SingLoRALinear) else "."))
        elif (module.in_features, module.out_features, dtype_name(module.weight.dtype)) != (t["in_features"], t["out_features"], t["dtype"]):
            problems.append(f"{where}: the model's layer is {module.out_features} x {module.in_features} {dtype_name(module.weight.dtype)}, "
                            f"the adapter was saved for {t['out_features']} x {t['in_features']} {t['dtype']}.")
        else:
            # A's dtype as saved: the base's (same_as_base) or float32 on a 16-bit base (at_least_float32, the default).
            same = t["dtype"] in ("BF16", "F16") and t.get("adapter_dtype", t["dtype"]) == t["dtype"]
            precision = "same_as_base" if same else "at_least_float32"
            plan.append((t["path"], module, SingLoRAOptions(t["rank"], float(t["alpha"]), t["ramp_length"], float(t["dropout"]), t["scaling"], t["init"], precision)))
    if problems:
        raise AdapterLoadError(directory, problems)

    flags = [(p, p.requires_grad) for _, m, _ in plan for p in m.parameters()]
    done: List[Tuple[str, nn.Linear]] = []
    try:
        for path, module, options in plan:
            replace_module(base, path, SingLoRALinear(module, options))
            done.append((path, module))
        return load_adapters(base, directory)
    except BaseException:
        for path, module in done:
            replace_module(base, path, module)
        for p, flag in flags:
            p.requires_grad_(flag)
        raise
