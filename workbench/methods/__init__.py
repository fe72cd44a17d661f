"""The method registry: one module per training/inference recipe."""

from __future__ import annotations

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


__all__ = ["METHODS", "Method", "Prediction", "Tokenized", "get_method", "tokenize"]
