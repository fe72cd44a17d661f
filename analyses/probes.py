"""Linear probes over a layer × latent-step grid, with grouped folds, CIs and control tasks.

For each (layer, step) cell: standardize + logistic regression, cross-validated with folds grouped
by ``example_id`` (no example on both sides), scored out of fold by balanced accuracy (multiclass)
or AUROC (binary), with a bootstrap 95 % CI over examples. Baselines: chance (1/classes, or 0.5
for AUROC) and the majority class's share. The **control task** (Hewitt & Liang 2019): each
example gets a random label drawn from the task's label distribution, the same at every step and
layer, probed with the same probe and folds; ``selectivity = value − control``. With
``control="type"`` the control label is instead a random function of the token at the row's
position (Hewitt & Liang's per-type control), for steps whose token type means something (CoT).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analyses.common import (
    bootstrap_ci,
    check_out,
    choose_key,
    main_kind,
    proof_table,
    save_figure,
    save_json,
    store_layers,
    style,
)
from workbench.config import Checked
from workbench.errors import UserError
from workbench.schemas import Count, Count0, Folds, Jobs, LayerIndex, PositiveFloat, Seed
from workbench.stats import UNDEFINED, interval_reason, one_class_reason, show
from workbench.store import Store, open_store


@dataclass
class ProbeSettings(Checked):
    """How a probe is fitted and scored (shared by probes, alignment and correctness)."""

    folds: Folds = 5
    """Cross-validation folds, grouped by example."""
    C: PositiveFloat = 1.0
    """Inverse L2 regularisation strength of the logistic regression."""
    max_iter: Count = 200
    """Solver iterations."""
    n_boot: Count = 200
    """Bootstrap resamples (over examples) for the 95 % CI."""
    seed: Seed = 0
    """Seed of folds, control labels and bootstrap."""
    n_jobs: Jobs = -1
    """Cells probed in parallel (joblib)."""


@dataclass
class ProbeConfig(ProbeSettings):
    """Which states, which label, how to probe."""

    store: str = ""
    """Trajectory store directory."""
    out: str = ""
    """Output directory (probes.json, probes.html)."""
    target: str = ""
    """Label column of the store's steps (see its manifest's label_columns; default: the proof
    step's content, y_proof_value on chain, y_proof_node on ProsQA and reach)."""
    kind: str | None = None
    """Latent-step kind to probe (default: the store's main kind, e.g. block for RiM)."""
    layers: list[LayerIndex] | None = None
    """Layers to probe (default: all, 0 = embeddings)."""
    steps: list[Count0] | None = None
    """Latent steps to probe (default: all)."""
    control: Literal["example", "type", "none"] = "example"
    """Control task: a random label per example, per token type, or none."""
    pool_steps: bool = False
    """One probe per layer over the rows of every step together (step = -1); folds grouped by
    example keep an example's rows on one side."""




def encode_labels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a label, and the labels as integers 0..K-1."""
    keep = np.array([v is not None and not (isinstance(v, float) and np.isnan(v))
                     for v in values])
    _, y = np.unique(np.asarray([str(v) for v in values[keep]]), return_inverse=True)
    return keep, y


def out_of_fold(X: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, C: float,
                max_iter: int) -> np.ndarray:
    """Out-of-fold class probabilities ``[n, K]`` (grouped folds)."""
    k = int(y.max()) + 1
    proba = np.zeros((len(y), k))
    n_groups = len(np.unique(groups))
    for train, test in GroupKFold(n_splits=min(folds, n_groups)).split(X, y, groups):
        classes = np.unique(y[train])
        if len(classes) == 1:
            proba[test, classes[0]] = 1.0
            continue
        model = make_pipeline(StandardScaler(),
                              LogisticRegression(C=C, max_iter=max_iter, tol=1e-3))
        with warnings.catch_warnings():  # many classes of few members (node names): expected
            warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)
            model.fit(X[train], y[train])
        proba[np.ix_(test, classes)] = model.predict_proba(X[test])
    return proba


def score(y: np.ndarray, proba: np.ndarray, k: int) -> float:
    """AUROC for two classes, balanced accuracy otherwise."""
    if k == 2:
        if len(np.unique(y)) < 2:
            return float("nan")
        return float(roc_auc_score(y, proba[:, 1]))
    # Balanced accuracy: the mean recall over the classes present in ``y`` (what sklearn's
    # balanced_accuracy_score gives, with a resample's absent classes left out), in numpy: the
    # bootstraps call this thousands of times.
    _, inverse = np.unique(y, return_inverse=True)
    hits = np.bincount(inverse, weights=proba.argmax(1) == y)
    return float((hits / np.bincount(inverse)).mean())


def probe(X: np.ndarray, y: np.ndarray, groups: np.ndarray, control_y: np.ndarray | None,
          cfg: ProbeConfig, keep: bool = False) -> dict[str, Any]:
    """One cell: metric, CI, control, selectivity, baselines. With ``keep``, the out-of-fold
    probabilities come back too (``_oof``), for intervals over several cells."""
    k = int(y.max()) + 1 if len(y) else 0
    reason = one_class_reason(y.tolist())
    if reason is None and len(y) < 2 * cfg.folds:
        reason = f"too few items ({len(y)}) for {cfg.folds} folds"
    if reason is not None:  # undefined: None in probes.json, with the reason
        return {"value": float("nan"), "ci_lo": float("nan"), "ci_hi": float("nan"),
                "control": float("nan"), "selectivity": float("nan"),
                "chance": 0.5 if k == 2 else (1 / k if k else float("nan")),
                "majority": float(np.bincount(y).max() / len(y)) if len(y) else float("nan"),
                "n_items": int(len(y)), "n_classes": k,
                "metric": "auroc" if k == 2 else "balanced_accuracy", UNDEFINED: reason}
    proba = out_of_fold(X, y, groups, cfg.folds, cfg.C, cfg.max_iter)
    value = score(y, proba, k)
    lo, hi = bootstrap_ci(lambda idx: score(y[idx], proba[idx], k), groups, cfg.n_boot,
                          cfg.seed)
    if not np.isfinite(lo):
        reason = "CI: " + (interval_reason(len(np.unique(groups)), "examples")
                           or "every resample has one class")
    control, cp = float("nan"), None
    if control_y is not None:
        kc = int(control_y.max()) + 1
        if kc >= 2:
            cp = out_of_fold(X, control_y, groups, cfg.folds, cfg.C, cfg.max_iter)
            control = score(control_y, cp, kc)
    extra = {"_oof": (y, proba, control_y, cp, groups)} if keep else {}
    return {**extra, "value": value, "ci_lo": lo, "ci_hi": hi, "control": control,
            "selectivity": value - control if np.isfinite(control) else float("nan"),
            "chance": 0.5 if k == 2 else 1 / k,
            "majority": float(np.bincount(y).max() / len(y)), "n_items": int(len(y)),
            "n_classes": k, "metric": "auroc" if k == 2 else "balanced_accuracy",
            **({UNDEFINED: reason} if reason else {})}


def control_labels(store: Store, rows: np.ndarray, y: np.ndarray, mode: str, seed: int
                   ) -> np.ndarray | None:
    """Random labels with the task's label distribution, fixed per example (or token type)."""
    if mode == "none":
        return None
    rng = np.random.default_rng(seed + 7919)
    dist = np.bincount(y) / len(y)
    if mode == "example":
        keys = store.column("example_id")[rows]
    else:
        ids = {r["example_id"]: r["input_ids"] for r in store.examples}
        eids, pos = store.column("example_id")[rows], store.column("position")[rows]
        keys = np.array([ids[e][p] for e, p in zip(eids, pos)])
    uniq, inverse = np.unique(keys, return_inverse=True)
    drawn = rng.choice(len(dist), size=len(uniq), p=dist)
    return drawn[inverse]


def grid(store: Store, target: str, cfg: ProbeConfig) -> list[dict[str, Any]]:
    """Probe every (layer, step) cell of one kind."""
    if target not in store.steps.column_names:
        raise UserError(f"no label column {target!r}; the store has "
                        + ", ".join(store.label_columns), field="target")
    kind = cfg.kind or main_kind(store)
    rows_all = store.rows(kind=kind)
    if not len(rows_all):
        raise UserError(f"no rows of kind {kind!r}", file=store.path, field="kind")
    labels = np.asarray(store.steps.data.table.column(target).to_pylist(), dtype=object)
    steps_col = store.column("step")
    keep, y_all = encode_labels(labels[rows_all])
    rows, y = rows_all[keep], y_all
    control = control_labels(store, rows, y, cfg.control, cfg.seed)
    steps = cfg.steps if cfg.steps is not None else sorted(set(steps_col[rows].tolist()))
    layers = store_layers(cfg.layers, store.n_layers)
    states = store.resid_all(rows)  # [n, layers+1, d] float16
    groups = store.column("example_id")[rows]
    cells = []
    for layer in layers:
        if cfg.pool_steps:
            cells.append((layer, -1, np.isin(steps_col[rows], steps)))
            continue
        for step in steps:
            cells.append((layer, step, steps_col[rows] == step))
    results = Parallel(n_jobs=cfg.n_jobs)(
        delayed(probe)(states[sel, layer].astype(np.float32), y[sel], groups[sel],
                       control[sel] if control is not None else None, cfg)
        for layer, step, sel in cells)
    return [{"layer": layer, "step": step, "kind": kind, "target": target, **r}
            for (layer, step, _), r in zip(cells, results)]


def heatmap(records: list[dict[str, Any]], title: str) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    layers = sorted({r["layer"] for r in records})
    steps = sorted({r["step"] for r in records})
    at = {(r["layer"], r["step"]): r for r in records}
    metric = records[0]["metric"] if records else "value"
    gap = 0.14
    fig = make_subplots(rows=1, cols=2, subplot_titles=(metric.replace("_", " "),
                                                        "selectivity (− control)"),
                        horizontal_spacing=gap)
    for col, field in ((1, "value"), (2, "selectivity")):
        z = [[at[(la, s)][field] for s in steps] for la in layers]
        text = [[_hover(at[(la, s)], la, s, metric) for s in steps] for la in layers]
        # each panel's colour bar lies flat under it, so it never sits on the other panel
        centre = (1 - gap) / 4 if col == 1 else 1 - (1 - gap) / 4
        fig.add_trace(go.Heatmap(z=z, x=[str(s) for s in steps], y=[str(la) for la in layers],
                                 text=text, hoverinfo="text", colorscale="Viridis",
                                 colorbar={"orientation": "h", "x": centre, "xanchor": "center",
                                           "y": -0.3, "yanchor": "top", "len": 0.4,
                                           "thickness": 12}), row=1, col=col)
        fig.update_xaxes(title_text="latent step", row=1, col=col)
        fig.update_yaxes(title_text="layer", row=1, col=col)
    style(fig, title, "latent step", "layer")
    fig.update_layout(height=500, margin={"b": 130})
    return fig


def _hover(r: dict[str, Any], layer: int, step: int, metric: str) -> str:
    """One cell's hover text; an undefined statistic reads ``undefined (reason)``."""
    def f(key: str) -> str:
        return show(r.get(key), reason=r.get(UNDEFINED))

    return (f"layer {layer}, step {step}<br>{metric} {f('value')} [{f('ci_lo')}, {f('ci_hi')}]"
            f"<br>control {f('control')}<br>selectivity {f('selectivity')}<br>chance "
            f"{show(r.get('chance'))}<br>n {r.get('n_items')}")


def run(cfg: ProbeConfig) -> list[dict[str, Any]]:
    check_out(cfg)
    store = open_store(cfg.store)
    target = cfg.target or "y_proof_" + choose_key(proof_table(store), None)
    records = grid(store, target, cfg)
    out = Path(cfg.out)
    save_json(records, out / "probes.json")
    save_json({"config": {**asdict(cfg), "target": target}, "store_manifest": store.manifest},
              out / "probes.meta.json")
    save_figure(heatmap(records, f"Linear probes for {target} ({records[0]['kind']} states)"),
                out / "probes.html")
    return records
