# The PyTorch half of PyTorchTwinTests: the C# model's twin, built from the same base weights, attaches the adapter
# folders SaveAdapters wrote (unmerged and merged, mid-ramp) and must compute the C# outputs; then it writes folders of
# its own (step 9, a changed A; unmerged and merged) with its outputs, for the C# side to reproduce.
# Usage: twin_check.py <work dir>. Prints every relative difference; exits 1 if one exceeds 1e-5.
import json
import sys

import torch
from torch import nn

import singlora

TOLERANCE = 1e-5
LAYERS = {"down": "d_out < d_in", "up": "d_out > d_in", "sq": "square"}


class Twin(nn.Module):
    """TwinModel in PyTorchTwinTests.cs: down 12 -> 5, up 5 -> 9 (no bias), sq 9 -> 9, tanh between."""

    def __init__(self):
        super().__init__()
        self.down, self.up, self.sq = nn.Linear(12, 5), nn.Linear(5, 9, bias=False), nn.Linear(9, 9)

    def layers(self, x):
        a = self.down(x)
        b = self.up(torch.tanh(a))
        return {"down": a, "up": b, "sq": self.sq(torch.tanh(b))}


d = sys.argv[1]
x = singlora.load_file(f"{d}/x.safetensors")["x"]
failures = []


def fresh():
    model = Twin()
    model.load_state_dict(singlora.load_file(f"{d}/base.safetensors"))
    return model.eval()


def compare(what, model, expected_file):
    expected = singlora.load_file(f"{d}/{expected_file}")
    with torch.no_grad():
        ours = model.layers(x)
    for name, orientation in LAYERS.items():
        rel = ((ours[name] - expected[name]).abs().max() / expected[name].abs().max()).item()
        print(f"C# -> PyTorch, {what}, {name} ({orientation}): max relative difference {rel:.1e}")
        if not rel <= TOLERANCE:
            failures.append(f"{what} {name}: {rel:.2e}")


def resave_matches(model, folder):
    """Saving what was just loaded writes the same tensors file, byte for byte, and the same config but for the writer."""
    singlora.save_adapters(model, f"{d}/{folder}_resaved")
    same_bytes = open(f"{d}/{folder}/adapter_model.safetensors", "rb").read() == open(f"{d}/{folder}_resaved/adapter_model.safetensors", "rb").read()
    configs = [{k: v for k, v in json.load(open(f"{d}/{f}/adapter_config.json")).items() if k not in ("library", "library_version")}
               for f in (folder, f"{folder}_resaved")]
    print(f"PyTorch re-saves {folder}: tensors file {'byte-identical' if same_bytes else 'DIFFERENT'}, config {'equal' if configs[0] == configs[1] else 'DIFFERENT'}")
    if not (same_bytes and configs[0] == configs[1]):
        failures.append(f"re-saving {folder}")


model = fresh()
singlora.attach_adapters(model, f"{d}/cs_unmerged")
resave_matches(model, "cs_unmerged")
assert [layer.ramp_step for _, layer in singlora.adapted_layers(model)] == [7, 7, 7]
compare("unmerged, step 7", model, "cs_unmerged.safetensors")
singlora.merge_adapters(model)
compare("merged in PyTorch", model, "cs_merged.safetensors")
singlora.unmerge_adapters(model)
base = singlora.load_file(f"{d}/base.safetensors")
restored = max((model.state_dict()[k] - v).abs().max().item() for k, v in base.items())
print(f"PyTorch unmerge restores the base weights: max difference {restored:.1e}")
if not restored <= 1e-6:
    failures.append(f"unmerge: {restored:.2e}")

model = fresh()
singlora.attach_adapters(model, f"{d}/cs_merged")
assert all(layer.merged for _, layer in singlora.adapted_layers(model))
resave_matches(model, "cs_merged")
compare("saved merged in C#", model, "cs_merged.safetensors")

# PyTorch's turn to write: unmerge, move the ramp and A, save both ways with the outputs.
singlora.unmerge_adapters(model)
singlora.set_ramp_step(model, 9)
torch.manual_seed(0)
with torch.no_grad():
    for p in singlora.adapter_parameters(model):
        p.add_(0.1 * torch.randn_like(p))
for state in ("unmerged", "merged"):
    if state == "merged":
        singlora.merge_adapters(model)
    with torch.no_grad():
        singlora.save_file(model.layers(x), f"{d}/py_{state}.safetensors")
    singlora.save_adapters(model, f"{d}/py_{state}")

if failures:
    print("FAILED: " + "; ".join(failures))
    sys.exit(1)
