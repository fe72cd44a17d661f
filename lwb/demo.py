"""``lwb demo``: the main job on built-in defaults.

1. **Models**: verify the committed model zoo (``zoo/``, sha256 of every file in
   ``zoo/MANIFEST.json``) and copy the five runs of each group (``--tasks``, default ``reach``)
   into the demo's runs root; ``--retrain`` trains them from scratch with the settings their
   zoo configs record, ``--quick`` trains tiny ones (what CI and tests use).
2. **Capture** every run's trajectories on the first ``--examples`` questions of its test split
   (default 200; docs/RESULTS.md's figures use the whole split, ``--examples 1000``) →
   ``<run>/store/``.
3. **Analyses** of every store → ``<run>/analyses/``: probes, alignment, correctness (RiM),
   projections (PCA, and UMAP unless ``--quick``), logit lens, interventions; ``compare/``.
   Steps 2 and 3 run for several models side by side (``--workers``, default one per core, each
   worker one thread: these analyses are many small fits that a second thread does not speed up).
4. A **summary table** (accuracy, generated tokens, time to first token, diagonality,
   correctness AUROC), then the **app** on the runs root, unless ``--no-app``.

Every step checks for its output first and skips what is done (outputs are written atomically,
so a present file is a finished one); a killed demo picks up where it stopped.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.artifacts import Lineage, ZooManifest, read_dict
from workbench.config import Checked
from workbench.errors import UserError
from workbench.io import sha256_file
from workbench.methods import METHODS, method_class
from workbench.schemas import Count, Jobs, Port
from workbench.tasks.generate import GenerateConfig, generate_file
from workbench.text import column_table

ZOO = Path(__file__).resolve().parent.parent / "zoo"


@dataclass
class DemoConfig(Checked):
    """Where the demo writes and what it does."""

    out: str = "runs/demo"
    """Runs root the demo fills (and the app serves)."""
    tasks: list[str] = field(default_factory=lambda: ["reach"])
    """Zoo groups whose models are used: reach (its padded chains, the default), reach-trees,
    chain, prosqa; --quick trains tiny models of the first one's task."""
    app: bool = True
    """Serve the app on the runs root at the end (--no-app: stop after the summary)."""
    quick: bool = False
    """Train tiny models from scratch (a minute or two; what CI uses)."""
    retrain: bool = False
    """Train the groups' models from scratch with the zoo's recorded settings instead of
    copying them."""
    examples: Count = 200
    """Test questions captured and analysed per model (the first N of the test split; the
    figures in docs/RESULTS.md use the whole split: --examples 1000)."""
    workers: Jobs = -1
    """Models captured and analysed side by side, one process and one thread each (-1: one per
    CPU core)."""
    port: Port = 8501
    """Port of the app."""
    quiet: bool = False
    """No progress bars."""


def verify_zoo(zoo: Path = ZOO) -> dict[str, Any]:
    """Check every zoo file against ``zoo/MANIFEST.json``; a mismatch is a one-line error."""
    manifest_file = zoo / "MANIFEST.json"
    if not manifest_file.exists():
        raise UserError("the model zoo has no MANIFEST.json (use --retrain or --quick)",
                        file=manifest_file)
    manifest = read_dict(manifest_file, ZooManifest)
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


def zoo_groups(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """The zoo's groups of runs: ``reach`` → ``[reach-nocot, …]``, ``reach-trees`` → …"""
    from lwb.zoo import run_name

    groups: dict[str, list[str]] = {}
    for name, info in manifest.get("runs", {}).items():
        group = run_name(info["task"], info["preset"], "")[:-1]
        groups.setdefault(group, []).append(name)
    return groups


def _zoo_runs(cfg: DemoConfig, manifest: dict[str, Any]) -> list[str]:
    groups = zoo_groups(manifest)
    names = []
    for group in cfg.tasks:
        if group not in groups:
            raise UserError(f"the model zoo has no {group!r} models; choose among "
                            f"{', '.join(sorted(groups))}", field="tasks")
        names += [f"{group}-{m}" for m in METHODS if f"{group}-{m}" in groups[group]]
    return names


def _train(cfg: DemoConfig, out: Path, train_opts: dict[str, Any], options: dict[str, Any]
           ) -> None:
    from train.config import TrainConfig
    from train.loop import train

    if not (out / "metrics.json").exists():
        _log(cfg, f"training {out.name} ({train_opts['task']}/{train_opts['preset']})")
        tc = TrainConfig(**{**train_opts, "out": str(out), "quiet": cfg.quiet,
                            "resume": (out / "config.json").exists()})
        train(tc, options)


def prepare_runs(cfg: DemoConfig, root: Path) -> list[Path]:
    """The demo's run directories: copied from the zoo, retrained with the zoo's recorded
    settings (``--retrain``), or tiny ones trained on the first task's tiny preset (``--quick``)."""
    from lwb.zoo import LINEAGE, retrain_plan
    from workbench.safety import replaceable_entry

    runs: list[Path] = []
    trained: dict[str, Path] = {}  # retrain_plan key → where that training went
    if cfg.quick:
        from workbench.tasks import get_task

        task = cfg.tasks[0].split("-")[0]
        get_task(task)
        for method in METHODS:
            out = root / f"{task}-{method}"
            quick = {"task": task, "preset": "tiny", "method": method, "size": "nano",
                     "steps": 80, "lr": 3e-3, "latency_examples": 4, "eval_every": 1000}
            _train(cfg, out, quick, dict(METHODS[method].tiny_options))
            runs.append(out)
        return runs
    manifest = verify_zoo(ZOO)
    for name in _zoo_runs(cfg, manifest):
        src, dst = ZOO / name, root / name
        if cfg.retrain:  # ancestors first (--init-from), each shared one trained once
            from workbench.runs import read_config

            saved = read_config(src)
            lineage = (read_dict(src / LINEAGE, Lineage)["runs"]
                       if (src / LINEAGE).exists() else [])
            plan = retrain_plan(saved, lineage)
            for i, (key, train_opts, options) in enumerate(plan):
                out = dst if i == len(plan) - 1 else trained.get(key, root / ".lineage" / key)
                if train_opts["init_from"]:
                    train_opts = {**train_opts, "init_from": str(trained[train_opts["init_from"]])}
                _train(cfg, out, train_opts, options)
                trained.setdefault(key, out)
        elif not (dst / "manifest.json").exists():  # absent, or a copy a kill interrupted
            replaceable_entry(dst, what="copy of a zoo run")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        runs.append(dst)
    return runs


def _test_data(root: Path, run: Path) -> Path:
    from workbench.runs import read_config

    config = read_config(run)
    return _data(root, config["task"]["name"], config["task"]["preset"], "test")


def _captured(store: Path) -> int | None:
    """How many examples the store at ``store`` holds (None: not captured yet)."""
    from workbench.artifacts import StoreManifest, read

    if not (store / "manifest.json").exists():
        return None
    return read(store / "manifest.json", StoreManifest).rows.examples


def capture_and_analyse(cfg: DemoConfig, root: Path, run: Path, n_jobs: int = -1) -> None:
    """Capture ``run`` on its test split and run every analysis of it (``n_jobs``: processes
    of the analyses that fit probes in parallel)."""
    from workbench.capture import CaptureConfig, capture
    from workbench.runs import read_config

    config = read_config(run)
    test = _test_data(root, run)
    store, out = run / "store", run / "analyses"
    method = method_class(config["method"]["name"])
    have = _captured(store)
    if have is None:
        _log(cfg, f"capturing {run.name}")
        capture(CaptureConfig(run=str(run), data=str(test), out=str(store), force=True,
                              limit=cfg.examples, quiet=True))
    elif have != (want := min(cfg.examples, _count_lines(test))):
        raise UserError(f"this demo root's captures hold {have} test questions, not {want}: "
                        "give the --examples it was made with, or another --out",
                        file=store, field="examples")
    steps: list[tuple[str, Any]] = []
    from analyses import alignment, correctness, interventions, lens, probes, projections

    boot = 50 if cfg.quick else 200
    steps.append(("probes.json", lambda: probes.run(probes.ProbeConfig(
        store=str(store), out=str(out), n_boot=boot, n_jobs=n_jobs))))  # its default target
    steps.append(("alignment.json", lambda: alignment.run(alignment.AlignmentConfig(
        store=str(store), out=str(out), n_boot=boot, n_jobs=n_jobs))))
    if method.readouts:
        steps.append(("correctness.json", lambda: correctness.run(
            correctness.CorrectnessConfig(store=str(store), out=str(out), n_boot=boot,
                                          n_jobs=n_jobs))))
    steps.append(("projections.json", lambda: projections.run(projections.ProjectionsConfig(
        store=str(store), out=str(out), method="pca" if cfg.quick else "umap"))))
    steps.append(("lens.json", lambda: lens.run(lens.LensConfig(
        run=str(run), store=str(store), out=str(out)))))
    if method.latent:
        steps.append(("interventions.json", lambda: interventions.run(
            interventions.InterventionConfig(run=str(run), data=str(test), out=str(out),
                                             limit=min(cfg.examples, 16 if cfg.quick else 100),
                                             n_boot=boot,
                                             quiet=True))))
    for name, job in steps:
        if not (out / name).exists():
            _log(cfg, f"  {run.name}: {name.split('.')[0]}")
            job()


def _compared(file: Path) -> list[str] | None:
    """The runs a ``compare.json`` tabulates (None: no such file)."""
    if not file.exists():
        return None
    from workbench.artifacts import read_analysis

    return [str(r) for r in read_analysis(file).get("config", {}).get("runs", [])]


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _one_thread() -> None:
    """A demo worker's start: one thread for torch and for the BLAS/OpenMP pools of numpy and
    scikit-learn (two workers with two threads each on two cores run slower than one)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def _work(cfg: DemoConfig, root: Path, run: Path) -> str:
    capture_and_analyse(cfg, root, run, n_jobs=1)
    return run.name


def capture_and_analyse_all(cfg: DemoConfig, root: Path, runs: list[Path]) -> None:
    """:func:`capture_and_analyse` of every run, ``cfg.workers`` at a time."""
    for run in runs:  # the test files first: workers would race to write them
        _test_data(root, run)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min((cores or 1) if cfg.workers == -1 else cfg.workers, len(runs))
    if workers <= 1:
        for run in runs:
            capture_and_analyse(cfg, root, run)
        return
    import multiprocessing

    # spawn: a forked child of a process that has run torch's OpenMP pool can hang
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:
        jobs = [pool.submit(_work, cfg, root, run) for run in runs]
        try:
            for job in jobs:
                job.result()  # the first error (a UserError keeps its file and field) stops
        except BaseException:  # the demo: runs not started are dropped
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def summary(runs: list[Path]) -> list[dict[str, Any]]:
    from workbench.artifacts import read_analysis
    from workbench.runs import read_metrics

    rows = []
    for run in runs:
        metrics = read_metrics(run)
        test = metrics.get("test") or {}
        row = {"run": run.name, "accuracy": test.get("accuracy"),
               "generated_tokens": test.get("mean_generated_tokens"),
               "ttft_ms": test.get("ttft_ms")}
        align = run / "analyses" / "alignment.json"
        if align.exists():
            row["diagonality"] = read_analysis(align).get("diagonality")
        corr = run / "analyses" / "correctness.json"
        if corr.exists():
            from analyses.correctness import auroc_summary
            from workbench.stats import show

            value, reason = auroc_summary(read_analysis(corr))
            row["correctness_auroc"] = value if value is not None else show(None, reason=reason)
        rows.append(row)
    return rows


def format_summary(rows: list[dict[str, Any]]) -> str:
    return column_table(rows, ["run", "accuracy", "generated_tokens", "ttft_ms", "diagonality",
                               "correctness_auroc"])


def run_demo(cfg: DemoConfig) -> list[dict[str, Any]]:
    from workbench.safety import check_output

    root = Path(cfg.out)
    check_output(root, inputs={"zoo": ZOO})  # the demo's runs root is not the zoo it copies
    root.mkdir(parents=True, exist_ok=True)
    runs = prepare_runs(cfg, root)
    capture_and_analyse_all(cfg, root, runs)
    compare_out = root / "compare"
    if _compared(compare_out / "compare.json") != [str(r) for r in runs]:  # absent, or of
        from analyses import compare  # another set of runs (a group added since)

        compare.run(compare.CompareConfig(runs=[str(r) for r in runs], out=str(compare_out)))
    rows = summary(runs)
    print(format_summary(rows), flush=True)
    if cfg.app:
        from lwb.serve import serve

        serve(root, port=cfg.port)
    return rows


