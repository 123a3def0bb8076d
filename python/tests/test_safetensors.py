"""The package's own safetensors reader and writer: round trips and the corrupt files it must reject."""
import io
import json
import struct

import pytest

torch = pytest.importorskip("torch", reason="needs torch (Debian: apt-get install python3-torch)")

from singlora.safetensors import DTYPES, SafeTensorsFormatError, read, read_bytes, save_file, write  # noqa: E402


def encode(tensors, metadata=None):
    buffer = io.BytesIO()
    write(buffer, list(tensors.items()), metadata)
    return buffer.getvalue()


def test_every_dtype_round_trips_bit_for_bit(tmp_path):
    torch.manual_seed(0)
    tensors = {f"t_{name}": (torch.randn(3, 5) * 100).to(dtype) for name, (dtype, _) in DTYPES.items()}
    tensors["scalar"] = torch.tensor(7, dtype=torch.int64)
    tensors["empty"] = torch.zeros(0, 4)
    save_file(tensors, str(tmp_path / "t.safetensors"), {"format": "pt"})
    loaded, metadata = read(str(tmp_path / "t.safetensors"))
    assert list(loaded) == list(tensors) and metadata == {"format": "pt"}
    for name, t in tensors.items():
        assert loaded[name].dtype == t.dtype and loaded[name].shape == t.shape and torch.equal(loaded[name], t)


def test_the_header_is_padded_to_eight_bytes_and_the_data_follows_it():
    raw = encode({"a": torch.arange(3, dtype=torch.float32)}, {"format": "pt"})
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0 and raw[8 + n - 1:8 + n] in (b"}", b" ")
    header = json.loads(raw[8:8 + n])
    assert header["a"] == {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}
    assert raw[8 + n:] == torch.arange(3, dtype=torch.float32).numpy().tobytes()


def with_header(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


DUPLICATE = b'{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'
GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.mark.parametrize("raw,message", [
    (b"\x01\x02", "fewer than the 8-byte header length"),
    (struct.pack("<Q", 1) + b"{", "header length field says 1"),
    (struct.pack("<Q", 100) + b"{}", "its header needs 100 bytes"),
    (struct.pack("<Q", 2) + b"\xff\xfe", "not valid UTF-8"),
    (struct.pack("<Q", 2) + b"{,", "not valid JSON"),
    (with_header([1, 2]), "not an object"),
    (with_header(GOOD, b"\0" * 4), "truncated: the header describes 8 bytes"),
    (with_header(GOOD, b"\0" * 12), "4 bytes after the last tensor"),
    (with_header({"a": {"dtype": "F8", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 2), "dtype F8, which is not supported"),
    (with_header({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8), "invalid shape"),
    (with_header({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8), "need 12 bytes"),
    (with_header({"a": GOOD["a"], "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12), "starts at data offset 4"),
    (struct.pack("<Q", len(DUPLICATE)) + DUPLICATE, "names 'a' twice"),
    (with_header({"__metadata__": {"x": 1}}), "must be an object of strings"),
])
def test_corrupt_files_are_rejected_with_the_reason(raw, message):
    with pytest.raises(SafeTensorsFormatError, match=message):
        read_bytes(raw, "f.safetensors")


def test_a_failed_save_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file({"a": torch.ones(2)}, str(path))
    old = path.read_bytes()
    with pytest.raises(ValueError, match="appears twice|cannot be stored"):
        save_file({"a": torch.ones(2), "b": torch.ones(2, dtype=torch.complex64)}, str(path))
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]
