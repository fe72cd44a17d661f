"""``lwb data generate``: a generated split written as JSONL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from workbench.config import Checked
from workbench.errors import UserError
from workbench.schemas import Count, Seed
from workbench.tasks import get_task
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import write_jsonl


@dataclass
class GenerateConfig(Checked):
    """What to generate."""

    task: str = "chain"
    """Task: prosqa, prontoqa, chain, mult or reach."""
    preset: str = "demo"
    """Size preset of the task: tiny (tests), demo (trains on a laptop), paper (published sizes)
    or one of the task's own (reach: trees, padded)."""
    split: Literal["train", "valid", "test"] = "train"
    """Split; a question belongs to exactly one split, so splits never share a question."""
    n: Count | None = None
    """Number of examples (default: the preset's size for the split)."""
    seed: Seed = 0
    """Random seed; the same seed gives a byte-identical file."""
    out: str | None = None
    """Output JSONL file (default: data/<task>-<preset>-<split>-s<seed>.jsonl)."""

    def output_path(self) -> Path:
        return Path(self.out or f"data/{self.task}-{self.preset}-{self.split}-s{self.seed}.jsonl")


def generate_file(cfg: GenerateConfig, *, quiet: bool = False) -> tuple[Path, int]:
    """Generate ``cfg`` and write it atomically; returns the path and the number of examples."""
    task = get_task(cfg.task)
    task.preset_config(cfg.preset)
    n = cfg.n if cfg.n is not None else task.default_sizes[cfg.preset][cfg.split]
    if n <= 0:
        raise UserError(f"--n must be positive, got {n}", field="n")
    path = cfg.output_path()
    with tqdm(total=n, desc=f"{task.name}/{cfg.preset}/{cfg.split}", unit="ex",
              disable=quiet, leave=False) as bar:
        examples = generate_split(task, cfg.preset, cfg.split, n, cfg.seed, progress=bar.update)
        count = write_jsonl(path, examples)
    return path, count
