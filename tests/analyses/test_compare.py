"""Run comparisons: the table is the runs' metrics; the scaling fit recovers a planted slope."""

import json
import math

import numpy as np
import pytest

from analyses.compare import CompareConfig, clipped_logit, fit_line, run, scaling_fits
from workbench.errors import UserError


def fake_run(root, name, *, method="rim", task="chain", seed=0, size="nano", params=1000,
             acc=0.5, n=200, tokens=1.0, ttft=5.0, lr=None):
    path = root / name
    path.mkdir(parents=True)
    config = {"model": {}, "task": {"name": task, "preset": "demo"},
              "method": {"name": method}, "train": {"seed": seed, "size": size, "lr": lr}}
    metrics = {"parameters": params, "train": {"seconds": 10.0},
               "test": {"n": n, "accuracy": acc, "mean_generated_tokens": tokens,
                        "mean_latent_steps": 2.0, "ttft_ms": ttft}}
    (path / "config.json").write_text(json.dumps(config))
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_rows_are_the_runs_metrics_and_ttft_is_relative_to_nocot(tmp_path):
    specs = [("nocot", 0.40, 1.0, 4.0), ("cot", 0.90, 26.0, 100.0), ("rim", 0.80, 1.0, 5.0)]
    runs = [fake_run(tmp_path, f"{m}-s0", method=m, acc=a, tokens=t, ttft=f, params=123)
            for m, a, t, f in specs]
    result = run(CompareConfig(runs=[str(r) for r in runs], out=str(tmp_path / "out"),
                               n_boot=50))
    for r, (m, a, t, f) in zip(result["rows"], specs):
        metrics = json.loads((tmp_path / f"{m}-s0" / "metrics.json").read_text())
        assert r["method"] == m and r["task"] == "chain/demo"
        assert r["accuracy"] == metrics["test"]["accuracy"] == a
        assert r["mean_generated_tokens"] == t and r["ttft_ms"] == f
        assert r["parameters"] == metrics["parameters"] and r["n"] == 200
    eff = {e["method"]: e for e in result["efficiency"]}
    assert [e["method"] for e in result["efficiency"]] == ["nocot", "cot", "rim"]
    assert eff["cot"]["ttft_vs_nocot"] == pytest.approx(25.0)
    assert eff["rim"]["ttft_vs_nocot"] == pytest.approx(1.25)
    assert result["fits"][0]["slope"] is None  # one size: no slope
    saved = json.loads((tmp_path / "out" / "compare.json").read_text(),
                       parse_constant=lambda c: pytest.fail(f"{c} in compare.json"))
    assert saved["rows"] == result["rows"]
    html = (tmp_path / "out" / "compare_efficiency.html").read_text()
    assert "time to first answer token" in html and "generated tokens" in html
    assert (tmp_path / "out" / "compare_scaling.html").exists()


def test_scaling_slope_recovers_a_planted_relation(tmp_path):
    a, b = -4.0, 0.5
    rng = np.random.default_rng(0)
    runs = []
    for method, slope in (("rim", b), ("coconut", 2 * b)):
        for seed in range(3):
            for params in (1e4, 3e4, 1e5, 3e5, 1e6):
                acc = sigmoid(a + slope * math.log(params) + rng.normal(0, 0.01))
                runs.append(fake_run(tmp_path, f"{method}-{int(params)}-s{seed}", method=method,
                                     seed=seed, params=int(params), acc=acc, n=100_000))
    result = run(CompareConfig(runs=[str(r) for r in runs], out=str(tmp_path / "out"),
                               n_boot=200))
    fits = {f["method"]: f for f in result["fits"]}
    for method, slope in (("rim", b), ("coconut", 2 * b)):
        fit = fits[method]
        assert fit["runs"] == 15 and fit["seeds"] == 3 and fit["sizes"] == 5
        assert fit["slope"] == pytest.approx(slope, abs=0.01)
        assert fit["intercept"] == pytest.approx(a, abs=0.15)
        lo, hi = fit["slope_ci"]
        assert lo <= fit["slope"] <= hi and hi - lo < 0.02
        assert fit["slope_per_doubling"] == pytest.approx(fit["slope"] * math.log(2))
    assert "RiM fit: b = 0.50" in (tmp_path / "out" / "compare_scaling.html").read_text()


def test_runs_off_their_sizes_learning_rate_stay_out_of_the_fit(tmp_path):
    # Two sizes on the planted line at their recipe's rates, plus a larger size's failed run
    # at the small size's rate: it is listed, not fitted.
    a, b = -4.0, 0.5
    runs = [fake_run(tmp_path, f"rim-{size}-s{seed}", seed=seed, size=size, params=params,
                     acc=sigmoid(a + b * math.log(params)), n=100_000, lr=lr)
            for seed in (0, 1)
            for size, params, lr in (("nano", 10_000, 2e-3), ("mini", 100_000, 1e-3))]
    bad = fake_run(tmp_path, "rim-mini-lr2e-3-s0", size="mini", params=100_000, acc=0.01,
                   lr=2e-3)
    result = run(CompareConfig(runs=[str(r) for r in [*runs, bad]],
                               out=str(tmp_path / "out"), n_boot=50))
    (fit,) = result["fits"]
    assert fit["runs"] == 4 and fit["slope"] == pytest.approx(b, abs=1e-6)
    assert result["off_recipe"] == [str(bad)]
    assert [r["lr"] for r in result["rows"]] == [2e-3, 1e-3, 2e-3, 1e-3, 2e-3]


def test_accuracies_of_0_and_1_are_clipped_before_the_logit():
    assert clipped_logit(1.0, 100) == pytest.approx(math.log(0.995 / 0.005))
    assert clipped_logit(0.0, 100) == pytest.approx(-math.log(0.995 / 0.005))
    assert clipped_logit(0.7, 100) == pytest.approx(math.log(0.7 / 0.3))
    # Perfect accuracy at every size: clipping makes the slope finite (and zero here).
    rows = [{"task": "t", "method": "m", "run": str(p), "seed": s, "parameters": p,
             "accuracy": 1.0, "n": 50} for s in (0, 1) for p in (100, 1000)]
    (fit,) = scaling_fits(rows, n_boot=20)
    assert fit["slope"] == pytest.approx(0.0, abs=1e-9)
    assert fit["slope_ci"] == pytest.approx([0.0, 0.0], abs=1e-9)


def test_ci_is_over_seeds_and_absent_with_one_seed():
    x = np.log([1e3, 1e4, 1e3, 1e4])
    assert fit_line(x[:2], np.array([0.0, 1.0]))[1] == pytest.approx(1 / math.log(10))
    one_seed = [{"task": "t", "method": "m", "run": f"r{p}", "seed": 0, "parameters": p,
                 "accuracy": acc, "n": 1000} for p, acc in ((1e3, 0.3), (1e4, 0.6))]
    assert scaling_fits(one_seed)[0]["slope_ci"] is None
    # Seed 1 learns more steeply than seed 0: the interval spans both seeds' slopes.
    two = one_seed + [{**r, "seed": 1, "run": r["run"] + "b", "accuracy": acc}
                      for r, acc in zip(one_seed, (0.2, 0.9))]
    fit = scaling_fits(two, n_boot=400)[0]
    slope0 = (clipped_logit(0.6, 1000) - clipped_logit(0.3, 1000)) / math.log(10)
    slope1 = (clipped_logit(0.9, 1000) - clipped_logit(0.2, 1000)) / math.log(10)
    assert fit["slope_ci"][0] == pytest.approx(slope0) and fit["slope_ci"][1] == pytest.approx(
        slope1)


def test_unfinished_runs_and_empty_input_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="at least one run"):
        run(CompareConfig(out=str(tmp_path / "out")))
    unfinished = fake_run(tmp_path, "r")
    (unfinished / "metrics.json").unlink()
    with pytest.raises(UserError, match="not finished"):
        run(CompareConfig(runs=[str(unfinished)], out=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_the_scaling_figure_draws_only_tasks_with_two_sizes():
    """One size (methods differing by a few embedding rows) is no scaling axis: that task gets
    no panel; a task with two sizes gets one, with its fit."""
    from analyses.compare import scaling_figure, sizes_by_task

    rows = [{"task": "one", "method": m, "run": f"one-{m}", "seed": 0, "size": "micro",
             "parameters": p, "accuracy": 0.5, "n": 100} for m, p in (("cot", 836_000),
                                                                       ("rim", 843_000))]
    rows += [{"task": "two", "method": "rim", "run": f"two-{s}", "seed": 0, "size": s,
              "parameters": p, "accuracy": a, "n": 100}
             for s, p, a in (("micro", 800_000, 0.4), ("mini", 3_200_000, 0.7))]
    assert sizes_by_task(rows) == {"one": ["micro (836,000–843,000 parameters)"],
                                   "two": ["micro (800,000 parameters)",
                                           "mini (3,200,000 parameters)"]}
    fig = scaling_figure(rows, scaling_fits(rows, n_boot=10)).to_dict()
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["two"]
    xs = {x for t in fig["data"] for x in t["x"]}
    assert 836_000 not in xs and {800_000, 3_200_000} <= xs
    assert any("fit: b = " in t["name"] for t in fig["data"])
