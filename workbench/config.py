"""Dataclass configs that double as the CLI and as the saved record of a run.

A config is a dataclass whose fields carry a docstring each (the string literal under the field,
as in tuned-lens)::

    @dataclass
    class GenerateConfig:
        task: str = "chain"
        \"\"\"Task to generate.\"\"\"

:func:`add_arguments` turns the fields into ``--flags`` whose help is that docstring, and
:func:`from_namespace` builds the dataclass back from parsed arguments.

Numbers are checked at this edge (issue 17): a field annotated with a constrained type of
:mod:`workbench.schemas` (``batch_size: Count = 16``) becomes a flag that refuses a bad value while
the command line is parsed (``argument --batch-size: '0': Input should be greater than 0``, exit
2), and a config that derives from :class:`Checked` validates the same fields when it is built
from a file or in code. A plain ``float`` field is at least finite.
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
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from workbench.errors import UserError

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


def _numeric_schema(tp: Any) -> Any | None:
    """The schema that checks a scalar field of type ``tp`` (optional already unwrapped), or
    None when it is not a number: ``Annotated[int, …]`` as declared, ``float`` as finite,
    ``int`` as any integer."""
    from workbench.schemas import FiniteFloat

    base = get_args(tp)[0] if get_origin(tp) is Annotated else tp
    if base is bool or base not in (int, float):
        return None
    if get_origin(tp) is Annotated:
        return tp
    return FiniteFloat if base is float else int


def _field_schema(tp: Any) -> Any | None:
    """The schema of a whole field (None: not checked here): numbers, lists of numbers, and
    either of them optional."""
    inner, optional = _unwrap_optional(tp)
    if get_origin(inner) in (list, tuple):
        item = _numeric_schema(get_args(inner)[0])
        schema = list[item] if item is not None else None  # type: ignore[valid-type]
    else:
        schema = _numeric_schema(inner)
    if schema is None:
        return None
    return schema | None if optional else schema


@functools.cache
def _validators(cls: type) -> dict[str, Any]:
    from pydantic import TypeAdapter

    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in dataclasses.fields(cls):
        schema = _field_schema(hints[f.name]) if f.init else None
        if schema is not None:
            out[f.name] = TypeAdapter(schema)
    return out


def check_fields(obj: Any) -> None:
    """Validate every numeric field of dataclass ``obj``; the first bad one is a one-line
    :class:`UserError` naming it as its flag."""
    from pydantic import ValidationError

    for name, adapter in _validators(type(obj)).items():
        value = getattr(obj, name)
        try:
            adapter.validate_python(value)
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            raise UserError(f"{value!r}: {first['msg']}",
                            field="--" + name.replace("_", "-")) from None


def check_value(cls: type, name: str, value: Any, *, file: str | None = None) -> None:
    """Validate a value a file gives for field ``name`` of dataclass ``cls`` (every type, not
    only numbers: a file can hold a list where a name belongs)."""
    from pydantic import TypeAdapter, ValidationError

    hints = typing.get_type_hints(cls, include_extras=True)
    schema = _field_schema(hints[name]) or hints[name]
    try:
        TypeAdapter(schema).validate_python(value)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        raise UserError(f"{value!r}: {first['msg']}", file=file, field=name) from None


class Checked:
    """Base of configs whose numeric fields are validated whenever one is built (from flags,
    a ``--config`` file, an experiment grid or code). A plain mixin, so frozen and ordinary
    dataclasses both derive from it."""

    def __post_init__(self) -> None:
        check_fields(self)


def add_arguments(
    parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = (),
    unset: bool = False,
) -> None:
    """Add one ``--flag`` per field of dataclass ``cls`` (underscores become dashes). ``unset``:
    a flag not given leaves no attribute (the dataclass's own default applies where it is
    built), and the help says what the default is."""
    from workbench.schemas import flag as checked

    hints = typing.get_type_hints(cls, include_extras=True)
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
        kwargs: dict[str, Any] = {"dest": f.name,
                                  "default": argparse.SUPPRESS if unset else default}
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
            item = get_args(tp)[0]
            schema = _numeric_schema(item)
            kwargs["type"] = checked(schema, f.name) if schema is not None else item
        elif (schema := _numeric_schema(tp)) is not None:
            kwargs["type"] = checked(schema, f.name)
        elif tp is str:
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


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A ``--config`` file: JSON or YAML mapping of flag names (dashes or underscores)."""
    from workbench.schemas import loads, read_text

    path = Path(path)
    text = read_text(path, missing="file not found", max_bytes=1 << 20)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise UserError(f"invalid YAML: {getattr(e, 'problem', e)}", file=path,
                            line=mark.line + 1 if mark else None) from None
        except RecursionError:
            raise UserError("nested too deeply", file=path) from None
    else:
        data = loads(text, file=path)
    if not isinstance(data, dict):
        raise UserError("expected a mapping of option names to values", file=path)
    return {str(k).replace("-", "_"): v for k, v in data.items()}
