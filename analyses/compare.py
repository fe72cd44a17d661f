"""Comparisons across finished runs: efficiency (accuracy vs cost) and scaling (accuracy vs size).

Input: run directories with ``config.json`` and ``metrics.json`` (one row each, read by
:func:`run_row`, the table of ``lwb compare``). Outputs under ``out``:

* ``compare.json`` — the rows, a per (task, method) efficiency summary (means over runs of
  accuracy, generated tokens, ``ttft_ms``, and ``ttft_ms`` relative to no-CoT on the same task),
  and the scaling fits.
* ``compare_efficiency.html`` — accuracy vs time to first answer token (log x) and vs generated
  tokens, one row of panels per task, colour = method.
* ``compare_scaling.html`` — accuracy vs parameters (log x), one panel per task, with each
  method's fitted curve.

**Scaling fit.** Per (task, method), ordinary least squares of ``logit(accuracy)`` on
``ln(parameters)``: ``logit(acc) = a + b·ln(params)``; ``b`` is the change in log-odds per e-fold
of parameters (``b·ln 2`` per doubling). Accuracy is first clipped to ``[0.5/n, 1 − 0.5/n]``
(n = the run's evaluated examples) so that 0 and 1 have finite logits. **CI of b**: percentile
bootstrap over seeds — whole seeds (every size trained with that seed) are resampled with
replacement and the line refit; resamples with fewer than two distinct sizes are dropped (a run
without a seed counts as a seed of its own). With fewer than two seeds there is no CI (``null``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analyses.common import bootstrap_ci, check_out, save_figure, save_json, style
from workbench.artifacts import ConfigSummary
from workbench.config import Checked
from workbench.errors import UserError
from workbench.methods import baseline_name, color_of, label_of, sort_key
from workbench.runs import read_config, read_metrics
from workbench.schemas import Count, Seed
from workbench.text import cell, column_table

COLUMNS = ("run", "task", "method", "size", "seed", "lr", "parameters", "accuracy",
           "any_block_accuracy", "mean_generated_tokens", "mean_latent_steps", "ttft_ms",
           "train_seconds")


def run_row(path: Path, split: str = "test") -> dict[str, Any]:
    config = read_config(path, ConfigSummary)
    metrics = read_metrics(path)  # validated: every section is an object or absent
    result = metrics.get(split) or {}
    train = metrics.get("train") or {}
    return {
        "run": str(path), "task": f"{config['task'].get('name')}/{config['task'].get('preset')}",
        "method": config["method"].get("name"), "size": config["train"].get("size"),
        "seed": config["train"].get("seed"), "lr": config["train"].get("lr"),
        "parameters": metrics.get("parameters"),
        "accuracy": result.get("accuracy"), "any_block_accuracy": result.get("any_block_accuracy"),
        "mean_generated_tokens": result.get("mean_generated_tokens"),
        "mean_latent_steps": result.get("mean_latent_steps"), "ttft_ms": result.get("ttft_ms"),
        "train_seconds": train.get("seconds"), "n": result.get("n"),
        "final_loss": train.get("final_loss"),
        "valid_accuracy": (metrics.get("valid") or {}).get("accuracy"),
        "by_depth": depth_records(result.get("by_depth")),
    }


def depth_records(by_depth: Any) -> list[dict[str, Any]] | None:
    """``metrics.json``'s per-depth accuracies as ``[{depth, accuracy, n, ci}]`` in depth order,
    ``ci`` the 95 % Wilson interval over that depth's examples (None: no per-depth metrics)."""
    from workbench.stats import wilson

    if not isinstance(by_depth, dict) or not by_depth:
        return None
    out = []
    for depth, cell_ in sorted(by_depth.items(), key=lambda kv: int(kv[0])):
        acc, n = cell_.get("accuracy"), int(cell_.get("n") or 0)
        lo, hi = wilson(acc, n) if acc is not None else (None, None)
        out.append({"depth": int(depth), "accuracy": acc, "n": n,
                    "ci": None if lo is None else [lo, hi]})
    return out


def depth_figure(rows: list[dict[str, Any]]) -> Any:
    """Test accuracy by reasoning depth, one line per run (its method's colour), 95 % Wilson
    intervals as error bars; one panel per task; a dotted line at 0.5 where every answer is one
    of two candidates (reach)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = [r for r in rows if r.get("by_depth")]
    tasks = sorted({r["task"] for r in rows})
    fig = make_subplots(rows=1, cols=max(1, len(tasks)), shared_yaxes=True,
                        subplot_titles=tasks or None)
    for j, task in enumerate(tasks, start=1):
        for r in sorted((r for r in rows if r["task"] == task),
                        key=lambda r: (sort_key(r["method"]), r["run"])):
            cells = r["by_depth"]
            y = [c["accuracy"] for c in cells]
            fig.add_trace(go.Scatter(
                x=[c["depth"] for c in cells], y=y, mode="lines+markers",
                name=f"{Path(r['run']).name} ({_name(r['method'])})",
                line={"color": color_of(r["method"])},
                error_y={"type": "data", "symmetric": False,
                         "array": [(c["ci"][1] - v) if c["ci"] else 0 for c, v in zip(cells, y)],
                         "arrayminus": [(v - c["ci"][0]) if c["ci"] else 0
                                        for c, v in zip(cells, y)]},
                text=[f"n {c['n']}" for c in cells],
                hovertemplate="depth %{x}: %{y:.3f} (%{text})"), row=1, col=j)
        if task.startswith("reach"):
            fig.add_hline(y=0.5, line={"color": "#999", "dash": "dot"}, row=1, col=j,
                          annotation_text="chance", annotation_position="bottom right")
        fig.update_xaxes(title_text="reasoning depth", dtick=1, row=1, col=j)
    return style(fig, "Test accuracy by reasoning depth (95 % Wilson intervals over each "
                      "depth's examples)", "reasoning depth", "accuracy")


def compare_runs(paths: list[Path], split: str = "test") -> list[dict[str, Any]]:
    return [run_row(Path(p), split) for p in paths]


def format_compare(rows: list[dict[str, Any]]) -> str:
    return column_table(rows, COLUMNS, lambda v, c: f"{v:g}" if c == "lr" and v is not None
                        else cell(v))


@dataclass
class CompareConfig(Checked):
    """Which runs to compare and where the results go."""

    runs: list[str] = field(default_factory=list)
    """Finished run directories (config.json and metrics.json)."""
    out: str = ""
    """Output directory: compare.json, compare_efficiency.html, compare_scaling.html."""
    split: str = "test"
    """Which evaluation of metrics.json to read (test or valid)."""
    n_boot: Count = 1000
    """Bootstrap resamples (over seeds) for the CI of each scaling slope."""
    seed: Seed = 0
    """Seed of the bootstrap."""


def clipped_logit(accuracy: float, n: int | None) -> float:
    """``logit`` of accuracy clipped to ``[0.5/n, 1 − 0.5/n]`` (n unknown: ``[1e-3, 1 − 1e-3]``)."""
    eps = 0.5 / n if n else 1e-3
    p = min(max(accuracy, eps), 1 - eps)
    return math.log(p / (1 - p))


def fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares intercept and slope of ``y = a + b·x`` (NaN without two distinct x)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(np.unique(x)) < 2:
        return math.nan, math.nan
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def _groups(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["method"])].append(r)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], sort_key(kv[0][1]))))


def _mean(values: list[Any]) -> float | None:
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return float(np.mean(values)) if values else None


def lr_order(lr: Any, sign: int = 1) -> tuple[int, float, str]:
    """A sort key for learning rates read from configs: numbers (times ``sign``), then
    anything else (a missing or malformed rate), never a comparison between the two."""
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        return (0, sign * float(lr), "")
    return (1, 0.0, str(lr))


def recipe_lrs(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """The learning rate of each (task, size)'s scaling recipe: the one most of its runs were
    trained with (ties: the smaller). Runs at other rates are learning-rate checks: fitting them
    together with the recipe's would mix optimisation with size."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in rows:
        counts[(r["task"], r.get("size"))][r.get("lr")] += 1
    return {key: min(c, key=lambda lr: (-c[lr], lr_order(lr))) for key, c in counts.items()}


def split_recipe(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(runs at their size's recipe learning rate, runs at another rate); see :func:`recipe_lrs`."""
    recipe = recipe_lrs(rows)
    kept = [r for r in rows if r.get("lr") == recipe[(r["task"], r.get("size"))]]
    return kept, [r for r in rows if r.get("lr") != recipe[(r["task"], r.get("size"))]]


def scaling_fits(rows: list[dict[str, Any]], n_boot: int = 1000,
                 seed: int = 0) -> list[dict[str, Any]]:
    """One fit per (task, method) of ``logit(clipped accuracy) = a + b·ln(parameters)``
    (slope and intercept ``None`` with fewer than two distinct sizes)."""
    usable = [r for r in rows if r.get("accuracy") is not None and r.get("parameters")]
    fits = []
    for (task, method), group in _groups(usable).items():
        x = np.log([float(r["parameters"]) for r in group])
        y = np.array([clipped_logit(float(r["accuracy"]), r.get("n")) for r in group])
        a, b = fit_line(x, y)
        seeds = [r.get("seed") if r.get("seed") is not None else f"run:{r['run']}"
                 for r in group]
        n_seeds = len(set(map(str, seeds)))
        ci = None
        if n_seeds >= 2 and not math.isnan(b):
            ci = list(bootstrap_ci(lambda idx, x=x, y=y: fit_line(x[idx], y[idx])[1],
                                   [str(s) for s in seeds], n_boot=n_boot, seed=seed))
        ok = not math.isnan(b)  # JSON has no NaN: no fit is null
        fits.append({
            "task": task, "method": method, "runs": len(group), "seeds": n_seeds,
            "sizes": len(np.unique(x)), "intercept": a if ok else None,
            "slope": b if ok else None, "slope_ci": ci,
            "slope_per_doubling": b * math.log(2) if ok else None,
            "parameters": sorted({int(r["parameters"]) for r in group}),
        })
    return fits


def efficiency(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, method): mean accuracy, generated tokens, ttft and ttft relative to no-CoT."""
    groups = _groups(rows)
    out = []
    for (task, method), group in groups.items():
        ttft = _mean([r.get("ttft_ms") for r in group])
        base = groups.get((task, baseline_name()))
        base_ttft = _mean([r.get("ttft_ms") for r in base]) if base else None
        out.append({
            "task": task, "method": method, "runs": len(group),
            "accuracy": _mean([r.get("accuracy") for r in group]),
            "mean_generated_tokens": _mean([r.get("mean_generated_tokens") for r in group]),
            "mean_latent_steps": _mean([r.get("mean_latent_steps") for r in group]),
            "ttft_ms": ttft,
            "ttft_vs_nocot": ttft / base_ttft if ttft is not None and base_ttft else None,
        })
    return out


def run(cfg: CompareConfig) -> dict[str, Any]:
    """Read the runs, fit, write ``compare.json`` and the two figures; returns the JSON."""
    check_out(cfg)
    if not cfg.runs:
        raise UserError("give at least one run directory", field="runs")
    rows = compare_runs([Path(p) for p in cfg.runs], split=cfg.split)
    missing = [r["run"] for r in rows if r.get("accuracy") is None]
    if len(missing) == len(rows):
        raise UserError(f"no run has {cfg.split} metrics", field="split")
    recipe, off_recipe = split_recipe([r for r in rows if r.get("accuracy") is not None])
    result = {
        "split": cfg.split, "rows": rows, "efficiency": efficiency(rows),
        "fits": scaling_fits(recipe, n_boot=cfg.n_boot, seed=cfg.seed),
        "fit": "OLS of logit(accuracy clipped to [0.5/n, 1-0.5/n]) on ln(parameters) per "
               "(task, method), over the runs at their size's most common learning rate; slope "
               "CI: percentile bootstrap over seeds",
        "off_recipe": [r["run"] for r in off_recipe],
        "skipped": missing, "config": asdict(cfg),
    }
    out = Path(cfg.out)
    save_json(result, out / "compare.json")
    save_figure(efficiency_figure(rows), out / "compare_efficiency.html")
    save_figure(scaling_figure(recipe, result["fits"]), out / "compare_scaling.html")
    return result


def _name(method: str) -> str:
    return label_of(method)


def efficiency_figure(rows: list[dict[str, Any]]) -> Any:
    """Accuracy vs ttft (log x) and vs generated tokens; a row of panels per task."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = [r for r in rows if r.get("accuracy") is not None]
    tasks = sorted({r["task"] for r in rows})
    fig = make_subplots(rows=len(tasks), cols=2, shared_yaxes=True, vertical_spacing=0.12,
                        subplot_titles=[f"{t}: {what}" for t in tasks
                                        for what in ("vs time to first token",
                                                     "vs generated tokens")])
    shown: set[str] = set()
    for i, task in enumerate(tasks, start=1):
        for (_, method), group in _groups([r for r in rows if r["task"] == task]).items():
            text = [f"{Path(r['run']).name} (size {r.get('size')}, seed {r.get('seed')})"
                    for r in group]
            for col, key in ((1, "ttft_ms"), (2, "mean_generated_tokens")):
                fig.add_trace(go.Scatter(
                    x=[r.get(key) for r in group], y=[r["accuracy"] for r in group],
                    mode="markers", name=_name(method), legendgroup=method, text=text,
                    showlegend=method not in shown, hovertemplate="%{text}<br>%{x}, %{y:.3f}",
                    marker={"color": color_of(method), "size": 10}), row=i, col=col)
                shown.add(method)
        fig.update_xaxes(type="log", title_text="time to first answer token (ms, log)", row=i,
                         col=1)
        fig.update_xaxes(title_text="mean generated tokens", row=i, col=2)
        fig.update_yaxes(title_text="accuracy", row=i, col=1)
    fig.update_layout(height=max(420, 360 * len(tasks)))
    return style(fig, "Efficiency: accuracy against inference cost, per task",
                 "time to first answer token (ms, log)", "accuracy")


#: Parameter counts within this ratio are one model size: methods of one size differ by a few
#: embedding rows (<1 %), the presets by 2× or more.
SAME_SIZE = 1.1


def sizes_by_task(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The distinct model sizes of each task's runs (with accuracy and parameters): parameter
    counts grouped when within :data:`SAME_SIZE` of the group's smallest, each group named by
    its runs' size names and parameter range, e.g. ``"micro (836,096–843,264 parameters)"``."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("accuracy") is not None and r.get("parameters"):
            by_task.setdefault(r["task"], []).append(r)
    out = {}
    for task, group in sorted(by_task.items()):
        sizes: list[list[dict[str, Any]]] = []
        for r in sorted(group, key=lambda r: int(r["parameters"])):
            if sizes and int(r["parameters"]) <= SAME_SIZE * int(sizes[-1][0]["parameters"]):
                sizes[-1].append(r)
            else:
                sizes.append([r])
        labels = []
        for size in sizes:
            names = "/".join(sorted({str(r.get("size")) for r in size if r.get("size")}))
            lo, hi = int(size[0]["parameters"]), int(size[-1]["parameters"])
            span = f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"
            labels.append(f"{names} ({span} parameters)" if names else f"{span} parameters")
        out[task] = labels
    return out


def scaling_figure(rows: list[dict[str, Any]], fits: list[dict[str, Any]]) -> Any:
    """Accuracy vs parameters (log x), one panel per task with at least two model sizes
    (:func:`sizes_by_task`), with each method's fitted curve."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scaled = {t for t, sizes in sizes_by_task(rows).items() if len(sizes) >= 2}
    rows = [r for r in rows if r.get("accuracy") is not None and r.get("parameters")
            and r["task"] in scaled]
    tasks = sorted({r["task"] for r in rows})
    fig = make_subplots(rows=1, cols=max(1, len(tasks)), shared_yaxes=True,
                        subplot_titles=tasks)
    shown: set[str] = set()
    for j, task in enumerate(tasks, start=1):
        for (_, method), group in _groups([r for r in rows if r["task"] == task]).items():
            color = color_of(method)
            fig.add_trace(go.Scatter(
                x=[r["parameters"] for r in group], y=[r["accuracy"] for r in group],
                mode="markers", name=_name(method), legendgroup=method,
                showlegend=method not in shown, marker={"color": color, "size": 9},
                text=[f"seed {r.get('seed')}" for r in group]), row=1, col=j)
            shown.add(method)
            fit = next(f for f in fits if f["task"] == task and f["method"] == method)
            if fit["slope"] is None:
                continue
            grid = np.geomspace(min(fit["parameters"]), max(fit["parameters"]), 50)
            curve = 1 / (1 + np.exp(-(fit["intercept"] + fit["slope"] * np.log(grid))))
            ci = fit["slope_ci"]
            label = f"{_name(method)} fit: b = {fit['slope']:.2f}" + (
                f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
            fig.add_trace(go.Scatter(x=grid, y=curve, mode="lines", name=label,
                                     legendgroup=method, line={"color": color}), row=1, col=j)
        fig.update_xaxes(type="log", title_text="parameters (log)", row=1, col=j)
    return style(fig, "Scaling: accuracy against parameters; b = slope of logit(accuracy) per "
                      "ln(parameters), 95 % CI over seeds", "parameters (log)", "accuracy")
