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
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.io import atomic_write_text, read_json

SNAPSHOT_FILES = ("config.json", "metrics.json", "log.jsonl")
METHOD_ORDER = ("nocot", "pause", "cot", "coconut", "rim")
METHOD_NAMES = {"nocot": "no-CoT", "pause": "pause", "cot": "CoT", "coconut": "Coconut",
                "rim": "RiM"}
#: Coconut's Table 1 (GPT-2, accuracy %), as given in ../shared/DESIGN.md.
PUBLISHED = {
    "prosqa": {"cot": 77.5, "coconut": 97.0, "nocot": 76.7, "pause": 75.9},
    "prontoqa": {"cot": 98.8, "coconut": 99.8, "nocot": 93.8, "pause": 77.7},
}
#: Two-choice chance for ProsQA and ProntoQA; other tasks use the majority answer (see page).
TWO_CHOICE = {"prosqa": 0.5, "prontoqa": 0.5}


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
        config = json.loads((d / "config.json").read_text())
        metrics = json.loads((d / "metrics.json").read_text())
        log = [json.loads(x) for x in (d / "log.jsonl").read_text().splitlines() if x.strip()]
        rows.append({"name": d.name, "config": config, "metrics": metrics, "log": log})
    return rows


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _ms(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    values = [v * scale for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def task_table(rows: list[dict[str, Any]], task: str) -> list[str]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["config"]["method"]["name"]].append(r)
    published = PUBLISHED.get(task, {})
    lines = [
        "| method | seeds | test acc. % (mean ± sd) | 95 % CI (pooled) | any-block % | "
        "generated tokens | latent steps | TTFT ms (b=1) | TTFT / no-CoT | train min | "
        "parameters | published acc. % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    nocot_ttft = [r["metrics"]["test"].get("ttft_ms") for r in groups.get("nocot", [])]
    base = statistics.fmean(nocot_ttft) if nocot_ttft and None not in nocot_ttft else None
    for method in [m for m in METHOD_ORDER if m in groups]:
        runs = groups[method]
        tests = [r["metrics"]["test"] for r in runs]
        accs = [t["accuracy"] for t in tests]
        n = sum(t["n"] for t in tests)
        lo, hi = wilson(sum(a * t["n"] for a, t in zip(accs, tests)) / n, n)
        ttft = [t.get("ttft_ms") for t in tests]
        ratio = (_ms([x / base for x in ttft if x is not None], digits=2)
                 if base else "–")
        anyb = [t["any_block_accuracy"] for t in tests if "any_block_accuracy" in t]
        seeds = ", ".join(str(r["config"]["train"]["seed"]) for r in runs)
        any_block = _ms(anyb, 100) if anyb else "–"
        lines.append(
            f"| {METHOD_NAMES.get(method, method)} | {seeds} "
            f"| {_ms(accs, 100)} | {100 * lo:.1f}–{100 * hi:.1f} | {any_block} "
            f"| {_ms([t['mean_generated_tokens'] for t in tests])} "
            f"| {_ms([t['mean_latent_steps'] for t in tests])} | {_ms(ttft)} | {ratio} "
            f"| {_ms([r['metrics']['train']['seconds'] for r in runs], 1 / 60)} "
            f"| {runs[0]['metrics'].get('parameters', 0):,} "
            f"| {published.get(method, '–')} |")
    return lines


def curves_figure(rows: list[dict[str, Any]], task: str, path: Path) -> None:
    """Validation accuracy against training time, one line per run (plotly HTML)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in rows:
        points = [(e["elapsed_s"] / 60, 100 * e["valid_accuracy"]) for e in r["log"]
                  if "valid_accuracy" in e]
        if points:
            fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points],
                                     mode="lines+markers", name=r["name"]))
    fig.update_layout(title=f"{task}: validation accuracy during training",
                      xaxis_title="training time (minutes, 2 CPU cores)",
                      yaxis_title="validation accuracy (%)", template="plotly_white")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, fig.to_html(include_plotlyjs="cdn"))


def curve_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| run | validation accuracy % at (minutes) |", "|---|---|"]
    for r in rows:
        pts = [f"{100 * e['valid_accuracy']:.0f} ({e['elapsed_s'] / 60:.1f})" for e in r["log"]
               if "valid_accuracy" in e]
        lines.append(f"| {r['name']} | {' → '.join(pts) or '–'} |")
    return lines


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
        data = read_json(f)
        checks = data.get("checks", {}) if isinstance(data, dict) else {}
        out += [f"### {f.stem} (`benchmarks/{f.stem}.py`)", "", "| measure | value |",
                "|---|---|"]
        for key, value in data.items():
            if key != "checks":
                out.append(f"| {key} | {_value(value)} |")
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
    out = ["# Results", "", "Generated by `lwb results` from the run snapshots in "
           "`docs/results/runs/`; every number below was measured by the code. Timings: this "
           "project's 2-core CPU machine, batch size 1, greedy decoding with the KV cache.", ""]
    for key in sorted(by_task):
        task = key.split("/")[0]
        runs = by_task[key]
        n = runs[0]["metrics"]["test"]["n"]
        sizes = runs[0]["config"]["task"].get("sizes", {})
        chance = TWO_CHOICE.get(task)
        out += [f"## {key}", "",
                f"Test split: n = {n} examples per run; train/valid/test sizes {sizes}. "
                + (f"Chance (two-choice): {100 * chance:.0f} %." if chance else
                   "Chance (majority answer of the test split): "
                   f"{100 * runs[0]['metrics']['test'].get('majority_baseline', math.nan):.1f} %."),
                ""]
        out += task_table(runs, task)
        fig = root / f"{task}_curves.html"
        curves_figure(runs, key, fig)
        out += ["", f"Learning curves: [`{fig.name}`]({fig.relative_to(root.parent)})", ""]
        out += curve_table(runs) + [""]
    out += bench_section(root)
    if notes:
        out += [notes.strip(), ""]
    return "\n".join(out)


def results(runs: list[Path], out: Path, notes_file: Path | None = None,
            bench: list[Path] | None = None) -> str:
    root = out.parent / "results"
    for run in runs:
        snapshot(Path(run), root)
    for f in bench or []:
        data = read_json(f)
        if not isinstance(data, dict):
            raise UserError("a benchmark result must be one JSON object", file=f)
        (root / "benchmarks").mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / "benchmarks" / Path(f).name, json.dumps(data, indent=2) + "\n")
    notes = notes_file.read_text() if notes_file and notes_file.exists() else ""
    text = render(root, notes)
    atomic_write_text(out, text + "\n")
    return text
