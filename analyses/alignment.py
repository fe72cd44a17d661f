"""The alignment matrix: does latent step t hold proof step s's content?

For every latent step t and proof step s, a probe (see :mod:`analyses.probes`) predicts proof
step s's content (``--key``, e.g. ``value`` for ``chain``, ``node`` for ``prosqa``) from latent
step t's state, per layer, with the example-level control task. "Latent steps mirror proof
steps" shows as a bright diagonal of selectivity. The **diagonality score** is the mean diagonal
selectivity minus the mean off-diagonal selectivity, with a bootstrap 95 % CI over examples,
reported at the layer where the diagonal is strongest and at every layer.

A method whose steps are one position (no-CoT, iCoT: the answer position) has one latent step;
its reasoning, if any, lies in depth, so the result also holds the **layer × proof step** matrix
at that position (``layer_matrix``; layer 0 = the embedding, layer l = after block l), which the
figure draws instead: does proof step s become decodable at some layer, and later steps deeper?
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed

from analyses.common import (
    check_out,
    choose_key,
    main_kind,
    proof_table,
    save_figure,
    save_json,
    store_layers,
    style,
)
from analyses.probes import ProbeConfig, ProbeSettings, encode_labels, probe, score
from workbench.schemas import LayerIndex
from workbench.stats import UNDEFINED, show
from workbench.store import open_store


@dataclass
class AlignmentConfig(ProbeSettings):
    """Which states and which proof content (probe settings: see ProbeSettings)."""

    store: str = ""
    """Trajectory store directory."""
    out: str = ""
    """Output directory (alignment.json, alignment.html)."""
    key: str | None = None
    """Proof-record field to probe (default: value, else node, else the first field)."""
    kind: str | None = None
    """Latent-step kind (default: the store's main kind)."""
    layers: list[LayerIndex] | None = None
    """Layers (default: all)."""


def diagonality(cells: dict[tuple[int, int], dict[str, Any]]) -> float:
    diag = [c["selectivity"] for (t, s), c in cells.items() if t == s]
    off = [c["selectivity"] for (t, s), c in cells.items() if t != s]
    diag, off = [x for x in diag if np.isfinite(x)], [x for x in off if np.isfinite(x)]
    if not diag or not off:
        return float("nan")
    return float(np.mean(diag) - np.mean(off))


def bootstrap_diagonality(cells: dict[tuple[int, int], dict[str, Any]], n_boot: int,
                          seed: int) -> tuple[float, float]:
    """Resample examples; recompute every cell's selectivity from its out-of-fold predictions."""
    groups = sorted({g for c in cells.values() if "_oof" in c for g in c["_oof"][4]})
    if not groups:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    where = {key: {g: np.flatnonzero(c["_oof"][4] == g) for g in set(c["_oof"][4])}
             for key, c in cells.items() if "_oof" in c}
    values = []
    for _ in range(n_boot):
        pick = rng.choice(groups, size=len(groups))
        resampled = {}
        for key, c in cells.items():
            if "_oof" not in c or c["_oof"][3] is None:
                continue
            y, proba, cy, cp, _ = c["_oof"]
            idx = np.concatenate([where[key].get(g, np.empty(0, int)) for g in pick])
            if len(idx) < 4:
                continue
            k, kc = proba.shape[1], cp.shape[1]
            resampled[key] = {"selectivity": score(y[idx], proba[idx], k)
                              - score(cy[idx], cp[idx], kc)}
        values.append(diagonality(resampled))
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(values, [0.025, 0.975])
    return float(lo), float(hi)


def run(cfg: AlignmentConfig) -> dict[str, Any]:
    check_out(cfg)
    store = open_store(cfg.store)
    proofs = proof_table(store)
    key = choose_key(proofs, cfg.key)
    kind = cfg.kind or main_kind(store)
    rows = store.rows(kind=kind)
    eids, steps_col = store.column("example_id")[rows], store.column("step")[rows]
    latent_steps = sorted(set(steps_col.tolist()))
    n_proof = max((len(p) for p in proofs.values()), default=0)
    layers = store_layers(cfg.layers, store.n_layers)
    states = store.resid_all(rows)
    pcfg = ProbeConfig(folds=cfg.folds, C=cfg.C, max_iter=cfg.max_iter, n_boot=50,
                       seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed + 7919)
    jobs = []
    for s in range(n_proof):
        raw = np.asarray([(proofs[e][s].get(key) if s < len(proofs[e]) else None)
                          for e in eids], dtype=object)
        keep, y = encode_labels(raw)
        if len(np.unique(y)) < 2:
            continue
        # Example-level control: one random label per example, same for every t and layer.
        dist = np.bincount(y) / len(y)
        uniq, inverse = np.unique(eids[keep], return_inverse=True)
        control = rng.choice(len(dist), size=len(uniq), p=dist)[inverse]
        for t in latent_steps:
            sel = steps_col[keep] == t
            for layer in layers:
                X = states[keep][sel, layer].astype(np.float32)
                jobs.append(((layer, t, s), X, y[sel], eids[keep][sel], control[sel]))
    results = Parallel(n_jobs=cfg.n_jobs)(
        delayed(probe)(X, y, g, c, pcfg, True) for _, X, y, g, c in jobs)
    by_layer: dict[int, dict[tuple[int, int], dict[str, Any]]] = {}
    for (key_, *_), r in zip(jobs, results):
        layer, t, s = key_
        by_layer.setdefault(layer, {})[(t, s)] = r
    per_layer = {layer: diagonality(cells) for layer, cells in by_layer.items()}
    finite = {la: v for la, v in per_layer.items() if np.isfinite(v)}
    best = max(finite, key=finite.get) if finite else layers[-1]
    lo, hi = bootstrap_diagonality(by_layer.get(best, {}), cfg.n_boot, cfg.seed)
    matrices = {
        str(layer): [[_public(cells.get((t, s))) for s in range(n_proof)] for t in latent_steps]
        for layer, cells in sorted(by_layer.items())}
    result: dict[str, Any] = {
        "key": key, "kind": kind, "latent_steps": latent_steps, "proof_steps": n_proof,
        "best_layer": best, "diagonality": per_layer.get(best, float("nan")),
        "diagonality_ci": [lo, hi], "diagonality_per_layer": per_layer,
        "matrices": matrices, "config": asdict(cfg),
    }
    if len(latent_steps) == 1:  # one position: its layers are the only axis it can reason along
        result["layers"] = sorted(by_layer)
        result["layer_matrix"] = [[_public(by_layer[layer].get((latent_steps[0], s)))
                                   for s in range(n_proof)] for layer in result["layers"]]
    out = Path(cfg.out)
    save_json(result, out / "alignment.json")
    save_figure(figure(result), out / "alignment.html")
    return result


def _public(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if cell is None else {k: v for k, v in cell.items() if not k.startswith("_")}


def layer_label(layer: int) -> str:
    return "embedding" if layer == 0 else f"layer {layer}"


def figure(result: dict[str, Any]) -> Any:
    """The latent step × proof step matrix at the result's ``best_layer``; for a one-position
    method (``layer_matrix``), the layer × proof step matrix at that position."""
    import plotly.graph_objects as go

    best = str(result["best_layer"])
    by_layer = result.get("layer_matrix")
    cells = by_layer if by_layer else result["matrices"].get(best, [])
    z = [[(c or {}).get("selectivity") for c in row] for row in cells]
    def f(c: dict[str, Any], key: str) -> str:
        return show(c.get(key), reason=c.get(UNDEFINED))

    text = [[("–" if c is None else f"probe {f(c, 'value')} [{f(c, 'ci_lo')}, {f(c, 'ci_hi')}]"
              f"<br>control {f(c, 'control')}<br>selectivity {f(c, 'selectivity')}"
              f"<br>n {c.get('n_items')}") for c in row] for row in cells]
    n_proof = result.get("proof_steps") or max((len(r) for r in cells), default=0)
    if by_layer:
        rows = [layer_label(la) for la in result.get("layers") or range(len(cells))]
    else:
        rows = [f"latent {t}" for t in result.get("latent_steps") or range(len(cells))]
    fig = go.Figure(go.Heatmap(z=z, x=[f"proof {s}" for s in range(n_proof)], y=rows,
                               text=text, hoverinfo="text", colorscale="Viridis",
                               colorbar={"title": "selectivity"}))
    if by_layer:
        return style(fig, f"Layer × proof step ({result.get('key')}) at the "
                     f"{result.get('kind')} position: where in depth each step is decodable",
                     "proof step", "layer")
    lo, hi = result.get("diagonality_ci") or (None, None)
    return style(fig, f"Latent step × proof step ({result.get('key')}), layer {best}: "
                 f"diagonality {show(result.get('diagonality'), reason=result.get(UNDEFINED))} "
                 f"[{show(lo)}, {show(hi)}]", "proof step", "latent step")
