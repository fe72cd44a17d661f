"""``docs/RESULTS.md`` from run directories: what the code measured, never hand-typed numbers.

``lwb results RUN… --out docs/RESULTS.md`` copies each finished run's ``config.json``,
``metrics.json`` and ``log.jsonl`` (a few kB) under ``docs/results/runs/<name>/`` and renders the
page from those snapshots, so the page can be regenerated from the repository alone
(``lwb results --out docs/RESULTS.md`` with no runs re-renders from the snapshots).
``--bench FILE.json`` does the same for the JSON objects the ``benchmarks/`` scripts print: each
is kept as ``docs/results/benchmarks/<stem>.json`` and shown with its checks against the targets.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from workbench import artifacts
from workbench.errors import UserError
from workbench.io import atomic_write_text
from workbench.methods import METHODS, baseline_name, label_of, sort_key
from workbench.runs import read_config, read_metrics
from workbench.safety import check_output, check_output_file
from workbench.stats import interval_reason, show, wilson

SNAPSHOT_FILES = ("config.json", "metrics.json", "log.jsonl", "controls.json")
#: The RiM paper's AUROC of a linear probe on block states predicting readout correctness.
PUBLISHED_CORRECTNESS_AUROC = "0.84–0.86"
#: Two-choice chance for ProsQA, ProntoQA and reach; other tasks use the majority answer.
TWO_CHOICE = {"prosqa": 0.5, "prontoqa": 0.5, "reach": 0.5}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table (pandas ``to_markdown``: tabulate's GitHub pipe table),
    every cell written as given: ``disable_numparse`` keeps tabulate from reformatting a cell
    that reads as a number (``0.900`` stays ``0.900``, ``1,000`` stays ``1,000``)."""
    import pandas as pd

    frame = pd.DataFrame([list(r) for r in rows], columns=list(header), dtype=object)
    return frame.to_markdown(index=False, tablefmt="github",
                             disable_numparse=True).splitlines()


def snapshot(run: Path, root: Path) -> Path:
    if not (run / "metrics.json").exists():
        raise UserError("no metrics.json: the run has not finished", file=run)
    dest = root / "runs" / run.name
    dest.mkdir(parents=True, exist_ok=True)
    for name in SNAPSHOT_FILES:
        if (run / name).exists():
            shutil.copyfile(run / name, dest / name)
    return dest


def load(root: Path) -> list[dict[str, Any]]:
    rows = []
    for d in sorted((root / "runs").glob("*")):
        if not (d / "metrics.json").exists():
            continue
        config = read_config(d, artifacts.ConfigSummary)
        metrics = read_metrics(d)
        log = ([r.model_dump(exclude_unset=True) for r in artifacts.read_log(d / "log.jsonl")]
               if (d / "log.jsonl").exists() else [])
        controls = (artifacts.read_dict(d / "controls.json", artifacts.Controls)
                    if (d / "controls.json").exists() else None)
        test = metrics.get("test") or {}
        for key in ("n", "accuracy"):
            if test.get(key) is None:
                raise UserError("missing: the run has no test evaluation", file=d / "metrics.json",
                                field=f"test.{key}")
        rows.append({"name": d.name, "config": config, "metrics": metrics, "log": log,
                     "controls": controls})
    return rows


def controls_section(rows: list[dict[str, Any]]) -> list[str]:
    """The shortcut controls of each task/preset's test split (from the runs' controls.json)."""
    from workbench.tasks.controls import CONTROLS

    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        c = r["config"]["task"]
        if r.get("controls"):
            found.setdefault(f"{c['name']}/{c['preset']}", r["controls"])
    if not found:
        return []
    out = ["## Shortcut controls", "",
           "Can a shallow classifier read the answer off the question? Held-out accuracy (5-fold, "
           "95 % Wilson interval) of a logistic regression on the question's token counts and "
           "the candidates' identities, and of one on the candidates' local features (degrees, "
           "positions, occurrences), against chance (the majority class of the target), on the "
           "runs' test split. A control well above chance names a shortcut a model can take "
           "instead of the steps (`workbench/tasks/controls.py`).", ""]
    rows = []
    for key, controls in sorted(found.items()):
        first = next(iter(controls.values()))
        cells = []
        for name in CONTROLS:
            c = controls.get(name, {})
            cells.append((f"skipped: {c['skipped']}" if c.get("skipped") else "n/a")
                         if c.get("accuracy") is None else
                         f"{100 * c['accuracy']:.1f} [{100 * c['ci'][0]:.1f}, "
                         f"{100 * c['ci'][1]:.1f}]")
        chance = first.get("chance")
        rows.append([key, first.get("target", ""), *cells,
                     "–" if chance is None else f"{100 * chance:.1f}", str(first["n"])])
    return out + markdown_table(["task/preset", "target", *CONTROLS.values(), "chance", "n"],
                                rows) + [""]


def write_figure(fig: Any, path: Path) -> None:
    """A page figure as HTML (plotly from its CDN) with a fixed div id, so re-rendering the page
    from the same snapshots leaves the file byte-identical."""
    atomic_write_text(path, fig.to_html(include_plotlyjs="cdn", div_id=path.stem))


def ci_text(lo: float | None, hi: float | None, n: int, sep: str = "–") -> str:
    """A percent interval, or why it is undefined."""
    if lo is None or hi is None:
        return f"undefined ({interval_reason(n, 'test examples') or 'no interval'})"
    return f"{100 * lo:.1f}{sep}{100 * hi:.1f}"


def accuracy_ci(accs: list[float], ns: list[int]) -> tuple[float, float] | tuple[None, None]:
    """95 % CI of a method's accuracy: over seeds (Student t on the seed means, clipped to
    [0, 1]) when there are two or more, so that seed-to-seed variation counts; the Wilson
    interval over test examples for a single run."""
    if len(accs) >= 2:
        from scipy.stats import t

        mean, sd = statistics.fmean(accs), statistics.stdev(accs)
        half = float(t.ppf(0.975, len(accs) - 1)) * sd / math.sqrt(len(accs))
        return max(0.0, mean - half), min(1.0, mean + half)
    return wilson(accs[0], ns[0])


def _ms(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    values = [v * scale for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def size_of(row: dict[str, Any]) -> str:
    return str(row["config"].get("train", {}).get("size") or "?")


def main_size(rows: list[dict[str, Any]]) -> str:
    """The size a task's efficiency table compares its methods at: the one with the most methods,
    then the most runs (the others belong to the scaling section). A scaling grid adds many runs
    of a few methods at other sizes; it must not move the comparison off the size that has them
    all."""
    methods: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        methods[size_of(r)].add(r["config"]["method"]["name"])
        counts[size_of(r)] += 1
    return max(sorted(counts), key=lambda z: (len(methods[z]), counts[z]))


def task_table(rows: list[dict[str, Any]], task: str) -> list[str]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["config"]["method"]["name"]].append(r)
    header = ["method", "seeds", "test acc. % (mean ± sd)", "95 % CI", "any-block %",
              "generated tokens", "latent steps", "TTFT ms (b=1)", "TTFT / no-CoT", "train min",
              "parameters", "published acc. % (Coconut, GPT-2)",
              "published TTFT / no-CoT (RiM, GPU)"]
    lines = []
    nocot_ttft = [r["metrics"]["test"].get("ttft_ms") for r in groups.get(baseline_name(), [])]
    base = statistics.fmean(nocot_ttft) if nocot_ttft and None not in nocot_ttft else None
    for method in sorted(groups, key=sort_key):
        runs = groups[method]
        cls = METHODS.get(method)
        tests = [r["metrics"]["test"] for r in runs]
        accs = [t["accuracy"] for t in tests]
        lo, hi = accuracy_ci(accs, [t["n"] for t in tests])
        ttft = [t.get("ttft_ms") for t in tests]
        ratio = (_ms([x / base for x in ttft if x is not None], digits=2)
                 if base else "–")
        anyb = [t["any_block_accuracy"] for t in tests if "any_block_accuracy" in t]
        seeds = ", ".join(str(r["config"]["train"].get("seed", "?")) for r in runs)
        any_block = _ms(anyb, 100) if anyb else "–"
        lines.append([
            label_of(method), seeds, _ms(accs, 100),
            ci_text(lo, hi, sum(t["n"] for t in tests)), any_block,
            _ms([t.get("mean_generated_tokens") for t in tests]),
            _ms([t.get("mean_latent_steps") for t in tests]), _ms(ttft), ratio,
            _ms([(r["metrics"].get("train") or {}).get("seconds") for r in runs], 1 / 60),
            f"{runs[0]['metrics'].get('parameters', 0):,}",
            cls.published.get(task, "–") if cls else "–",
            (cls.published_ttft if cls else "") or "–"])
    return markdown_table(header, lines)


def depth_table(rows: list[dict[str, Any]]) -> list[str]:
    """Test accuracy per reasoning depth (``metrics.json``'s ``by_depth``), one row per method
    and one column per depth; empty where no run has it."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        table = r["metrics"].get("test", {}).get("by_depth")
        if table:
            groups[r["config"]["method"]["name"]].append(table)
    if not groups:
        return []
    depths = sorted({d for tables in groups.values() for t in tables for d in t}, key=int)
    order = sorted(groups, key=sort_key)
    lines = ["Test accuracy % by reasoning depth (the task's depth of each example): mean over "
             "seeds, 95 % CI over seeds where there are several, otherwise the Wilson interval "
             "over that depth's test examples; n: test examples of that depth (per run).", ""]
    rows = []
    for method in order:
        cells = []
        for d in depths:
            found = [t[d] for t in groups[method] if d in t]
            if not found:
                cells.append("–")
                continue
            accs, ns = [x["accuracy"] for x in found], [x["n"] for x in found]
            lo, hi = accuracy_ci(accs, ns)
            n = "/".join(str(x) for x in sorted(set(ns)))
            cells.append(f"{_ms(accs, 100)} [{ci_text(lo, hi, sum(ns))}] (n {n})")
        rows.append([label_of(method), *cells])
    return lines + markdown_table(["method", *(f"depth {d}" for d in depths)], rows) + [""]


ANALYSIS_FILES = ("alignment.json", "correctness.json", "interventions.json",
                  "projections.json", "probes.json")


def snapshot_analyses(run: Path, root: Path) -> Path:
    """Copy a run's analysis summaries (``RUN/analyses/*.json``, a few kB each), and which model
    they describe (``run.json``: task, preset, method, size, seed, from ``RUN/config.json``)."""
    src = run / "analyses"
    found = [f for f in ANALYSIS_FILES if (src / f).exists()]
    if not found:
        raise UserError("no analyses/*.json: run lwb demo or lwb analyze on it first", file=run)
    identity = None
    if (run / "config.json").exists():
        train = read_config(run, artifacts.ConfigTrain)["train"]
        identity = {k: train.get(k) for k in ("task", "preset", "method", "size", "seed")}
    dest = root / "analyses" / run.name
    dest.mkdir(parents=True, exist_ok=True)
    for name in found:
        atomic_write_text(dest / name, json.dumps(artifacts.read_analysis(src / name),
                                                  indent=1) + "\n")
    if (src / "lens.json").exists():  # the frontier readout only: lens.json is large
        summary = frontier_summary(artifacts.read_analysis(src / "lens.json"))
        if summary["cells"]:
            atomic_write_text(dest / FRONTIER, json.dumps(summary, indent=1) + "\n")
    if identity:
        atomic_write_text(dest / "run.json", json.dumps(identity, indent=1) + "\n")
    return dest


FRONTIER = "frontier.json"


def frontier_summary(lens: dict[str, Any]) -> dict[str, Any]:
    """The BFS-frontier readout of a lens result (:mod:`analyses.frontier`): per layer, kind and
    latent step, the mean rank of the frontier's and of the unreachable nodes' names and the
    rank gap (unreachable − frontier, with its CI), through the logit lens and the probe."""
    def group(readout: dict[str, Any] | None) -> dict[str, Any] | None:
        if not readout:
            return None
        return {"frontier_rank": (readout.get("frontier") or {}).get("mean_rank"),
                "unreachable_rank": (readout.get("unreachable") or {}).get("mean_rank"),
                "rank_gap": readout.get("rank_gap")}

    cells = [{"layer": c["layer"], "kind": c["kind"], "step": c["step"], "n": c.get("n"),
              "lens": group(c.get("frontier")), "probe": group(c.get("probe_frontier"))}
             for c in lens.get("cells", []) if c.get("frontier") or c.get("probe_frontier")]
    return {"method": lens.get("method"), "n_layers": lens.get("n_layers"), "cells": cells}


def _stat(s: dict[str, Any] | None) -> str:
    if not s:
        return "–"
    return _ci(s.get("mean"), *((s.get("ci") or [None, None])[:2]), digits=1)


def frontier_section(root: Path) -> list[str]:
    """Claim 2's superposition reading: do latent steps rank the BFS frontier's names above the
    nodes the root cannot reach? At each run's last layer, per latent step."""
    files = sorted((root / "analyses").glob(f"*/{FRONTIER}"))
    if not files:
        return []
    out = ["### The BFS frontier in latent steps", "",
           "Latent step t against the nodes at BFS depth t + 1 from the root (the frontier) and "
           "the nodes the root cannot reach, at the last layer (`analyses/frontier.py`): mean "
           "rank of their names (1 = top) through the logit lens and through a probe readout "
           "(out-of-fold), and the rank gap (unreachable − frontier; > 0: the frontier is read "
           "out first), 95 % bootstrap CI over examples; n: states.", ""]
    rows = []
    for f in files:
        summary = artifacts.read_analysis(f)
        cells = summary.get("cells", [])
        if not cells:
            continue
        last = max(c["layer"] for c in cells)
        for c in sorted((c for c in cells if c["layer"] == last),
                        key=lambda c: (c["kind"], c["step"])):
            lens, probe = c.get("lens") or {}, c.get("probe") or {}
            rows.append([
                f.parent.name, f"{c['kind']} {c['step']}", str(c.get("n", "–")),
                f"{_stat(lens.get('frontier_rank'))} / {_stat(lens.get('unreachable_rank'))}",
                _stat(lens.get("rank_gap")),
                f"{_stat(probe.get('frontier_rank'))} / {_stat(probe.get('unreachable_rank'))}",
                _stat(probe.get("rank_gap"))])
    return out + markdown_table(
        ["run", "latent step", "n", "lens: frontier / unreachable rank", "lens gap [CI]",
         "probe: frontier / unreachable rank", "probe gap [CI]"], rows) + [""]


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _ci(value: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    value, lo, hi = _num(value), _num(lo), _num(hi)
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text + (f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None and hi is not None
                   else "")


def depth_row(name: str, d: Path) -> list[str]:
    """One run's reasoning-depth numbers from its analysis snapshots (a table row's cells)."""
    def load_one(f: str) -> Any:
        return artifacts.read_analysis(d / f) if (d / f).exists() else None

    align, corr = load_one("alignment.json"), load_one("correctness.json")
    inter, proj, probes = (load_one("interventions.json"), load_one("projections.json"),
                           load_one("probes.json"))
    ident = load_one("run.json") or {}
    method = kind = "–"
    cells = [name]
    if align and align.get("layer_matrix"):  # one position: no latent step × proof diagonal
        kind = align.get("kind", "–")
        diag = "– (one position: layer × proof step in the figure)"
    elif align:
        kind = align.get("kind", "–")
        diag = _ci(align.get("diagonality"), *(align.get("diagonality_ci") or [None, None]))
        diag += f" (layer {align.get('best_layer')})"
    else:
        diag = "–"
    n = "–"
    if probes:
        good = [c for c in probes if _num(c.get("value")) is not None]
        best = max(good, key=lambda c: c["value"]) if good else None
        probe = (f"{_ci(best['value'], best.get('ci_lo'), best.get('ci_hi'))} at layer "
                 f"{best['layer']}, step {best['step']}; chance {best.get('chance', math.nan):.2f}"
                 if best else "–")
        n = str(best.get("n_items", "–")) if best else "–"
    else:
        probe = "–"
    auroc = "–"
    if corr:
        per_layer = {k: _num(v) for k, v in corr.get("mean_auroc_per_layer", {}).items()}
        per_layer = {k: v for k, v in per_layer.items() if v is not None}
        if per_layer:
            layer = max(per_layer, key=per_layer.get)
            auroc = f"{per_layer[layer]:.2f} (layer {layer})"
        else:
            from analyses.correctness import auroc_summary

            auroc = show(None, reason=auroc_summary(corr)[1])
    spec = "–"
    b = ((proj or {}).get("block_specificity") or {}).get("projected")
    if b:  # None where a run has one latent step a example (no-CoT)
        spec = f"{b['score']:.3f} (chance {b['chance']:.3f})"
    ablation = "–"
    if inter:
        method = inter.get("method", method)
        zero = [r for r in inter.get("results", []) if r.get("kind") == "zero"]
        if zero:
            worst = min(zero, key=lambda r: r["accuracy_change"])
            ablation = (f"{_ci(worst['accuracy_change'], *worst['accuracy_change_ci'])} "
                        f"(step {worst['step']}, layer {inter.get('layer')}; clean "
                        f"{inter.get('clean_accuracy', math.nan):.2f}, n {inter.get('n')})")
    method = ident.get("method") or (method if method != "–" else name.split("-")[-1])
    model = f"{ident.get('size', '–')}, seed {ident.get('seed', '–')}" if ident else "–"
    cells += [method, model, kind, n, diag, probe, auroc, spec, ablation]
    return cells


def depth_figure(root: Path, runs: list[Path]) -> Path | None:
    """Every snapshot's latent step × proof step selectivity matrix at its best layer, one row
    per task and one column per method, on one colour scale (``depth.html``); None where no run
    has an alignment."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from analyses.alignment import layer_label
    from analyses.common import style

    by_task: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for d in runs:
        if not (d / "alignment.json").exists():
            continue
        a = artifacts.read_analysis(d / "alignment.json")
        if a.get("matrices"):
            ident = artifacts.read_analysis(d / "run.json") if (d / "run.json").exists() else {}
            by_task[ident.get("task") or d.name.split("-")[0]].append((d.name, a))
    if not by_task:
        return None
    grid = [sorted(by_task[task], key=lambda x: (sort_key(x[0].split("-")[-1]), x[0]))
            for task in sorted(by_task)]
    n_cols = max(len(row) for row in grid)
    titles = []
    for row in grid:
        for name, a in row:
            lo, hi = (_num(x) for x in a.get("diagonality_ci") or [None, None])
            ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
            titles.append(f"{name} (layer {a['best_layer']})<br>diagonality "
                          f"{a['diagonality']:.2f}{ci}")
        titles += [""] * (n_cols - len(row))
    z_all = []
    for row in grid:
        for _, a in row:
            z_all.append([[_num((c or {}).get("selectivity")) for c in r]
                          for r in (a.get("layer_matrix")
                                    or a["matrices"][str(a["best_layer"])])])
    top = max([abs(v) for z in z_all for r in z for v in r if v is not None] or [1.0])
    fig = make_subplots(rows=len(grid), cols=n_cols, subplot_titles=titles,
                        horizontal_spacing=0.05, vertical_spacing=0.22)
    k = 0
    for i, row in enumerate(grid, start=1):
        for j, (name, a) in enumerate(row, start=1):
            fig.add_trace(go.Heatmap(
                z=z_all[k], x=[f"proof {s}" for s in range(a["proof_steps"])],
                y=([layer_label(la) for la in a["layers"]] if a.get("layer_matrix") else
                   [f"{a.get('kind', 'latent')} {t}" for t in a["latent_steps"]]),
                zmin=-top, zmax=top, colorscale="RdBu", reversescale=True, showscale=k == 0,
                colorbar={"title": "selectivity"},
                hovertemplate=f"{name}<br>%{{y}}, %{{x}}<br>selectivity %{{z:.3f}}"
                              "<extra></extra>"), row=i, col=j)
            fig.update_xaxes(title_text="proof step", row=i, col=j)
            k += 1
        fig.update_yaxes(title_text="latent step", row=i, col=1)
    style(fig, "Claim 2: which latent step decodes which proof step (probe accuracy minus "
          "control-task accuracy, at each run's best layer; one-position methods: layer × "
          "proof step)", "proof step", "latent step")
    fig.update_layout(height=120 + 380 * len(grid), width=max(700, 300 * n_cols),
                      margin={"t": 110})
    path = root / "depth.html"
    write_figure(fig, path)
    return path


def depth_section(root: Path) -> list[str]:
    runs = sorted(p for p in (root / "analyses").glob("*") if p.is_dir())
    out = ["## Claim 2: reasoning depth", ""]
    if not runs:
        return out + ["No analysis snapshots yet (`lwb results --analyses RUN…`).", ""]
    out += ["From each run's analyses on its test split (snapshots in "
            "`docs/results/analyses/`; `lwb demo` computes them). Diagonality: mean diagonal "
            "minus mean off-diagonal of the latent step × proof step selectivity matrix (probe "
            "accuracy minus control-task accuracy) at the best layer (0 = no step-wise "
            "alignment), 95 % bootstrap CI. Probe: the best cell of the "
            "layer × step grid for the proof value, balanced accuracy with 95 % CI. "
            "Block-specificity: silhouette of latent steps grouped by step index in the "
            "projection (chance: shuffled indices). Ablation: the largest accuracy change when "
            "one latent step's states are zeroed, 95 % CI over examples. Published (RiM paper): "
            f"correctness AUROC {PUBLISHED_CORRECTNESS_AUROC} on block states. One model per "
            "row (its size and seed are given); n: test examples in the best probe's cell "
            "(those whose proof has that step), on which it was cross-validated.", ""]
    rows = []
    for d in runs:
        try:
            rows.append(depth_row(d.name, d))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise UserError(f"unexpected analysis snapshot content ({type(e).__name__}: {e})",
                            file=d) from None
    out += markdown_table(["run", "method", "model", "latent kind", "n", "diagonality [CI]",
                           "best probe [CI]", "correctness AUROC", "block-specificity",
                           "zero-ablation Δ accuracy [CI]"], rows)
    try:
        fig = depth_figure(root, runs)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise UserError(f"unexpected alignment snapshot content ({type(e).__name__}: {e})",
                        file=root / "analyses") from None
    if fig:
        out += ["", f"Figure (alignment matrices): [`{fig.name}`]({fig.relative_to(root.parent)})"]
    out.append("")
    return out + frontier_section(root)


def _lr(lr: Any) -> str:
    return "?" if lr is None else f"{lr:g}" if isinstance(lr, (int, float)) else str(lr)


def lr_check_table(rows: list[dict[str, Any]], recipe: dict[tuple[str, str], Any]) -> list[str]:
    """Every (task, size) that has runs at more than one learning rate: each rate's accuracy and
    final training loss per method, the recipe's rate marked."""
    from analyses.compare import lr_order

    checked = sorted({(r["task"], r["size"]) for r in rows
                      if r.get("lr") != recipe[(r["task"], r["size"])]})
    if not checked:
        return []
    out = ["Learning-rate checks: runs of a size at a rate other than its recipe's (not part of "
           "the table or fits above). Mean over seeds; final training loss is the last logged "
           "step's.", ""]
    table = []
    for task, size in checked:
        groups: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            if (r["task"], r["size"]) == (task, size):
                groups[(r["method"], r.get("lr"))].append(r)
        for (method, lr), rs in sorted(groups.items(),
                                       key=lambda kv: (kv[0][0], lr_order(kv[0][1], -1))):
            mark = " (recipe)" if lr == recipe[(task, size)] else ""
            seeds = ", ".join(str(r.get("seed")) for r in sorted(rs, key=lambda r: str(
                r.get("seed"))))
            table.append([
                task, size, label_of(method), f"{_lr(lr)}{mark}", seeds,
                _ms([r.get("final_loss") for r in rs], digits=3),
                _ms([r.get("valid_accuracy") for r in rs], 100),
                _ms([r.get("accuracy") for r in rs], 100)])
    return out + markdown_table(["task", "size", "method", "lr", "seeds", "final train loss",
                                 "valid acc. %", "test acc. %"], table) + [""]


def scaling_section(root: Path, rows: list[dict[str, Any]]) -> list[str]:
    """Accuracy per (task, method, size) over seeds and the logit-accuracy slope per doubling;
    ``rows``: :func:`analyses.compare.compare_runs` of the run snapshots. Each size keeps to its
    recipe's learning rate (:func:`analyses.compare.recipe_lrs`); runs at other rates get their
    own table."""
    from analyses.compare import recipe_lrs, scaling_figure, scaling_fits, split_recipe
    from workbench.models import PRESETS

    out = ["## Claim 3: scaling", ""]
    rows = [r for r in rows if r.get("accuracy") is not None and r.get("size")]
    recipe = recipe_lrs(rows)
    checks = lr_check_table(rows, recipe)
    rows = split_recipe(rows)[0]
    by = defaultdict(list)
    for r in rows:
        by[(r["task"], r["method"], r["size"])].append(r)
    per_method = defaultdict(set)
    for task, method, size in by:
        per_method[(task, method)].add(size)
    if not any(len(v) >= 2 for v in per_method.values()):
        return out + ["Not measured yet: every finished run has one size per method. "
                      "`lwb experiment scaling --config experiments/scaling.yaml` trains the "
                      "grid.", ""]
    order = list(PRESETS)
    sizes = sorted({size for _, _, size in by}, key=lambda x: (order.index(x) if x in order
                                                              else len(order), x))
    params = {z: sorted({r["parameters"] for (_, _, s), rs in by.items() if s == z for r in rs
                         if r.get("parameters")}) for z in sizes}
    lrs = {z: sorted({_lr(lr) for (_, s), lr in recipe.items() if s == z}) for z in sizes}

    def head(z: str) -> str:
        p = params[z]
        parts = [f"{p[0] / 1e6:.2f}M"] if p and p[0] / 1e6 >= 0.01 else []
        return f"{z} (" + "; ".join(parts + ["lr " + "/".join(lrs[z])]) + ")"

    fits = scaling_fits(rows)
    out += ["Test accuracy % (mean ± sd over seeds; n seeds in brackets) per model size (its "
            "parameter count, which varies slightly with the method's vocabulary, and the "
            "learning rate of its recipe in brackets), and the slope of logit(accuracy) per "
            "doubling of parameters with its 95 % CI (bootstrap over seeds; "
            "`analyses/compare.py`).", ""]
    table = []
    for fit in fits:
        task, method = fit["task"], fit["method"]
        cells = []
        for z in sizes:
            runs = by.get((task, method, z), [])
            cells.append(f"{_ms([r['accuracy'] for r in runs], 100)} ({len(runs)})" if runs
                         else "–")
        slope = "–"
        if fit["slope_per_doubling"] is not None:
            ci = fit["slope_ci"]
            slope = f"{fit['slope_per_doubling']:.2f}" + (
                f" [{ci[0] * math.log(2):.2f}, {ci[1] * math.log(2):.2f}]" if ci else "")
        table.append([task, label_of(method), *cells, slope])
    out += markdown_table(["task", "method", *(head(z) for z in sizes),
                           "slope per doubling [CI]"], table)
    fig = root / "scaling.html"
    write_figure(scaling_figure(rows, fits), fig)
    out += ["", f"Figure: [`{fig.name}`]({fig.relative_to(root.parent)})", ""]
    return out + checks


def efficiency_figure_link(root: Path, rows: list[dict[str, Any]]) -> list[str]:
    from analyses.compare import efficiency_figure

    if not rows:
        return []
    fig = root / "efficiency.html"
    write_figure(efficiency_figure(rows), fig)
    return [f"Figure (every run, every size): [`{fig.name}`]({fig.relative_to(root.parent)})",
            ""]


def curves_figure(rows: list[dict[str, Any]], task: str, path: Path) -> None:
    """Validation accuracy against training time, one line per run (plotly HTML)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in rows:
        points = [(e["elapsed_s"] / 60, 100 * e["valid_accuracy"]) for e in r["log"]
                  if e.get("valid_accuracy") is not None and e.get("elapsed_s") is not None]
        if points:
            fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points],
                                     mode="lines+markers", name=r["name"]))
    fig.update_layout(title=f"{task}: validation accuracy during training",
                      xaxis_title="training time (minutes, 2 CPU cores)",
                      yaxis_title="validation accuracy (%)", template="plotly_white")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_figure(fig, path)


def curve_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in rows:
        pts = [f"{100 * e['valid_accuracy']:.0f} ({e['elapsed_s'] / 60:.1f})" for e in r["log"]
               if e.get("valid_accuracy") is not None and e.get("elapsed_s") is not None]
        lines.append([r["name"], " → ".join(pts) or "–"])
    return markdown_table(["run", "validation accuracy % at (minutes)"], lines)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.3e}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    return str(v)


def bench_section(root: Path) -> list[str]:
    """One table per benchmark snapshot: every measured value, then its checks."""
    files = sorted((root / "benchmarks").glob("*.json"))
    if not files:
        return []
    out = ["## Benchmarks", "",
           "The JSON objects printed by the `benchmarks/` scripts (snapshots in "
           "`docs/results/benchmarks/`), on this project's 2-core CPU machine unless a `device` "
           "field says otherwise. Ratios were measured side by side in one run.", ""]
    for f in files:
        data = artifacts.read(f, artifacts.Benchmark)
        checks = data.get("checks", {}) if isinstance(data, dict) else {}
        out += [f"### {f.stem} (`benchmarks/{f.stem}.py`)", ""]
        out += markdown_table(["measure", "value"], ([key, _value(value)]
                                                     for key, value in data.items()
                                                     if key != "checks"))
        if checks:
            out += ["", "Checks: " + "; ".join(
                f"{k} {'✓' if ok else '✗ (missed)'}" for k, ok in checks.items())]
        out.append("")
    return out


def render(root: Path, notes: str = "") -> str:
    rows = load(root)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        c = r["config"]["task"]
        by_task[f"{c['name']}/{c['preset']}"].append(r)
    out = ["# Results", "", "Generated by `lwb results` from the snapshots in `docs/results/` "
           "(runs, analyses, benchmarks); every number below was measured by the code. Timings: "
           "this project's 2-core CPU machine, batch size 1, greedy decoding with the KV cache. "
           "The discussion at the end is written by hand.", "",
           "## Claim 1: latent efficiency", "",
           "Accuracy against generated tokens and time to first answer token (TTFT), per task, "
           "at the size that has the most methods (runs at a size's off-recipe learning rate "
           "left out; see claim 3). 95 % CI: over seeds (Student t on the per-seed accuracies) "
           "where there are several seeds, otherwise the Wilson interval over the test "
           "examples.", ""]
    from analyses.compare import compare_runs, split_recipe

    compared = compare_runs([root / "runs" / r["name"] for r in rows])
    # runs at a size's off-recipe learning rate are checks: the scaling section shows them apart
    off_recipe = {Path(r["run"]).name for r in split_recipe(
        [r for r in compared if r.get("accuracy") is not None])[1]}
    curves: list[str] = []
    for key in sorted(by_task):
        task = key.split("/")[0]
        kept = [r for r in by_task[key] if r["name"] not in off_recipe]
        size = main_size(kept)
        runs = [r for r in kept if size_of(r) == size]
        n = runs[0]["metrics"]["test"]["n"]
        sizes = runs[0]["config"]["task"].get("sizes", {})
        chance = TWO_CHOICE.get(task)
        out += [f"### {key} (size {size})", "",
                f"Test split: n = {n} examples per run; train/valid/test sizes {sizes}. "
                + (f"Chance (two-choice): {100 * chance:.0f} %." if chance else
                   "Chance (majority answer of the test split): "
                   f"{100 * runs[0]['metrics']['test'].get('majority_baseline', math.nan):.1f} %."),
                ""]
        out += task_table(runs, task) + [""]
        out += depth_table(runs)
        preset = key.split("/")[1]  # one figure per task and preset (reach: padded, trees)
        fig = root / (f"{task}_curves.html" if preset == "demo" else f"{task}_{preset}_curves.html")
        curves_figure(runs, key, fig)
        curves += [f"### {key} (size {size})", "",
                   f"Figure: [`{fig.name}`]({fig.relative_to(root.parent)})", ""]
        curves += curve_table(runs) + [""]
    out += efficiency_figure_link(root, compared)
    out += controls_section(rows)
    out += depth_section(root)
    out += scaling_section(root, compared)
    out += ["## Learning curves", "", "Validation accuracy during training (minutes of wall "
            "time on the 2-core machine).", ""] + curves
    out += bench_section(root)
    if notes:
        out += [notes.strip(), ""]
    return "\n".join(out)


def results(runs: list[Path], out: Path, notes_file: Path | None = None,
            bench: list[Path] | None = None, analyses: list[Path] | None = None) -> str:
    root = out.parent / "results"
    inputs = {"runs": [str(r) for r in runs], "analyses": [str(r) for r in analyses or []],
              "bench": [str(f) for f in bench or []],
              "notes": str(notes_file) if notes_file else None}
    check_output_file(out, inputs)  # the page aliases no input
    # nor does the snapshot directory beside it hold or lie in a run it reads
    check_output(root, inputs={k: inputs[k] for k in ("runs", "analyses")}, field="out")
    for run in runs:
        snapshot(Path(run), root)
    for run in analyses or []:
        snapshot_analyses(Path(run), root)
    for f in bench or []:
        data = artifacts.read(f, artifacts.Benchmark)
        (root / "benchmarks").mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / "benchmarks" / Path(f).name, json.dumps(data, indent=2) + "\n")
    notes = notes_file.read_text() if notes_file and notes_file.exists() else ""
    text = render(root, notes)
    atomic_write_text(out, text + "\n")
    return text
