"""A small reader and writer for the standard safetensors format (torch + numpy only; the `safetensors` wheel is
not needed): an 8-byte little-endian header length N, a UTF-8 JSON header of N bytes
(``{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}``, offsets relative
to the start of the data, padded with spaces to a multiple of 8), then the raw little-endian tensor bytes.

The checks mirror SingLoRA.Gen's reader (``src/SingLoRA/AdapterFiles/SafeTensors.cs``): the whole header is validated
before any tensor is created, and a bad file raises :class:`SafeTensorsFormatError` naming the file and the reason.
"""
from __future__ import annotations

import json
import sys
from typing import Callable, Dict, IO, Iterable, Mapping, Optional, Tuple

import torch

from .atomic import write_atomic

MAX_HEADER_BYTES = 100_000_000
METADATA_KEY = "__metadata__"

# safetensors dtype name -> (torch dtype, bytes per element)
DTYPES: Dict[str, Tuple[torch.dtype, int]] = {
    "BOOL": (torch.bool, 1), "U8": (torch.uint8, 1), "I8": (torch.int8, 1), "I16": (torch.int16, 2),
    "I32": (torch.int32, 4), "I64": (torch.int64, 8), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
    "F32": (torch.float32, 4), "F64": (torch.float64, 8),
}
_NAMES = {dtype: name for name, (dtype, _) in DTYPES.items()}


class SafeTensorsFormatError(ValueError):
    """The file is not a valid safetensors file (corrupt, truncated, unsupported dtype)."""


def dtype_name(dtype: torch.dtype) -> str:
    """The safetensors name of a torch dtype (``F32``, ``BF16``, ``I64``, ...)."""
    try:
        return _NAMES[dtype]
    except KeyError:
        raise ValueError(f"The dtype {dtype} cannot be stored in a safetensors file (supported: {', '.join(DTYPES)}).") from None


def _require_little_endian() -> None:
    if sys.byteorder != "little":
        raise RuntimeError("safetensors files are little-endian; this reader and writer run on little-endian machines only.")


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    cpu = tensor.detach().cpu().contiguous()
    if cpu.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the same bits as int16
        cpu = cpu.view(torch.int16)
    return cpu.numpy().tobytes()


def write(stream: IO[bytes], tensors: Iterable[Tuple[str, torch.Tensor]], metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes ``tensors`` (name, tensor pairs, in that order; any device) as a safetensors file to ``stream``."""
    _require_little_endian()
    items = list(tensors)
    header: Dict[str, object] = {}
    if metadata:
        header[METADATA_KEY] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, tensor in items:
        if not isinstance(name, str) or not name or name == METADATA_KEY:
            raise ValueError(f"{name!r} cannot name a tensor in a safetensors file.")
        if name in header:
            raise ValueError(f"The tensor name '{name}' appears twice.")
        size = tensor.numel() * DTYPES[dtype_name(tensor.dtype)][1]
        header[name] = {"dtype": dtype_name(tensor.dtype), "shape": list(tensor.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # pad to 8 bytes, as the reference writer does, so the data is aligned
    stream.write(len(raw).to_bytes(8, "little"))
    stream.write(raw)
    for _, tensor in items:
        if tensor.numel() > 0:
            stream.write(_tensor_bytes(tensor))


def reject_duplicate_keys(error: Callable[[str], Exception]):
    """A ``json.loads`` ``object_pairs_hook`` that raises ``error(key)`` when an object names a key twice."""
    def hook(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise error(key)
            seen[key] = value
        return seen
    return hook


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_bytes(raw: bytes, what: str = "the data") -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Parses a whole safetensors file held in memory; returns (tensors in file order, metadata)."""
    _require_little_endian()
    if len(raw) < 8:
        raise SafeTensorsFormatError(f"{what} is not a safetensors file: it has {len(raw)} bytes, fewer than the 8-byte header length (truncated or empty).")
    n = int.from_bytes(raw[:8], "little")
    if n < 2 or n > MAX_HEADER_BYTES:
        raise SafeTensorsFormatError(f"{what} is not a safetensors file: its header length field says {n} bytes (expected 2 to {MAX_HEADER_BYTES}).")
    if n > len(raw) - 8:
        raise SafeTensorsFormatError(f"{what} is truncated: its header needs {n} bytes but only {len(raw) - 8} follow the length field.")
    try:
        text = raw[8:8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafeTensorsFormatError(f"{what} is corrupt: its header is not valid UTF-8.") from e
    try:
        header = json.loads(text, object_pairs_hook=reject_duplicate_keys(
            lambda key: SafeTensorsFormatError(f"{what} is corrupt: the header names '{key}' twice.")))
    except json.JSONDecodeError as e:
        raise SafeTensorsFormatError(f"{what} is corrupt: its header is not valid JSON ({e}).") from e
    if not isinstance(header, dict):
        raise SafeTensorsFormatError(f"{what} is corrupt: its header is JSON but not an object.")

    metadata: Dict[str, str] = {}
    entries = []
    for name, info in header.items():
        if name == METADATA_KEY:
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise SafeTensorsFormatError(f"{what} is corrupt: '{METADATA_KEY}' must be an object of strings.")
            metadata = dict(info)
            continue
        entries.append(_parse_entry(name, info, what))

    data_start, data_length = 8 + n, len(raw) - 8 - n
    expected = 0
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != expected:
            raise SafeTensorsFormatError(f"{what} is corrupt: tensor '{name}' starts at data offset {begin}, expected {expected} (overlapping or missing data).")
        expected = end
    if expected > data_length:
        raise SafeTensorsFormatError(f"{what} is truncated: the header describes {expected} bytes of tensor data but the file holds {data_length}.")
    if expected < data_length:
        raise SafeTensorsFormatError(f"{what} is corrupt: the file holds {data_length - expected} bytes after the last tensor's data.")

    tensors: Dict[str, torch.Tensor] = {}
    for name, dtype, shape, begin, end in entries:
        if end > begin:
            buffer = bytearray(raw[data_start + begin:data_start + end])
            tensors[name] = torch.frombuffer(buffer, dtype=dtype).reshape(shape)
        else:
            tensors[name] = torch.empty(shape, dtype=dtype)
    return tensors, metadata


def _parse_entry(name: str, info, what: str):
    def bad(reason: str) -> SafeTensorsFormatError:
        return SafeTensorsFormatError(f"{what} is corrupt: tensor '{name}' {reason}.")
    if not isinstance(info, dict):
        raise bad("is not described by an object")
    dtype_text = info.get("dtype")
    if not isinstance(dtype_text, str):
        raise bad("has no dtype")
    if dtype_text not in DTYPES:
        raise SafeTensorsFormatError(f"{what}: tensor '{name}' has dtype {dtype_text}, which is not supported (supported: {', '.join(DTYPES)}).")
    dtype, element = DTYPES[dtype_text]
    shape = info.get("shape")
    if not isinstance(shape, list):
        raise bad("has no shape")
    if not all(_is_int(d) and d >= 0 for d in shape):
        raise bad(f"has an invalid shape {shape}")
    offsets = info.get("data_offsets")
    if not isinstance(offsets, list) or len(offsets) != 2:
        raise bad("has no [begin, end] data_offsets")
    begin, end = offsets
    if not (_is_int(begin) and _is_int(end) and 0 <= begin <= end):
        raise bad(f"has invalid data_offsets {offsets}")
    numel = 1
    for d in shape:
        numel *= d
    if end - begin != numel * element:
        raise bad(f"has data_offsets {offsets} ({end - begin} bytes) but its dtype {dtype_text} and shape {shape} need {numel * element} bytes")
    return name, dtype, shape, begin, end


def load_file(path: str) -> Dict[str, torch.Tensor]:
    """Reads every tensor of a safetensors file onto the CPU (like ``safetensors.torch.load_file``)."""
    return read(path)[0]


def read(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Reads a safetensors file: (tensors in file order, ``__metadata__``)."""
    with open(path, "rb") as f:
        return read_bytes(f.read(), path)


def save_file(tensors: Mapping[str, torch.Tensor], path: str, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes ``tensors`` to ``path`` atomically (like ``safetensors.torch.save_file``)."""
    write_atomic(path, lambda stream: write(stream, tensors.items(), metadata))
