"""Captured states are the model's states: checked against independent forward passes."""

import json

import numpy as np
import pytest
import torch

from tests.capture.conftest import make_run
from workbench.capture import CaptureConfig, capture
from workbench.runs import load_run
from workbench.store import open_store
from workbench.tokenizer import BLOCK_CLOSE, BLOCK_OPEN, READOUT


def resid_names(n_layers):
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(n_layers)]


def stacked(cache, n_layers):
    return torch.stack([cache[n][0] for n in resid_names(n_layers)], dim=1)  # [pos, L+1, d]


def rim_hooks(model, tokens, tok):
    """The block-causal mask and readout positions, rebuilt from the token ids alone."""
    level, readout, pos, closes, block = [], [], [], [], 0
    for i, t in enumerate(tokens):
        word = tok.vocab[t]
        if word == READOUT:
            k = sum(readout) + 1
            level.append(k)
            readout.append(True)
            pos.append(closes[k - 1] + 1)
            continue
        block += word == BLOCK_OPEN
        level.append(block)
        readout.append(False)
        pos.append(i)
        if word == BLOCK_CLOSE:
            closes.append(i)
    n = len(tokens)
    allowed = torch.zeros(n, n, dtype=torch.bool)
    for q in range(n):
        for k in range(q + 1):
            if readout[k] and not (readout[q] and level[q] == level[k]):
                continue
            allowed[q, k] = level[k] <= level[q]
    hooks = [(f"blocks.{i}.attn.hook_attn_scores",
              lambda s, hook: s.masked_fill(~allowed, float("-inf")))
             for i in range(model.cfg.n_layers)]
    hooks.append(("hook_pos_embed", lambda x, hook: model.W_pos[torch.tensor(pos)][None]))
    return hooks


@pytest.mark.parametrize("method", ["nocot", "cot", "pause", "rim"])
def test_states_equal_an_independent_run_with_cache(method, data_files, tmp_path):
    if method == "cot":  # a random model writes no steps: train one that does
        from tests.train.conftest import tiny_config
        from train.loop import train

        run_dir = tmp_path / "cot-run"
        data = data_files["chain"]
        train(tiny_config(data, run_dir, "cot", steps=120, batch_size=12), {})
    else:
        run_dir = make_run(tmp_path, "chain", method, data_files["chain"])
    out = tmp_path / "store"
    capture(CaptureConfig(run=str(run_dir), data=str(data_files["chain"]), out=str(out),
                          batch_size=5, quiet=True))
    store = open_store(out)
    run = load_run(run_dir)
    model, tok = run.model, run.tokenizer
    ids = {r["example_id"]: r["input_ids"] for r in store.examples}
    checked = 0
    for row in store.steps.with_format("numpy"):
        tokens = list(ids[row["example_id"]])
        if method == "rim":  # the prompt alone: decoded readouts ran in rows of their own
            n_blocks = sum(tok.vocab[t] == BLOCK_OPEN for t in tokens)
            markers = [i for i, t in enumerate(tokens) if tok.vocab[t] == READOUT]
            tokens = tokens[: markers[n_blocks - 1] + 1]  # the K readout markers end the prompt
            hooks = rim_hooks(model, tokens, tok)
        else:
            hooks = []
        with torch.no_grad(), model.hooks(fwd_hooks=hooks):
            _, cache = model.run_with_cache(torch.tensor([tokens]),
                                            names_filter=resid_names(model.cfg.n_layers))
        ref = stacked(cache, model.cfg.n_layers)[row["position"]].numpy()
        assert np.abs(row["resid"].astype(np.float32) - ref).max() <= 2e-3 * max(
            1.0, np.abs(ref).max())
        checked += 1
    expected = {"nocot": 12, "pause": 36, "rim": 72}.get(method)
    assert checked == expected if expected else checked > 0


def test_coconut_thoughts_equal_a_full_forward_with_thoughts_spliced_in(data_files, tmp_path):
    from tests.methods.test_coconut_rollout import reference_logits

    run_dir = make_run(tmp_path, "chain", "coconut", data_files["chain"])
    out = tmp_path / "store"
    capture(CaptureConfig(run=str(run_dir), data=str(data_files["chain"]), out=str(out),
                          batch_size=4, quiet=True))
    store = open_store(out)
    model = load_run(run_dir).model
    tok = load_run(run_dir).tokenizer
    by_example: dict[str, list] = {}
    for row in store.steps.with_format("numpy"):
        by_example.setdefault(row["example_id"], []).append(row)
    for ex in store.examples:
        tokens = list(ex["input_ids"])
        flags = [tok.vocab[t] == "<latent>" for t in tokens]
        grabbed: dict = {}
        names = resid_names(model.cfg.n_layers)
        hooks = [(n, lambda x, hook, n=n, g=grabbed: g.__setitem__(n, x.detach()))
                 for n in names]
        eot = tokens.index(tok.id("<eot>"))
        with torch.no_grad(), model.hooks(fwd_hooks=hooks):
            reference_logits(model, tokens[: eot + 1], flags[: eot + 1])
        ref = torch.stack([grabbed[n][0] for n in names], dim=1)
        rows = by_example[ex["example_id"]]
        assert [r["kind"] for r in rows] == ["thought"] * 4
        for r in rows:
            assert flags[r["position"]]
            got = r["resid"].astype(np.float32)
            want = ref[r["position"]].numpy()
            assert np.abs(got - want).max() <= 2e-3 * max(1.0, np.abs(want).max())


def test_labels_line_up_with_proof_steps(data_files, tmp_path):
    for task, method in (("chain", "rim"), ("prosqa", "rim"), ("chain", "coconut")):
        run_dir = make_run(tmp_path / task / method, task, method, data_files[task])
        out = tmp_path / task / method / "store"
        capture(CaptureConfig(run=str(run_dir), data=str(data_files[task]), out=str(out),
                              quiet=True))
        store = open_store(out)
        proofs = {json.loads(line)["id"]: json.loads(line)["proof"]
                  for line in data_files[task].read_text().splitlines()}
        seen = 0
        for row in store.steps:
            proof = proofs[row["example_id"]]
            t = row["step"] // 2 if method == "coconut" else row["step"]
            if t >= len(proof):
                assert row.get("y_proof_var", row.get("y_proof_node")) is None
                continue
            if task == "chain":
                assert (row["y_proof_var"], row["y_proof_value"]) == (
                    proof[t]["var"], proof[t]["value"])
            else:
                assert row["y_proof_node"] == proof[t]["node"]
            seen += 1
        assert seen >= 12
