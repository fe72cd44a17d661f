"""Logit lens: decode every latent step's state at every layer through the model's own head.

For a state ``h`` (the residual stream at one layer), the lens is the model's final LayerNorm
applied to ``h`` itself (its own mean and variance, then ``ln_final``'s weight and bias) followed
by the unembedding: ``logits = ln_final(h) @ W_U + b_U``. At the last layer this is exactly the
model's output (tested), so earlier layers show what the state "would say" if read out there.

Per row and layer: the top-k tokens with their probabilities, and the rank (1 = top) and
probability of the **proof-step token**, the token of what the row's proof step establishes
(ProsQA and ProntoQA: the node reached, ProntoQA's property steps: the property; chain: the value
computed; mult: the multiplier digit; rows whose proof content is no single token are skipped).

Graph tasks (those whose task module defines ``frontier``: ProsQA, reach) also get the **BFS
frontier** analysis (Reasoning by Superposition, Zhu et al. 2025; :mod:`analyses.frontier`): for
latent step t (Coconut: thought t // c) the frontier is the set of nodes at BFS depth t+1 from the
root. Each row compares the mean rank and probability of the frontier nodes' tokens with those of
the other reachable nodes and of the unreachable nodes, read out twice: through the logit lens,
and (``probe``) through a linear probe over node names trained on the main kind's states.

``run(LensConfig(run=…, store=…, out=…))`` writes ``lens.json`` (per layer, kind and step:
proof-token mean rank, mean log-rank, mean probability and top-1 rate; the mean top tokens; the
frontier comparison of the lens (``frontier``) and of the probe (``probe_frontier``); 95 %
bootstrap intervals over examples), ``lens.parquet`` (one row per state and layer) and the
figures ``lens.html`` (layer × step heatmap of the proof-token top-1 rate) and, for graph
tasks, ``lens_frontier.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from analyses.common import bootstrap_mean_ci, check_out, main_kind, save_figure, save_json, style
from analyses.frontier import (
    GROUPS,
    TokenSets,
    cell_value,
    frontier_figure,
    frontier_token_sets,
    probe_readout,
)
from workbench.config import Checked
from workbench.errors import UserError
from workbench.io import atomic_open, sha256_file
from workbench.runs import WEIGHTS, load_run
from workbench.schemas import Count, Folds, PositiveFloat, Seed
from workbench.stats import UNDEFINED, interval_reason
from workbench.store import MANIFEST, Store, open_store
from workbench.tokenizer import Tokenizer

#: Proof-record keys whose value names the step's token, tried in this order.
PROOF_TOKEN_KEYS = ("node", "property", "value", "digit")


@dataclass
class LensConfig(Checked):
    """Which run and store to decode, and where the results go."""

    run: str = ""
    """Run directory the store was captured from (its model.safetensors must match; default:
    the run the store's manifest records)."""
    store: str = ""
    """Trajectory store directory."""
    out: str = ""
    """Output directory (lens.json, lens.parquet, lens.html, lens_frontier.html)."""
    top_k: Count = 5
    """Tokens listed per state (and per layer × step cell, by mean probability)."""
    kinds: list[str] = field(default_factory=list)
    """Latent-step kinds to decode (default: every kind in the store)."""
    n_boot: Count = 200
    """Bootstrap resamples (over examples) for the 95 % intervals."""
    seed: Seed = 0
    """Bootstrap seed."""
    batch_size: Count = 2048
    """States decoded per batch."""
    probe: bool = True
    """Graph tasks: also read the frontier out with a linear probe over node names (main kind)."""
    folds: Folds = 5
    """Probe readout: cross-validation folds, grouped by example."""
    C: PositiveFloat = 1.0
    """Probe readout: inverse L2 regularisation strength."""
    max_iter: Count = 200
    """Probe readout: solver iterations."""
    device: str = "cpu"
    """cpu or cuda."""


# -- the lens ------------------------------------------------------------------------------------
def lens_logits(model: Any, states: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_vocab"]:
    """The model's head applied to residual states: ``unembed(ln_final(state))``, the final
    LayerNorm normalising each state with its own mean and variance."""
    shape = states.shape
    x = states.reshape(-1, 1, shape[-1]).to(model.W_U.dtype)
    ln = getattr(model, "ln_final", None)
    with torch.no_grad():
        if ln is not None:
            x = ln(x)
        logits = model.unembed(x)
    return logits.reshape(*shape[:-1], logits.shape[-1])


def token_ranks(logits: Float[Tensor, "n d_vocab"]) -> Tensor:
    """1-based rank of every token in each row (1 = the top token; ties by token id)."""
    order = torch.argsort(-logits, dim=-1, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(1, logits.shape[-1] + 1).expand_as(order))
    return ranks


def proof_token_id(labels: dict[str, Any], tokenizer: Tokenizer) -> int | None:
    """The token of a row's proof content (``y_proof_node``, ``…_property``, ``…_value``,
    ``…_digit``, first that is a single vocabulary token), or None."""
    for key in PROOF_TOKEN_KEYS:
        value = labels.get(f"y_proof_{key}")
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float):
            if not np.isfinite(value) or value != int(value):
                continue
            value = int(value)
        token = tokenizer.index.get(str(value))
        if token is not None:
            return token
    return None


# -- decoding a store ----------------------------------------------------------------------------
def _row_tokens(store: Store, rows: np.ndarray, tokenizer: Tokenizer
                ) -> tuple[np.ndarray, list[TokenSets] | None]:
    """Proof-token id per row (-1: none) and, for graph tasks, each row's frontier token sets."""
    table = store.steps.data.table.take(rows)
    keys = [f"y_proof_{k}" for k in PROOF_TOKEN_KEYS if f"y_proof_{k}" in table.column_names]
    cols = {k: table.column(k).to_pylist() for k in keys}
    found = (proof_token_id({k: cols[k][i] for k in keys}, tokenizer) for i in range(len(rows)))
    proof = np.array([-1 if t is None else t for t in found], dtype=np.int64)
    return proof, frontier_token_sets(store, table, tokenizer)


def decode_layer(model: Any, states: np.ndarray, proof: np.ndarray,
                 sets: list[TokenSets] | None, cell_ids: np.ndarray, top_k: int,
                 batch_size: int) -> dict[str, np.ndarray]:
    """Lens of ``states [n, d_model]`` at one layer: top-k ids and probabilities, proof-token
    rank and probability (NaN where none), each frontier group's mean rank and probability, and
    the mean probability of every token over the rows of each cell (``cell_ids``)."""
    n = len(states)
    out: dict[str, np.ndarray] = {
        "top_ids": np.zeros((n, top_k), np.int64), "top_probs": np.zeros((n, top_k), np.float32),
        "proof_rank": np.full(n, np.nan), "proof_prob": np.full(n, np.nan)}
    groups = GROUPS if sets is not None else ()
    for g in groups:
        out[f"{g}_rank"], out[f"{g}_prob"] = np.full(n, np.nan), np.full(n, np.nan)
    n_cells = int(cell_ids.max()) + 1 if n else 0
    sums = np.zeros((n_cells, model.cfg.d_vocab_out), np.float64)
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        x = torch.from_numpy(states[start:stop]).to(model.W_U.device)
        logits = lens_logits(model, x).float().cpu()
        p = torch.softmax(logits, dim=-1).numpy()
        ranks = token_ranks(logits).numpy()
        np.add.at(sums, cell_ids[start:stop], p)
        top = np.argsort(-p, axis=-1, kind="stable")[:, :top_k]
        k = top.shape[1]
        out["top_ids"][start:stop, :k] = top
        out["top_probs"][start:stop, :k] = np.take_along_axis(p, top, -1)
        for i in range(stop - start):
            row = start + i
            if proof[row] >= 0:
                out["proof_rank"][row] = ranks[i, proof[row]]
                out["proof_prob"][row] = p[i, proof[row]]
            for g in groups:
                ids = sets[row][g]
                if ids:
                    out[f"{g}_rank"][row] = ranks[i, ids].mean()
                    out[f"{g}_prob"][row] = p[i, ids].mean()
    counts = np.bincount(cell_ids, minlength=n_cells)[:, None] if n else np.ones((0, 1))
    out["cell_probs"] = sums / np.maximum(counts, 1)
    return out


def _summary(values: np.ndarray, groups: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """Mean of the finite values with a bootstrap interval over examples."""
    ok = np.isfinite(values)
    v, g = values[ok], groups[ok]
    if not len(v):
        return {"mean": None, "ci": None, "n": 0}
    ci = bootstrap_mean_ci(v, g, n_boot=n_boot, seed=seed)
    if not np.isfinite(ci[0]):  # one example: no interval (None, with the reason)
        return {"mean": float(v.mean()), "ci": None, "n": int(len(v)),
                UNDEFINED: "CI: " + (interval_reason(len(np.unique(g)), "examples")
                                     or "no resample gives a number")}
    return {"mean": float(v.mean()), "ci": list(ci), "n": int(len(v))}


def _groups_summary(dec: dict[str, np.ndarray], sel: np.ndarray, ex: np.ndarray,
                    cfg: LensConfig) -> dict[str, Any]:
    """Each frontier group's mean rank and probability over ``sel``, and the rank gap
    (unreachable minus frontier: positive where the frontier is read out first)."""
    out: dict[str, Any] = {g: {"mean_rank": _summary(dec[f"{g}_rank"][sel], ex, cfg.n_boot,
                                                     cfg.seed),
                               "mean_prob": _summary(dec[f"{g}_prob"][sel], ex, cfg.n_boot,
                                                     cfg.seed)} for g in GROUPS}
    gap = dec["unreachable_rank"][sel] - dec["frontier_rank"][sel]
    out["rank_gap"] = _summary(gap, ex, cfg.n_boot, cfg.seed)
    return out


def _cell(dec: dict[str, np.ndarray], sel: np.ndarray, cell: int, examples: np.ndarray,
          vocab: Sequence[str], cfg: LensConfig, frontier: bool) -> dict[str, Any]:
    ex = examples[sel]
    rank, prob = dec["proof_rank"][sel], dec["proof_prob"][sel]
    out: dict[str, Any] = {"n": int(len(sel)), "n_examples": int(len(np.unique(ex)))}
    out["proof_token"] = None if not np.isfinite(rank).any() else {
        "top1_rate": _summary(np.where(np.isfinite(rank), rank == 1, np.nan), ex, cfg.n_boot,
                              cfg.seed),
        "mean_rank": _summary(rank, ex, cfg.n_boot, cfg.seed),
        "mean_log_rank": _summary(np.log(rank), ex, cfg.n_boot, cfg.seed),
        "mean_prob": _summary(prob, ex, cfg.n_boot, cfg.seed),
    }
    mean_probs = dec["cell_probs"][cell]
    top = np.argsort(-mean_probs, kind="stable")[: cfg.top_k]
    out["top_tokens"] = [{"token": vocab[t], "mean_prob": float(mean_probs[t])} for t in top]
    if frontier:
        out["frontier"] = _groups_summary(dec, sel, ex, cfg)
    return out


def _probe_cells(readout: dict[str, Any], keys: list[tuple[str, int]], cell_ids: np.ndarray,
                 rows: np.ndarray, examples: np.ndarray, cfg: LensConfig
                 ) -> dict[tuple[str, int], dict[str, Any]]:
    """The probe readout of one layer summarised per (kind, step) cell of ``rows``."""
    k = len(readout["classes"])
    out = {}
    for i, key in enumerate(keys):
        sel = np.flatnonzero(cell_ids[rows] == i)
        if not len(sel):
            continue
        ex = examples[rows][sel]
        summary = _groups_summary(readout, sel, ex, cfg)
        summary["proof"] = {"mean_rank": _summary(readout["proof_rank"][sel], ex, cfg.n_boot,
                                                  cfg.seed)}
        chance = readout["chance_rank"][sel]
        out[key] = {**summary, "n_classes": k,
                    "chance_rank": float(np.nanmean(chance)) if np.isfinite(chance).any()
                    else None}
    return out


def _run_of(cfg: LensConfig, store: Store) -> str:
    """``--run``, else the run the store's manifest records (capture writes it)."""
    if cfg.run:
        return cfg.run
    recorded = store.manifest.get("run")
    if not recorded:
        raise UserError("the store's manifest records no run; pass --run",
                        file=store.path / MANIFEST, field="run")
    if not (Path(recorded) / WEIGHTS).is_file():
        raise UserError(f"the store was captured from {recorded}, which holds no {WEIGHTS} "
                        "now (moved or deleted?); pass --run", file=store.path / MANIFEST,
                        field="run")
    return str(recorded)


def _check_checkpoint(store: Store, run_dir: Path) -> None:
    weights = run_dir / WEIGHTS
    if store.manifest.get("checkpoint_sha256") != sha256_file(weights):
        raise UserError("store was captured from another checkpoint (checkpoint_sha256 differs "
                        f"from {weights})", file=store.path / MANIFEST)


def run(cfg: LensConfig) -> dict[str, Any]:
    """Decode the store's states at every layer; write lens.json, lens.parquet and figures."""
    check_out(cfg)
    import pandas as pd

    if cfg.top_k < 1:
        raise UserError("must be at least 1", field="top_k")
    store = open_store(cfg.store)
    run_dir = _run_of(cfg, store)
    loaded = load_run(run_dir, device=cfg.device)
    _check_checkpoint(store, Path(run_dir))
    kinds = cfg.kinds or list(store.manifest.get("kinds", []))
    for kind in kinds:
        if kind not in store.manifest.get("kinds", []):
            raise UserError(f"the store has no rows of kind {kind!r}", field="kinds")
    rows = np.flatnonzero(np.isin(store.column("kind"), kinds))
    vocab = loaded.tokenizer.vocab
    proof, sets = _row_tokens(store, rows, loaded.tokenizer)
    frontier = sets is not None
    examples = store.column("example_id")[rows].astype(str)
    steps, row_kinds = store.column("step")[rows], store.column("kind")[rows].astype(str)
    keys = [(kind, int(step)) for kind in kinds for step in np.unique(steps[row_kinds == kind])]
    cell_ids = np.zeros(len(rows), np.int64)
    for i, (kind, step) in enumerate(keys):
        cell_ids[(row_kinds == kind) & (steps == step)] = i
    main = main_kind(store) if main_kind(store) in kinds else kinds[0]
    probed = np.flatnonzero(row_kinds == main) if frontier and cfg.probe else None
    cells, frames = [], []
    for layer in range(store.n_layers + 1):
        states = store.resid(layer, rows)
        dec = decode_layer(loaded.model, states, proof, sets, cell_ids, cfg.top_k,
                           cfg.batch_size)
        by_probe = {}
        if probed is not None:
            readout = probe_readout(states[probed], proof[probed], [sets[i] for i in probed],
                                    examples[probed], folds=cfg.folds, C=cfg.C,
                                    max_iter=cfg.max_iter)
            by_probe = _probe_cells(readout, keys, cell_ids, probed, examples, cfg)
        for i, (kind, step) in enumerate(keys):
            sel = np.flatnonzero(cell_ids == i)
            cell = {"layer": layer, "kind": kind, "step": step,
                    **_cell(dec, sel, i, examples, vocab, cfg, frontier)}
            if frontier:
                cell["probe_frontier"] = by_probe.get((kind, step))
            cells.append(cell)
        frame = {"example_id": examples, "step": steps, "kind": row_kinds,
                 "position": store.column("position")[rows], "layer": layer,
                 "top_tokens": [[vocab[t] for t in ids] for ids in dec["top_ids"]],
                 "top_probs": list(dec["top_probs"]),
                 "proof_token": [vocab[t] if t >= 0 else None for t in proof],
                 "proof_rank": dec["proof_rank"], "proof_prob": dec["proof_prob"]}
        for g in GROUPS if frontier else ():
            frame[f"{g}_rank"], frame[f"{g}_prob"] = dec[f"{g}_rank"], dec[f"{g}_prob"]
        frames.append(pd.DataFrame(frame))
    out = Path(cfg.out)
    with atomic_open(out / "lens.parquet", "wb") as f:
        pd.concat(frames, ignore_index=True).to_parquet(f, index=False)
    files = {"parquet": str(out / "lens.parquet"),
             "figure": str(save_figure(heatmap(cells, kinds, store.n_layers), out / "lens.html"))}
    if frontier:
        fig = frontier_figure(cells, main, store.n_layers, str(store.manifest.get("task")))
        files["frontier_figure"] = str(save_figure(fig, out / "lens_frontier.html"))
    result = {
        "analysis": "lens", "config": asdict(cfg), "store": str(store.path), "run": run_dir,
        "task": store.manifest.get("task"), "method": store.manifest.get("method"),
        "n_layers": store.n_layers, "kinds": kinds, "rows": int(len(rows)),
        "rows_with_proof_token": int((proof >= 0).sum()), "frontier": frontier,
        "probe_kind": main if probed is not None else None,
        "cells": cells, "files": files,
    }
    save_json(result, out / "lens.json")
    return result


# -- figures -------------------------------------------------------------------------------------
def heatmap(cells: list[dict[str, Any]], kinds: Sequence[str], n_layers: int) -> Any:
    """Layer × latent step heatmap of the proof-token top-1 rate, one panel per kind."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=list(kinds),
                        horizontal_spacing=0.08)
    for i, kind in enumerate(kinds, start=1):
        mine = [c for c in cells if c["kind"] == kind]
        steps = sorted({c["step"] for c in mine})
        z = [[None] * len(steps) for _ in range(n_layers + 1)]
        text = [[""] * len(steps) for _ in range(n_layers + 1)]
        for c in mine:
            j = steps.index(c["step"])
            z[c["layer"]][j] = cell_value(c, "proof_token", "top1_rate", "mean")
            rank = cell_value(c, "proof_token", "mean_rank", "mean")
            text[c["layer"]][j] = "" if rank is None else f"rank {rank:.1f}, n={c['n']}"
        fig.add_trace(go.Heatmap(
            z=z, x=steps, y=list(range(n_layers + 1)), text=text, zmin=0, zmax=1,
            colorscale="Viridis", showscale=i == 1, colorbar={"title": "top-1 rate"},
            hovertemplate="step %{x}, layer %{y}<br>top-1 rate %{z:.2f}<br>%{text}"
                          "<extra></extra>"), row=1, col=i)
        fig.update_xaxes(title_text="latent step", dtick=1, row=1, col=i)
    style(fig, "Logit lens: how often the proof step's token is the top token",
          "latent step", "layer (0 = embeddings)")
    fig.update_yaxes(dtick=1)
    return fig
