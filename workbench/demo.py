"""``lwb demo``: the main job on built-in defaults.

At this stage of the project it generates the demo datasets (``chain`` and ``prosqa``, train /
valid / test) and prints their statistics; training, capture, analyses and the app join as they
are built. Finished steps are reused: a dataset file that exists is complete (files are written
atomically) and is not generated again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.tasks.base import SPLITS
from workbench.tasks.generate import GenerateConfig, generate_file
from workbench.tasks.loaders import load_examples
from workbench.tasks.summary import format_table, summarize

DEMO_TASKS = ("chain", "prosqa")


@dataclass
class DemoConfig:
    """Where the demo writes and how loud it is."""

    out: str = "runs/demo"
    """Directory for everything the demo produces."""
    preset: str = "demo"
    """Task size preset (tiny is what tests use)."""
    seed: int = 0
    """Seed of the generated data."""
    quiet: bool = False
    """No progress bars."""


def dataset_path(cfg: DemoConfig, task: str, split: str) -> Path:
    return Path(cfg.out) / "data" / f"{task}-{cfg.preset}-{split}.jsonl"


def run_demo(cfg: DemoConfig) -> None:
    for task in DEMO_TASKS:
        for split in SPLITS:
            path = dataset_path(cfg, task, split)
            if path.exists():
                continue
            gen = GenerateConfig(task=task, preset=cfg.preset, split=split, seed=cfg.seed,
                                 out=str(path))
            generate_file(gen, quiet=cfg.quiet)
    for task in DEMO_TASKS:
        for split in SPLITS:
            path = dataset_path(cfg, task, split)
            print(format_table(summarize(load_examples(path)), title=f"{task} / {split}: {path}"))
            print()
