"""``lwb demo``: the main job on built-in defaults.

1. **Models**: verify the committed model zoo (``zoo/``, sha256 of every file in
   ``zoo/MANIFEST.json``) and copy its runs into the demo's runs root; ``--retrain`` trains the
   ``chain`` models from scratch instead, ``--quick`` trains tiny ones (what CI and tests use).
2. **Capture** every run's trajectories on its test split → ``<run>/store/``.
3. **Analyses** of every store → ``<run>/analyses/``: probes, alignment, correctness (RiM),
   projections (PCA, and UMAP unless ``--quick``), logit lens, interventions; ``compare/``.
4. A **summary table** (accuracy, generated tokens, time to first token, diagonality,
   correctness AUROC), then the **app** on the runs root, unless ``--no-app``.

Every step checks for its output first and skips what is done (outputs are written atomically,
so a present file is a finished one); a killed demo picks up where it stopped.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.io import sha256_file
from workbench.tasks.generate import GenerateConfig, generate_file

ZOO = Path(__file__).resolve().parent.parent / "zoo"
METHODS = ("nocot", "cot", "pause", "coconut", "rim")
LATENT = {"pause", "coconut", "rim"}


@dataclass
class DemoConfig:
    """Where the demo writes and what it does."""

    out: str = "runs/demo"
    """Runs root the demo fills (and the app serves)."""
    tasks: list[str] = field(default_factory=lambda: ["chain"])
    """Tasks whose zoo models are used (chain and/or prosqa)."""
    app: bool = True
    """Serve the app on the runs root at the end (--no-app: stop after the summary)."""
    quick: bool = False
    """Train tiny models from scratch (a minute or two; what CI uses)."""
    retrain: bool = False
    """Train the chain demo models from scratch instead of using the zoo."""
    port: int = 8501
    """Port of the app."""
    quiet: bool = False
    """No progress bars."""


def verify_zoo(zoo: Path = ZOO) -> dict[str, Any]:
    """Check every zoo file against ``zoo/MANIFEST.json``; a mismatch is a one-line error."""
    manifest_file = zoo / "MANIFEST.json"
    if not manifest_file.exists():
        raise UserError("the model zoo has no MANIFEST.json (use --retrain or --quick)",
                        file=manifest_file)
    manifest = json.loads(manifest_file.read_text())
    for rel, digest in manifest["sha256"].items():
        path = zoo / rel
        if not path.is_file():
            raise UserError("missing from the model zoo", file=path)
        if sha256_file(path) != digest:
            raise UserError("checksum mismatch with zoo/MANIFEST.json", file=path)
    return manifest


def _log(cfg: DemoConfig, text: str) -> None:
    if not cfg.quiet:
        print(text, flush=True)


def _data(root: Path, task: str, preset: str, split: str) -> Path:
    path = root / "data" / f"{task}-{preset}-{split}.jsonl"
    if not path.exists():
        generate_file(GenerateConfig(task=task, preset=preset, split=split, out=str(path)),
                      quiet=True)
    return path


def prepare_runs(cfg: DemoConfig, root: Path) -> list[Path]:
    """The demo's run directories: copied from the zoo, or trained."""
    runs: list[Path] = []
    if cfg.quick or cfg.retrain:
        from train.config import TrainConfig
        from train.loop import train

        preset = "tiny" if cfg.quick else "demo"
        for task in (["chain"] if cfg.quick or cfg.retrain else cfg.tasks):
            for method in METHODS:
                out = root / f"{task}-{method}"
                if not (out / "metrics.json").exists():
                    _log(cfg, f"training {out.name} ({preset} preset)")
                    quick = {"size": "nano", "steps": 80, "lr": 3e-3, "latency_examples": 4,
                             "eval_every": 1000}
                    tc = TrainConfig(**{"task": task, "preset": preset, "method": method,
                                        "size": "micro", "out": str(out), "quiet": cfg.quiet,
                                        "resume": (out / "config.json").exists(),
                                        **(quick if cfg.quick else {})})
                    opts = {"epochs_per_stage": 5} if cfg.quick and method == "coconut" else {}
                    train(tc, opts)
                runs.append(out)
        return runs
    manifest = verify_zoo()
    for task in cfg.tasks:
        for method in METHODS:
            name = f"{task}-{method}"
            src, dst = ZOO / name, root / name
            if name not in manifest.get("runs", {}):
                raise UserError(f"the model zoo has no {name}", file=ZOO)
            if not (dst / "manifest.json").exists():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            runs.append(dst)
    return runs


def capture_and_analyse(cfg: DemoConfig, root: Path, run: Path) -> None:
    from workbench.capture import CaptureConfig, capture
    from workbench.runs import read_config

    config = read_config(run)
    task, preset = config["task"]["name"], config["task"]["preset"]
    test = _data(root, task, preset, "test")
    store, out = run / "store", run / "analyses"
    method = config["method"]["name"]
    if not (store / "manifest.json").exists():
        _log(cfg, f"capturing {run.name}")
        capture(CaptureConfig(run=str(run), data=str(test), out=str(store), force=True,
                              quiet=True))
    steps: list[tuple[str, Any]] = []
    from analyses import alignment, correctness, interventions, lens, probes, projections

    target = "y_proof_node" if task == "prosqa" else "y_proof_value"
    boot = 50 if cfg.quick else 200
    steps.append(("probes.json", lambda: probes.run(probes.ProbeConfig(
        store=str(store), out=str(out), target=target, n_boot=boot))))
    steps.append(("alignment.json", lambda: alignment.run(alignment.AlignmentConfig(
        store=str(store), out=str(out), n_boot=boot))))
    if method == "rim":
        steps.append(("correctness.json", lambda: correctness.run(
            correctness.CorrectnessConfig(store=str(store), out=str(out), n_boot=boot))))
    steps.append(("projections.json", lambda: projections.run(projections.ProjectionsConfig(
        store=str(store), out=str(out), method="pca" if cfg.quick else "umap"))))
    steps.append(("lens.json", lambda: lens.run(lens.LensConfig(
        run=str(run), store=str(store), out=str(out)))))
    if method in LATENT:
        steps.append(("interventions.json", lambda: interventions.run(
            interventions.InterventionConfig(run=str(run), data=str(test), out=str(out),
                                             limit=16 if cfg.quick else 100, n_boot=boot,
                                             quiet=True))))
    for name, job in steps:
        if not (out / name).exists():
            _log(cfg, f"  {run.name}: {name.split('.')[0]}")
            job()


def summary(runs: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        test = metrics.get("test", {})
        row = {"run": run.name, "accuracy": test.get("accuracy"),
               "generated_tokens": test.get("mean_generated_tokens"),
               "ttft_ms": test.get("ttft_ms")}
        align = run / "analyses" / "alignment.json"
        if align.exists():
            row["diagonality"] = json.loads(align.read_text()).get("diagonality")
        corr = run / "analyses" / "correctness.json"
        if corr.exists():
            c = json.loads(corr.read_text())
            row["correctness_auroc"] = c["mean_auroc_per_layer"].get(str(c["best_layer"]))
        rows.append(row)
    return rows


def format_summary(rows: list[dict[str, Any]]) -> str:
    cols = ["run", "accuracy", "generated_tokens", "ttft_ms", "diagonality",
            "correctness_auroc"]

    def cell(v: Any) -> str:
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    table = [cols] + [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in table)


def run_demo(cfg: DemoConfig) -> list[dict[str, Any]]:
    root = Path(cfg.out)
    root.mkdir(parents=True, exist_ok=True)
    runs = prepare_runs(cfg, root)
    for run in runs:
        capture_and_analyse(cfg, root, run)
    compare_out = root / "compare"
    if not (compare_out / "compare.json").exists():
        from analyses import compare

        compare.run(compare.CompareConfig(runs=[str(r) for r in runs], out=str(compare_out)))
    rows = summary(runs)
    print(format_summary(rows), flush=True)
    if cfg.app:
        from argparse import Namespace

        from workbench.cli import _cmd_app

        _cmd_app(Namespace(runs=str(root), port=cfg.port, host="127.0.0.1", timeout=120.0))
    return rows


