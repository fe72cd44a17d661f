"""Probes find a planted signal where it is, nowhere else, and never through leakage."""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score

from analyses.probes import ProbeConfig, grid, run
from workbench.store import write_store

N, STEPS, LAYERS, D = 300, 4, 3, 16  # LAYERS + 1 residual positions


def synthetic(path, planted_layer=2, planted_step=1, fingerprint=0.0, seed=0, N=N, D=D):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, N)                    # the planted label, one per example
    noise = rng.normal(size=(N, STEPS, LAYERS + 1, D))
    direction = rng.normal(size=(3, D)) * 3.0
    noise[:, planted_step, planted_layer] += direction[y]
    noise += fingerprint * rng.normal(size=(N, 1, 1, D))  # example-specific, label-free
    example_ids = np.repeat([f"ex{i}" for i in range(N)], STEPS)
    steps = {
        "example_id": example_ids.tolist(),
        "step": np.tile(np.arange(STEPS), N).tolist(),
        "kind": ["block"] * (N * STEPS), "position": np.tile(np.arange(STEPS), N).tolist(),
        "resid": noise.reshape(N * STEPS, LAYERS + 1, D),
        "y_planted": np.repeat(y, STEPS).tolist(),
        "y_random": rng.integers(0, 2, N * STEPS).tolist(),
        "y_example": np.repeat(rng.integers(0, 2, N), STEPS).tolist(),
    }
    examples = {"example_id": [f"ex{i}" for i in range(N)],
                "input_ids": [[1, 2, 3, 4]] * N}
    return write_store(path, steps, examples)


def cfg(**kw):
    return ProbeConfig(n_boot=50, n_jobs=1, **kw)


def test_a_planted_label_is_found_at_its_cell_and_nowhere_else(tmp_path):
    store = synthetic(tmp_path / "s")
    records = grid(store, "y_planted", cfg())
    assert len(records) == (LAYERS + 1) * STEPS
    for r in records:
        if (r["layer"], r["step"]) == (2, 1):
            assert r["value"] >= 0.95 and r["ci_lo"] > 0.85
            assert r["selectivity"] > 0.5, "the control task stays near chance"
        else:
            assert r["value"] <= r["chance"] + 0.1, r
        assert r["metric"] == "balanced_accuracy" and abs(r["chance"] - 1 / 3) < 1e-9


def test_a_random_label_sits_at_chance(tmp_path):
    store = synthetic(tmp_path / "s")
    for r in grid(store, "y_random", cfg(layers=[1, 2])):
        assert r["metric"] == "auroc" and abs(r["value"] - 0.5) <= 0.05 * 2, r


def test_grouped_folds_stop_a_per_example_label_leaking_through_a_fingerprint(tmp_path):
    n, d = 100, 256  # few examples in many dimensions: a linear probe can memorise them
    store = synthetic(tmp_path / "s", fingerprint=3.0, N=n, D=d)
    pooled = grid(store, "y_example", cfg(layers=[0], pool_steps=True))
    assert len(pooled) == 1 and pooled[0]["n_items"] == n * STEPS
    # No leakage: not above chance (cross-validation under the null can dip below it).
    assert pooled[0]["value"] <= 0.58, pooled[0]
    # The same probe with ordinary folds would leak: rows of one example on both sides.
    rows = store.rows(kind="block")
    X = store.resid(0, rows)
    y = np.asarray(store.steps["y_example"])[rows]
    leaky = cross_val_score(LogisticRegression(max_iter=500), X, y,
                            cv=KFold(5, shuffle=True, random_state=0), scoring="roc_auc")
    assert leaky.mean() > 0.8, "without grouping the fingerprint gives the label away"


def test_run_writes_records_with_every_field_and_a_figure(tmp_path):
    synthetic(tmp_path / "s")
    records = run(cfg(store=str(tmp_path / "s"), out=str(tmp_path / "out"), target="y_planted",
                      layers=[2], steps=[1]))
    fields = {"layer", "step", "target", "metric", "value", "ci_lo", "ci_hi", "control",
              "selectivity", "chance", "n_items"}
    assert fields <= set(records[0])
    assert (tmp_path / "out" / "probes.json").exists()
    assert (tmp_path / "out" / "probes.html").exists()


def test_the_default_target_is_the_proof_steps_content_of_the_stores_task(tmp_path, capsys):
    """`lwb analyze probes STORE --out DIR` with no --target probes what a proof step names:
    the node on ProsQA (whose stores have no y_proof_value), the value on chain."""
    import json

    from lwb.cli import main
    from tests.capture.conftest import make_run
    from workbench.capture import CaptureConfig, capture
    from workbench.tasks import TASKS
    from workbench.tasks.base import generate_split
    from workbench.tasks.loaders import write_jsonl

    for task, expected in (("prosqa", "y_proof_node"), ("chain", "y_proof_value")):
        data = tmp_path / f"{task}.jsonl"
        write_jsonl(data, generate_split(TASKS[task], "tiny", "test", 12, seed=1))
        run_dir = make_run(tmp_path / task, task, "rim", data)
        store = tmp_path / f"{task}-store"
        capture(CaptureConfig(run=str(run_dir), data=str(data), out=str(store), quiet=True))
        out = tmp_path / f"{task}-probes"
        assert main(["analyze", "probes", str(store), "--out", str(out), "--folds", "2",
                     "--n-boot", "10", "--n-jobs", "1"]) == 0
        records = json.loads((out / "probes.json").read_text())
        assert {r["target"] for r in records} == {expected}
        meta = json.loads((out / "probes.meta.json").read_text())
        assert meta["config"]["target"] == expected
