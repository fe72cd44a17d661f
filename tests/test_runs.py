"""Run directories: save, reload with load_run and with plain TransformerLens, detect damage."""

import json

import pytest
import safetensors.torch
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from workbench.errors import UserError
from workbench.models import PRESETS, build_model, count_parameters, model_config
from workbench.runs import load_run, save_run
from workbench.tasks import task_tokenizer
from workbench.tokenizer import Tokenizer


@pytest.fixture
def saved_run(tmp_path):
    tok = task_tokenizer("prosqa")
    cfg = {"model": model_config("nano", len(tok), n_ctx=64, seed=7), "task": {"name": "prosqa"},
           "method": {"name": "nocot"}, "train": {"steps": 0}}
    model = build_model(cfg["model"])
    path = save_run(tmp_path / "run", model, tok, cfg, metrics={"accuracy": 0.5})
    tokens = torch.tensor([tok.encode("Tom is a wumpus. Is Tom a yumpus or lempus?")])
    return path, model, tokens


def test_load_run_and_plain_transformer_lens_give_identical_logits(saved_run):
    path, model, tokens = saved_run
    with torch.no_grad():
        expected = model(tokens)
        run = load_run(path)
        assert torch.equal(run.model(tokens), expected)
        cfg = json.loads((path / "config.json").read_text())
        plain = HookedTransformer(HookedTransformerConfig(**cfg["model"]))
        plain.load_state_dict(safetensors.torch.load_file(path / "model.safetensors"))
        assert torch.equal(plain(tokens), expected)
    assert run.metrics == {"accuracy": 0.5}
    assert run.tokenizer == task_tokenizer("prosqa")


def test_a_fresh_model_differs_so_the_weights_really_were_loaded(saved_run):
    path, model, tokens = saved_run
    cfg = json.loads((path / "config.json").read_text())
    other = build_model({**cfg["model"], "seed": 8})
    with torch.no_grad():
        assert not torch.allclose(other(tokens), model(tokens))


def test_a_bit_flip_in_the_weights_is_caught_by_the_manifest(saved_run):
    path, _, _ = saved_run
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-10] ^= 0x01
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(UserError, match="model.safetensors: checksum mismatch"):
        load_run(path)


def test_truncated_weights_and_mismatched_tokenizer_are_clear_errors(saved_run, tmp_path):
    path, _, _ = saved_run
    weights = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(UserError, match="not a valid safetensors file"):
        load_run(path, verify=False)
    (path / "model.safetensors").write_bytes(weights)
    Tokenizer(["just", "three", "words"]).save(path / "tokenizer.json")
    with pytest.raises(UserError, match="tokenizer has 16 tokens but the model's d_vocab"):
        load_run(path, verify=False)


def test_weights_of_another_shape_are_named(saved_run):
    path, _, _ = saved_run
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["d_mlp"] = 128
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="blocks.0.mlp.W_in has shape"):
        load_run(path, verify=False)


def test_presets_span_a_tenth_to_ten_million_parameters_in_order():
    counts = {p: count_parameters(build_model(model_config(p, 80, 512))) for p in PRESETS}
    ladder = [counts[p] for p in ("nano", "micro", "mini", "small")]
    assert list(PRESETS)[:4] == ["nano", "micro", "mini", "small"]
    assert ladder == sorted(ladder)
    assert 0.05e6 < ladder[0] < 0.2e6 and 5e6 < ladder[-1] < 15e6
    # the head-width variants are micro with fewer, wider heads: the same parameters
    assert counts["micro-h2"] == counts["micro-h1"] == counts["micro"]
    assert [PRESETS[p].n_heads for p in ("micro", "micro-h2", "micro-h1")] == [4, 2, 1]
