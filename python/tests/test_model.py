"""Injection by module-name patterns and the model-level operations."""
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch", reason="needs torch (Debian: apt-get install python3-torch)")
from torch import nn  # noqa: E402

import singlora  # noqa: E402
from singlora import SingLoRALinear, SingLoRAOptions  # noqa: E402


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)


def model(d=8, blocks=2):
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(blocks=nn.ModuleList(Attention(d) for _ in range(blocks)), head=nn.Linear(d, 3)))


def test_names_match_whole_paths_or_their_last_parts():
    m = model()
    assert singlora.inject_singlora(m, ["q", "k"], SingLoRAOptions(2)) == ["blocks.0.q", "blocks.0.k", "blocks.1.q", "blocks.1.k"]
    assert isinstance(m.blocks[1].k, SingLoRALinear) and type(m.blocks[1].v) is nn.Linear
    assert "blocks.0.q.weight" in m.state_dict() and "blocks.0.q.singlora_A" in m.state_dict()


def test_a_string_is_a_regular_expression_over_the_whole_path():
    m = model()
    assert singlora.inject_singlora(m, r"blocks\.1\.(q|v)", SingLoRAOptions(2)) == ["blocks.1.q", "blocks.1.v"]
    assert singlora.inject_singlora(m, "head", SingLoRAOptions(2)) == ["head"]


@pytest.mark.parametrize("targets,message", [
    (["q", "query"], "'query' matches no module"), (["norm"], "'blocks.0.norm' is a LayerNorm, not a plain nn.Linear"),
    (["head"], "cannot take rank 4"), ([], "non-empty list")])
def test_bad_targets_change_nothing_and_name_the_linear_layers(targets, message):
    m = model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match=message) as error:
        singlora.inject_singlora(m, targets, SingLoRAOptions(4))
    if targets:
        assert "blocks.0.q, blocks.0.k, blocks.0.v" in str(error.value)
    assert not singlora.adapted_layers(m)
    assert all(p.requires_grad for p in m.parameters())
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_a_layer_is_adapted_once():
    m = model()
    singlora.inject_singlora(m, ["q"], SingLoRAOptions(2))
    with pytest.raises(ValueError, match="'blocks.0.q' is already adapted"):
        singlora.inject_singlora(m, ["q"], SingLoRAOptions(2))


def test_freezing_leaves_only_the_adapters_trainable_and_ramp_moves_all_layers():
    m = model()
    singlora.inject_singlora(m, ["q", "v"], SingLoRAOptions(2, ramp_length=4))
    singlora.freeze_all_but_adapters(m)
    assert [n for n, p in m.named_parameters() if p.requires_grad] == [
        "blocks.0.q.singlora_A", "blocks.0.v.singlora_A", "blocks.1.q.singlora_A", "blocks.1.v.singlora_A"]
    assert singlora.adapter_parameters(m) == [p for p in m.parameters() if p.requires_grad]
    singlora.advance_ramp(m)
    singlora.advance_ramp(m)
    assert [layer.ramp_value for _, layer in singlora.adapted_layers(m)] == [0.5] * 4
    singlora.set_ramp_step(m, 1)
    assert [layer.ramp_step for _, layer in singlora.adapted_layers(m)] == [1] * 4


def test_merging_a_model_is_all_or_nothing():
    m = model()
    singlora.inject_singlora(m, ["q", "k"], SingLoRAOptions(2, ramp_length=0))
    weights = {k: v.clone() for k, v in m.state_dict().items()}
    with torch.no_grad():
        m.blocks[1].k.singlora_A[0, 0] = float("inf")  # the last layer refuses
    with pytest.raises(RuntimeError, match="non-finite"):
        singlora.merge_adapters(m)
    assert not any(layer.merged for _, layer in singlora.adapted_layers(m))
    for k, v in m.state_dict().items():
        if not k.endswith("singlora_A"):
            torch.testing.assert_close(v, weights[k], rtol=0, atol=1e-6)
    with torch.no_grad():
        m.blocks[1].k.singlora_A[0, 0] = 0.0
    singlora.merge_adapters(m, safe=True)
    assert all(layer.merged for _, layer in singlora.adapted_layers(m))
    singlora.unmerge_adapters(m)
    assert not any(layer.merged for _, layer in singlora.adapted_layers(m))
