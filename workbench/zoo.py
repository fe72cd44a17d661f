"""The model zoo: released run directories, committed under ``zoo/`` with sha256 sums.

``zoo/<task>-<method>/`` holds a run's ``config.json``, ``model.safetensors``, ``tokenizer.json``,
``metrics.json``, ``log.jsonl`` and ``manifest.json`` (no optimizer checkpoints).
``zoo/MANIFEST.json`` lists the sha256 of every file and, per run, the command that reproduces
it (same seed, same machine → the same numbers).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from workbench.io import atomic_write_json, sha256_file
from workbench.runs import read_config

FILES = ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "log.jsonl",
         "manifest.json")
#: Files copied when a run has them (runs trained before the shortcut controls have none).
OPTIONAL_FILES = ("controls.json",)
#: Train options that are not part of what a run *is* (where it goes, how loud, resuming).
NOT_RECORDED = {"out", "quiet", "resume", "threads", "device", "train_data", "valid_data",
                "test_data"}


def command_for(config: dict[str, Any], out: str) -> str:
    """The ``lwb train`` command that reproduces a run: every setting spelled out, so a later
    change of a default cannot change what it trains."""
    parts = ["lwb train"]
    for key, value in config["train"].items():
        if key not in NOT_RECORDED and value is not None:
            parts.append(_flag(key, value))
    for key, value in config["method"].items():
        if key != "name" and value is not None:
            parts.append(_flag(key, value))
    parts.append(f"--out {out}")
    return " ".join(p for p in parts if p)


def _flag(key: str, value: Any) -> str:
    flag = "--" + key.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else "--no-" + key.replace("_", "-")
    if isinstance(value, list):
        return f"{flag} {' '.join(map(str, value))}"
    return f"{flag} {value}"


def run_name(task: str, preset: str, method: str) -> str:
    """A zoo run's name: ``<task>-<method>`` for a task's demo preset, else
    ``<task>-<preset>-<method>`` (``reach-cot``, ``reach-trees-cot``)."""
    return f"{task}-{method}" if preset == "demo" else f"{task}-{preset}-{method}"


def export(runs: list[Path], zoo: Path) -> dict[str, Any]:
    """Copy finished runs into the zoo and rewrite ``zoo/MANIFEST.json``."""
    zoo.mkdir(parents=True, exist_ok=True)
    for run in runs:
        config = read_config(run)
        name = run_name(config["task"]["name"], config["task"]["preset"],
                        config["method"]["name"])
        dest = zoo / name
        dest.mkdir(exist_ok=True)
        for f in FILES:
            shutil.copyfile(run / f, dest / f)
        for f in OPTIONAL_FILES:
            if (run / f).exists():
                shutil.copyfile(run / f, dest / f)
    manifest: dict[str, Any] = {"sha256": {}, "runs": {}}
    for dest in sorted(p for p in zoo.iterdir() if (p / "config.json").exists()):
        config = read_config(dest)
        for f in (*FILES, *(f for f in OPTIONAL_FILES if (dest / f).exists())):
            manifest["sha256"][f"{dest.name}/{f}"] = sha256_file(dest / f)
        manifest["runs"][dest.name] = {
            "task": config["task"]["name"], "preset": config["task"]["preset"],
            "method": config["method"]["name"], "size": config["train"]["size"],
            "seed": config["train"]["seed"],
            "command": command_for(config, f"runs/zoo/{dest.name}")}
    atomic_write_json(zoo / "MANIFEST.json", manifest)
    return manifest
