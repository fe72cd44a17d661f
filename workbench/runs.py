"""Run directories: what training produces and everything downstream reads.

::

    run/
      config.json        {"model": HookedTransformerConfig kwargs, "task": {...}, "method": {...},
                          "train": {...}}
      model.safetensors  the weights (state_dict of a HookedTransformer)
      method.safetensors the method's own parameters, for a method that has some (CODI's
                         projection); absent otherwise
      tokenizer.json     the word-level tokenizer
      metrics.json       evaluation results
      log.jsonl          one JSON object per logged training step
      manifest.json      sha256 of each artifact; written last, so a run without it is unfinished

Every file is written atomically. A plain TransformerLens user needs none of this package::

    cfg = json.load(open("run/config.json"))
    model = HookedTransformer(HookedTransformerConfig(**cfg["model"]))
    model.load_state_dict(safetensors.torch.load_file("run/model.safetensors"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from workbench import artifacts
from workbench.bpe import BPETokenizer, load_tokenizer
from workbench.errors import UserError
from workbench.io import atomic_write_bytes, atomic_write_json, sha256_file
from workbench.models import HookedTransformer, build_model
from workbench.tokenizer import Tokenizer

CONFIG, WEIGHTS, TOKENIZER = "config.json", "model.safetensors", "tokenizer.json"
METRICS, LOG, MANIFEST = "metrics.json", "log.jsonl", "manifest.json"
#: A method's own parameters (workbench.methods.base.Method.module), beside the model's.
METHOD_WEIGHTS = "method.safetensors"
CONFIG_SECTIONS = ("model", "task", "method", "train")
#: The shortcut controls measured on the run's test split (workbench.tasks.controls).
CONTROLS = "controls.json"
FORMAT = "latent-workbench/run"


@dataclass
class Run:
    """A loaded run: the model with its weights, its tokenizer, config and metrics."""

    path: Path
    model: HookedTransformer
    tokenizer: Tokenizer | BPETokenizer
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    method_state: dict[str, torch.Tensor] | None = None
    """The method's own parameters (``method.safetensors``), or None where it has none."""


def save_weights(model: torch.nn.Module, path: str | Path, metadata: dict[str, str] | None = None
                 ) -> None:
    """The model's state_dict as safetensors, written atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))


def save_run(
    path: str | Path,
    model: HookedTransformer,
    tokenizer: Tokenizer | BPETokenizer,
    config: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    method_module: torch.nn.Module | None = None,
) -> Path:
    """Write a complete run directory; ``manifest.json`` goes last and marks it complete.
    ``method_module``: the method's own parameters, if it has some (``method.safetensors``)."""
    path = Path(path)
    missing = [s for s in CONFIG_SECTIONS if s not in config]
    if missing:
        raise ValueError(f"config lacks sections {missing}")
    if config["model"].get("d_vocab") != len(tokenizer) and not (
            isinstance(tokenizer, BPETokenizer) and len(tokenizer) <= config["model"]["d_vocab"]):
        raise ValueError("config['model']['d_vocab'] differs from the tokenizer's size")
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save(path / TOKENIZER)
    atomic_write_json(path / CONFIG, config)
    save_weights(model, path / WEIGHTS)
    if method_module is not None:
        save_weights(method_module, path / METHOD_WEIGHTS)
    atomic_write_json(path / METRICS, metrics or {})
    (path / LOG).touch()
    write_manifest(path)
    return path


def write_manifest(path: Path) -> dict[str, Any]:
    manifest = {
        "format": FORMAT,
        "version": 1,
        "sha256": {name: sha256_file(path / name) for name in (CONFIG, WEIGHTS, TOKENIZER)
                   + ((METHOD_WEIGHTS,) if (path / METHOD_WEIGHTS).is_file() else ())},
    }
    atomic_write_json(path / MANIFEST, manifest)
    return manifest


INCOMPLETE = "missing (not a complete run directory)"


def read_config(path: str | Path, schema: Any = None) -> dict[str, Any]:
    """A run's ``config.json``, validated by :class:`workbench.artifacts.RunConfig` (sections,
    model sizes within bounds, known dtype) or the ``schema`` given; the dict as written."""
    return artifacts.read_dict(Path(path) / CONFIG, schema or artifacts.RunConfig,
                               missing=INCOMPLETE)


def read_metrics(path: str | Path, missing: str = "no metrics.json: the run has not finished"
                 ) -> dict[str, Any]:
    """A run's ``metrics.json``, validated by :class:`workbench.artifacts.Metrics`."""
    return artifacts.read_dict(Path(path) / METRICS, artifacts.Metrics, missing=missing)


def load_run(path: str | Path, device: str = "cpu", *, verify: bool = True) -> Run:
    """Load a run directory, checking checksums and that tokenizer, config and weights agree."""
    path = Path(path)
    if not path.is_dir():
        raise UserError("not a run directory", file=path)
    manifest = artifacts.read_dict(path / MANIFEST, artifacts.RunManifest, missing=INCOMPLETE)
    if verify:
        for name, digest in manifest["sha256"].items():
            if not (path / name).is_file():
                raise UserError("missing", file=path / name)
            if sha256_file(path / name) != digest:
                raise UserError("checksum mismatch with manifest.json: the file is corrupt or "
                                "was modified", file=path / name)
    config = read_config(path)
    tokenizer = load_tokenizer(path / TOKENIZER)
    d_vocab = config["model"].get("d_vocab")
    # an imported model may have embedding rows past its tokenizer's last token (padding)
    if d_vocab != len(tokenizer) and not (isinstance(tokenizer, BPETokenizer)
                                          and len(tokenizer) <= d_vocab):
        raise UserError(f"tokenizer has {len(tokenizer)} tokens but the model's d_vocab is "
                        f"{d_vocab}: they belong to different runs", file=path / TOKENIZER)
    model = build_model(config["model"], device=device)
    load_weights(model, path / WEIGHTS)
    metrics = read_metrics(path) if (path / METRICS).exists() else {}
    model.eval()
    method_state = (read_tensors(path / METHOD_WEIGHTS, device)
                    if (path / METHOD_WEIGHTS).exists() else None)
    return Run(path, model, tokenizer, config, metrics, manifest, method_state)


def read_tensors(file: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; a damaged file is a one-line :class:`UserError`."""
    try:
        return safetensors.torch.load_file(str(file), device=str(device))
    except FileNotFoundError:
        raise UserError("missing", file=file) from None
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise UserError(f"not a valid safetensors file: {e}", file=file) from None


def load_module_state(module: torch.nn.Module, state: dict[str, torch.Tensor], file: Path
                      ) -> None:
    """Load ``state`` into ``module``; missing, unexpected or misshapen tensors are a one-line
    :class:`UserError` naming ``file``."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise UserError(
            f"weights do not match the config: {len(missing)} missing (e.g. {missing[:2]}), "
            f"{len(extra)} unexpected (e.g. {extra[:2]})", file=file)
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise UserError(f"weights do not match the config: {k} has shape "
                            f"{tuple(v.shape)}, the config wants {tuple(own[k].shape)}", file=file)
    module.load_state_dict(state)


def load_weights(model: torch.nn.Module, file: Path) -> None:
    """Load safetensors weights into ``model``; any mismatch is a one-line :class:`UserError`."""
    state = read_tensors(file, str(next(model.parameters()).device))
    load_module_state(model, state, file)
