"""PCA/UMAP projections: planted block-specific states are found, the chance level is a shuffle,
rows line up with the store, and a second call reads the cache instead of refitting."""

import json
import shutil

import datasets
import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from analyses import projections
from analyses.projections import ProjectionsConfig, figure, run
from workbench.errors import UserError
from workbench.store import write_store

N_EXAMPLES, N_STEPS, D = 40, 4, 16


def planted_store(path, seed=0):
    """Block states: at the last layer each step sits around its own centre (block-specific);
    at layer 1 pure noise. Readout rows sit far away, so projecting them by mistake shows."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.eye(D)[:N_STEPS]
    cols = {k: [] for k in ("example_id", "step", "kind", "position", "y_proof_node",
                            "y_proof_depth", "y_answer_correct")}
    resid = []
    for e in range(N_EXAMPLES):
        for kind in ("block", "readout"):
            for t in range(N_STEPS):
                state = rng.normal(size=(3, D))
                if kind == "block":
                    state[2] += centres[t]
                else:
                    state += 50.0
                resid.append(state)
                cols["example_id"].append(f"ex{e:02d}")
                cols["step"].append(t)
                cols["kind"].append(kind)
                cols["position"].append(10 + 4 * t + (kind == "readout"))
                cols["y_proof_node"].append(None if t == 3 else f"node{(e + t) % 5}")
                cols["y_proof_depth"].append(t + 1)
                cols["y_answer_correct"].append(bool(e % 2))
    cols["resid"] = np.stack(resid)
    ids = [f"ex{e:02d}" for e in range(N_EXAMPLES)]
    write_store(path, cols, {"example_id": ids, "question": ["q"] * N_EXAMPLES},
                method="rim", task="prosqa", checkpoint_sha256="0" * 64)
    return path


@pytest.fixture(scope="module")
def proj_store(tmp_path_factory):
    return planted_store(tmp_path_factory.mktemp("proj") / "store")


def test_pca_finds_planted_block_specificity_against_a_shuffled_chance(proj_store, tmp_path):
    res = run(ProjectionsConfig(store=str(proj_store), out=str(tmp_path / "last")))
    assert (res["kind"], res["layer"], res["n"], res["n_examples"]) == ("block", 2, 160, 40)
    spec = res["block_specificity"]
    for space in ("projected", "raw"):
        assert spec[space]["score"] > 0.5, spec
        assert abs(spec[space]["chance"]) < 0.1, spec
        assert spec[space]["n"] == 160 and spec[space]["n_labels"] == N_STEPS
    noise = run(ProjectionsConfig(store=str(proj_store), out=str(tmp_path / "l1"), layer=1))
    for space in ("projected", "raw"):
        s = noise["block_specificity"][space]
        assert abs(s["score"] - s["chance"]) < 0.1, "no planted structure at layer 1"
    saved = json.loads((tmp_path / "last" / "projections.json").read_text())
    assert saved["block_specificity"] == spec
    assert sum(saved["explained_variance_ratio"]) > 0.5  # the 3 centre directions dominate


def test_silhouette_subsample_is_seeded_and_bounded():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 400)
    points = rng.normal(size=(1200, 2)) + 5 * labels[:, None]
    a = projections.silhouettes(points, labels, sample=300, shuffles=2, seed=3)
    b = projections.silhouettes(points, labels, sample=300, shuffles=2, seed=3)
    assert a == b and a["n"] == 300 and a["score"] > 0.6 and abs(a["chance"]) < 0.05
    assert projections.silhouettes(points, np.zeros(1200), 300, 2, 0) is None


def test_parquet_rows_are_the_stores_rows_projected_like_an_independent_pca(proj_store,
                                                                          tmp_path):
    run(ProjectionsConfig(store=str(proj_store), out=str(tmp_path), n_components=3))
    df = pd.read_parquet(tmp_path / "projections.parquet")
    assert {"x", "y", "z", "example_id", "step", "kind", "position", "y_proof_node",
            "y_proof_depth", "y_answer_correct"} <= set(df.columns)
    steps = datasets.load_from_disk(str(proj_store / "steps"))
    keep = np.flatnonzero(np.array(steps["kind"]) == "block")
    states = np.stack([np.asarray(steps[int(i)]["resid"], np.float32)[2] for i in keep])
    assert list(df["example_id"]) == list(np.array(steps["example_id"])[keep])
    assert list(df["step"]) == list(np.array(steps["step"])[keep])
    assert df["y_proof_node"].isna().sum() == N_EXAMPLES  # step 3 has no proof node
    ref = PCA(n_components=3).fit_transform(states)
    for i, axis in enumerate("xyz"):
        sign = np.sign(np.dot(ref[:, i], df[axis]))
        assert np.allclose(sign * df[axis], ref[:, i], atol=1e-3)


def test_second_call_reads_the_cache_and_a_new_parameter_or_store_refits(proj_store, tmp_path,
                                                                       monkeypatch):
    store = tmp_path / "store"
    shutil.copytree(proj_store, store, ignore=shutil.ignore_patterns(".cache"))
    real, calls = projections.fit_projection, []

    def fit_once(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) > 1:
            raise AssertionError("refitted although the cache holds this projection")
        return real(*args, **kwargs)

    monkeypatch.setattr(projections, "fit_projection", fit_once)
    cfg = ProjectionsConfig(store=str(store), out=str(tmp_path / "a"))
    first = run(cfg)
    second = run(ProjectionsConfig(store=str(store), out=str(tmp_path / "b")))
    assert (first["cache"], second["cache"], len(calls)) == ("miss", "hit", 1)
    assert len(list((store / ".cache" / "projections").glob("*.npz"))) == 1
    a = pd.read_parquet(tmp_path / "a" / "projections.parquet")
    b = pd.read_parquet(tmp_path / "b" / "projections.parquet")
    assert a.equals(b)
    with pytest.raises(AssertionError, match="refitted"):
        run(ProjectionsConfig(store=str(store), out=str(tmp_path / "c"), layer=1))
    manifest = json.loads((store / "manifest.json").read_text())
    (store / "manifest.json").write_text(json.dumps({**manifest, "dataset_sha256": "f" * 64}))
    with pytest.raises(AssertionError, match="refitted"):
        run(cfg)  # same parameters, another store identity


def test_figure_draws_example_trajectories_in_step_order(proj_store, tmp_path):
    res = run(ProjectionsConfig(store=str(proj_store), out=str(tmp_path), trajectories=3,
                                color="y_proof_node"))
    df = pd.read_parquet(res["files"]["parquet"]).sample(frac=1.0, random_state=0)  # unordered
    fig = figure(df, "step", "t", ["a", "b"], trajectories=3, seed=0)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    points = [t for t in fig.data if t.mode == "markers"]
    assert [t.name for t in points] == [f"step = {s}" for s in range(N_STEPS)]
    assert len(lines) == 3 and sum(t.showlegend for t in lines) == 1
    for line in lines:
        ex = line.customdata[0][0]
        path = df[df["example_id"] == ex].sort_values("step")
        assert np.allclose(line.x, path["x"]) and [int(c[1]) for c in line.customdata] == [
            0, 1, 2, 3]
    assert "example_id=%{customdata[0]}" in points[0].hovertemplate
    html = (tmp_path / "projections.html").read_text()
    assert "PCA of rim block states at layer 2" in html and "y_proof_node = none" in html


def test_bad_settings_are_one_line_user_errors(proj_store, tmp_path):
    for kwargs, message in [({"layer": 5}, "layer 5 outside 0..2"),
                            ({"kind": "thought"}, "no rows of kind 'thought'"),
                            ({"color": "y_nope"}, "unknown colour column 'y_nope'"),
                            ({"method": "tsne"}, "unknown method 'tsne'"),
                            ({"n_components": 4}, "--n-components.*less than or equal to 3")]:
        with pytest.raises(UserError, match=message):
            run(ProjectionsConfig(store=str(proj_store), out=str(tmp_path), **kwargs))
    assert not (tmp_path / "projections.json").exists()


@pytest.mark.slow
def test_umap_is_seeded_and_separates_planted_steps(proj_store, tmp_path):
    cfg = dict(store=str(proj_store), method="umap", n_neighbors=10, cache=False, seed=2)
    a = run(ProjectionsConfig(out=str(tmp_path / "a"), **cfg))
    b = run(ProjectionsConfig(out=str(tmp_path / "b"), **cfg))
    assert a["cache"] == b["cache"] == "off"
    assert a["block_specificity"] == b["block_specificity"]
    pa = pd.read_parquet(tmp_path / "a" / "projections.parquet")
    pb = pd.read_parquet(tmp_path / "b" / "projections.parquet")
    assert np.array_equal(pa[["x", "y"]].to_numpy(), pb[["x", "y"]].to_numpy())
    assert a["block_specificity"]["projected"]["score"] > 0.5
    assert a["params"]["n_neighbors"] == 10 and a["explained_variance_ratio"] is None
