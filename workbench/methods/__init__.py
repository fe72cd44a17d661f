"""The method registry: one module per training/inference recipe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.methods.base import Method, Prediction, Tokenized, tokenize
from workbench.methods.coconut import Coconut
from workbench.methods.codi import CODI
from workbench.methods.cot import CoT
from workbench.methods.icot import ICoT
from workbench.methods.nocot import NoCoT
from workbench.methods.pause import Pause
from workbench.methods.rim import RiM
from workbench.tokenizer import Tokenizer

METHODS: dict[str, type[Method]] = {m.name: m for m in (NoCoT, CoT, Pause, ICoT, Coconut, CODI,
                                                        RiM)}


def default_method() -> str:
    """The method trained when none is named."""
    return next(m.name for m in METHODS.values() if m.default)


def label_of(name: str) -> str:
    """A method's name in tables and figures (an unregistered name stands for itself)."""
    cls = METHODS.get(name)
    return (cls.label or cls.name) if cls else name


def sort_key(name: str) -> tuple[int, str]:
    """Tables and figures list methods by the registry's ``order``, unregistered ones last."""
    cls = METHODS.get(name)
    return (cls.order if cls else 10**6, name)


def color_of(name: str) -> str:
    cls = METHODS.get(name)
    return cls.color if cls else Method.color


def baseline_name() -> str:
    """The registry's direct-answering baseline (time-to-first-token ratios divide by it)."""
    return next(m.name for m in METHODS.values() if m.baseline)


def main_kinds() -> tuple[str, ...]:
    """Every registered step kind, the latent methods' first (each group the latest ``order``
    first): the kind an analysis looks at by default is the first of these a store holds."""
    ordered = sorted(METHODS.values(), key=lambda m: (not m.latent, -m.order, m.name))
    return tuple(dict.fromkeys(m.step_kind for m in ordered))


def latent_kinds() -> tuple[str, ...]:
    """The step kinds of the latent methods (the steps interventions ablate)."""
    return tuple(dict.fromkeys(m.step_kind for m in METHODS.values() if m.latent))


def proof_step(options: dict[str, Any], kind: str, step: int) -> int:
    """The proof step a stored step stands for; ``options`` is a run's ``config["method"]``
    (its ``name`` and options). An unregistered method maps step k to proof step k."""
    cls = METHODS.get(str(options.get("name")))
    return cls.proof_step(options, kind, step) if cls else step


def method_class(name: str) -> type[Method]:
    """The registered method called ``name`` (a one-line error naming the choices if none)."""
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


def get_method(name: str, options: dict[str, Any] | None, tokenizer: Tokenizer) -> Method:
    """Build a method from its name and options (a dict, as saved in a run's config)."""
    cls = method_class(name)
    try:
        opts = cls.Options(**(options or {}))
    except TypeError as e:
        raise UserError(f"bad options for method {name}: {e}", field="method") from None
    return cls(opts, tokenizer)


def method_of(run: Any) -> Method:
    """The method a loaded run was trained with, with its saved options and, for a method with
    parameters of its own, their saved values (``method.safetensors``)."""
    from workbench.runs import METHOD_WEIGHTS, load_module_state

    opts = {k: v for k, v in run.config["method"].items() if k != "name"}
    method = get_method(run.config["method"]["name"], opts, run.tokenizer)
    module = method.attach(run.model)
    file = Path(run.path) / METHOD_WEIGHTS
    if module is not None:
        if getattr(run, "method_state", None) is None:
            raise UserError(f"missing: the {method.name} method keeps parameters of its own there",
                            file=file)
        load_module_state(module, run.method_state, file)
        module.eval()
    elif getattr(run, "method_state", None) is not None:
        raise UserError(f"the {method.name} method has no parameters of its own", file=file)
    return method


def tokenized_examples(run: Any, method: Method, data: str | Path, *,
                       limit: int | None = None) -> Iterator[Tokenized]:
    """A dataset file's examples tokenized with the run's tokenizer, one at a time (a file of
    any size streams in constant memory).

    An unknown word, or a prompt longer than the model's context, is a one-line error naming
    the file and line of the example.
    """
    from workbench.tasks.loaders import iter_file

    for i, (ex, line, _) in enumerate(iter_file(data)):
        if limit and i >= limit:
            return
        try:
            tokenized = tokenize(ex, run.tokenizer)
            need = len(method.full_prompt(tokenized))
            if need >= run.model.cfg.n_ctx:
                raise UserError(f"the prompt needs {need} positions but the model's context "
                                f"is {run.model.cfg.n_ctx} (train with a larger --n-ctx)")
        except UserError as e:
            raise e.at(file=data, line=line) from None
        yield tokenized


def open_run_with_data(run_dir: str | Path, data: str | Path, *, limit: int | None = None,
                       device: str = "cpu") -> tuple[Any, Method, list[Tokenized]]:
    """A run, its method and a dataset file's examples tokenized with the run's tokenizer
    (see :func:`tokenized_examples`)."""
    from workbench.runs import load_run

    run = load_run(run_dir, device=device)
    method = method_of(run)
    return run, method, list(tokenized_examples(run, method, data, limit=limit))


__all__ = ["METHODS", "Method", "Prediction", "Tokenized", "baseline_name", "color_of",
           "default_method", "get_method", "label_of", "latent_kinds", "main_kinds",
           "method_class", "method_of", "open_run_with_data", "proof_step", "sort_key", "tokenize",
           "tokenized_examples"]
