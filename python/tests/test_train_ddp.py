"""train_ddp.py in one process (the two-process torchrun run is tested from .NET: DistributedRoundTripTests)."""
import json

import pytest

torch = pytest.importorskip("torch", reason="needs torch (Debian: apt-get install python3-torch)")

import quickstart_twin  # noqa: E402
import singlora  # noqa: E402
import train_ddp  # noqa: E402

SIZES = {"vocab": 10, "length": 8, "d_model": 8, "heads": 2, "layers": 1, "hidden": 16}


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    torch.manual_seed(0)
    model = quickstart_twin.TinyTransformer(**SIZES)
    singlora.save_file(model.state_dict(), str(tmp_path / "base.safetensors"))
    singlora.inject_singlora(model, ["q", "k", "v"], singlora.SingLoRAOptions(2, alpha=4.0, ramp_length=6))
    singlora.set_ramp_step(model, 2)
    singlora.save_adapters(model, str(tmp_path / "start"))
    x, y = quickstart_twin.copy_task(24, 10, 8, 2, torch.Generator().manual_seed(1))
    singlora.save_file({"inputs": x, "targets": y}, str(tmp_path / "data.safetensors"))

    def train(out, *extra):
        train_ddp.main(["--base", str(tmp_path / "base.safetensors"), "--adapters", str(tmp_path / "start"),
                        "--data", str(tmp_path / "data.safetensors"), "--out", str(tmp_path / out), "--steps", "4",
                        "--global-batch", "8", "--log-every", "0", "--model-args", json.dumps(SIZES), *extra])
        return singlora.load_file(str(tmp_path / out / "adapter_model.safetensors"))
    return train


def test_micro_batches_give_the_same_update_and_the_ramp_counts_optimizer_steps(run):
    start = run("unused", "--steps", "0")
    whole = run("whole")
    micro = run("micro", "--grad-accum", "4")
    for key in whole:
        if key.endswith("singlora_step"):
            assert start[key].item() == 2 and whole[key].item() == micro[key].item() == 6  # 2 + 4 optimizer steps
        else:
            assert (whole[key] - start[key]).abs().max() > 1e-3  # it trained
            torch.testing.assert_close(micro[key], whole[key], rtol=0, atol=1e-6)


def test_bad_runs_stop_with_a_reason(run, tmp_path):
    with pytest.raises(SystemExit, match="--global-batch 8 must be a multiple of processes x --grad-accum = 1 x 3"):
        run("out", "--grad-accum", "3")
    model = quickstart_twin.TinyTransformer(**SIZES)
    model.load_state_dict(singlora.load_file(str(tmp_path / "base.safetensors")))
    singlora.attach_adapters(model, str(tmp_path / "start"))
    singlora.merge_adapters(model)
    singlora.save_adapters(model, str(tmp_path / "start"))
    with pytest.raises(SystemExit, match="were saved merged"):
        run("out")
