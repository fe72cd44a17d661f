"""Plain-text tables for the terminal: one formatter for every table a command prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def cell(value: Any, digits: int = 3) -> str:
    """A table cell: ``-`` for nothing, floats with ``digits`` decimals, else ``str``."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def column_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                 fmt: Callable[[Any, str], str] = lambda v, _: cell(v)) -> str:
    """One line per row, one aligned column per name in ``columns`` (a header line first);
    ``fmt(value, column)`` writes a cell."""
    table = [list(columns)] + [[fmt(r.get(c), c) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in table)


def key_value_table(rows: dict[str, Any], title: str = "") -> str:
    """Rows as an aligned two-column text table; nested dicts print as ``key: value`` lists,
    lists as ``[a, b]``, floats with two decimals."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}"
        if isinstance(v, dict):
            return "  ".join(f"{k}: {fmt(x)}" for k, x in v.items())
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return str(v)

    width = max(len(k) for k in rows)
    lines = [title] if title else []
    lines += [f"  {k.ljust(width)}  {fmt(v)}" for k, v in rows.items()]
    return "\n".join(lines)
