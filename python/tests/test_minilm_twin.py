"""minilm_twin.py alone: the module names, strict loading, padding and dropout, and train_ddp.py with the classifier
(attention masks, the head as a module to save). The equality with the C# port on real e-mails is tested from .NET
(SpamFilter/MiniLMTwinTests.cs)."""
import json
import os

import pytest

torch = pytest.importorskip("torch", reason="needs torch (Debian: apt-get install python3-torch)")

import minilm_twin  # noqa: E402
import singlora  # noqa: E402
import train_ddp  # noqa: E402

CHECKPOINT = os.path.join(os.path.dirname(__file__), "..", "..", "artifacts", "cache", "minilm", "all-MiniLM-L6-v2.safetensors")
TINY = {"vocab_size": 40, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 32,
        "max_position_embeddings": 24}


def hf_bert_keys(layers: int) -> set:
    """The state-dict keys of Hugging Face's BertModel (without the pooler), written out from its module names."""
    keys = {f"embeddings.{n}.weight" for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")}
    keys |= {"embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"}
    for i in range(layers):
        for linear in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                       "intermediate.dense", "output.dense"):
            keys |= {f"encoder.layer.{i}.{linear}.weight", f"encoder.layer.{i}.{linear}.bias"}
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            keys |= {f"encoder.layer.{i}.{norm}.weight", f"encoder.layer.{i}.{norm}.bias"}
    return keys


def tiny(**kwargs) -> minilm_twin.SpamClassifier:
    torch.manual_seed(0)
    return minilm_twin.SpamClassifier(**TINY, **kwargs)


def test_the_encoder_has_hugging_face_module_names_and_the_head_is_classifier():
    model = minilm_twin.SpamClassifier()
    assert set(model.encoder.state_dict()) == hf_bert_keys(6)
    assert set(model.state_dict()) == {"encoder." + k for k in hf_bert_keys(6)} | {"classifier.weight", "classifier.bias"}
    assert model.classifier.weight.shape == (2, 384)


@pytest.mark.skipif(not os.path.isfile(CHECKPOINT), reason="needs the converted checkpoint (run the SpamFilter sample once)")
def test_the_converted_checkpoint_loads_strictly_and_its_keys_are_the_encoders():
    assert set(minilm_twin.encoder_state(CHECKPOINT)) == hf_bert_keys(6)
    model = minilm_twin.SpamClassifier()
    minilm_twin.load_encoder(model, CHECKPOINT)
    torch.testing.assert_close(model.encoder.embeddings.word_embeddings.weight, singlora.load_file(CHECKPOINT)["embeddings.word_embeddings.weight"],
                               rtol=0, atol=0)


def test_a_checkpoint_of_another_model_is_refused_naming_the_keys_and_nothing_is_loaded(tmp_path):
    model = tiny()
    state = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    state.pop("encoder.layer.1.output.dense.bias")
    state["encoder.layer.2.output.dense.bias"] = torch.zeros(16)
    state["pooler.dense.weight"] = torch.zeros(16, 16)  # a Hugging Face pooler is dropped, not reported
    path = str(tmp_path / "other.safetensors")
    singlora.save_file({k: v + 1 for k, v in state.items()}, path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"does not fit all-MiniLM-L6-v2's encoder: missing \['encoder.layer.1.output.dense.bias'\], "
                                         r"unexpected \['encoder.layer.2.output.dense.bias'\]"):
        minilm_twin.load_encoder(model, path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_padding_changes_nothing_mean_pooling_and_attention_ignore_it():
    model = tiny().eval()
    ids = torch.randint(1, 40, (3, 7))
    mask = torch.ones_like(ids)
    padded_ids = torch.cat([ids, torch.randint(1, 40, (3, 5))], 1)  # junk ids after the text, masked out
    padded_mask = torch.cat([mask, torch.zeros(3, 5, dtype=torch.int64)], 1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded_ids, padded_mask), model(ids, mask), rtol=0, atol=1e-6)
        assert not torch.allclose(model(padded_ids, torch.ones_like(padded_ids)), model(ids, mask), atol=1e-4)  # unmasked, they count
    tokens = torch.randn(2, 4, 3)
    pooled = minilm_twin.mean_pool(tokens, torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]))
    torch.testing.assert_close(pooled, torch.stack([tokens[0, :2].mean(0), tokens[1].mean(0)]))


def test_dropout_zero_makes_training_mode_deterministic_and_the_default_does_not():
    ids, mask = torch.randint(1, 40, (4, 9)), torch.ones(4, 9, dtype=torch.int64)
    still = tiny(dropout=0.0).train()
    torch.testing.assert_close(still(ids, mask), still(ids, mask), rtol=0, atol=0)
    noisy = tiny().train()
    assert noisy.encoder.config.dropout == 0.1
    assert not torch.equal(noisy(ids, mask), noisy(ids, mask))
    with pytest.raises(ValueError, match="classes must be at least 2"):
        minilm_twin.SpamClassifier(classes=1)


@pytest.fixture
def classifier_files(tmp_path, monkeypatch):
    """A tiny classifier's hand-off files as .NET's `torch-data` writes them: base, adapters with the head, masked data."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    model = tiny(dropout=0.0)
    singlora.save_file(model.state_dict(), str(tmp_path / "base.safetensors"))
    singlora.inject_singlora(model, ["query", "key", "value"], singlora.SingLoRAOptions(2, alpha=4.0, ramp_length=4))
    singlora.save_adapters(model, str(tmp_path / "start"), modules_to_save=["classifier"])
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(3, 10, (16,), generator=g)
    mask = (torch.arange(10) < lengths[:, None]).long()
    ids = torch.randint(1, 40, (16, 10), generator=g) * mask
    targets = (ids[:, 1] % 2).long()
    singlora.save_file({"inputs": ids, "attention_mask": mask, "targets": targets,
                        "eval_inputs": ids[:6], "eval_attention_mask": mask[:6], "eval_targets": targets[:6]}, str(tmp_path / "data.safetensors"))

    def train(out, *extra):
        train_ddp.main(["--model", "minilm_twin:SpamClassifier", "--model-args", json.dumps({**TINY, "dropout": 0.0}),
                        "--base", str(tmp_path / "base.safetensors"), "--adapters", str(tmp_path / "start"),
                        "--data", str(tmp_path / "data.safetensors"), "--out", str(tmp_path / out), "--steps", "3",
                        "--global-batch", "8", "--lr", "0.01", "--head-lr", "0.05", "--log-every", "0",
                        "--eval-logits", str(tmp_path / f"{out}.logits.safetensors"), *extra])
        return singlora.load_file(str(tmp_path / out / "adapter_model.safetensors"))
    return train, tmp_path


def test_train_ddp_trains_the_head_saved_with_the_adapters_and_feeds_the_attention_mask(classifier_files):
    train, tmp_path = classifier_files
    start = singlora.load_file(str(tmp_path / "start" / "adapter_model.safetensors"))
    whole = train("whole")
    micro = train("micro", "--grad-accum", "2", "--eval-batch", "4")
    assert singlora.read_config(str(tmp_path / "whole"))["modules_to_save"] == ["classifier"]
    assert set(whole) == set(start) and {"classifier.weight", "classifier.bias"} <= set(whole)
    for key in whole:
        if key.endswith("singlora_step"):
            assert whole[key].item() == micro[key].item() == 3
        else:
            assert (whole[key] - start[key]).abs().max() > 1e-3, key  # the adapters and the head trained
            torch.testing.assert_close(micro[key], whole[key], rtol=0, atol=1e-6)

    # The saved evaluation logits are the trained model's on the masked eval rows.
    model = minilm_twin.SpamClassifier(**TINY, dropout=0.0)
    model.load_state_dict(singlora.load_file(str(tmp_path / "base.safetensors")))
    singlora.attach_adapters(model, str(tmp_path / "whole"))
    data = singlora.load_file(str(tmp_path / "data.safetensors"))
    with torch.no_grad():
        expected = model.eval()(data["eval_inputs"], data["eval_attention_mask"])
    torch.testing.assert_close(singlora.load_file(str(tmp_path / "whole.logits.safetensors"))["logits"], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(singlora.load_file(str(tmp_path / "micro.logits.safetensors"))["logits"], expected, rtol=0, atol=1e-5)


def test_train_ddp_refuses_masks_that_do_not_fit_the_inputs(classifier_files):
    train, tmp_path = classifier_files
    data = singlora.load_file(str(tmp_path / "data.safetensors"))
    singlora.save_file({**data, "attention_mask": data["attention_mask"][:, :5]}, str(tmp_path / "data.safetensors"))
    with pytest.raises(SystemExit, match="'attention_mask' must have the shape of 'inputs'"):
        train("out")
    del data["eval_attention_mask"]
    singlora.save_file(data, str(tmp_path / "data.safetensors"))
    with pytest.raises(SystemExit, match="give an attention mask for both inputs and eval_inputs, or for neither"):
        train("out")
