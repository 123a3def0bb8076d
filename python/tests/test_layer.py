"""SingLoRALinear against an explicit float64 computation of docs/method.md, and its ramp, init and merge rules."""
import math

import pytest

torch = pytest.importorskip("torch", reason="needs torch (Debian: apt-get install python3-torch)")
from torch import nn  # noqa: E402

from singlora import SingLoRALinear, SingLoRAOptions  # noqa: E402

SHAPES = [(8, 8), (12, 5), (5, 12)]  # (d_in, d_out): square, d_out < d_in, d_out > d_in


def make(d_in, d_out, bias=True, dtype=torch.float32, **options):
    torch.manual_seed(d_in * 100 + d_out)
    layer = SingLoRALinear(nn.Linear(d_in, d_out, bias=bias).to(dtype), SingLoRAOptions(**{"rank": 3, **options}))
    with torch.no_grad():
        layer.singlora_A.normal_(0, 0.5)
    return layer


def reference(layer, x):
    """y = x W0ᵀ + b + s·u(t)·(x A_in) A_outᵀ in float64, written out."""
    d_in, d_out = layer.in_features, layer.out_features
    a, w = layer.singlora_A.double(), layer.weight.double()
    o = layer.options
    s = o.alpha / (math.sqrt(o.rank) if o.scaling == "alpha_over_sqrt_rank" else o.rank)
    u = 1.0 if o.ramp_length == 0 else min(layer.ramp_step / o.ramp_length, 1.0)
    y = x.double() @ w.T + (0 if layer.bias is None else layer.bias.double())
    return y + s * u * (x.double() @ a[:d_in]) @ a[:d_out].T


@pytest.mark.parametrize("d_in,d_out", SHAPES)
@pytest.mark.parametrize("options,step", [({"ramp_length": 10}, 4), ({"ramp_length": 10}, 25), ({"ramp_length": 0}, 0),
                                          ({"ramp_length": 7, "scaling": "alpha_over_sqrt_rank", "alpha": 3.0}, 3)])
def test_forward_is_the_documented_formula(d_in, d_out, options, step):
    layer = make(d_in, d_out, bias=d_in != 12, **options)
    layer.set_ramp_step(step)
    assert layer.singlora_A.shape == (max(d_in, d_out), 3)
    x = torch.randn(6, d_in)
    torch.testing.assert_close(layer(x).double(), reference(layer, x), rtol=1e-5, atol=1e-5)


def test_step_zero_is_the_frozen_layer_and_A_gets_no_gradient():
    layer = make(8, 5, ramp_length=10)
    x = torch.randn(4, 8)
    y = layer(x)
    assert torch.equal(y, nn.functional.linear(x, layer.weight, layer.bias))
    y.sum().backward()
    assert torch.count_nonzero(layer.singlora_A.grad) == 0
    assert not layer.weight.requires_grad and not layer.bias.requires_grad
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["singlora_A"]


def test_the_ramp_counts_optimizer_steps_not_forwards():
    layer = make(6, 6, ramp_length=4)
    for _ in range(5):
        layer(torch.randn(2, 6))
    layer.eval()
    layer(torch.randn(2, 6))
    assert layer.ramp_step == 0
    values = []
    for _ in range(6):
        layer.advance_ramp()
        values.append(layer.ramp_value)
    assert values == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert dict(layer.named_buffers())["singlora_step"].dtype == torch.int64
    assert set(layer.state_dict()) == {"weight", "bias", "singlora_A", "singlora_step"}
    with pytest.raises(ValueError, match="cannot be negative"):
        layer.set_ramp_step(-1)


@pytest.mark.parametrize("init,bound", [("kaiming_width", 1 / math.sqrt(400)), ("kaiming_rank", 1 / math.sqrt(16))])
def test_uniform_inits_use_the_documented_bound(init, bound):
    a = SingLoRALinear(nn.Linear(400, 300), SingLoRAOptions(16, init=init)).singlora_A.detach()
    assert a.abs().max().item() <= bound
    assert a.abs().max().item() > 0.95 * bound


def test_gaussian_init_has_variance_one_over_n():
    a = SingLoRALinear(nn.Linear(400, 300), SingLoRAOptions(16, init="gaussian")).singlora_A.detach()
    assert abs(a.std().item() * math.sqrt(400) - 1) < 0.05


@pytest.mark.parametrize("options,message", [
    ({"rank": 0}, "rank must be an integer of at least 1"), ({"rank": 10}, "larger than min"),
    ({"rank": 2, "alpha": 0}, "alpha must be a finite positive"), ({"rank": 2, "dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"rank": 2, "ramp_length": -1}, "ramp_length must be 0"), ({"rank": 2, "scaling": "alpha"}, "scaling must be one of"),
    ({"rank": 2, "init": "kaiming"}, "init must be one of")])
def test_bad_options_say_what_is_wrong(options, message):
    with pytest.raises(ValueError, match=message):
        SingLoRALinear(nn.Linear(12, 9), SingLoRAOptions(**options))


@pytest.mark.parametrize("d_in,d_out", SHAPES)
def test_merge_folds_the_update_and_unmerge_subtracts_exactly_what_it_added(d_in, d_out):
    layer = make(d_in, d_out, ramp_length=10)
    layer.set_ramp_step(6)
    w0 = layer.weight.detach().clone()
    x = torch.randn(5, d_in)
    unmerged = layer(x).detach()
    layer.merge()
    assert layer.merged and layer.merged_scale == pytest.approx(16 / 3 * 0.6)
    torch.testing.assert_close(layer(x), unmerged, rtol=1e-5, atol=1e-5)  # the adapter is not added twice
    # An optimizer step and a ramp step after the merge must not change what unmerge subtracts.
    with torch.no_grad():
        layer.singlora_A.add_(1.0)
    layer.advance_ramp()
    layer.unmerge()
    torch.testing.assert_close(layer.weight.detach(), w0, rtol=0, atol=1e-6)
    with pytest.raises(RuntimeError, match="not merged"):
        layer.unmerge()
    layer.merge()
    with pytest.raises(RuntimeError, match="already merged"):
        layer.merge()


def test_a_merged_layer_refuses_state_dicts():
    layer = make(6, 4)
    layer.merge()
    with pytest.raises(RuntimeError, match="is merged"):
        layer.state_dict()
    layer.unmerge()
    layer.load_state_dict(layer.state_dict())


def test_merge_math_runs_in_float32_for_a_bfloat16_base():
    layer = make(8, 6, dtype=torch.bfloat16, ramp_length=0)
    expected = (layer.weight.float() + layer.delta_weight()).to(torch.bfloat16)
    assert layer.delta_weight().dtype == torch.float32
    layer.merge()
    assert torch.equal(layer.weight.detach(), expected)


def test_non_finite_merges_are_refused_and_leave_the_weight_untouched():
    layer = make(6, 6, ramp_length=0)
    w0 = layer.weight.detach().clone()
    with torch.no_grad():
        layer.singlora_A[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="non-finite"):
        layer.merge()
    assert torch.equal(layer.weight, w0) and not layer.merged
    # A finite float32 update that overflows the float16 base: the merged copy is checked whole.
    half = make(6, 6, dtype=torch.float16, ramp_length=0)
    with torch.no_grad():
        half.singlora_A.fill_(100.0)
    w0 = half.weight.detach().clone()
    assert torch.isfinite(half.delta_weight()).all()
    for merge in (half.merge, half.safe_merge):
        with pytest.raises(RuntimeError, match="non-finite"):
            merge()
        assert torch.equal(half.weight, w0) and not half.merged


def test_dropout_applies_to_the_adapter_path_in_training_only():
    layer = make(16, 16, ramp_length=0, dropout=0.5)
    x = torch.randn(64, 16)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    torch.testing.assert_close(layer(x).double(), reference(layer, x), rtol=1e-5, atol=1e-5)
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    assert not SingLoRALinear(nn.Linear(4, 4).eval(), SingLoRAOptions(2)).training  # takes the wrapped layer's mode
