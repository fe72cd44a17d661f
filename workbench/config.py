"""Dataclass configs that double as the CLI and as the saved record of a run.

A config is a dataclass whose fields carry a docstring each (the string literal under the field,
as in tuned-lens)::

    @dataclass
    class GenerateConfig:
        task: str = "chain"
        \"\"\"Task to generate.\"\"\"

:func:`add_arguments` turns the fields into ``--flags`` whose help is that docstring, and
:func:`from_namespace` builds the dataclass back from parsed arguments.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

T = TypeVar("T")


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` read from the class source (the string under each field)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def add_arguments(
    parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()
) -> None:
    """Add one ``--flag`` per field of dataclass ``cls`` (underscores become dashes)."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else f.default_factory()  # type: ignore[misc]
            if f.default_factory is not dataclasses.MISSING
            else None
        )
        help_text = docs.get(f.name, "").replace("%", "%%")  # argparse formats help with %
        kwargs: dict[str, Any] = {"dest": f.name, "default": default}
        if tp is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, help=help_text, **kwargs
            )
            continue
        if get_origin(tp) is Literal:
            kwargs["choices"] = list(get_args(tp))
            kwargs["type"] = type(get_args(tp)[0])
        elif get_origin(tp) in (list, tuple):
            kwargs["nargs"] = "+"
            kwargs["type"] = get_args(tp)[0]
        elif tp in (int, float, str):
            kwargs["type"] = tp
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and not optional:
            kwargs["required"] = True
        shown = "" if default in (None, "") else f" (default: {default})".replace("%", "%%")
        parser.add_argument(flag, help=help_text + shown, **kwargs)


def from_namespace(cls: type[T], ns: argparse.Namespace, **overrides: Any) -> T:
    """Build dataclass ``cls`` from parsed arguments (fields missing from ``ns`` keep defaults)."""
    values = {
        f.name: getattr(ns, f.name)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and hasattr(ns, f.name)
    }
    values.update(overrides)
    return cls(**values)
