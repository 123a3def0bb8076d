# Applies an adapter folder with the snippet of docs/adapter-format.md in PyTorch and compares the result with the
# merged export written by SingLoRA.Gen. Usage: check_snippet.py <work dir> wheel|no-wheel
# The work dir holds snippet.py (the doc's text as written), base.safetensors, adapter/ and merged.safetensors; for
# "wheel" also safetensors/torch.py, a stand-in for the wheel. "no-wheel" hides any installed safetensors wheel, so the
# snippet must fall back to the repository's reader (python/ on PYTHONPATH). Prints which reader the snippet bound and
# the largest difference; exits 1 when it is too large.
import sys
if sys.argv[2] == "no-wheel":
    sys.modules["safetensors"] = None          # makes `import safetensors...` raise ImportError, installed or not
elif sys.argv[2] != "wheel":
    sys.exit(f"check_snippet.py: the second argument must be wheel or no-wheel, got {sys.argv[2]!r}")
import torch
sys.path.insert(0, sys.argv[1])
from snippet import apply_adapter
from singlora.safetensors import load_file as read_tensors

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.down = torch.nn.Linear(6, 4)               # d_out < d_in
        self.up = torch.nn.Linear(4, 8, bias=False)     # d_out > d_in, no bias
        self.sq = torch.nn.Linear(8, 8)                 # square

d = sys.argv[1]
print(f"snippet's load_file: {apply_adapter.__globals__['load_file'].__module__}")
model = Model()
model.load_state_dict(read_tensors(f"{d}/base.safetensors"))
apply_adapter(model, f"{d}/adapter")
merged = read_tensors(f"{d}/merged.safetensors")
worst = max((model.state_dict()[k] - v).abs().max().item() for k, v in merged.items())
print(f"max |python - SaveMerged| = {worst:.3e}")
sys.exit(0 if worst < 1e-5 else 1)
