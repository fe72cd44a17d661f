"""The model zoo: released run directories, committed under ``zoo/`` with sha256 sums.

``zoo/<task>-<method>/`` holds a run's ``config.json``, ``model.safetensors``, ``tokenizer.json``,
``metrics.json``, ``log.jsonl`` and ``manifest.json`` (no optimizer checkpoints).
``zoo/MANIFEST.json`` lists the sha256 of every file and, per run, the commands that reproduce
it (same seed, same machine → the same numbers). A run that started from another run's weights
(``--init-from``) also keeps ``lineage.json``: the configs of every run it descends from, oldest
first, each with the sha256 of the weights it handed on, so its commands start from scratch.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from train.config import NOT_RECORDED, recorded
from workbench.io import atomic_write_json, read_json, sha256_file
from workbench.runs import read_config
from workbench.safety import check_output, is_run, replaceable_entry

FILES = ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "log.jsonl",
         "manifest.json")
#: Files copied when a run has them (runs trained before the shortcut controls have none; only a
#: method with parameters of its own, like CODI, has method.safetensors).
OPTIONAL_FILES = ("controls.json", "lineage.json", "method.safetensors")
LINEAGE = "lineage.json"


def command_for(config: dict[str, Any], out: str) -> str:
    """The ``lwb train`` command that reproduces a run: every setting spelled out, so a later
    change of a default cannot change what it trains."""
    parts = ["lwb train"]
    for key, value in recorded(config["train"]).items():
        if key not in NOT_RECORDED and value is not None:
            parts.append(_flag(key, value))
    for key, value in config["method"].items():
        if key != "name" and value is not None:
            parts.append(_flag(key, value))
    parts.append(f"--out {out}")
    return " ".join(p for p in parts if p)


def lineage(run: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs ``run`` descends from through ``--init-from``, oldest first: each one's name,
    config sections and the sha256 of the weights it handed on (checked against the file, so a
    base retrained since cannot be recorded as the ancestor)."""
    from workbench.errors import UserError

    init = config.get("init")
    if not init:
        return []
    base = Path(init["run"])
    if not (base / "config.json").exists():
        raise UserError(f"run {run} started from {base}, which no longer exists: its lineage "
                        "cannot be recorded", file=run / "config.json", field="init.run")
    if sha256_file(base / "model.safetensors") != init["weights_sha256"]:
        raise UserError(f"the weights of {base} changed since {run} started from them",
                        file=base / "model.safetensors", field="init.weights_sha256")
    base_config = read_config(base)
    ancestors = (read_json(base / LINEAGE)["runs"] if (base / LINEAGE).exists()
                 else lineage(base, base_config))
    entry = {"name": base.name, "weights_sha256": init["weights_sha256"],
             **{k: base_config[k] for k in ("model", "task", "method", "train")}}
    return [*ancestors, entry]


def commands_for(config: dict[str, Any], out: str,
                 ancestors: list[dict[str, Any]]) -> list[str]:
    """The ``lwb train`` commands that reproduce a run from scratch: its ancestors' first (each
    into ``<out>.init<i>``), then its own, every ``--init-from`` pointing at the one before."""
    outs = [f"{out}.init{i}" for i in range(len(ancestors))] + [out]
    commands = []
    for i, cfg in enumerate([*ancestors, config]):
        train = {**cfg["train"], "init_from": outs[i - 1] if i else None}
        commands.append(command_for({**cfg, "train": train}, outs[i]))
    return commands


def retrain_plan(config: dict[str, Any], ancestors: list[dict[str, Any]]
                 ) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """What retraining a zoo run from scratch takes: ``(key, train options, method options)``
    per training, ancestors first. ``key`` fingerprints a training and everything before it
    (identical keys are identical trainings, so a shared ancestor is trained once);
    ``train options`` name the previous training's key in ``init_from``."""
    import hashlib
    import json

    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for cfg in [*ancestors, config]:
        train = {k: v for k, v in cfg["train"].items() if k not in NOT_RECORDED}
        train["init_from"] = plan[-1][0] if plan else None
        options = {k: v for k, v in cfg["method"].items() if k != "name"}
        key = hashlib.sha256(json.dumps([train, options], sort_keys=True).encode()).hexdigest()
        plan.append((key[:16], train, options))
    return plan


def _flag(key: str, value: Any) -> str:
    flag = "--" + key.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else "--no-" + key.replace("_", "-")
    if isinstance(value, list):
        return f"{flag} {' '.join(map(str, value))}"
    return f"{flag} {value}"


def run_name(task: str, preset: str, method: str) -> str:
    """A zoo run's name: ``<task>-<method>`` for the task's zoo preset (``demo``; reach:
    ``padded``), else ``<task>-<preset>-<method>`` (``reach-cot``, ``reach-trees-cot``)."""
    from workbench.tasks import TASKS

    main = TASKS[task].zoo_preset if task in TASKS else "demo"
    return f"{task}-{method}" if preset == main else f"{task}-{preset}-{method}"


def check_zoo(runs: list[Path], zoo: Path) -> None:
    """Export writes only into a zoo it made: ``zoo`` is new, empty or holds ``MANIFEST.json``;
    it is not a run, not one of the runs exported, holds none of them (a run already in the zoo
    is exported from where it was trained) and lies inside none of them. A one-line UserError
    before anything is copied."""
    from workbench.errors import UserError

    check_output(zoo, inputs={"runs": [str(r) for r in runs]}, field="zoo")
    if zoo.exists() or zoo.is_symlink():
        if not zoo.is_dir():
            raise UserError("is not a directory: the zoo is a directory", file=zoo, field="zoo")
        if is_run(zoo):
            raise UserError("is a run directory, not a zoo; nothing copied", file=zoo,
                            field="zoo")
        if any(zoo.iterdir()) and not (zoo / "MANIFEST.json").is_file():
            raise UserError("is a directory that holds no MANIFEST.json: not a zoo lwb wrote; "
                            "export into a new directory or an existing zoo (nothing copied)",
                            file=zoo, field="zoo")


def export(runs: list[Path], zoo: Path) -> dict[str, Any]:
    """Copy finished runs into the zoo and rewrite ``zoo/MANIFEST.json``. Files are overwritten
    only in a zoo run directory (one holding nothing but :data:`FILES` and
    :data:`OPTIONAL_FILES`); see :func:`check_zoo` for the zoo itself."""
    from workbench.errors import UserError

    check_zoo(runs, zoo)
    plans: dict[str, tuple[Path, Path, list[dict[str, Any]]]] = {}
    for run in runs:  # every check first: a refused export copies nothing
        config = read_config(run)
        name = run_name(config["task"]["name"], config["task"]["preset"],
                        config["method"]["name"])
        if name in plans:
            raise UserError(f"{plans[name][0]} and {run} would both be exported as {name}",
                            field="runs")
        plans[name] = (run, replaceable_entry(zoo / name), lineage(run, config))
    zoo.mkdir(parents=True, exist_ok=True)
    for run, dest, ancestors in plans.values():
        dest.mkdir(exist_ok=True)
        for f in FILES:
            shutil.copyfile(run / f, dest / f)
        for f in OPTIONAL_FILES:
            if (run / f).exists():
                shutil.copyfile(run / f, dest / f)
            elif (dest / f).exists():
                (dest / f).unlink()  # left by an earlier export of this name
        if ancestors:
            atomic_write_json(dest / LINEAGE, {"runs": ancestors})
    manifest: dict[str, Any] = {"sha256": {}, "runs": {}}
    for dest in sorted(p for p in zoo.iterdir() if (p / "config.json").exists()):
        config = read_config(dest)
        ancestors = (read_json(dest / LINEAGE)["runs"] if (dest / LINEAGE).exists() else [])
        for f in (*FILES, *(f for f in OPTIONAL_FILES if (dest / f).exists())):
            manifest["sha256"][f"{dest.name}/{f}"] = sha256_file(dest / f)
        manifest["runs"][dest.name] = {
            "task": config["task"]["name"], "preset": config["task"]["preset"],
            "method": config["method"]["name"], "size": config["train"]["size"],
            "seed": config["train"]["seed"],
            "command": " && ".join(commands_for(config, f"runs/zoo/{dest.name}", ancestors))}
    atomic_write_json(zoo / "MANIFEST.json", manifest)
    return manifest
