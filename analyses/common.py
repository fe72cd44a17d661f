"""What every analysis shares: one figure style, atomic outputs, bootstrap intervals."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import UserError
from workbench.io import atomic_write_text
from workbench.methods import main_kinds
from workbench.safety import check_output, is_run, is_store
from workbench.stats import clean
from workbench.store import Store

TEMPLATE = "plotly_white"
FONT = {"family": "Inter, Helvetica, Arial, sans-serif", "size": 13}


#: The inputs an analysis config may name (each checked against ``out``).
INPUTS = ("store", "run", "data", "runs")


def check_out(cfg: Any) -> None:
    """An analysis's ``--out`` never aliases its input: it is not the store, run, data file or
    one of the runs it reads, holds none of them and lies inside none of them (inside a run only
    as ``<run>/analyses``, where the layout puts results); it is not a run directory, a store or
    a directory inside a store, and not a file. A one-line UserError before anything is read
    or written."""
    if not getattr(cfg, "out", None):
        return
    inputs = {name: getattr(cfg, name) for name in INPUTS if getattr(cfg, name, None)}
    target = check_output(cfg.out, inputs=inputs,
                          inside={"run": ["analyses/**"], "runs": ["analyses/**"]})
    if target.exists() and not target.is_dir():
        raise UserError("is a file: --out names the directory for the results; nothing written",
                        file=cfg.out, field="out")
    if is_run(target):
        raise UserError("is a run directory: an analysis writes into a directory of its own "
                        "(<run>/analyses); nothing written", file=cfg.out, field="out")
    for place in (target, *target.parents):
        if is_store(place):
            raise UserError(f"lies in the trajectory store {place}, which only lwb capture "
                            "writes; nothing written", file=cfg.out, field="out")


def main_kind(store: Any) -> str:
    """The kind an analysis looks at by default: the method's latent steps (RiM blocks, Coconut
    thoughts, pauses, CoT steps, no-CoT's answer position), else the first kind stored."""
    kinds = list(store.manifest.get("kinds", []))
    for k in main_kinds():  # asked now: a method registered later counts too
        if k in kinds:
            return k
    if kinds:
        return kinds[0]
    raise UserError("the store has no latent steps", file=store.path)


def store_layers(layers: Sequence[int] | None, n_layers: int) -> list[int]:
    """The residual-stream layers an analysis reads: ``layers`` checked against the store's
    model (0 = embeddings … ``n_layers`` = after the last block), default all of them."""
    if layers is None:
        return list(range(n_layers + 1))
    bad = [la for la in layers if not 0 <= la <= n_layers]
    if bad:
        raise UserError(f"{bad[0]} is not a layer of this store's model (0..{n_layers}: 0 = "
                        f"embeddings, {n_layers} = after the last block)", field="--layers")
    return list(layers)


#: A title wraps at this many characters (15 px type): it fits a figure 380 px wide, the
#: narrowest the app draws (the trajectory page's right column at 1280 px).
TITLE_CHARS = 48


def wrap(text: str, width: int = TITLE_CHARS) -> str:
    """``text`` broken into lines of at most ``width`` characters (plotly's ``<br>``)."""
    import textwrap

    return "<br>".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def style(fig: Any, title: str, x: str, y: str) -> Any:
    """The one figure style: readable title (wrapped, so it never runs past a narrow figure)
    and axis labels, white template; the top margin holds the title's lines and the subplot
    titles under them."""
    lines = wrap(title).count("<br>") + 1
    fig.update_layout(title={"text": wrap(title), "x": 0.02, "y": 1, "yref": "container",
                             "yanchor": "top", "pad": {"t": 16}, "font": {"size": 15}},
                      xaxis_title=x, yaxis_title=y, template=TEMPLATE, font=FONT,
                      margin={"l": 70, "r": 30, "t": 50 + 20 * lines, "b": 60})
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write an HTML figure that opens offline: ``plotly.min.js`` is written once into the same
    directory and referenced from there (nothing is fetched from the network)."""
    from plotly.offline import get_plotlyjs

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bundle = path.parent / "plotly.min.js"
    if not bundle.exists():
        atomic_write_text(bundle, get_plotlyjs())
    atomic_write_text(path, fig.to_html(include_plotlyjs="directory", full_html=True))
    return path


def save_json(obj: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # nan (an undefined statistic) becomes null: a record says why in its "undefined" field
    atomic_write_text(path, json.dumps(clean(obj), indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    raise TypeError(type(x))


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    groups: Sequence[Any] | np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(row_indices)`` over resamples of whole groups
    (examples), so rows of one example stay together. Undefined (nan, nan) with fewer than two
    groups (:func:`workbench.stats.interval_reason`) or when no resample gives a number."""
    groups = np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    if len(uniq) < 2:
        return (float("nan"), float("nan"))
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    values = []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample's empty mean: skipped
        for _ in range(n_boot):
            pick = rng.integers(0, len(uniq), len(uniq))
            idx = np.concatenate([members[g] for g in pick])
            v = statistic(idx)
            if v is not None and np.isfinite(v):
                values.append(v)
    if not values:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_mean_ci(
    values: np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """:func:`bootstrap_ci` of the mean of ``values`` (one per row, rows grouped by example),
    computed from per-group sums in one pass: the same resamples (same seed, same draws), the
    same interval, without a Python loop over resamples (a paired difference of means over
    the same rows is the mean of the row differences)."""
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    if len(uniq) < 2 or len(values) == 0:
        return (float("nan"), float("nan"))
    sums = np.bincount(inverse, weights=values, minlength=len(uniq))
    counts = np.bincount(inverse, minlength=len(uniq)).astype(float)
    pick = np.random.default_rng(seed).integers(0, len(uniq), (n_boot, len(uniq)))
    with np.errstate(all="ignore"):
        means = sums[pick].sum(1) / counts[pick].sum(1)
    means = means[np.isfinite(means)]
    if not len(means):
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def proof_table(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Each example's proof records (``examples`` of the store), by example id."""
    from workbench.artifacts import Proof
    from workbench.schemas import loads, parse

    where = store.path / "examples"
    return {r["example_id"]: parse(Proof, loads(r["proof"] or "[]", file=where), file=where,
                                   field=f"{r['example_id']}.proof")
            for r in store.examples}


def choose_key(proofs: dict[str, list[dict[str, Any]]], key: str | None) -> str:
    """``key`` if the proofs have it, else the field naming a proof step's content: ``value``
    (chain), ``node`` (ProsQA, reach), else the first field."""
    fields = [k for p in proofs.values() for rec in p for k in rec]
    if key is not None:
        if key not in fields:
            raise UserError(f"no proof field {key!r}; the proofs have {sorted(set(fields))}",
                            field="key")
        return key
    for k in ("value", "node"):
        if k in fields:
            return k
    if not fields:
        raise UserError("the examples carry no proof records", field="key")
    return fields[0]
