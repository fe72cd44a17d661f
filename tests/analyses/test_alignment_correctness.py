"""The alignment matrix finds a planted diagonal; the correctness probe finds planted
correctness and uses it to pick answers."""

import json

import numpy as np

from analyses.alignment import AlignmentConfig
from analyses.alignment import run as align
from analyses.correctness import CorrectnessConfig
from analyses.correctness import run as correctness
from workbench.store import write_store

N, T, D = 240, 3, 12


def store_with(path, signal, extra_cols, proofs, seed=0):
    rng = np.random.default_rng(seed)
    resid = rng.normal(size=(N, T, 3, D))
    resid[:, :, 1] += signal
    eids = [f"e{i}" for i in range(N)]
    steps = {"example_id": np.repeat(eids, T).tolist(), "step": np.tile(np.arange(T), N).tolist(),
             "kind": ["block"] * (N * T), "position": np.tile(np.arange(T), N).tolist(),
             "resid": resid.reshape(N * T, 3, D), **extra_cols}
    examples = {"example_id": eids, "proof": [json.dumps(p) for p in proofs],
                "input_ids": [[0]] * N}
    return write_store(path, steps, examples)


def test_a_planted_diagonal_is_found_at_its_layer(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.integers(0, 3, (N, T))
    directions = rng.normal(size=(3, D)) * 3
    signal = directions[values]  # latent step t holds proof step t's value, at layer 1
    proofs = [[{"value": int(v)} for v in row] for row in values]
    store_with(tmp_path / "s", signal, {}, proofs)
    result = align(AlignmentConfig(store=str(tmp_path / "s"), out=str(tmp_path / "o"),
                                   n_boot=50, n_jobs=1))
    assert result["key"] == "value" and result["best_layer"] == 1
    cells = result["matrices"]["1"]
    for t in range(T):
        for s in range(T):
            if t == s:
                assert cells[t][s]["value"] > 0.9
            else:
                assert cells[t][s]["value"] < 1 / 3 + 0.1
    assert result["diagonality"] > 0.5 and result["diagonality_ci"][0] > 0.4
    assert abs(result["diagonality_per_layer"][0]) < 0.1, "no diagonal where nothing is planted"


def test_the_correctness_probe_finds_planted_correctness_and_picks_right_answers(tmp_path):
    rng = np.random.default_rng(2)
    right = rng.random((N, T)) < 0.4
    signal = np.where(right[..., None], 2.0, -2.0) * np.ones(D)
    cols = {"y_readout_correct": right.reshape(-1).tolist(),
            "y_readout_prediction": ["x"] * (N * T)}
    store_with(tmp_path / "s", signal, cols, [[]] * N)
    result = correctness(CorrectnessConfig(store=str(tmp_path / "s"), out=str(tmp_path / "o"),
                                           n_boot=50, n_jobs=1))
    best = [r for r in result["records"] if r["layer"] == 1]
    assert result["best_layer"] == 1 and all(r["value"] > 0.95 for r in best)
    # Nothing above chance where nothing is planted (out-of-fold AUROC under the null can dip
    # below 0.5, a known bias of cross-validation, so only the upper side is asserted).
    assert all(r["value"] < 0.62 for r in result["records"] if r["layer"] != 1)
    sel = result["selection"]
    assert abs(sel["final_block"]["accuracy"] - right[:, -1].mean()) < 1e-12
    assert abs(sel["any_block"]["accuracy"] - right.any(1).mean()) < 1e-12
    assert sel["probe_selected"]["accuracy"] >= sel["any_block"]["accuracy"] - 0.02
