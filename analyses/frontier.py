"""The BFS frontier in latent steps (Reasoning by Superposition, Zhu et al. 2025).

For a graph task (one whose :class:`~workbench.tasks.base.Task` has a ``frontier`` function:
ProsQA, reach), latent step t (0-based; Coconut: thought t // thoughts_per_step) is compared
with the nodes at BFS depth t+1 from the root (the **frontier**), the other nodes the root
reaches (**reachable**) and the nodes it cannot reach (**unreachable**). Two readouts score
every node name of each state, and each group's mean rank (1 = top) summarises the state:

* the **logit lens** (:mod:`analyses.lens`): the model's own head over the whole vocabulary;
* the **probe readout** (:func:`probe_readout`): a multinomial logistic regression over node
  names, trained per layer on the pooled latent steps of one kind to name the row's proof-step
  node, scored out of fold (folds grouped by example). Because names are redrawn per example,
  a probe that ranks the frontier above the unreachable nodes reads *which* nodes a state
  holds, not where they sit. Ranks are among the classes the row's probe was trained on (the
  node names that occur as proof nodes in the other folds); a group's nodes outside them are
  left out, so a store needs several examples per name for the readout to cover the frontier.

A superposed frontier shows as a frontier mean rank well below the unreachable nodes' (a
positive ``rank_gap``) at latent steps whose frontier holds more than the one proof node.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from analyses.common import style
from workbench.errors import UserError
from workbench.methods import proof_step
from workbench.stats import defined
from workbench.store import Store
from workbench.tasks import TASKS
from workbench.tokenizer import Tokenizer

GROUPS = ("frontier", "reachable", "unreachable")
#: ``{group: token ids}`` of one row.
TokenSets = dict[str, list[int]]


def latent_depth(method_options: dict[str, Any], kind: str, step: int) -> int:
    """The BFS depth latent step ``step`` of ``kind`` is compared with: its proof step + 1
    (``method_options``: the run's ``config["method"]``, as the store's manifest holds it)."""
    return proof_step(method_options, kind, step) + 1


def has_frontier(task: str | None) -> bool:
    """Whether the registered task defines a BFS frontier."""
    return task in TASKS and TASKS[task].frontier is not None


def frontier_token_sets(store: Store, table: Any, tokenizer: Tokenizer) -> list[TokenSets] | None:
    """Each row's frontier, reachable and unreachable node tokens (rows of ``table``, a slice of
    the store's steps); None where the store's task has no frontier."""
    name = store.manifest.get("task")
    if not has_frontier(name):
        return None
    frontier = TASKS[name].frontier
    questions = dict(zip(store.examples["example_id"], store.examples["question"]))
    options = {"name": store.manifest.get("method"), **(store.manifest.get("method_options") or {})}
    cache: dict[tuple[str, int], TokenSets] = {}
    out = []
    for ex, step, kind in zip(*(table.column(c).to_pylist()
                                for c in ("example_id", "step", "kind"))):
        key = (ex, latent_depth(options, kind, step))
        if key not in cache:
            try:
                found = frontier(questions[ex], key[1])
            except UserError as e:
                raise e.at(file=store.path / "examples") from None
            cache[key] = {g: sorted(tokenizer.index[n] for n in found[g]
                                    if n in tokenizer.index) for g in GROUPS}
        out.append(cache[key])
    return out


def out_of_fold_scores(X: np.ndarray, y: np.ndarray, groups: np.ndarray, classes: np.ndarray,
                       folds: int, C: float, max_iter: int) -> np.ndarray:
    """Class probabilities ``[n, len(classes)]`` of every row, from a probe fitted on the
    labelled rows (``y >= 0``, token ids in ``classes``) of the other folds (grouped by
    example). A class missing from a fold's training rows is NaN for that fold's rows: it
    cannot be ranked (with few examples per name, a row's own proof node is often such a class,
    and ranking it last would bias its group)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    index = {int(c): i for i, c in enumerate(classes)}
    proba = np.full((len(y), len(classes)), np.nan)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        return proba
    for train, test in GroupKFold(n_splits=min(folds, n_groups)).split(X, y, groups):
        train = train[y[train] >= 0]
        seen = np.unique(y[train])
        if len(seen) < 2:
            continue
        model = make_pipeline(StandardScaler(),
                              LogisticRegression(C=C, max_iter=max_iter, tol=1e-3))
        with warnings.catch_warnings():  # many classes of few members: expected
            warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)
            model.fit(X[train], y[train])
        proba[np.ix_(test, [index[int(c)] for c in seen])] = model.predict_proba(X[test])
    return proba


def class_ranks(proba: np.ndarray) -> np.ndarray:
    """1-based rank of every class in each row (1 = most probable; ties by class order; NaN
    classes last)."""
    order = np.argsort(-np.nan_to_num(proba, nan=-np.inf), axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, proba.shape[-1] + 1)[None, :].repeat(
        len(proba), 0), axis=-1)
    return ranks


def probe_readout(states: np.ndarray, proof: np.ndarray, sets: list[TokenSets],
                  groups: np.ndarray, *, folds: int = 5, C: float = 1.0, max_iter: int = 200
                  ) -> dict[str, Any]:
    """The probe readout of one layer: ``states [n, d_model]``, ``proof`` the rows' proof-node
    token ids (-1: none), ``sets`` their frontier token sets, ``groups`` their examples.
    Returns per row each group's mean rank and probability among the classes the row's probe
    was trained on (NaN where the group has none of them), the proof node's, the chance rank
    ``(classes + 1) / 2`` of the row's probe (``chance_rank``), and all ``classes``."""
    n = len(states)
    classes = np.unique(proof[proof >= 0])
    out: dict[str, Any] = {"classes": classes, "chance_rank": np.full(n, np.nan)}
    for g in (*GROUPS, "proof"):
        out[f"{g}_rank"], out[f"{g}_prob"] = np.full(n, np.nan), np.full(n, np.nan)
    if len(classes) < 2:
        return out
    proba = out_of_fold_scores(states.astype(np.float32), proof, groups, classes, folds, C,
                               max_iter)
    ranks = class_ranks(proba)
    seen = np.isfinite(proba)
    index = {int(c): i for i, c in enumerate(classes)}
    for row in np.flatnonzero(seen.any(1)):
        out["chance_rank"][row] = (seen[row].sum() + 1) / 2
        wanted = {g: sets[row][g] for g in GROUPS}
        wanted["proof"] = [int(proof[row])] if proof[row] >= 0 else []
        for g, ids in wanted.items():
            cols = [index[t] for t in ids if t in index and seen[row, index[t]]]
            if cols:
                out[f"{g}_rank"][row] = ranks[row, cols].mean()
                out[f"{g}_prob"][row] = proba[row, cols].mean()
    return out


# -- figure ----------------------------------------------------------------------------------------
def cell_value(cell: dict[str, Any], *path: str) -> Any:
    node: Any = cell
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return node


def frontier_figure(cells: list[dict[str, Any]], kind: str, n_layers: int, task: str) -> Any:
    """Mean rank of frontier, other reachable and unreachable nodes by latent step, one column
    per layer; top row the logit lens, bottom row (where computed) the probe readout; 95 %
    bootstrap intervals."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    sources = [("frontier", "logit lens")]
    if any(cell_value(c, "probe_frontier") for c in cells if c["kind"] == kind):
        sources.append(("probe_frontier", "probe readout"))
    titles = [f"layer {la}" for _ in sources for la in range(n_layers + 1)]  # short: no clash
    fig = make_subplots(rows=len(sources), cols=n_layers + 1, subplot_titles=titles,
                        vertical_spacing=0.18)
    colors = {"frontier": "#d62728", "reachable": "#1f77b4", "unreachable": "#7f7f7f"}
    names = {"frontier": "frontier (BFS depth t+1)", "reachable": "other reachable nodes",
             "unreachable": "unreachable nodes"}
    for r, (source, _) in enumerate(sources, start=1):
        for layer in range(n_layers + 1):
            mine = sorted((c for c in cells if c["kind"] == kind and c["layer"] == layer),
                          key=lambda c: c["step"])
            for g in GROUPS:
                stats = [cell_value(c, source, g, "mean_rank") or {} for c in mine]
                y = [s.get("mean") for s in stats]
                ci = [s.get("ci") or [np.nan, np.nan] for s in stats]
                fig.add_trace(go.Scatter(
                    x=[c["step"] for c in mine], y=y, mode="lines+markers", name=names[g],
                    legendgroup=g, showlegend=layer == 0 and r == 1, line={"color": colors[g]},
                    error_y={"type": "data", "symmetric": False,
                             "array": [hi - m if defined(m) and defined(hi) else None
                                       for (_, hi), m in zip(ci, y)],
                             "arrayminus": [m - lo if defined(m) and defined(lo) else None
                                            for (lo, _), m in zip(ci, y)]}),
                    row=r, col=layer + 1)
            fig.update_xaxes(title_text="latent step t", dtick=1, row=r, col=layer + 1)
        fig.update_yaxes(title_text=f"{sources[r - 1][1]}: mean rank", row=r, col=1)
    style(fig, f"BFS frontier in {task} {kind} states: mean rank of the frontier's node names "
          "vs the other nodes' (lower = read out)", "latent step t",
          f"{sources[0][1]}: mean rank")
    fig.update_layout(height=360 * len(sources) + 80)
    return fig
