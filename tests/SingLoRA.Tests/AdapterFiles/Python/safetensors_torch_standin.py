# A minimal stand-in for safetensors.torch.load_file (the safetensors wheel is not installable here):
# 8-byte little-endian header length, JSON header, raw little-endian data.
import json, struct, torch
_DT = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32}
def load_file(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__": continue
        a, b = info["data_offsets"]
        buf = bytearray(raw[8 + n + a: 8 + n + b])
        t = torch.frombuffer(buf, dtype=_DT[info["dtype"]]) if b > a else torch.empty(0, dtype=_DT[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out
