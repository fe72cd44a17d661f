"""Checkpoints that survive a kill at any moment.

``checkpoints/step-NNNNNNN/`` holds ``model.safetensors``, ``optimizer.pt`` (tensors and plain
values only; loaded with ``weights_only=True``), ``state.json`` and, for a method with parameters
of its own, ``method.safetensors``; ``checkpoints/latest.json``
names the newest complete one and is replaced atomically after it is written. Older checkpoint
directories are removed only after the pointer moves, so the last good one is always there.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from workbench.errors import DiskFull, UserError, is_disk_full
from workbench.io import atomic_open, atomic_write_json
from workbench.runs import METHOD_WEIGHTS, load_weights, save_weights

DIR, POINTER = "checkpoints", "latest.json"


def save(run: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
         state: dict[str, Any], method_module: torch.nn.Module | None = None) -> Path:
    """Write checkpoint ``step`` and move the pointer to it. On any failure (a full disk, an
    unwritable directory, SIGINT/SIGTERM) the half-written ``.step-N.partial`` is removed, the
    pointer and the previous checkpoint are left as they were, and an error is one line naming
    the file being written."""
    root = run / DIR
    target = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.partial"
    writing = tmp
    for leftover in (tmp, target):  # a killed save's, or a step taken again after a resume
        if leftover.exists() and not ours(leftover):
            raise UserError("is not a checkpoint lwb wrote (it holds other files); move it "
                            "away, nothing was deleted", file=leftover)
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        writing = tmp / "model.safetensors"
        save_weights(model, writing)
        if method_module is not None:
            writing = tmp / METHOD_WEIGHTS
            save_weights(method_module, writing)
        writing = tmp / "optimizer.pt"
        with atomic_open(writing, "wb") as f:
            torch.save(optimizer.state_dict(), f)
        writing = tmp / "state.json"
        atomic_write_json(writing, {**state, "step": step})
        writing = target
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        writing = root / POINTER
        atomic_write_json(writing, {"step": step, "dir": target.name})
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.exists() and _pointed_at(root) != target.name:
            shutil.rmtree(target, ignore_errors=True)  # renamed, but the pointer never moved
        if not isinstance(e, OSError):  # SIGINT, SIGTERM, a bug: cleaned up, then as it was
            raise
        where = getattr(e, "file", None) or getattr(e, "filename", None) or writing
        kept = "the previous checkpoint is kept" if _pointed_at(root) else "no checkpoint is kept"
        if is_disk_full(e):
            raise DiskFull(where, f"No space left on device (the disk is full) while writing "
                           f"the checkpoint of step {step}; it was not saved and {kept}") from None
        raise UserError(f"cannot write the checkpoint of step {step}: {e.strerror or e}; it was "
                        f"not saved and {kept}", file=where) from None
    for old in root.glob("step-*"):
        if old != target and STEP_DIR.fullmatch(old.name) and ours(old):
            shutil.rmtree(old, ignore_errors=True)
    return target


#: A checkpoint directory's name, and what ``save`` writes into one (the atomic writers'
#: temporary files are hidden ``.<name>.*.tmp``).
STEP_DIR = re.compile(r"\.?step-\d{7}(\.partial)?")
CHECKPOINT_FILES = frozenset({"model.safetensors", METHOD_WEIGHTS, "optimizer.pt", "state.json"})


def ours(path: Path) -> bool:
    """Whether ``path`` is a checkpoint directory ``save`` wrote (complete or half-written): a
    real directory holding nothing but checkpoint files and their temporaries. Anything else
    under ``checkpoints/`` is never deleted."""
    if path.is_symlink() or not path.is_dir():
        return False
    for entry in path.iterdir():
        name = entry.name
        if entry.is_symlink() or not entry.is_file():
            return False
        if name not in CHECKPOINT_FILES and not (name.startswith(".") and name.endswith(".tmp")):
            return False
    return True


def _pointed_at(root: Path) -> str | None:
    """The checkpoint directory ``latest.json`` names, or None (no pointer, or unreadable)."""
    try:
        name = json.loads((root / POINTER).read_text()).get("dir")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return name if isinstance(name, str) else None


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


def restore(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            method_module: torch.nn.Module | None = None) -> dict[str, Any]:
    load_weights(model, path / "model.safetensors")
    if method_module is not None:
        load_weights(method_module, path / METHOD_WEIGHTS)
    try:
        state_dict = torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu")
        optimizer.load_state_dict(state_dict)
    except Exception as e:  # a damaged file: say which, never a traceback
        raise UserError(f"cannot load optimizer state: {e}", file=path / "optimizer.pt") from None
    from workbench.artifacts import TrainState, read_dict

    return read_dict(path / "state.json", TrainState)
