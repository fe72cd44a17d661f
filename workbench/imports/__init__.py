"""``lwb import``: a published checkpoint on the user's disk → an ordinary run directory.

The run holds the model as a TransformerLens ``HookedTransformer`` (``config.json`` +
``model.safetensors``: plain TransformerLens loads it), the model's own BPE tokenizer
(:mod:`workbench.bpe`) with the roles its special tokens play, the method whose rollout it runs,
and an ``imported`` section naming the source file, its sha256 and the format. Nothing is
downloaded and no code from the source runs: pickles are read with ``weights_only=True``
(:mod:`workbench.imports.checkpoint`), tokenizers from local files only.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from workbench.config import Checked
from workbench.errors import UserError
from workbench.schemas import PositiveFloat

#: The checkpoint layouts (workbench.imports.formats.LAYOUTS has one for each).
Format = Literal["hf", "coconut", "icot", "codi"]
FORMATS: tuple[str, ...] = get_args(Format)


@dataclass
class ImportConfig(Checked):
    """What to import and where to write the run."""

    source: str = ""
    """The checkpoint: a file (Coconut's checkpoint_N, a .bin or .safetensors) or a directory
    holding the format's weights file."""
    format: Format = "hf"
    """Layout of the source: hf (a Hugging Face GPT-2 directory), coconut, icot or codi."""
    out: str = ""
    """Run directory to create (must not exist, or be empty)."""
    base: str | None = None
    """Local GPT-2 directory the checkpoint was trained from (config and tokenizer): needed by
    coconut and codi, used by icot when its directory lacks a GPT-2 config or tokenizer."""
    method: str | None = None
    """Workbench method whose rollout the model runs (default: the method that imports the
    format, the original project's: see Method.import_formats)."""
    task: str = "imported"
    """Task name recorded in the run (e.g. prosqa, gsm8k): what data it is meant for."""
    lora_alpha: PositiveFloat = 32.0
    """LoRA scaling numerator of a codi checkpoint (not stored in it; CODI's published 32)."""
    option: list[str] = field(default_factory=list)
    """The method's options as KEY=VALUE, as the original run used them (e.g.
    max_latent_stage=6 thoughts_per_step=1 for Coconut's ProsQA model; thoughts=6 for CODI)."""


def run_import(cfg: ImportConfig) -> Path:
    """Write the run; returns its path. Every failure is one line, before anything is written."""
    from workbench.bpe import BPETokenizer
    from workbench.imports.checkpoint import read_state
    from workbench.imports.formats import LAYOUTS, split_state, weights_file
    from workbench.imports.gpt2 import check_state, read_config, to_hooked
    from workbench.io import sha256_file
    from workbench.methods import get_method, method_class
    from workbench.runs import save_run
    from workbench.safety import check_output, replaceable_entry

    if not cfg.source:
        raise UserError("name the checkpoint to import", field="source")
    if not cfg.out:
        raise UserError("name the run directory to write", field="out")
    layout = LAYOUTS[cfg.format]
    source = Path(cfg.source)
    file = weights_file(layout, source)
    home = source if source.is_dir() else source.parent
    base = Path(cfg.base) if cfg.base else None
    if layout.needs_base and base is None:
        raise UserError(f"the {cfg.format} format keeps no GPT-2 config or tokenizer: give "
                        "--base, the local GPT-2 directory it was trained from", field="base")
    out = Path(cfg.out)
    check_output(out, inputs={"source": source, "base": base})
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("exists and is not empty: the import writes a new run directory",
                        file=out, field="out")
    config_dir = _config_home(home, base, file)
    gpt2_config = read_config(config_dir)
    method = method_class(cfg.method or _default_method(cfg.format))
    state, own = split_state(layout, read_state(file), file, cfg.lora_alpha)
    state = check_state(state, gpt2_config, file, base=config_dir if config_dir != home else None)
    tok_dir = home if _has_tokenizer(home) else base
    if tok_dir is None or not _has_tokenizer(tok_dir):
        raise UserError("no tokenizer (tokenizer.json, or vocab.json and merges.txt) here or "
                        "in --base", file=home, field="base")
    tokenizer = BPETokenizer.from_directory(tok_dir, layout.roles, layout.added_tokens,
                                            name=f"{cfg.format}:{source.name}",
                                            template=layout.template)
    d_vocab = state["transformer.wte.weight"].shape[0]
    if len(tokenizer) > d_vocab:
        raise UserError(f"the tokenizer has {len(tokenizer)} tokens but the checkpoint's "
                        f"embedding {d_vocab} rows: --base is not the model it was trained from",
                        file=file, field="base")
    model, kwargs = to_hooked(state, gpt2_config)
    method_module, implied = method.import_module(own, file)
    options = {**_options(cfg.option), **implied}
    built = get_method(method.name, options, tokenizer)  # options valid, every role present
    unset = [k for k in method.inference_options if options.get(k) is None]
    if unset:
        raise UserError(f"the {method.name} method needs {unset[0]} to run: give --option "
                        f"{unset[0]}=N, the {method.inference_options[unset[0]]}",
                        field="option")
    config: dict[str, Any] = {
        "model": kwargs,
        "task": {"name": cfg.task},
        "method": {"name": method.name, **asdict(built.options)},
        "train": {"method": method.name, "size": "imported", "task": cfg.task},
        "imported": {"format": cfg.format, "source": str(file.resolve()),
                     "sha256": sha256_file(file), "base": str(base.resolve()) if base else None,
                     "lora_alpha": cfg.lora_alpha if cfg.format == "codi" else None},
    }
    # written beside the target and renamed into place: a killed import leaves no half run
    partial = replaceable_entry(out.parent / f".{out.name}.import-partial",
                                what="partly written import")
    if partial.exists():  # a killed import's leftover: run files only (checked just above)
        shutil.rmtree(partial)
    try:
        save_run(partial, model, tokenizer, config, {}, method_module=method_module)
        if out.exists():
            out.rmdir()  # an empty directory (checked above); a non-empty one fails here
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # what this call wrote
        raise
    return out


def _config_home(home: Path, base: Path | None, file: Path) -> Path:
    """The directory whose ``config.json`` describes the GPT-2: the source's own where it is a
    GPT-2 config (hf, and icot when it kept one), else ``--base``."""
    import json

    own = home / "config.json"
    if own.is_file():
        try:
            if json.loads(own.read_text()).get("model_type") == "gpt2":
                return home
        except (OSError, ValueError, AttributeError):
            pass
    if base is None:
        raise UserError("no GPT-2 config.json beside the checkpoint: give --base, the local "
                        "GPT-2 directory it was trained from", file=file, field="base")
    return base


def _has_tokenizer(directory: Path | None) -> bool:
    return directory is not None and (
        (directory / "tokenizer.json").is_file()
        or ((directory / "vocab.json").is_file() and (directory / "merges.txt").is_file()))


def _options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value reads as JSON where it is (6, 0.5, true), else as text."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise UserError(f"{pair!r} is not KEY=VALUE", field="option")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _default_method(fmt: str) -> str:
    from workbench.methods import METHODS

    return next(name for name, cls in METHODS.items() if fmt in cls.import_formats)
