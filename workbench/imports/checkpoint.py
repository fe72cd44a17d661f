"""Reading a published checkpoint's tensors without running anything it holds.

A ``.safetensors`` file holds tensors only. Anything else (``pytorch_model.bin``, Coconut's
``checkpoint_N``, iCoT's ``state_dict.bin``) is a pickle: it is read with
``torch.load(weights_only=True)``, whose unpickler builds tensors and plain containers and
refuses every other object *before* constructing it, so an object with a ``__reduce__`` that
would run code is refused, not run. A refusal, a damaged file or a file that is not a mapping of
names to tensors is one line naming the file.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from workbench.errors import UserError

#: Wrappers some trainers put around a state dict (``{"state_dict": {...}}``, …).
_NESTED = ("state_dict", "model_state_dict", "model")


def read_state(file: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, on the CPU (a file saved on a GPU loads here too)."""
    file = Path(file)
    if not file.is_file():
        raise UserError("no such checkpoint file", file=file)
    if file.suffix == ".safetensors":
        from workbench.runs import read_tensors

        return read_tensors(file)
    try:
        with warnings.catch_warnings():  # "pickle protocol 4": informational
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — the unpickler's refusal, or a damaged file
        raise UserError(_why(e), file=file) from None
    if isinstance(obj, Mapping) and not _all_tensors(obj):  # {"state_dict": {...}, "step": 3}
        inner = [k for k in _NESTED if isinstance(obj.get(k), Mapping)]
        if len(inner) == 1:
            obj = obj[inner[0]]
    if not isinstance(obj, Mapping) or not obj:
        raise UserError(f"holds a {type(obj).__name__}, not a mapping of names to tensors",
                        file=file)
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UserError(f"entry {bad[0]!r} is not a tensor: a checkpoint must hold tensors "
                        "only", file=file)
    return {k: v.contiguous() for k, v in obj.items()}


def _all_tensors(obj: Mapping) -> bool:
    return all(isinstance(v, torch.Tensor) for v in obj.values())


def _why(e: Exception) -> str:
    text = " ".join(str(e).split())
    if "Weights only load failed" in text:
        found = re.search(r"unsupported GLOBAL (\S+)|Unsupported global: GLOBAL (\S+)", text)
        name = next((g for g in found.groups() if g), "") if found else ""
        return ("refused: the pickle holds objects other than tensors"
                + (f" (it asks for {name})" if name else "") + "; nothing in it was run")
    return f"not a readable PyTorch checkpoint ({type(e).__name__}: {text[:100]})"
