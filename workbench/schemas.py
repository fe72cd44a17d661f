"""The validation boundary: every file and command-line value is parsed here, once, by a
declared pydantic schema, and arrives inside the workbench typed and valid.

A failure is one :class:`~workbench.errors.UserError` naming the file, the line and the field
(or the flag), which the CLI prints as one line with exit status 2. Schemas of particular
artifacts live beside this module's primitives:

* :data:`PositiveInt`, :data:`NonNegativeInt`, :data:`FiniteFloat`, :data:`PositiveFloat`,
  :data:`Fraction`, :data:`Count`, :data:`Count0`, :data:`Seed`, :data:`Port`, :data:`Folds`,
  :data:`LayerIndex`, :data:`Jobs` — constrained scalars for configs and flags;
* :func:`parse` — validate a Python value (already read) against a schema;
* :func:`load` — read a JSON file (size and nesting bounded) and validate it;
* :func:`flag` — an ``argparse`` ``type=`` that validates one command-line value.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from workbench.errors import UserError

T = TypeVar("T")

#: Deepest JSON nesting any artifact of the workbench has (with a wide margin).
MAX_JSON_DEPTH = 64
#: Largest JSON artifact read whole (data files stream line by line and are not bounded here).
MAX_JSON_BYTES = 256 << 20


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("must be a finite number")
    return x


PositiveInt = Annotated[int, Field(strict=False, gt=0)]
NonNegativeInt = Annotated[int, Field(strict=False, ge=0)]
FiniteFloat = Annotated[float, AfterValidator(_finite)]
PositiveFloat = Annotated[float, AfterValidator(_finite), Field(gt=0)]
NonNegativeFloat = Annotated[float, AfterValidator(_finite), Field(ge=0)]
Fraction = Annotated[float, AfterValidator(_finite), Field(ge=0, le=1)]

#: Largest count a flag or config accepts (steps, examples, batch size, …): far beyond any run
#: this workbench makes, small enough that a typo of a few extra digits is caught.
MAX_COUNT = 10**9
#: A count of things (steps, examples, a batch): 1 … MAX_COUNT.
Count = Annotated[int, Field(strict=False, gt=0, le=MAX_COUNT)]
#: A count where 0 has a meaning (off, none, "the default"): 0 … MAX_COUNT.
Count0 = Annotated[int, Field(strict=False, ge=0, le=MAX_COUNT)]
#: A random seed (what ``random``, numpy and torch all accept).
Seed = Annotated[int, Field(strict=False, ge=0, le=2**32 - 1)]
#: A model's context length (the same bound as a run's ``config.json``).
ContextLength = Annotated[int, Field(strict=False, gt=0, le=1 << 16)]
#: CPU threads for torch.
Threads = Annotated[int, Field(strict=False, gt=0, le=1024)]
#: A TCP port.
Port = Annotated[int, Field(strict=False, ge=1, le=65535)]
#: Cross-validation folds: at least two (one fold has nothing to test on).
Folds = Annotated[int, Field(strict=False, ge=2, le=1000)]
#: A model layer index (checked against the model's depth where the model is known).
LayerIndex = Annotated[int, Field(strict=False, ge=0, le=1000)]


def _n_jobs(n: int) -> int:
    if n == 0 or n < -1:
        raise ValueError("must be a positive number of processes, or -1 for every core")
    return n


#: scikit-learn's ``n_jobs``: a positive number of processes, or -1 for every core.
Jobs = Annotated[int, Field(strict=False, le=1024), AfterValidator(_n_jobs)]


class Schema(BaseModel):
    """Base of artifact schemas: unknown keys are kept (newer writers may add fields), values
    are checked, and instances are immutable."""

    model_config = ConfigDict(extra="allow", frozen=True)


class StrictSchema(Schema):
    """A schema that refuses unknown keys (user-written configs, where a typo must be named)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _msg(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def user_error(e: ValidationError, *, file: str | Path | None = None,
               line: int | None = None, field: str | None = None) -> UserError:
    """The first problem of a pydantic error as one line naming the field."""
    first = e.errors(include_url=False)[0]
    where = _loc(tuple(first.get("loc", ())))
    if field:
        where = f"{field}.{where}" if where else field
    msg = _msg(first)
    if first.get("type") == "missing":
        msg = "missing"
    elif "input" in first and first.get("type") != "extra_forbidden":
        shown = repr(first["input"])
        msg = f"{msg} (got {shown[:40] + '…' if len(shown) > 40 else shown})"
    elif first.get("type") == "extra_forbidden":
        msg = "unknown key"
    return UserError(msg, file=file, line=line, field=where or None)


def parse(schema: Any, value: Any, *, file: str | Path | None = None, line: int | None = None,
          field: str | None = None) -> Any:
    """``value`` validated against ``schema`` (a model class or any type pydantic accepts)."""
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(value)
        return TypeAdapter(schema).validate_python(value)
    except ValidationError as e:
        raise user_error(e, file=file, line=line, field=field) from None
    except RecursionError:
        raise UserError("nested too deeply", file=file, line=line, field=field) from None


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a parsed JSON value; raises ``ValueError`` past ``limit`` (iterative,
    so a hostile value cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            if d > limit:
                raise ValueError(f"nested deeper than {limit} levels")
            deepest = max(deepest, d)
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def loads(text: str, *, file: str | Path | None = None, line: int | None = None,
          nan_as_none: bool = False) -> Any:
    """Parse JSON text with the workbench's bounds: nesting ≤ :data:`MAX_JSON_DEPTH`, finite
    numbers only (``NaN``/``Infinity`` are refused; with ``nan_as_none`` they read as ``None``,
    undefined, for files written before statistics said why they are undefined)."""

    def no_constants(name: str) -> Any:
        if nan_as_none:
            return None
        raise ValueError(f"{name} is not a number JSON allows")

    def no_overflow(text: str) -> Any:
        x = float(text)
        if not math.isfinite(x):
            raise ValueError(f"{text[:20]} is too large for a number")
        return x

    try:
        value = json.loads(text, parse_constant=no_constants, parse_float=no_overflow)
        json_depth(value)
    except json.JSONDecodeError as e:
        raise UserError(f"invalid JSON: {e.msg}", file=file,
                        line=(line or 1) + e.lineno - 1 if line else e.lineno) from None
    except RecursionError:
        raise UserError(f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels", file=file,
                        line=line) from None
    except ValueError as e:
        raise UserError(f"invalid JSON: {e}", file=file, line=line) from None
    return value


def read_text(path: str | Path, missing: str = "missing", max_bytes: int = MAX_JSON_BYTES) -> str:
    """A UTF-8 text file, as a one-line error if absent, a directory, too big or not UTF-8."""
    path = Path(path)
    try:
        if path.is_dir():
            raise UserError("is a directory, not a file", file=path)
        size = path.stat().st_size
        if size > max_bytes:
            raise UserError(f"too large ({size} bytes; at most {max_bytes})", file=path)
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(missing, file=path) from None
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror}", file=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"not UTF-8 text (byte {e.start})", file=path, line=line) from None


def load(path: str | Path, schema: Any = Any, missing: str = "missing") -> Any:
    """Read a JSON file and validate it against ``schema``; every failure is one line naming
    the file (and line, and field)."""
    value = loads(read_text(path, missing), file=path)
    return value if schema is Any else parse(schema, value, file=path)


def flag(schema: Any, name: str | None = None):
    """An ``argparse`` ``type=`` callable validating one value against ``schema``; argparse
    turns its ``ArgumentTypeError`` into ``lwb: error: argument --x: …`` (exit 2)."""
    import argparse

    adapter = TypeAdapter(schema)

    def convert(text: str) -> Any:
        try:
            return adapter.validate_python(text if schema is str else _number(text))
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            raise argparse.ArgumentTypeError(
                f"{text!r}: {_msg(first)}") from None

    convert.__name__ = name or getattr(schema, "__name__", "value")
    return convert


def _number(text: str) -> Any:
    """A flag's text as the number it spells (int first, then float), else the text."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
