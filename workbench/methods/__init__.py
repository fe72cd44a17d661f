"""The method registry: one module per training/inference recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.methods.base import Method, Prediction, Tokenized, tokenize
from workbench.methods.coconut import Coconut
from workbench.methods.cot import CoT
from workbench.methods.nocot import NoCoT
from workbench.methods.pause import Pause
from workbench.methods.rim import RiM
from workbench.tokenizer import Tokenizer

METHODS: dict[str, type[Method]] = {m.name: m for m in (NoCoT, CoT, Pause, Coconut, RiM)}


def get_method(name: str, options: dict[str, Any] | None, tokenizer: Tokenizer) -> Method:
    """Build a method from its name and options (a dict, as saved in a run's config)."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise UserError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None
    try:
        opts = cls.Options(**(options or {}))
    except TypeError as e:
        raise UserError(f"bad options for method {name}: {e}", field="method") from None
    return cls(opts, tokenizer)


def method_of(run: Any) -> Method:
    """The method a loaded run was trained with, with its saved options."""
    opts = {k: v for k, v in run.config["method"].items() if k != "name"}
    return get_method(run.config["method"]["name"], opts, run.tokenizer)


def open_run_with_data(run_dir: str | Path, data: str | Path, *, limit: int | None = None,
                       device: str = "cpu") -> tuple[Any, Method, list[Tokenized]]:
    """A run, its method and a dataset file's examples tokenized with the run's tokenizer.

    An unknown word, or a prompt longer than the model's context, is a one-line error naming
    the file and line of the example.
    """
    from workbench.runs import load_run
    from workbench.tasks.loaders import load_file

    run = load_run(run_dir, device=device)
    loaded = load_file(data)
    examples = loaded.examples[:limit] if limit else loaded.examples
    method = method_of(run)
    tokenized = []
    for i, ex in enumerate(examples):
        try:
            tokenized.append(tokenize(ex, run.tokenizer))
            need = len(method.full_prompt(tokenized[-1]))
            if need >= run.model.cfg.n_ctx:
                raise UserError(f"the prompt needs {need} positions but the model's context "
                                f"is {run.model.cfg.n_ctx} (train with a larger --n-ctx)")
        except UserError as e:
            raise e.at(file=data, line=loaded.lines[i]) from None
    return run, method, tokenized


__all__ = ["METHODS", "Method", "Prediction", "Tokenized", "get_method", "method_of",
           "open_run_with_data", "tokenize"]
