# Applies an adapter folder with the snippet of docs/adapter-format.md in PyTorch and compares the result with the
# merged export written by SingLoRA.Gen. Usage: check_snippet.py <work dir> (holding snippet.py, base.safetensors,
# adapter/, merged.safetensors, and safetensors/torch.py). Prints the largest difference; exits 1 when it is too large.
import sys, torch
sys.path.insert(0, sys.argv[1])
from snippet import apply_adapter
from safetensors.torch import load_file

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.down = torch.nn.Linear(6, 4)               # d_out < d_in
        self.up = torch.nn.Linear(4, 8, bias=False)     # d_out > d_in, no bias
        self.sq = torch.nn.Linear(8, 8)                 # square

d = sys.argv[1]
model = Model()
model.load_state_dict(load_file(f"{d}/base.safetensors"))
apply_adapter(model, f"{d}/adapter")
merged = load_file(f"{d}/merged.safetensors")
worst = max((model.state_dict()[k] - v).abs().max().item() for k, v in merged.items())
print(f"max |python - SaveMerged| = {worst:.3e}")
sys.exit(0 if worst < 1e-5 else 1)
