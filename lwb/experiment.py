"""``lwb experiment``: declarative grids of training runs, resumable, ending in one comparison.

A grid file (YAML or JSON)::

    name: efficiency
    tasks: [chain]
    preset: demo
    methods: [nocot, cot, pause, coconut, rim]
    sizes: [micro]
    seeds: [0, 1, 2]
    train: {epochs: 8}                       # any lwb train option, for every run
    method_options: {rim: {blocks: 4}}       # per method
    variants:                                # optional: named option sets (ablations)
      K2: {method: rim, options: {blocks: 2}}
    overrides:                               # optional: settings for matching cells
      - {task: prosqa, method: rim, train: {epochs: 12}, options: {}}

Every (task × method × size × seed × variant) is one run directory under
``runs/experiments/<name>/``; finished runs are skipped and interrupted ones resumed, so a grid
can be filled across sittings. At the end ``analyses.compare`` writes ``compare/``.
``lwb experiment zoo`` trains the five methods on the chain and prosqa demo presets and exports
them to ``zoo/`` (see :mod:`lwb.zoo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench.errors import UserError

KEYS = {"name", "tasks", "preset", "methods", "sizes", "seeds", "train", "method_options",
        "variants", "overrides", "out"}
SELECTORS = ("task", "method", "size", "seed")


@dataclass
class Grid:
    name: str
    tasks: list[str]
    methods: list[str]
    sizes: list[str] = field(default_factory=lambda: ["micro"])
    seeds: list[int] = field(default_factory=lambda: [0])
    preset: str = "demo"
    train: dict[str, Any] = field(default_factory=dict)
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    out: str | None = None

    def runs(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(run name, train options, method options) of every cell of the grid."""
        cells = []
        variants = self.variants or {"": {}}
        for task in self.tasks:
            for vname, variant in variants.items():
                methods = [variant["method"]] if "method" in variant else self.methods
                for method in methods:
                    for size in self.sizes:
                        for seed in self.seeds:
                            cell = {"task": task, "method": method, "size": size,
                                    "seed": seed}
                            opts = {**self.method_options.get(method, {}),
                                    **variant.get("options", {})}
                            train = dict(self.train)
                            for o in self.overrides:
                                if all(o[k] == cell[k] for k in SELECTORS if k in o):
                                    train.update(o.get("train", {}))
                                    opts.update(o.get("options", {}))
                            name = "-".join(x for x in (task, method, vname, size, f"s{seed}")
                                            if x)
                            cells.append((name, {**train, **cell, "preset": self.preset},
                                          opts))
        return cells


def read_grid(path: str | Path) -> Grid:
    from workbench.config import read_config_file

    values = read_config_file(path)
    unknown = set(values) - KEYS
    if unknown:
        raise UserError(f"unknown key {sorted(unknown)[0]!r}", file=path,
                        field=sorted(unknown)[0])
    for key in ("name", "tasks", "methods"):
        if key not in values:
            raise UserError("missing", file=path, field=key)
    return Grid(**values)


def check_finished(out: Path, train_opts: dict[str, Any], method_opts: dict[str, Any]) -> None:
    """A finished run is reused only if it was trained with the settings its grid cell asks for
    now: after a grid file changes (say, a learning rate per size), a stale run is an error that
    names the setting, never silently counted as the new recipe."""
    from train.config import RESUMABLE_FIELDS
    from workbench.io import read_json

    path = out / "config.json"
    saved = read_json(path)
    for section, wanted in (("train", train_opts), ("method", method_opts)):
        have = saved.get(section) if isinstance(saved, dict) else None
        if not isinstance(have, dict):
            raise UserError(f"no {section!r} section in a finished run", file=path)
        for key, value in wanted.items():
            if key in RESUMABLE_FIELDS or key == "out" or key not in have:
                continue
            if have[key] != value:
                raise UserError(
                    f"this finished run was trained with {section}.{key} = {have[key]!r} but the "
                    f"grid now asks for {value!r}: move the run away or give the grid another "
                    "name", file=path, field=f"{section}.{key}")


def run_grid(grid: Grid, quiet: bool = False) -> dict[str, Any]:
    from analyses import compare
    from train.config import TrainConfig
    from train.loop import train

    known = {f.name for f in fields(TrainConfig)}
    root = Path(grid.out or f"runs/experiments/{grid.name}")
    done = []
    cells = grid.runs()
    for i, (name, train_opts, method_opts) in enumerate(cells, start=1):
        out = root / name
        done.append(str(out))
        if (out / "metrics.json").exists():
            check_finished(out, train_opts, method_opts)
            continue
        bad = set(train_opts) - known
        if bad:
            raise UserError(f"unknown train option {sorted(bad)[0]!r}", field="train")
        if not quiet:
            print(f"[{i}/{len(cells)}] {name}", flush=True)
        cfg = TrainConfig(**{**train_opts, "out": str(out), "quiet": quiet,
                             "resume": (out / "config.json").exists()})
        train(cfg, method_opts)
    return compare.run(compare.CompareConfig(runs=done, out=str(root / "compare")))


def zoo(config: str | Path = "experiments/zoo.yaml", quiet: bool = False) -> dict[str, Any]:
    """Train (or finish) the released models of ``config`` and export them to ``zoo/``."""
    from lwb.zoo import export

    grid = read_grid(config)
    run_grid(grid, quiet)
    root = Path(grid.out or f"runs/experiments/{grid.name}")
    return export([root / name for name, _, _ in grid.runs()], Path("zoo"))
