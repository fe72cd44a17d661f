"""Projections: PCA and UMAP of latent-step states at one layer, and how block-specific they are.

``run(ProjectionsConfig(store=…, out=…))`` writes

* ``projections.parquet`` — one row per projected state: ``x``, ``y`` (``z`` with three
  components), ``example_id``, ``step``, ``kind``, ``position`` and every ``y_*`` label column;
* ``projections.json`` — the parameters, PCA's explained variance and the **block-specificity**
  score: the silhouette of the states grouped by their step label, in the projection and in the
  raw states, next to its chance level (the same silhouette with shuffled step labels);
* ``projections.html`` — a scatter coloured by step (or a chosen label) with a few examples'
  trajectories drawn as lines through their steps; hovering shows the example and its labels.

Fitted projections are cached under ``<store>/.cache/projections/<key>.npz``, keyed by the store's
identity (a hash of its ``manifest.json``: checksums, row counts, capture settings) and by every
parameter that changes the fit, so a second call reloads instead of refitting (UMAP's first fit
spends about a minute compiling numba code).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from analyses.common import check_out, main_kind, save_figure, save_json, style
from workbench.config import Checked
from workbench.errors import UserError
from workbench.io import atomic_open
from workbench.schemas import Count, Count0, Fraction, Seed
from workbench.store import MANIFEST, Store, open_store

METHODS = ("pca", "umap")
CACHE_DIR = Path(".cache") / "projections"
MAX_CATEGORIES = 24  # a colour column with more distinct values is shown on a continuous scale


@dataclass
class ProjectionsConfig(Checked):
    """Which states to project, how, and where the results go."""

    store: str = ""
    """Trajectory store directory."""
    out: str = ""
    """Output directory (projections.json, projections.parquet, projections.html)."""
    method: str = "pca"
    """pca or umap."""
    layer: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    """Residual-stream layer (0 = embeddings, i = after block i, negative counts from the end);
    default: the last."""
    kind: str | None = None
    """Latent-step kind to project (default: the store's main kind: block, else thought, pause,
    step, answer)."""
    color: str = "step"
    """Column that colours the points: step or a y_* label column."""
    n_components: Annotated[int, Field(ge=2, le=3)] = 2
    """Dimensions of the projection: 2 or 3."""
    n_neighbors: Annotated[int, Field(ge=2, le=10**6)] = 15
    """UMAP: neighbourhood size (at most the number of points - 1)."""
    min_dist: Fraction = 0.1
    """UMAP: minimum distance between embedded points."""
    seed: Seed = 0
    """Seed of UMAP, the silhouette subsample, the shuffled labels and the trajectories shown."""
    trajectories: Count0 = 8
    """Examples drawn as lines through their steps (0 = none)."""
    silhouette_sample: Count = 2000
    """Silhouette scores use at most this many points (a seeded subsample)."""
    shuffles: Count0 = 5
    """Shuffles of the step labels averaged for the chance silhouette."""
    cache: bool = True
    """Reuse and write fitted projections under <store>/.cache/projections/."""




def store_identity(store: Store) -> str:
    """sha256 of the store's ``manifest.json`` (checkpoint and dataset checksums, row counts)."""
    return hashlib.sha256((store.path / MANIFEST).read_bytes()).hexdigest()


def cache_key(store: Store, params: dict[str, Any]) -> str:
    """The cache file's name: the store's identity and the fit's parameters."""
    blob = json.dumps({"store": store_identity(store), **params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def fit_projection(
    states: np.ndarray, method: str, n_components: int = 2, n_neighbors: int = 15,
    min_dist: float = 0.1, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Project ``states [n, d_model]`` to ``[n, n_components]``; also returns PCA's explained
    variance ratios (empty for UMAP). Deterministic for a seed (UMAP runs single-threaded)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=n_components, svd_solver="full")
        return pca.fit_transform(states).astype(np.float32), pca.explained_variance_ratio_
    import umap

    with warnings.catch_warnings():  # "n_jobs overridden by random_state" and numba chatter
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors,
                            min_dist=min_dist, random_state=seed, n_jobs=1)
        coords = reducer.fit_transform(states)
    return np.asarray(coords, dtype=np.float32), np.empty(0)


def projection(store: Store, rows: np.ndarray, states: np.ndarray, params: dict[str, Any],
               use_cache: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """The fitted projection of ``states``, from the cache when it holds this fit.

    Returns coordinates, explained variance ratios and ``"hit"``, ``"miss"`` or ``"off"``."""
    file = store.path / CACHE_DIR / f"{cache_key(store, params)}.npz"
    if use_cache and file.exists():
        try:
            with np.load(file, allow_pickle=False) as z:
                if np.array_equal(z["rows"], rows):
                    return z["coords"], z["explained"], "hit"
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is refitted and replaced
    fit = {k: params[k] for k in ("method", "n_components", "n_neighbors", "min_dist", "seed")
           if k in params}
    coords, explained = fit_projection(states, **fit)
    if not use_cache:
        return coords, explained, "off"
    try:
        with atomic_open(file, "wb") as f:
            np.savez(f, coords=coords, explained=explained, rows=rows)
    except OSError:  # a read-only store still gets its analysis, only uncached
        pass
    return coords, explained, "miss"


def silhouettes(points: np.ndarray, labels: np.ndarray, sample: int, shuffles: int, seed: int
                ) -> dict[str, Any] | None:
    """Silhouette of ``points`` grouped by ``labels`` and its chance level (mean over shuffled
    labels), on a seeded subsample of at most ``sample`` points; None with fewer than two
    groups."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    pick = np.arange(len(points))
    if len(pick) > sample:
        pick = np.sort(rng.choice(len(points), sample, replace=False))
    x, y = points[pick], labels[pick]
    k = len(np.unique(y))
    if k < 2 or len(y) <= k:
        return None
    chance = [silhouette_score(x, rng.permutation(y)) for _ in range(max(1, shuffles))]
    return {"score": float(silhouette_score(x, y)), "chance": float(np.mean(chance)),
            "n": int(len(y)), "n_labels": int(k)}


def points_frame(store: Store, rows: np.ndarray, coords: np.ndarray) -> Any:
    import pandas as pd

    data: dict[str, Any] = dict(zip("xyz", coords.T))
    table = store.steps.data.table.take(rows)
    for name in ("example_id", "step", "kind", "position", *store.label_columns):
        if name in table.column_names:
            data[name] = table.column(name).to_numpy(zero_copy_only=False)
    return pd.DataFrame(data)


def figure(df: Any, color: str, title: str, axes: list[str], trajectories: int = 8,
           seed: int = 0) -> Any:
    """Scatter of ``df``'s x, y (and z) coloured by ``color``, with ``trajectories`` examples
    drawn as lines through their steps in step order."""
    import plotly.graph_objects as go

    three = "z" in df.columns
    scatter = go.Scatter3d if three else go.Scatter
    labels = [c for c in df.columns if c.startswith("y_")]
    hover_cols = ["example_id", "step", "kind", *labels]
    hover = "<br>".join(f"{c}=%{{customdata[{i}]}}" for i, c in enumerate(hover_cols))
    size = 3 if three else 6

    def xyz(part: Any) -> dict[str, Any]:
        return {"x": part["x"], "y": part["y"], **({"z": part["z"]} if three else {})}

    fig = go.Figure()
    values = df[color]
    categorical = (values.dtype == object or values.dtype == bool
                   or values.nunique(dropna=False) <= MAX_CATEGORIES)
    if categorical:
        keys = values.astype(object).where(values.notna(), "none").astype(str)
        for value in sorted(keys.unique(), key=_numeric_first):
            part = df[keys == value]
            fig.add_trace(scatter(
                **xyz(part), mode="markers", name=f"{color} = {value}",
                marker={"size": size, "opacity": 0.75},
                customdata=part[hover_cols].astype(str).to_numpy(), hovertemplate=hover))
    else:
        fig.add_trace(scatter(
            **xyz(df), mode="markers", name=color,
            marker={"size": size, "opacity": 0.75, "color": values, "colorscale": "Viridis",
                    "colorbar": {"title": color}},
            customdata=df[hover_cols].astype(str).to_numpy(), hovertemplate=hover))
    ids = df["example_id"].unique()
    rng = np.random.default_rng(seed)
    shown = rng.choice(ids, min(trajectories, len(ids)), replace=False) if len(ids) else []
    for i, ex in enumerate(sorted(shown)):
        path = df[df["example_id"] == ex].sort_values("step")
        fig.add_trace(scatter(
            **xyz(path), mode="lines+markers", name="trajectory (one example)",
            legendgroup="trajectories", showlegend=i == 0,
            line={"color": "rgba(60,60,60,0.55)", "width": 2},
            marker={"size": size, "color": "rgba(60,60,60,0.8)"},
            customdata=path[hover_cols].astype(str).to_numpy(), hovertemplate=hover))
    style(fig, title, axes[0], axes[1])
    if three:
        fig.update_layout(scene={"xaxis_title": axes[0], "yaxis_title": axes[1],
                                 "zaxis_title": axes[2]})
    return fig


def _numeric_first(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _check(cfg: ProjectionsConfig, store: Store) -> tuple[int, str]:
    if cfg.method not in METHODS:
        raise UserError(f"unknown method {cfg.method!r}; choose pca or umap", field="method")
    if cfg.n_components not in (2, 3):
        raise UserError("n_components must be 2 or 3", field="n_components")
    layer = store.n_layers if cfg.layer is None else cfg.layer
    if layer < 0:
        layer += store.n_layers + 1
    if not 0 <= layer <= store.n_layers:
        raise UserError(f"layer {cfg.layer} outside 0..{store.n_layers}", field="layer")
    kind = cfg.kind or main_kind(store)
    if kind not in store.manifest.get("kinds", []):
        raise UserError(f"the store has no rows of kind {kind!r} (it has "
                        f"{', '.join(store.manifest.get('kinds', []))})", field="kind")
    if cfg.color != "step" and cfg.color not in store.label_columns:
        raise UserError(f"unknown colour column {cfg.color!r}; use step or one of "
                        f"{', '.join(store.label_columns)}", field="color")
    return layer, kind


def run(cfg: ProjectionsConfig) -> dict[str, Any]:
    """Project the states, score block-specificity, write parquet, JSON and figure."""
    check_out(cfg)
    store = open_store(cfg.store)
    layer, kind = _check(cfg, store)
    rows = store.rows(kind=kind)
    if len(rows) < cfg.n_components + 2:
        raise UserError(f"only {len(rows)} rows of kind {kind!r}: too few to project",
                        file=store.path)
    states = store.resid(layer, rows)
    params: dict[str, Any] = {"method": cfg.method, "layer": layer, "kind": kind,
                              "n_components": cfg.n_components}
    if cfg.method == "umap":  # PCA is deterministic and ignores these
        params.update(n_neighbors=min(cfg.n_neighbors, len(rows) - 1), min_dist=cfg.min_dist,
                      seed=cfg.seed)
    coords, explained, cache = projection(store, rows, states, params, cfg.cache)

    steps = store.column("step")[rows]
    specificity = {"label": "step",
                   "projected": silhouettes(coords, steps, cfg.silhouette_sample, cfg.shuffles,
                                            cfg.seed),
                   "raw": silhouettes(states, steps, cfg.silhouette_sample, cfg.shuffles,
                                      cfg.seed)}
    out = Path(cfg.out)
    df = points_frame(store, rows, coords)
    with atomic_open(out / "projections.parquet", "wb") as f:
        df.to_parquet(f, index=False)

    name = cfg.method.upper()
    if cfg.method == "pca":
        axes = [f"PC {i + 1} ({100 * v:.1f} % of variance)" for i, v in enumerate(explained)]
    else:
        axes = [f"UMAP {i + 1}" for i in range(cfg.n_components)]
    proj = specificity["projected"]
    score = (f" — silhouette by step {proj['score']:.2f} (shuffled {proj['chance']:.2f})"
             if proj else "")
    title = (f"{name} of {store.manifest.get('method', '')} {kind} states at layer {layer}"
             f"{score}")
    fig = figure(df, cfg.color, title, axes, cfg.trajectories, cfg.seed)
    result = {
        "analysis": "projections", "config": asdict(cfg), "store": str(store.path),
        "method": cfg.method, "layer": layer, "kind": kind, "params": params,
        "task": store.manifest.get("task"), "model_method": store.manifest.get("method"),
        "n": int(len(rows)), "n_examples": int(df["example_id"].nunique()),
        "explained_variance_ratio": [float(v) for v in explained] or None,
        "block_specificity": specificity, "cache": cache,
        "files": {"parquet": str(out / "projections.parquet"),
                  "figure": str(save_figure(fig, out / "projections.html"))},
    }
    save_json(result, out / "projections.json")
    return result
