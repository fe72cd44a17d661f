"""Checkpoints that survive a kill at any moment.

``checkpoints/step-NNNNNNN/`` holds ``model.safetensors``, ``optimizer.pt`` (tensors and plain
values only; loaded with ``weights_only=True``) and ``state.json``; ``checkpoints/latest.json``
names the newest complete one and is replaced atomically after it is written. Older checkpoint
directories are removed only after the pointer moves, so the last good one is always there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from workbench.errors import UserError
from workbench.io import atomic_open, atomic_write_json
from workbench.runs import load_weights, save_weights

DIR, POINTER = "checkpoints", "latest.json"


def save(run: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
         state: dict[str, Any]) -> Path:
    root = run / DIR
    target = root / f"step-{step:07d}"
    if target.exists():
        shutil.rmtree(target)
    tmp = root / f".step-{step:07d}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_weights(model, tmp / "model.safetensors")
    with atomic_open(tmp / "optimizer.pt", "wb") as f:
        torch.save(optimizer.state_dict(), f)
    atomic_write_json(tmp / "state.json", {**state, "step": step})
    tmp.rename(target)
    atomic_write_json(root / POINTER, {"step": step, "dir": target.name})
    for old in root.glob("step-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def latest(run: Path) -> Path | None:
    pointer = run / DIR / POINTER
    if not pointer.exists():
        return None
    from workbench.artifacts import CheckpointPointer, read

    name = read(pointer, CheckpointPointer).dir
    path = run / DIR / name
    if not path.is_dir():
        raise UserError(f"names {name}, which is missing", file=pointer)
    return path


def restore(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
            ) -> dict[str, Any]:
    load_weights(model, path / "model.safetensors")
    try:
        state_dict = torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu")
        optimizer.load_state_dict(state_dict)
    except Exception as e:  # a damaged file: say which, never a traceback
        raise UserError(f"cannot load optimizer state: {e}", file=path / "optimizer.pt") from None
    try:
        return json.loads((path / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read: {e}", file=path / "state.json") from None
