"""save_adapters / load_adapters / attach_adapters: the folders SaveAdapters writes in .NET (docs/adapter-format.md)."""
import json
import os
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch", reason="needs torch (Debian: apt-get install python3-torch)")
from torch import nn  # noqa: E402

import singlora  # noqa: E402
from singlora import AdapterLoadError, SingLoRAOptions  # noqa: E402
from singlora.files import CONFIG_FILE, WEIGHTS_FILE  # noqa: E402


def plain(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(down=nn.Linear(10, 4), act=nn.Tanh(), up=nn.Linear(4, 7, bias=False), sq=nn.Linear(7, 7)))


def adapted(step=3, seed=0):
    m = plain(seed)
    singlora.inject_singlora(m, ["down", "up"], SingLoRAOptions(2, alpha=3.0, ramp_length=10))
    singlora.inject_singlora(m, ["sq"], SingLoRAOptions(3, ramp_length=0, scaling="alpha_over_sqrt_rank", init="gaussian", dropout=0.25))
    with torch.no_grad():
        for p in singlora.adapter_parameters(m):
            p.normal_(0, 0.5)
    singlora.set_ramp_step(m, step)
    return m.eval()


def snapshot(m):
    return {k: v.clone() for k, v in m.named_parameters()} | {k: v.clone() for k, v in m.named_buffers()}


def assert_unchanged(m, before):
    now = snapshot(m)
    assert now.keys() == before.keys() and all(torch.equal(now[k], before[k]) for k in now)


X = torch.randn(5, 10, generator=torch.Generator().manual_seed(1))


def test_a_saved_folder_loads_back_with_A_the_step_and_the_options(tmp_path):
    source = adapted(step=4)
    written = singlora.save_adapters(source, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [CONFIG_FILE, WEIGHTS_FILE]
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert config == written and config["step"] == 4 and config["merge_state"] == "unmerged" and "r" not in config
    assert config["targets"][2] == {
        "path": "sq", "kind": "singlora", "in_features": 7, "out_features": 7, "dtype": "F32", "adapter_dtype": "F32", "rank": 3, "alpha": 16.0,
        "scaling": "alpha_over_sqrt_rank", "ramp_length": 0, "step": 4, "init": "gaussian", "dropout": 0.25, "merged": False,
        "tensors": {"singlora_A": [7, 3], "singlora_step": []}}
    target = adapted(step=0, seed=5)
    target.load_state_dict({k: v for k, v in source.state_dict().items() if "singlora" not in k}, strict=False)
    singlora.load_adapters(target, str(tmp_path))
    assert torch.equal(target(X), source(X))
    assert [layer.ramp_step for _, layer in singlora.adapted_layers(target)] == [4, 4, 4]


def test_attach_creates_the_layers_from_the_config_in_a_plain_model(tmp_path):
    source = adapted()
    singlora.save_adapters(source, str(tmp_path))
    target = plain()
    singlora.attach_adapters(target, str(tmp_path))
    assert [(p, l.options) for p, l in singlora.adapted_layers(target)] == [(p, l.options) for p, l in singlora.adapted_layers(source)]
    assert torch.equal(target.eval()(X), source(X))


def test_a_merged_save_restores_the_merge_with_the_recorded_scale(tmp_path):
    source = adapted(step=6)
    w0 = source.down.weight.detach().clone()
    singlora.merge_adapters(source)
    merged_out = source(X)
    singlora.set_ramp_step(source, 9)  # the ramp moved after the merge: the file must keep the merged scale
    singlora.save_adapters(source, str(tmp_path))
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert config["merge_state"] == "merged" and config["targets"][0]["merged_scale"] == pytest.approx(1.5 * 0.6)
    target = plain()
    singlora.attach_adapters(target, str(tmp_path))
    assert all(layer.merged for _, layer in singlora.adapted_layers(target))
    torch.testing.assert_close(target.eval()(X), merged_out, rtol=1e-6, atol=1e-6)
    singlora.unmerge_adapters(target)
    torch.testing.assert_close(target.down.weight.detach(), w0, rtol=0, atol=1e-6)


def test_saving_a_merged_layer_whose_A_changed_is_refused(tmp_path):
    m = adapted()
    singlora.merge_adapters(m)
    with torch.no_grad():
        m.up.singlora_A.add_(1)
    with pytest.raises(RuntimeError, match=r"merged layer\(s\) 'up' changed after it was merged"):
        singlora.save_adapters(m, str(tmp_path))
    assert not os.listdir(tmp_path)


def edit_config(folder, edit):
    path = folder / CONFIG_FILE
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def test_unknown_fields_are_ignored(tmp_path):
    singlora.save_adapters(adapted(), str(tmp_path))

    def add(config):
        config["adapter_name"] = "default"
        config["targets"][0]["adapter_name"] = "default"
    edit_config(tmp_path, add)
    target = plain()
    singlora.attach_adapters(target, str(tmp_path))
    assert torch.equal(target.eval()(X), adapted()(X))


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["targets"][0].update(rank="2"), "'rank' is \"2\"; expected an integer >= 1"),
    (lambda c: c["targets"][1].update(merged="no"), "'merged' is \"no\"; expected true or false"),
    (lambda c: c["targets"][2].update(step=-1), "'step' is -1; expected an integer >= 0"),
    (lambda c: c["targets"][2].pop("init"), "has no 'init'"),
    (lambda c: c.update(format_version=3), "format_version 3; this package reads version 2"),
    (lambda c: c.update(format_version=1), "rename every \"ramp_steps\" key to \"ramp_length\""),
    (lambda c: c.update(format="peft"), "format 'peft'"),
    (lambda c: c.update(scaling="alpha_over_rank"), "scaling is \"alpha_over_rank\" but not every target"),
    (lambda c: c.update(merge_state="merged"), "merge_state is 'merged' but"),
    (lambda c: c["targets"][0].update(tensors={"singlora_A": [4, 2], "singlora_step": []}), "a singlora target of these sizes has"),
    (lambda c: c["targets"][1].update(merged=True), "marked merged but has no finite merged_scale"),
    (lambda c: c["targets"].append(dict(c["targets"][0])), "more than once"),
])
def test_known_fields_are_checked_strictly(tmp_path, edit, message):
    singlora.save_adapters(adapted(), str(tmp_path))
    edit_config(tmp_path, edit)
    target = plain()
    before = snapshot(target)
    with pytest.raises(AdapterLoadError, match=message):
        singlora.attach_adapters(target, str(tmp_path))
    assert_unchanged(target, before)
    assert not singlora.adapted_layers(target)


def test_a_failed_load_names_every_problem_and_changes_nothing(tmp_path):
    singlora.save_adapters(adapted(), str(tmp_path))
    target = plain()
    singlora.inject_singlora(target, ["down", "sq"], SingLoRAOptions(2, alpha=3.0, ramp_length=10))
    before = snapshot(target)
    with pytest.raises(AdapterLoadError) as error:
        singlora.load_adapters(target, str(tmp_path))
    text = str(error.value)
    assert "the model was not changed" in text
    for expected in ("Unexpected target: the config has 'up'", "Unexpected tensor 'up.singlora_A'",
                     "Tensor 'sq.singlora_A' has shape [7, 3] in the file but [7, 2] in the model",
                     "Target 'sq': rank is 3 in the config but 2 in the model", "Target 'sq': init is \"gaussian\""):
        assert expected in text
    assert_unchanged(target, before)


def test_files_from_different_saves_are_refused(tmp_path):
    singlora.save_adapters(adapted(step=1), str(tmp_path / "a"))
    singlora.save_adapters(adapted(step=2), str(tmp_path / "b"))
    os.replace(tmp_path / "b" / WEIGHTS_FILE, tmp_path / "a" / WEIGHTS_FILE)
    with pytest.raises(AdapterLoadError, match="does not match adapter_config.json"):
        singlora.attach_adapters(plain(), str(tmp_path / "a"))


def test_a_step_that_disagrees_with_the_tensors_file_is_refused(tmp_path):
    singlora.save_adapters(adapted(step=2), str(tmp_path))
    edit_config(tmp_path, lambda c: [t.update(step=3) for t in c["targets"]] and c.update(step=3))
    with pytest.raises(AdapterLoadError, match="the config says step 3 but the tensors file holds step 2"):
        singlora.attach_adapters(plain(), str(tmp_path))


def test_attach_refuses_layers_of_another_size_and_lora_targets(tmp_path):
    singlora.save_adapters(adapted(), str(tmp_path))
    other = nn.Sequential(OrderedDict(down=nn.Linear(10, 5), act=nn.Tanh(), up=nn.Linear(4, 7, bias=False), sq=nn.Conv1d(7, 7, 1)))
    with pytest.raises(AdapterLoadError) as error:
        singlora.attach_adapters(other, str(tmp_path))
    assert "the model's layer is 5 x 10 F32, the adapter was saved for 4 x 10 F32" in str(error.value)
    assert "Target 'sq': the model's module there is a Conv1d, not a plain nn.Linear" in str(error.value)
    edit_config(tmp_path, lambda c: c["targets"][0].update(kind="lora", tensors={"lora_A": [2, 10], "lora_B": [4, 2]}) or c.pop("method"))
    with pytest.raises(AdapterLoadError, match="Target 'down' is a lora layer; this package implements SingLoRA layers only"):
        singlora.attach_adapters(plain(), str(tmp_path))


@pytest.mark.parametrize("failing", [WEIGHTS_FILE, CONFIG_FILE])
def test_an_interrupted_save_keeps_the_old_file_and_never_loads_a_mix(tmp_path, monkeypatch, failing):
    singlora.save_adapters(adapted(step=1), str(tmp_path))
    old = {name: (tmp_path / name).read_bytes() for name in (CONFIG_FILE, WEIGHTS_FILE)}
    real = singlora.files.write_atomic

    def interrupted(path, write):
        if os.path.basename(path) != failing:
            return real(path, write)

        def partial(stream):
            stream.write(b"partial")
            raise OSError("disk full")
        return real(path, partial)
    monkeypatch.setattr(singlora.files, "write_atomic", interrupted)
    with pytest.raises(OSError, match="disk full"):
        singlora.save_adapters(adapted(step=2), str(tmp_path))
    assert (tmp_path / failing).read_bytes() == old[failing]
    assert sorted(os.listdir(tmp_path)) == [CONFIG_FILE, WEIGHTS_FILE]  # no temporary file left
    if failing == WEIGHTS_FILE:
        singlora.attach_adapters(plain(), str(tmp_path))  # the previous save, whole
    else:  # the tensors file is the new one, the config the old one: refused, not mixed
        with pytest.raises(AdapterLoadError, match="does not match adapter_config.json"):
            singlora.attach_adapters(plain(), str(tmp_path))


def test_temporary_files_left_by_a_crash_are_ignored(tmp_path):
    singlora.save_adapters(adapted(), str(tmp_path))
    (tmp_path / ".singlora-tmp-adapter_config.json.0123").write_text("{")
    singlora.attach_adapters(plain(), str(tmp_path))


def test_a_config_that_names_a_key_twice_is_refused(tmp_path):
    singlora.save_adapters(adapted(), str(tmp_path))
    path = tmp_path / CONFIG_FILE
    path.write_text(path.read_text().replace('"method": "singlora",', '"method": "singlora", "method": "lora",', 1))
    with pytest.raises(AdapterLoadError, match="the key 'method' appears twice in one object"):
        singlora.read_config(str(tmp_path))


def test_modules_to_save_are_saved_whole_beside_the_adapters_and_loaded_back(tmp_path):
    def model():
        m = plain()
        singlora.inject_singlora(m, ["down", "up"], SingLoRAOptions(2, ramp_length=0))
        return m.eval()
    source = model()
    with torch.no_grad():
        for p in singlora.adapter_parameters(source):
            p.normal_(0, 0.5)
        source.sq.weight.add_(1.0)  # a head trained beside the adapters
    config = singlora.save_adapters(source, str(tmp_path), modules_to_save=["sq"])
    assert config["modules_to_save"] == ["sq"] and config["adapter_name"] == "default"
    target = model()
    assert not torch.equal(target(X), source(X))
    singlora.load_adapters(target, str(tmp_path))
    assert torch.equal(target(X), source(X))
    with pytest.raises(ValueError, match="holds adapted layers"):
        singlora.save_adapters(source, str(tmp_path), modules_to_save=["down"])


def test_a_bf16_base_gets_a_float32_master_A_unless_same_as_base_is_asked_for():
    base = nn.Linear(8, 8).to(torch.bfloat16)
    layer = singlora.SingLoRALinear(base, SingLoRAOptions(2, ramp_length=0))
    assert layer.singlora_A.dtype == torch.float32
    assert layer(torch.randn(3, 8).to(torch.bfloat16)).dtype == torch.bfloat16
    same = singlora.SingLoRALinear(nn.Linear(8, 8).to(torch.bfloat16), SingLoRAOptions(2, precision="same_as_base"))
    assert same.singlora_A.dtype == torch.bfloat16
