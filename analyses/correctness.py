"""The correctness probe (RiM paper): can a linear probe on a block's state tell whether that
block's readout is right?

Per layer and block k: AUROC of predicting ``y_readout_correct`` from block k's state (grouped
folds, bootstrap CI, example-level control). Then **probe-selected answers**: at the best layer,
each example takes the readout whose block the (out-of-fold) probe finds most likely correct;
its accuracy is set beside final-block accuracy (readout K) and any-block accuracy (an oracle
that knows which readout is right), with bootstrap CIs over examples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed

from analyses.common import (
    bootstrap_mean_ci,
    check_out,
    save_figure,
    save_json,
    store_layers,
    style,
)
from analyses.probes import ProbeConfig, ProbeSettings, probe
from workbench.errors import UserError
from workbench.schemas import LayerIndex
from workbench.stats import (
    ONE_CLASS,
    UNDEFINED,
    defined,
    finite_mean,
    interval_reason,
    one_class_reason,
)
from workbench.store import open_store


@dataclass
class CorrectnessConfig(ProbeSettings):
    """Which store (probe settings: see ProbeSettings)."""

    store: str = ""
    """Trajectory store of a RiM run."""
    out: str = ""
    """Output directory (correctness.json, correctness.html)."""
    layers: list[LayerIndex] | None = None
    """Layers (default: all)."""


def run(cfg: CorrectnessConfig) -> dict[str, Any]:
    check_out(cfg)
    store = open_store(cfg.store)
    if "y_readout_correct" not in store.steps.column_names:
        raise UserError("needs a RiM store (no y_readout_correct column)", file=store.path)
    rows = store.rows(kind="block")
    eids, steps = store.column("example_id")[rows], store.column("step")[rows]
    correct = np.asarray(store.steps.data.table.column("y_readout_correct").to_pylist(),
                         dtype=object)[rows]
    keep = np.array([c is not None for c in correct])
    rows, eids, steps = rows[keep], eids[keep], steps[keep]
    y = correct[keep].astype(bool).astype(int)
    if not len(y):
        raise UserError("no block readout has a known correctness (y_readout_correct is empty)",
                        file=store.path)
    blocks = sorted(set(steps.tolist()))
    layers = store_layers(cfg.layers, store.n_layers)
    states = store.resid_all(rows)
    rng = np.random.default_rng(cfg.seed + 7919)
    uniq, inverse = np.unique(eids, return_inverse=True)
    control = (rng.random(len(uniq)) < y.mean()).astype(int)[inverse]
    pcfg = ProbeConfig(folds=cfg.folds, C=cfg.C, max_iter=cfg.max_iter, n_boot=cfg.n_boot,
                       seed=cfg.seed)
    cells = [(layer, k) for layer in layers for k in blocks]
    results = Parallel(n_jobs=cfg.n_jobs)(
        delayed(probe)(states[steps == k, layer].astype(np.float32), y[steps == k],
                       eids[steps == k], control[steps == k], pcfg, True)
        for layer, k in cells)
    records, by_layer = [], {}
    for (layer, k), r in zip(cells, results):
        if r.get(UNDEFINED) == ONE_CLASS:  # say which class: every answer right, or wrong
            r[UNDEFINED] = one_class_reason(y[steps == k].tolist(), ANSWER_CLASSES)
        records.append({"layer": layer, "block": k, **{a: b for a, b in r.items()
                                                        if not a.startswith("_")}})
        by_layer.setdefault(layer, {})[k] = r
    mean_auc = {la: finite_mean(c["value"] for c in cs.values()) for la, cs in by_layer.items()}
    best = max(mean_auc, key=lambda la: -np.inf if mean_auc[la] is None else mean_auc[la])
    selection = select_answers(by_layer[best], eids, steps, y, cfg)
    result = {"records": records, "best_layer": best, "mean_auroc_per_layer": mean_auc,
              "selection": selection, "config": asdict(cfg),
              "n_examples": int(len(uniq)), "blocks": blocks}
    if all(v is None for v in mean_auc.values()):
        result[UNDEFINED] = (one_class_reason(y.tolist(), ANSWER_CLASSES)
                             or next((r[UNDEFINED] for r in records if r.get(UNDEFINED)),
                                     "no block has a defined AUROC"))
    out = Path(cfg.out)
    save_json(result, out / "correctness.json")
    save_figure(figure(records, best), out / "correctness.html")
    return result


def select_answers(cells: dict[int, dict[str, Any]], eids: np.ndarray, steps: np.ndarray,
                   y: np.ndarray, cfg: CorrectnessConfig) -> dict[str, Any]:
    """Accuracy of the probe-chosen readout, the final readout and any readout."""
    prob: dict[tuple[str, int], float] = {}
    for k, cell in cells.items():
        if "_oof" not in cell:  # one class only (every readout right, or every one wrong)
            sel = steps == k
            for g, v in zip(eids[sel], y[sel]):
                prob[(g, k)] = float(v)
            continue
        yk, proba, _, _, groups = cell["_oof"]
        p1 = proba[:, 1] if proba.shape[1] > 1 else np.zeros(len(yk))
        for g, p in zip(groups, p1):
            prob[(g, k)] = float(p)
    right = {(e, int(s)): bool(v) for e, s, v in zip(eids, steps, y)}
    examples = sorted(set(eids.tolist()))
    last = max(steps)
    chosen = np.array([right[(e, max((k for k in cells if (e, k) in prob),
                                     key=lambda k, e=e: prob[(e, k)]))] for e in examples])
    final = np.array([right.get((e, int(last)), False) for e in examples])
    any_block = np.array([any(right.get((e, k), False) for k in cells) for e in examples])
    out = {}
    for name, hits in (("probe_selected", chosen), ("final_block", final),
                       ("any_block", any_block)):
        lo, hi = bootstrap_mean_ci(hits, np.arange(len(hits)), cfg.n_boot, cfg.seed)
        out[name] = {"accuracy": float(hits.mean()), "ci": [lo, hi], "n": int(len(hits))}
        if not np.isfinite(lo):
            out[name][UNDEFINED] = "CI: " + (interval_reason(len(hits), "examples")
                                             or "no resample gives a number")
    return out


#: What every readout is when the correctness labels have one class.
ANSWER_CLASSES = {1: "every answer is correct", 0: "every answer is wrong"}


def auroc_summary(result: dict[str, Any]) -> tuple[float | None, str | None]:
    """The correctness AUROC of a ``correctness.json`` (mean over blocks at the best layer) and,
    where it is undefined, why (also for files written before the reason was recorded)."""
    per_layer = result.get("mean_auroc_per_layer") or {}
    value = per_layer.get(str(result.get("best_layer")), per_layer.get(result.get("best_layer")))
    if value is not None and np.isfinite(value):
        return float(value), None
    if result.get(UNDEFINED):
        return None, str(result[UNDEFINED])
    final = ((result.get("selection") or {}).get("final_block") or {}).get("accuracy")
    if final in (0, 1) and all(r.get("value") is None for r in result.get("records", [])):
        return None, f"{ANSWER_CLASSES[int(final)]} ({ONE_CLASS})"
    return None, "no block has a defined AUROC"


def figure(records: list[dict[str, Any]], best: int) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for layer in sorted({r["layer"] for r in records}):
        rs = [r for r in records if r["layer"] == layer]
        fig.add_trace(go.Scatter(
            x=[r["block"] for r in rs], y=[r["value"] for r in rs], mode="lines+markers",
            name=f"layer {layer}" + (" (best)" if layer == best else ""),
            error_y={"type": "data", "symmetric": False,
                     "array": [_gap(r.get("ci_hi"), r.get("value")) for r in rs],
                     "arrayminus": [_gap(r.get("value"), r.get("ci_lo")) for r in rs]}))
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
    return style(fig, "Correctness probe: AUROC of predicting each readout's correctness "
                 "from its block", "memory block", "AUROC")


def _gap(a: Any, b: Any) -> float | None:
    """``a - b``, or None where either is undefined."""
    return a - b if defined(a) and defined(b) else None
