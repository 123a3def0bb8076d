"""PyTorch side of SpamFilter/MiniLMTwinTests.cs: the C# classifier's adapter folder on python/minilm_twin.py, and back.

    minilm_twin_check.py DIR CHECKPOINT

DIR holds what .NET wrote: ``dotnet/`` (SingLoRA adapters on query/key/value + the head as a module to save) and
``batch.safetensors`` (``input_ids``, ``attention_mask``, ``labels``, and .NET's ``logits``). This script
1. builds ``minilm_twin.SpamClassifier``, loads the encoder from CHECKPOINT and attaches ``dotnet/``, computes the logits
   and compares them with .NET's (relative: max |difference| / max |.NET logit|; exit code 1 above 1e-5);
2. trains that model 3 AdamW steps on the batch (adapters and head), saves ``pytorch/`` (head as a module to save) and
   writes its logits on the batch to ``pytorch.logits.safetensors`` for .NET to reproduce.
"""
import os
import sys

import torch
import torch.nn.functional as F

import minilm_twin
import singlora

TOLERANCE = 1e-5


def main(directory: str, checkpoint: str) -> int:
    batch = singlora.load_file(os.path.join(directory, "batch.safetensors"))
    ids, mask, expected = batch["input_ids"], batch["attention_mask"], batch["logits"]

    torch.manual_seed(0)
    model = minilm_twin.SpamClassifier(dropout=0.0)
    minilm_twin.load_encoder(model, checkpoint)
    config = singlora.attach_adapters(model, os.path.join(directory, "dotnet"))
    model.eval()
    with torch.no_grad():
        logits = model(ids, mask)
    relative = ((logits - expected).abs().max() / expected.abs().max()).item()
    layers = singlora.adapted_layers(model)
    print(f"C# -> PyTorch: {len(layers)} SingLoRA layers, ramp step {layers[0][1].ramp_step}, modules_to_save {config['modules_to_save']}; "
          f"logits of {ids.shape[0]} e-mails x {ids.shape[1]} tokens: max relative difference {relative:.1e} (max |logit| {expected.abs().max().item():.3f})")
    if not relative <= TOLERANCE:
        print(f"FAILED: the twin's logits differ from .NET's by {relative:.2e} relative (tolerance {TOLERANCE:.0e}).")
        return 1

    # PyTorch changes the adapters and the head (training mode, dropout 0), then hands them back.
    model.train()
    singlora.freeze_all_but_adapters(model)
    model.classifier.requires_grad_(True)
    optimizer = torch.optim.AdamW([{"params": singlora.adapter_parameters(model), "lr": 1e-2},
                                   {"params": list(model.classifier.parameters()), "lr": 3e-2}])
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(ids, mask), batch["labels"]).backward()
        optimizer.step()
        singlora.advance_ramp(model)
    singlora.save_adapters(model, os.path.join(directory, "pytorch"), modules_to_save=["classifier"])
    model.eval()
    with torch.no_grad():
        trained = model(ids, mask)
    singlora.save_file({"logits": trained}, os.path.join(directory, "pytorch.logits.safetensors"))
    print(f"PyTorch trained 3 steps: logits moved by up to {(trained - logits).abs().max().item():.3f}; saved pytorch/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
