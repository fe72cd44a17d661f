"""Blocks shared by pages: one example's problem, answer, logit lens, readouts and step-to-step
similarity (the trajectory browser shows one run, Compare two side by side), and each analysis's
figure with its table (the Probes, Interventions and Compare pages).

Figures use the one figure style of :func:`analyses.common.style`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from analyses.common import style
from app import common
from app import data as browse
from app.layout import layered_layout
from workbench.artifacts import Proof
from workbench.errors import UserError
from workbench.schemas import loads, parse
from workbench.stats import UNDEFINED, show
from workbench.tasks.problem import Problem

PATH_COLOR, NODE_COLOR, EDGE_COLOR = "#d62728", "#9ecae1", "#bdbdbd"
ROLE_SYMBOL = {"root": "diamond", "target": "star", "other option": "square",
               "other root": "diamond-open", "noise": "circle-open"}


# -- one example ---------------------------------------------------------------------------------
def problem_figure(p: Problem, title: str) -> Any:
    """The problem's graph, top-down, with the highlighted path in red."""
    import plotly.graph_objects as go

    pos = layered_layout(p.nodes, p.edges)
    fig = go.Figure()
    on_path = p.path_edges
    for (a, b) in p.edges:  # arrows: grey, the path's in red
        hot = (a, b) in on_path
        fig.add_annotation(x=pos[b][0], y=pos[b][1], ax=pos[a][0], ay=pos[a][1], xref="x",
                           yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2,
                           arrowsize=1.2, standoff=14, startstandoff=14,
                           arrowwidth=3 if hot else 1.2, arrowcolor=PATH_COLOR if hot
                           else EDGE_COLOR)
    path = set(p.path)
    for group, members in (("on the proof path", [n for n in p.nodes if n in path]),
                           ("other", [n for n in p.nodes if n not in path])):
        if not members:
            continue
        fig.add_trace(go.Scatter(
            x=[pos[n][0] for n in members], y=[pos[n][1] for n in members],
            mode="markers+text", name=group, text=[p.labels.get(n, n) for n in members],
            textposition="middle right", textfont={"size": 13},
            hovertext=[f"{p.labels.get(n, n)}<br>{p.roles.get(n, '')}" for n in members],
            hoverinfo="text",
            marker={"size": 18, "color": PATH_COLOR if group != "other" else NODE_COLOR,
                    "symbol": [ROLE_SYMBOL.get(p.roles.get(n, ""), "circle") for n in members],
                    "line": {"width": 1, "color": "#444"}}))
    style(fig, title, "", "")
    depth = -min((y for _, y in pos.values()), default=0)
    xs = [x for x, _ in pos.values()] or [0.0]
    fig.update_xaxes(visible=False, range=[min(xs) - 0.6, max(xs) + 1.4])
    fig.update_yaxes(visible=False, range=[-depth - 0.4, 0.6])
    fig.update_layout(height=int(180 + 80 * depth), showlegend=True,
                      legend={"orientation": "h", "y": -0.05})
    return fig


def show_problem(example: dict[str, Any], name: str, where: Any = None) -> None:
    """The question for a person: the graph (ProsQA, reach, chain) with the proof path
    highlighted and the question's sentences, those on the path in bold."""
    where = where or st
    try:
        proof = parse(Proof, loads(example.get("proof") or "[]"), field="proof")
    except UserError as e:
        where.warning(f"example {example.get('example_id')}: {e}")
        proof = []
    task = example.get("task") or ""
    with common.shown():
        p = browse.problem(task, example["question"], proof)
        if p is None:
            where.markdown(f"**Question.** {example['question']}")
            if proof:
                common.table(pd.DataFrame(proof), f"{name}-proof", where)
            return
        what = p.what
        chain = " → ".join(p.labels.get(n, n) for n in p.path)
        where.markdown(f"**{what.capitalize()}:** {chain}")
        sentences = " ".join(f":red[**{s}**]" if hot else s for s, hot in p.statements)
        where.markdown(sentences)
        common.figure(problem_figure(p, f"{task}: the question's graph, {what} in red"),
                      f"{name}-problem", where)
        where.caption(p.legend)


def show_answer(example: dict[str, Any], where: Any = None) -> None:
    where = where or st
    mark = (":green[✓ correct]" if example.get("correct")
            else ":red[✗ wrong]")
    where.markdown(f"**Answer:** {example.get('answer')} · **model:** "
                   f"{example.get('prediction')} · {mark}")


def lens_for(run: Path, steps: pd.DataFrame, example_id: str, kind: str
             ) -> tuple[pd.DataFrame, str]:
    """The example's lens: from ``lens.parquet`` when the run has one, else decoded now from the
    store's states through the run's own model (cached)."""
    try:
        lens = common.analysis(run, "lens.parquet")
    except browse.Missing:
        lens = None
    if lens is not None:
        part = browse.lens_from_file(lens, example_id, kind)
        if len(part):
            return part, "analyses/lens.parquet"
    rows = browse.example_steps(steps, example_id, kind)
    loaded = common.model(run)
    browse.check_checkpoint(common.store(run), run)
    states = common.states(run, rows["row"].to_numpy())
    return (browse.lens_on_the_fly(loaded.model, loaded.tokenizer, states, rows),
            "computed now from the store through the run's ln_final and unembedding")


def mark_step(fig: Any, index: int | None, rows: bool = False) -> Any:
    """Outline the ``index``-th category of a heatmap's x axis (and y axis with ``rows``): the
    step chosen in the sidebar (``?step=``)."""
    if index is not None and index >= 0:
        line = {"color": "#ff7f0e", "width": 3}
        fig.add_vrect(x0=index - 0.5, x1=index + 0.5, line=line, fillcolor="rgba(0,0,0,0)")
        if rows:
            fig.add_hrect(y0=index - 0.5, y1=index + 0.5, line=line, fillcolor="rgba(0,0,0,0)")
    return fig


def lens_figure(lens: pd.DataFrame, labels: dict[int, str], title: str,
                step: int | None = None) -> Any:
    """Step × layer grid: colour = the top token's probability, text = the top token, hover =
    the top tokens and the proof token's rank; the chosen ``step`` outlined."""
    import plotly.graph_objects as go

    steps = sorted(lens["step"].unique())
    layers = sorted(lens["layer"].unique())
    at = {(int(r["layer"]), int(r["step"])): r for r in lens.to_dict("records")}
    z, text, hover = [], [], []
    for la in layers:
        z.append([float(at[(la, s)]["top_probs"][0]) if (la, s) in at else None for s in steps])
        text.append([str(at[(la, s)]["top_tokens"][0]) if (la, s) in at else "" for s in steps])
        row = []
        for s in steps:
            r = at.get((la, s))
            if r is None:
                row.append("")
                continue
            tops = "<br>".join(f"{t} {float(p):.2f}" for t, p in zip(r["top_tokens"],
                                                                     r["top_probs"]))
            rank = r.get("proof_rank")
            proof = ("" if r.get("proof_token") is None or rank is None or np.isnan(rank)
                     else f"<br>proof token {r['proof_token']}: rank {int(rank)}")
            row.append(f"step {s}, layer {la}<br>{labels.get(s, '')}<br>{tops}{proof}")
        hover.append(row)
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"{s}: {labels.get(s, '')}" for s in steps], y=[str(la) for la in layers],
        text=text, texttemplate="%{text}", hovertext=hover, hoverinfo="text", zmin=0, zmax=1,
        colorscale="Blues", colorbar={"title": "top-1 p"}))
    mark_step(fig, steps.index(step) if step in steps else None)
    return style(fig, title, "latent step: proof step", "layer (0 = embeddings)")


def show_lens(run: Path, steps: pd.DataFrame, example_id: str, kind: str, name: str,
              where: Any = None, step: int | None = None) -> None:
    where = where or st
    with common.shown():
        lens, source = lens_for(run, steps, example_id, kind)
        rows = browse.example_steps(steps, example_id, kind)
        labels = {int(r["step"]): browse.proof_label(r) for r in rows.to_dict("records")}
        common.figure(lens_figure(lens, labels, f"Logit lens of {kind} states: top token per "
                                                f"layer and step", step), f"{name}-lens", where)
        where.caption(f"Logit lens {source}.")
        grid = browse.lens_grid(lens).reset_index()
        common.table(grid, f"{name}-lens-grid", where)


def show_readouts(steps: pd.DataFrame, example_id: str, name: str, where: Any = None) -> None:
    where = where or st
    with common.shown():
        common.table(browse.readouts(browse.example_steps(steps, example_id)),
                     f"{name}-readouts", where)


def cosine_figure(sim: np.ndarray, labels: list[str], title: str,
                  marked: int | None = None) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(go.Heatmap(z=sim, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu",
                               reversescale=True, texttemplate="%{z:.2f}",
                               colorbar={"title": "cosine"}))
    fig.update_yaxes(autorange="reversed")
    mark_step(fig, marked, rows=True)
    return style(fig, title, "latent step", "latent step")


def show_cosine(run: Path, steps: pd.DataFrame, example_id: str, kind: str, layer: int,
                name: str, where: Any = None, step: int | None = None) -> None:
    where = where or st
    with common.shown():
        rows = browse.example_steps(steps, example_id, kind)
        if len(rows) < 2:
            where.info(f"{example_id} has {len(rows)} {kind} step(s): nothing to compare")
            return
        sim = browse.cosine_matrix(common.states(run, rows["row"].to_numpy())[:, layer])
        numbers = [int(s) for s in rows["step"]]
        labels = [f"{kind} {s}" for s in numbers]
        common.figure(cosine_figure(sim, labels, f"Step-to-step cosine similarity of {kind} "
                                                 f"states at layer {layer}",
                                    numbers.index(step) if step in numbers else None),
                      f"{name}-cosine", where)


# -- analyses ------------------------------------------------------------------------------------
def show_probes(run: Path, name: str, where: Any = None) -> None:
    from analyses.probes import heatmap

    where = where or st
    with common.shown():
        records = common.analysis(run, "probes.json")  # checked: a non-empty list of cells
        target, kind = records[0].get("target"), records[0].get("kind")
        common.figure(heatmap(records, f"Linear probes for {target} ({kind} states); hover: "
                                       "CI, control, selectivity"), f"{name}-probes", where)
        best = max(records, key=lambda r: r["value"] if r.get("value") is not None else -np.inf)

        def f(key: str) -> str:
            return show(best.get(key), reason=best.get(UNDEFINED))

        where.markdown(f"Best cell: layer {best['layer']}, step {best['step']}: "
                       f"{best.get('metric', '')} {f('value')} [{f('ci_lo')}, {f('ci_hi')}], "
                       f"control {f('control')}, selectivity {f('selectivity')}")
        if best.get("value") is None:
            where.caption(f"Every cell is undefined: {best.get(UNDEFINED) or 'no value'}")
        cols = ["layer", "step", "metric", "value", "ci_lo", "ci_hi", "control", "selectivity",
                "chance", "majority", "n_items", "n_classes"]
        common.table(pd.DataFrame(records)[[c for c in cols if c in records[0]]],
                     f"{name}-probes-table", where, folded="every probe cell")


def show_alignment(run: Path, name: str, where: Any = None, layer_key: str = "") -> None:
    from analyses.alignment import figure

    where = where or st
    with common.shown():
        result = common.analysis(run, "alignment.json")
        if not result.get("matrices") or result.get("best_layer") is None:
            raise UserError("no alignment matrices (or no best_layer)",
                            file=browse.analysis_path(run, "alignment.json"), field="matrices")
        best = str(result["best_layer"])
        if result.get("layer_matrix"):  # one position (no-CoT, iCoT): layer × proof step
            common.figure(figure(result), f"{name}-alignment", where)
            where.markdown(f"One {result.get('kind')} position: each row is a layer at it "
                           "(selectivity = probe minus control-task accuracy), so a staircase "
                           "means later proof steps are decodable deeper.")
            return
        layers = sorted(result["matrices"], key=int)
        layer = where.selectbox("alignment layer", layers, index=layers.index(best),
                                key=f"{name}-alignment-layer{layer_key}",
                                format_func=lambda la: f"layer {la}" + (" (best)" if la == best
                                                                        else ""))
        per_layer = result.get("diagonality_per_layer", {})
        shown_result = {**result, "best_layer": layer,
                        "diagonality": per_layer.get(layer),
                        "diagonality_ci": result.get("diagonality_ci") if layer == best
                        else None}
        common.figure(figure(shown_result), f"{name}-alignment", where)
        lo, hi = result.get("diagonality_ci") or (None, None)
        diag = show(result.get("diagonality"), reason=result.get(UNDEFINED))
        where.markdown(f"Diagonality at the best layer ({best}): **{diag}** "
                       f"[{show(lo)}, {show(hi)}] (proof field `{result.get('key')}`, "
                       f"{result.get('kind')} states)")
        common.table(pd.DataFrame({"layer": list(per_layer), "diagonality":
                                   list(per_layer.values())}), f"{name}-diagonality", where,
                     folded="diagonality per layer")


def show_frontier(run: Path, name: str, where: Any = None) -> None:
    """Graph tasks: the BFS frontier read from each latent step (logit lens and probe readout),
    from ``lens.json``."""
    from analyses.frontier import GROUPS, frontier_figure
    from workbench.methods import main_kinds

    where = where or st
    with common.shown():
        result = common.analysis(run, "lens.json")
        if not result.get("frontier"):
            where.caption(f"The {result.get('task')} task has no graph, so no BFS frontier.")
            return
        kinds = result.get("kinds", [])
        kind = next((k for k in main_kinds() if k in kinds), kinds[0] if kinds else "")
        cells = [c for c in result["cells"] if c["kind"] == kind]
        common.figure(frontier_figure(cells, kind, result["n_layers"], str(result["task"])),
                      f"{name}-frontier", where)
        rows = []
        for c in cells:
            for source in ("frontier", "probe_frontier"):
                groups = c.get(source) or {}
                if not groups:
                    continue
                gap = groups.get("rank_gap") or {}
                rows.append({"readout": "logit lens" if source == "frontier" else "probe",
                             "layer": c["layer"], "latent step": c["step"],
                             **{f"{g} mean rank": (groups.get(g, {}).get("mean_rank") or {})
                                .get("mean") for g in GROUPS},
                             "rank gap": gap.get("mean"),
                             "gap ci": None if not gap.get("ci") else
                             f"[{show(gap['ci'][0], 2)}, {show(gap['ci'][1], 2)}]"})
        where.markdown("Latent step t is compared with the nodes at BFS depth t + 1 from the root "
                       "(the frontier); a positive rank gap (unreachable − frontier mean rank) "
                       "means the state ranks the frontier's nodes above the unreachable ones.")
        common.table(pd.DataFrame(rows), f"{name}-frontier-table", where,
                     folded="mean ranks per layer and step")


def show_correctness(run: Path, name: str, where: Any = None) -> None:
    from analyses.correctness import figure

    where = where or st
    with common.shown():
        from analyses.correctness import auroc_summary

        result = common.analysis(run, "correctness.json")
        records = result.get("records") or []
        value, reason = auroc_summary(result)
        if value is None:
            where.info(f"Correctness AUROC undefined: {reason}")
        if records:
            common.figure(figure(records, result.get("best_layer")), f"{name}-correctness",
                          where)
        best = [r for r in records if r["layer"] == result.get("best_layer")]
        where.markdown(f"Best layer {result.get('best_layer')}: AUROC per block "
                       + ", ".join(f"block {r['block']} "
                                   f"{show(r.get('value'), reason=r.get(UNDEFINED) or reason)}"
                                   for r in best))
        sel = result.get("selection") or {}
        common.table(pd.DataFrame([{"answer": k, "accuracy": v.get("accuracy"),
                                    "ci_lo": (v.get("ci") or [None, None])[0],
                                    "ci_hi": (v.get("ci") or [None, None])[1], "n": v.get("n"),
                                    "undefined": v.get(UNDEFINED)}
                                   for k, v in sel.items()]), f"{name}-selection", where)
        common.table(pd.DataFrame(records), f"{name}-correctness-table", where,
                     folded="every layer and block")


def interventions_table(result: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for r in result["results"]:
        lo, hi = r.get("accuracy_change_ci") or (None, None)
        rows.append({"step": "all" if r["step"] == "all" else str(int(r["step"])),
                     "kind": r["kind"], "accuracy": r.get("accuracy"),
                     "change": r.get("accuracy_change"), "ci_lo": lo, "ci_hi": hi,
                     "flip_rate": r.get("flip_rate"), "follows_donor": r.get("follows_donor")})
    return pd.DataFrame(rows)


def show_interventions(run: Path, name: str, where: Any = None) -> None:
    from analyses.interventions import figure

    where = where or st
    with common.shown():
        result = common.analysis(run, "interventions.json")
        common.figure(figure(result), f"{name}-interventions", where)
        where.markdown(f"Clean accuracy **{show(result.get('clean_accuracy'))}** on "
                       f"{result.get('n')} examples; interventions at layer "
                       f"{result.get('layer')} (`{result.get('hook')}`) on {result.get('steps')} "
                       f"{result.get('step_kind')}s (steps counted from 0, as everywhere).")
        common.table(interventions_table(result), f"{name}-interventions-table", where)


# -- projections ---------------------------------------------------------------------------------
@st.cache_data(show_spinner="PCA…", max_entries=16)
def _pca(run: str, stamp: float, layer: int, kind: str, n_components: int) -> Any:
    return browse.pca_frame(common._store(run, stamp), layer, kind, n_components)


def pca(run: Path, layer: int, kind: str, n_components: int) -> Any:
    """PCA of a small store (cached in memory and in the store's projection cache)."""
    stamp = browse.mtime(run / browse.STORE / "manifest.json")
    return _pca(str(run), stamp, layer, kind, n_components)


def projection_figure(df: pd.DataFrame, color: str, title: str, axes: list[str],
                      example: str) -> Any:
    """The projections analysis's scatter with ``example``'s trajectory as a bold line."""
    import plotly.graph_objects as go

    from analyses.projections import figure

    fig = figure(df, color, title, axes, trajectories=0)
    path = df[df["example_id"] == example].sort_values("step")
    three = "z" in df.columns
    xyz = {"x": path["x"], "y": path["y"], **({"z": path["z"]} if three else {})}
    trace = go.Scatter3d if three else go.Scatter
    fig.add_trace(trace(**xyz, mode="lines+markers+text", name=f"trajectory: {example}",
                        text=[f"{int(s)}" for s in path["step"]], textposition="top center",
                        line={"color": "#222", "width": 4},
                        marker={"size": 5 if three else 11, "color": "#222"},
                        hovertext=[f"{example} step {int(s)}" for s in path["step"]],
                        hoverinfo="text"))
    return fig


def clicked_example(state: Any) -> str | None:
    """The example of the point clicked in a projection (its hover data's first field)."""
    try:
        points = state["selection"]["points"]
        return str(points[0]["customdata"][0]) if points else None
    except (KeyError, IndexError, TypeError):
        return None
