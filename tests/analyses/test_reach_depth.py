"""Depth analyses on ``reach`` stores, through the code real stores go through: the alignment
matrix recovers a planted node-at-depth signal (and finds nothing in shuffled states), and the
lens and the probe readout pick out the BFS frontier that planted states hold."""

import json

import numpy as np
import pytest

from analyses.alignment import AlignmentConfig
from analyses.alignment import run as alignment
from analyses.lens import LensConfig
from analyses.lens import run as lens
from tests.capture.conftest import make_run
from workbench.io import sha256_file
from workbench.runs import load_run
from workbench.store import write_store
from workbench.tasks import TASKS
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import load_examples, write_jsonl
from workbench.tasks.reach import ReachConfig, frontier

LATENT_STEPS = 3


def examples_of(config: ReachConfig, n: int, seed: int = 0) -> list[dict]:
    return list(generate_split(TASKS["reach"], "tiny", "test", n, seed, config=config))


def node_store(path, examples, states_of, shuffle: bool = False, seed: int = 0):
    """A coconut-shaped store (one thought per proof step): thought t's state at layer 1 is
    ``states_of(example, t)``, layer 0 is noise; ``shuffle`` permutes each step's states over
    the examples (the control: the signal is there, tied to the wrong examples)."""
    rng = np.random.default_rng(seed)
    d = len(states_of(examples[0], 0))
    cols = {k: [] for k in ("example_id", "step", "kind", "position", "y_proof_node")}
    resid = []
    for ex in examples:
        for t in range(LATENT_STEPS):
            resid.append(np.stack([rng.normal(size=d), states_of(ex, t)]))
            node = ex["proof"][t]["node"] if t < len(ex["proof"]) else None
            for k, v in (("example_id", ex["id"]), ("step", t), ("kind", "thought"),
                         ("position", 20 + t), ("y_proof_node", node)):
                cols[k].append(v)
    resid = np.stack(resid)
    if shuffle:
        steps = np.asarray(cols["step"])
        for t in range(LATENT_STEPS):
            at = np.flatnonzero(steps == t)
            resid[at] = resid[rng.permutation(at)]
    cols["resid"] = resid
    return write_store(path, cols, {"example_id": [e["id"] for e in examples],
                                    "question": [e["question"] for e in examples],
                                    "proof": [json.dumps(e["proof"]) for e in examples]},
                       method="coconut", task="reach", method_options={"thoughts_per_step": 1})


@pytest.fixture(scope="module")
def planted_nodes():
    """Thought t holds the name of the path node at depth t+1 (a fixed random embedding per
    name plus noise); thoughts past the proof hold noise."""
    examples = examples_of(ReachConfig(min_depth=3, max_depth=4, names=16), 160)
    rng = np.random.default_rng(1)
    embed = {n: rng.normal(size=24) for n in {v for e in examples for x in e["edges"]
                                              for v in x}}

    def states_of(ex, t):
        node = ex["proof"][t]["node"] if t < len(ex["proof"]) else None
        signal = 2.0 * embed[node] if node else 0.0
        return signal + rng.normal(size=24)

    return examples, states_of


def test_alignment_recovers_the_path_node_at_each_depth(planted_nodes, tmp_path):
    examples, states_of = planted_nodes
    store = node_store(tmp_path / "store", examples, states_of)
    res = alignment(AlignmentConfig(store=str(store.path), out=str(tmp_path / "out"),
                                    folds=3, n_boot=50, n_jobs=1))
    assert res["key"] == "node" and res["kind"] == "thought"
    assert res["latent_steps"] == [0, 1, 2] and res["proof_steps"] == 3
    assert res["best_layer"] == 1
    cells = res["matrices"]["1"]
    for t in range(3):
        assert cells[t][t]["n_classes"] == 16
        assert cells[t][t]["selectivity"] > 0.6, (t, cells[t][t])
        for s in range(3):
            if s != t:
                assert abs(cells[t][s]["selectivity"]) < 0.15, (t, s, cells[t][s])
    assert res["diagonality"] > 0.6
    assert res["diagonality_ci"][0] > 0.5
    assert abs(res["diagonality_per_layer"][0]) < 0.1  # layer 0 is noise


def test_alignment_of_shuffled_states_sits_near_zero(planted_nodes, tmp_path):
    examples, states_of = planted_nodes
    store = node_store(tmp_path / "store", examples, states_of, shuffle=True)
    res = alignment(AlignmentConfig(store=str(store.path), out=str(tmp_path / "out"),
                                    folds=3, n_boot=50, n_jobs=1))
    for layer, value in res["diagonality_per_layer"].items():
        assert abs(value) < 0.1, (layer, value)
    diagonal = [res["matrices"]["1"][t][t]["selectivity"] for t in range(3)]
    assert max(abs(x) for x in diagonal) < 0.15, diagonal


def test_lens_and_probe_read_the_planted_frontier_of_reach_trees(tmp_path):
    """Thought s (two per proof step, as Coconut's c = 2) holds, at the last layer, the lens
    directions of the BFS frontier at depth s // 2 + 1 (side nodes included); the other layer
    is noise. Both readouts must rank the frontier's names above the unreachable ones."""
    data = tmp_path / "reach.jsonl"
    cfg = ReachConfig(min_depth=2, max_depth=3, shape="trees", branches=1.0, names=20)
    write_jsonl(data, examples_of(cfg, 80, seed=2))
    run_dir = make_run(tmp_path, "reach", "coconut", data)
    loaded = load_run(run_dir)
    model, tok = loaded.model, loaded.tokenizer
    w_u = model.unembed.W_U.detach().numpy()
    w_u = w_u - w_u.mean(0)
    examples = load_examples(data)
    rng = np.random.default_rng(0)
    cols = {k: [] for k in ("example_id", "step", "kind", "position", "y_proof_node")}
    resid = []
    wider = 0
    for ex in examples:
        for s in range(4):
            sets = frontier(ex["question"], s // 2 + 1)
            wider += len(sets["frontier"]) > 1
            state = rng.normal(size=(model.cfg.n_layers + 1, model.cfg.d_model))
            planted = sum(w_u[:, tok.id(n)] for n in sets["frontier"])
            state[-1] = 4 * planted / np.linalg.norm(planted) + 0.3 * state[-1]
            resid.append(state)
            t = s // 2
            node = ex["proof"][t]["node"] if t < len(ex["proof"]) else None
            for k, v in (("example_id", ex["id"]), ("step", s), ("kind", "thought"),
                         ("position", 30 + s), ("y_proof_node", node)):
                cols[k].append(v)
    assert wider > 40  # trees: frontiers of several nodes, not just the path node
    cols["resid"] = np.stack(resid)
    write_store(tmp_path / "store", cols,
                {"example_id": [e["id"] for e in examples],
                 "question": [e["question"] for e in examples],
                 "proof": [json.dumps(e["proof"]) for e in examples]},
                method="coconut", task="reach", method_options={"thoughts_per_step": 2},
                checkpoint_sha256=sha256_file(run_dir / "model.safetensors"))
    res = lens(LensConfig(run=str(run_dir), store=str(tmp_path / "store"),
                          out=str(tmp_path / "out"), n_boot=50))
    assert res["frontier"] and res["task"] == "reach" and res["probe_kind"] == "thought"
    last = {c["step"]: c for c in res["cells"] if c["layer"] == model.cfg.n_layers}
    noise = {c["step"]: c for c in res["cells"] if c["layer"] == 0}
    for s in range(4):
        for source in ("frontier", "probe_frontier"):
            f = last[s][source]
            assert f["frontier"]["mean_rank"]["mean"] < f["unreachable"]["mean_rank"]["mean"]
            assert f["rank_gap"]["ci"][0] > 0, (s, source, f["rank_gap"])
        probe = last[s]["probe_frontier"]
        assert probe["n_classes"] == 20
        assert probe["frontier"]["mean_rank"]["mean"] < 0.5 * probe["chance_rank"]
        gap = noise[s]["probe_frontier"]["rank_gap"]["ci"]
        assert gap[0] < 0 < gap[1] or abs(noise[s]["probe_frontier"]["rank_gap"]["mean"]) < 1
    html = (tmp_path / "out" / "lens_frontier.html").read_text()
    assert "reach thought states" in html and "ProsQA" not in html
    assert "probe readout" in html
