"""Undefined statistics (issue 17): AUROC with one class, an interval of n = 0 or 1, a mean of
nothing are None with the reason, never nan, in the JSON, the tables and RESULTS.md; and no
numpy or sklearn warning reaches the terminal."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from analyses.common import bootstrap_ci
from analyses.correctness import CorrectnessConfig, auroc_summary
from analyses.correctness import run as correctness
from workbench import stats
from workbench.store import write_store

N, T, D = 60, 3, 6


def rim_store(path, right):
    rng = np.random.default_rng(0)
    eids = [f"e{i}" for i in range(N)]
    steps = {"example_id": np.repeat(eids, T).tolist(),
             "step": np.tile(np.arange(T), N).tolist(), "kind": ["block"] * (N * T),
             "position": np.tile(np.arange(T), N).tolist(),
             "resid": rng.normal(size=(N * T, 3, D)),
             "y_readout_correct": np.asarray(right).reshape(-1).tolist(),
             "y_readout_prediction": ["x"] * (N * T)}
    examples = {"example_id": eids, "proof": ["[]"] * N, "input_ids": [[0]] * N}
    return write_store(path, steps, examples)


@pytest.mark.parametrize("every, reason", [(True, "every answer is correct (one class)"),
                                           (False, "every answer is wrong (one class)")])
def test_correctness_auroc_with_one_class_is_undefined_with_its_reason(tmp_path, every, reason):
    rim_store(tmp_path / "s", np.full((N, T), every))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = correctness(CorrectnessConfig(store=str(tmp_path / "s"),
                                               out=str(tmp_path / "o"), n_boot=20, n_jobs=1))
    noisy = [str(w.message) for w in caught
             if issubclass(w.category, RuntimeWarning | UserWarning)]
    assert not noisy, noisy  # no "Mean of empty slice" reaches the terminal
    assert result["undefined"] == reason
    assert all(v is None for v in result["mean_auroc_per_layer"].values())
    assert all(r["undefined"] == reason for r in result["records"])
    text = (tmp_path / "o" / "correctness.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    saved = json.loads(text)
    assert saved["undefined"] == reason and saved["records"][0]["value"] is None
    assert auroc_summary(saved) == (None, reason)


def test_an_old_correctness_file_with_nan_reads_as_undefined_one_class():
    old = {"records": [{"layer": 0, "block": 0, "value": None}], "best_layer": 0,
           "mean_auroc_per_layer": {"0": None},
           "selection": {"final_block": {"accuracy": 1.0, "ci": [1.0, 1.0], "n": 9}}}
    assert auroc_summary(old) == (None, "every answer is correct (one class)")
    value, reason = auroc_summary(old)
    assert stats.show(value, reason=reason) == "undefined (one class)"


def test_results_page_says_undefined_one_class_not_nan(tmp_path):
    from lwb.results import results

    run = tmp_path / "chain-rim"
    rim_store(run / "store", np.full((N, T), True))
    correctness(CorrectnessConfig(store=str(run / "store"), out=str(run / "analyses"),
                                  n_boot=20, n_jobs=1))
    (run / "config.json").write_text(json.dumps({"train": {"method": "rim", "seed": 0}}))
    text = results([], tmp_path / "docs" / "RESULTS.md", analyses=[run])
    row = next(" ".join(x.split()) for x in text.splitlines()
               if " ".join(x.split()).startswith("| chain-rim |"))
    assert row.split("|")[8].strip() == "undefined (one class)"
    assert "nan" not in row.lower()


def test_intervals_and_means_of_too_few_items_are_undefined_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any numpy warning fails the test
        assert stats.wilson(0.5, 0) == (None, None)
        assert stats.finite_mean([]) is None
        assert stats.finite_mean([float("nan"), None]) is None
        assert stats.finite_mean([1.0, float("nan"), 3.0]) == 2.0
        lo, hi = bootstrap_ci(lambda idx: float(np.mean(idx)), ["only"], n_boot=10)
        assert math.isnan(lo) and math.isnan(hi)
        lo, hi = bootstrap_ci(lambda idx: float(np.mean(np.array([]))), ["a", "b"],
                              n_boot=10)  # every resample's mean of nothing: no warning
        assert math.isnan(lo)
    assert stats.interval_reason(1, "examples") == "n = 1: one example has no interval"
    assert stats.interval_reason(0, "examples") == "no examples"
    assert stats.show(None, reason="n = 1: one example has no interval").startswith("undefined")
    assert stats.show(float("nan")) == "–" and stats.show(0.51234) == "0.512"
    assert stats.clean({"a": [float("nan"), 1.0, float("inf")]}) == {"a": [None, 1.0, None]}


def test_a_probe_cell_with_one_class_or_one_example_says_why():
    from analyses.probes import ProbeConfig, probe

    cfg = ProbeConfig(folds=2, n_boot=10)
    X = np.random.default_rng(0).normal(size=(8, 4))
    r = probe(X, np.zeros(8, dtype=int), np.arange(8), None, cfg)
    assert r["undefined"] == "one class" and math.isnan(r["value"])
    r = probe(X[:3], np.array([0, 1, 0]), np.arange(3), None, cfg)
    assert r["undefined"] == "too few items (3) for 2 folds"


def test_results_intervals_of_no_test_examples_are_undefined():
    from lwb.results import accuracy_ci, ci_text

    lo, hi = accuracy_ci([0.5], [0])
    assert ci_text(lo, hi, 0) == "undefined (no test examples)"


def test_bootstrap_mean_ci_is_the_resampling_bootstrap_of_the_mean():
    """The vectorised mean bootstrap draws the same resamples as the generic one and gives the
    same interval, with groups of unequal size (rows of one example move together)."""
    from analyses.common import bootstrap_ci, bootstrap_mean_ci

    rng = np.random.default_rng(3)
    groups = rng.integers(0, 40, 300).astype(str)  # 40 examples, 1–15 rows each
    values = rng.normal(size=300) + (groups == "7") * 5.0  # one heavy example widens the CI
    for seed in (0, 11):
        slow = bootstrap_ci(lambda ix: float(values[ix].mean()), groups, n_boot=300, seed=seed)
        fast = bootstrap_mean_ci(values, groups, n_boot=300, seed=seed)
        assert np.allclose(fast, slow, rtol=0, atol=1e-12)
    assert all(np.isnan(bootstrap_mean_ci(values[:3], ["a"] * 3)))  # one example: undefined
