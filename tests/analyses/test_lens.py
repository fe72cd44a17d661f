"""Logit lens: equals the model's own head at the last layer, ranks planted tokens correctly,
rebuilds ProsQA's BFS frontier, and refuses a store from another checkpoint."""

import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import torch

from analyses.lens import LensConfig, decode_layer, lens_logits, proof_token_id, run
from tests.capture.conftest import make_run
from workbench.capture import CaptureConfig, capture
from workbench.errors import UserError
from workbench.io import sha256_file
from workbench.runs import load_run
from workbench.store import open_store, write_store
from workbench.tasks import TASKS, task_tokenizer
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import load_examples, write_jsonl
from workbench.tasks.prosqa import frontier, parse_question

QUESTION = ("Every wumpus is a zumpus. Tom is a wumpus. Sam is a lempus. Every yumpus is a "
            "zumpus. Tom is a yumpus. Every zumpus is a rompus. Every lempus is a gorpus. "
            "Every yumpus is a numpus. Is Tom a rompus or gorpus?")


@pytest.fixture(scope="module")
def lens_capture(tmp_path_factory):
    root = tmp_path_factory.mktemp("lens")
    data = root / "prosqa.jsonl"
    write_jsonl(data, generate_split(TASKS["prosqa"], "tiny", "test", 6, seed=1))
    run_dir = make_run(root, "prosqa", "rim", data)
    store = root / "store"
    capture(CaptureConfig(run=str(run_dir), data=str(data), out=str(store), quiet=True))
    return run_dir, store, data


def test_lens_at_the_last_layer_equals_the_models_logits(lens_capture):
    run_dir, store, _ = lens_capture
    model = load_run(run_dir).model
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a non-trivial final LayerNorm and unembedding bias
        model.ln_final.w.copy_(1 + 0.5 * torch.randn(model.ln_final.w.shape, generator=gen))
        model.ln_final.b.copy_(0.3 * torch.randn(model.ln_final.b.shape, generator=gen))
        model.unembed.b_U.copy_(0.3 * torch.randn(model.unembed.b_U.shape, generator=gen))
        tokens = torch.tensor([open_store(store).examples[0]["input_ids"]])
        logits, cache = model.run_with_cache(tokens)
    last = cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"][0]
    assert (lens_logits(model, last) - logits[0]).abs().max() <= 1e-4
    assert (lens_logits(model, last[5]) - logits[0, 5]).abs().max() <= 1e-4  # one state
    first = cache["blocks.0.hook_resid_pre"][0]
    assert (lens_logits(model, first) - logits[0]).abs().max() > 1e-2


def test_proof_token_rank_and_probability_on_planted_states(lens_capture):
    run_dir, _, _ = lens_capture
    model = load_run(run_dir).model
    d, vocab = model.cfg.d_model, model.cfg.d_vocab
    rng = np.random.default_rng(0)
    u = rng.normal(size=d)
    u = (u - u.mean()) / np.sqrt(((u - u.mean()) ** 2).mean())  # LayerNorm leaves it as is
    w_u = 0.01 * rng.normal(size=(d, vocab))
    top, second, third = 20, 31, 7
    w_u[:, top], w_u[:, second], w_u[:, third] = 0.3 * u, 0.2 * u, 0.1 * u
    with torch.no_grad():
        model.ln_final.w.fill_(1.0)
        model.ln_final.b.zero_()
        model.unembed.W_U.copy_(torch.tensor(w_u))
        model.unembed.b_U.zero_()
    states = np.stack([u, 3 * u]).astype(np.float32)  # the lens is scale-free
    logits = u @ w_u
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    for token, rank in ((top, 1), (second, 2), (third, 3)):
        sets = [{"frontier": [top, second], "reachable": [third], "unreachable": []}] * 2
        dec = decode_layer(model, states, np.array([token, token]), sets, np.zeros(2, int),
                           top_k=3, batch_size=1)
        assert list(dec["proof_rank"]) == [rank, rank]
        assert np.allclose(dec["proof_prob"], expected[token], atol=1e-5)
        assert list(dec["top_ids"][0]) == [top, second, third]
        assert dec["frontier_rank"][0] == 1.5 and dec["reachable_rank"][0] == 3
        assert np.isnan(dec["unreachable_rank"][0])
    dec = decode_layer(model, states, np.array([-1, top]), None, np.zeros(2, int), 5, 64)
    assert np.isnan(dec["proof_rank"][0]) and dec["proof_rank"][1] == 1


def test_proof_token_follows_the_tasks_proof_content():
    prosqa, chain = task_tokenizer("prosqa"), task_tokenizer("chain")
    assert proof_token_id({"y_proof_node": "wumpus"}, prosqa) == prosqa.id("wumpus")
    assert proof_token_id({"y_proof_value": 7, "y_proof_var": "c"}, chain) == chain.id("7")
    assert proof_token_id({"y_proof_value": 7.0}, chain) == chain.id("7")
    assert proof_token_id({"y_proof_node": None, "y_proof_value": True}, prosqa) is None
    assert proof_token_id({"y_proof_partial": 1234}, chain) is None


def test_frontier_sets_of_a_hand_made_graph():
    graph = parse_question(QUESTION)
    assert graph.root == "Tom"
    assert graph.depths() == {"Tom": 0, "wumpus": 1, "yumpus": 1, "zumpus": 2, "numpus": 2,
                              "rompus": 3}
    assert frontier(QUESTION, 1) == {"frontier": {"wumpus", "yumpus"},
                                     "reachable": {"zumpus", "numpus", "rompus"},
                                     "unreachable": {"lempus", "gorpus"}}
    assert frontier(QUESTION, 2)["frontier"] == {"zumpus", "numpus"}
    assert frontier(QUESTION, 3)["frontier"] == {"rompus"}
    assert frontier(QUESTION, 4)["frontier"] == set()
    assert TASKS["prosqa"].frontier is frontier
    with pytest.raises(UserError, match="Is X a A or B"):
        parse_question("Tom is a wumpus.")


def test_a_store_from_another_checkpoint_is_refused(lens_capture, tmp_path):
    _, store, data = lens_capture
    other = make_run(tmp_path, "prosqa", "rim", data, seed=1)
    with pytest.raises(UserError, match="store was captured from another checkpoint") as e:
        run(LensConfig(run=str(other), store=str(store), out=str(tmp_path / "out")))
    assert e.value.file == str(store / "manifest.json")
    assert not (tmp_path / "out").exists()


def test_lens_of_a_captured_store_matches_a_direct_decoding(lens_capture, tmp_path):
    run_dir, store, _ = lens_capture
    res = run(LensConfig(run=str(run_dir), store=str(store), out=str(tmp_path), n_boot=50))
    loaded = load_run(run_dir)
    n_layers = loaded.model.cfg.n_layers
    assert res["frontier"] and res["kinds"] == ["block", "readout"]
    assert len(res["cells"]) == (n_layers + 1) * 2 * 3  # layers × kinds × 3 blocks
    steps = datasets.load_from_disk(str(store / "steps"))
    rows = [r for r in steps if r["kind"] == "block" and r["step"] == 0]
    w = loaded.model.state_dict()
    hits = []
    for r in rows:  # LayerNorm and unembedding by hand
        h = torch.tensor(np.asarray(r["resid"], np.float32)[n_layers])
        x = (h - h.mean()) / ((h - h.mean()).pow(2).mean() + 1e-5).sqrt()
        logits = (x * w["ln_final.w"] + w["ln_final.b"]) @ w["unembed.W_U"] + w["unembed.b_U"]
        hits.append(int(logits.argmax()) == loaded.tokenizer.id(r["y_proof_node"]))
    cell = next(c for c in res["cells"]
                if (c["layer"], c["kind"], c["step"]) == (n_layers, "block", 0))
    assert cell["n"] == len(rows) == 6
    assert cell["proof_token"]["top1_rate"]["mean"] == pytest.approx(np.mean(hits))
    assert json.loads((tmp_path / "lens.json").read_text())["cells"][0] == res["cells"][0]
    table = pd.read_parquet(tmp_path / "lens.parquet")
    assert len(table) == len(steps) * (n_layers + 1)
    assert all(len(t) == 5 for t in table["top_tokens"])
    assert (tmp_path / "lens.html").exists() and (tmp_path / "lens_frontier.html").exists()


def test_planted_thoughts_decode_their_bfs_frontier(lens_capture, tmp_path):
    """Coconut-style store, two thoughts per proof step: the last layer's state of thought s is
    the frontier of step s // 2 (the proof node weighted double), the other layers are noise."""
    run_dir, _, data = lens_capture
    loaded = load_run(run_dir)
    model, tok = loaded.model, loaded.tokenizer
    w_u = model.unembed.W_U.detach().numpy()
    w_u = w_u - w_u.mean(0)
    examples = load_examples(data)
    rng = np.random.default_rng(0)
    cols = {k: [] for k in ("example_id", "step", "kind", "position", "y_proof_node")}
    resid = []
    for ex in examples:
        for s in range(4):
            t = s // 2
            state = rng.normal(size=(model.cfg.n_layers + 1, model.cfg.d_model))
            node = ex["proof"][t]["node"] if t < len(ex["proof"]) else None
            front = frontier(ex["question"], t + 1)["frontier"]
            planted = sum(w_u[:, tok.id(n)] for n in front) + (
                w_u[:, tok.id(node)] if node else 0)
            state[-1] = 4 * planted / np.linalg.norm(planted)
            resid.append(state)
            for k, v in (("example_id", ex["id"]), ("step", s), ("kind", "thought"),
                         ("position", 30 + s), ("y_proof_node", node)):
                cols[k].append(v)
    cols["resid"] = np.stack(resid)
    write_store(tmp_path / "store", cols,
                {"example_id": [e["id"] for e in examples],
                 "question": [e["question"] for e in examples]},
                method="coconut", task="prosqa", method_options={"thoughts_per_step": 2},
                checkpoint_sha256=sha256_file(run_dir / "model.safetensors"))
    res = run(LensConfig(run=str(run_dir), store=str(tmp_path / "store"),
                         out=str(tmp_path / "out"), n_boot=50))
    last = {c["step"]: c for c in res["cells"] if c["layer"] == model.cfg.n_layers}
    for s in range(4):
        f = last[s]["frontier"]
        assert f["frontier"]["mean_rank"]["mean"] < f["reachable"]["mean_rank"]["mean"], s
        assert f["rank_gap"]["ci"][0] > 0, (s, f["rank_gap"])
        assert f["frontier"]["mean_prob"]["mean"] > f["unreachable"]["mean_prob"]["mean"]
    assert last[0]["proof_token"]["top1_rate"]["mean"] == 1.0
    assert last[1]["proof_token"]["top1_rate"]["mean"] == 1.0
    noise = {c["step"]: c for c in res["cells"] if c["layer"] == 0}
    assert noise[0]["proof_token"]["top1_rate"]["mean"] < 0.5


def test_the_run_comes_from_the_stores_manifest(lens_capture, tmp_path, capsys):
    """`lwb analyze lens STORE --out DIR`, as the README writes it: the store records its run,
    so --run is not needed; a recorded run that is gone is a one-line error naming the
    manifest and the field."""
    import shutil

    from lwb.cli import main

    run_dir, store, data = lens_capture
    assert main(["analyze", "lens", str(store), "--out", str(tmp_path / "out"),
                 "--n-boot", "20"]) == 0
    written = json.loads((tmp_path / "out" / "lens.json").read_text())
    assert Path(written["run"]).resolve() == Path(run_dir).resolve()
    moved = tmp_path / "moved"
    shutil.copytree(store, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["run"] = str(tmp_path / "gone")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["analyze", "lens", str(moved), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "manifest.json" in err[0] and "pass --run" in err[0], err
    assert not (tmp_path / "out2").exists()
