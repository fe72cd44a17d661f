"""Small statistics shared by every floor: the Wilson interval of a proportion, and statistics
that may be **undefined** (AUROC with one class, a mean of nothing, an interval of one item).

An undefined statistic is ``None`` together with a reason, never ``nan``: in JSON the record
holds ``None`` and an ``"undefined"`` field with the reason; a table shows
``undefined (<reason>)`` (:func:`show`). Nothing here lets a numpy warning reach the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from workbench.errors import UserError

#: The JSON field naming why a record's statistics are None.
UNDEFINED = "undefined"
ONE_CLASS = "one class"
EMPTY = "no items"


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float] | tuple[None, None]:
    """95 % Wilson score interval of a proportion ``p`` measured on ``n`` trials; ``(None,
    None)`` (undefined: no trials) when ``n`` is 0.

    Computed by :func:`scipy.stats.binomtest`'s ``proportion_ci(method="wilson")`` on the count
    ``k = p·n``, which must be whole (``p`` is a measured accuracy, a count over ``n``; else a
    :class:`UserError`). ``z`` (1.96, not the exact 97.5 % normal quantile 1.95996…, so the
    intervals are the ones published before) is passed as the confidence level ``2Φ(z) − 1``,
    which scipy turns back into ``z``; at ``k = 0`` (``k = n``) the bound is exactly 0 (1)."""
    if n <= 0 or p is None or not math.isfinite(p):
        return (None, None)
    from scipy.stats import binomtest

    k = round(p * n)
    if not 0 <= k <= n or abs(p * n - k) > 1e-6:
        raise UserError(f"accuracy {p!r} on n = {n} is not a whole count of successes "
                        "(a Wilson interval needs one)")
    ci = binomtest(k, n).proportion_ci(confidence_level=math.erf(z / math.sqrt(2)),
                                       method="wilson")
    return float(ci.low), float(ci.high)


def defined(x: Any) -> bool:
    """Whether ``x`` is a number (not None, not nan or infinite)."""
    if x is None or isinstance(x, bool):
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def finite_mean(values: Iterable[Any]) -> float | None:
    """Mean of the defined values; None when there are none (no 'Mean of empty slice')."""
    kept = [float(v) for v in values if defined(v)]
    return sum(kept) / len(kept) if kept else None


def one_class_reason(labels: Iterable[Any], names: dict[Any, str] | None = None) -> str | None:
    """Why a two-class statistic (AUROC) is undefined on ``labels``, or None if it is defined:
    ``"one class"``, or with ``names`` (label → what every item then is) e.g. ``"every answer
    is correct (one class)"``; ``"no items"`` when there are none."""
    seen = {int(v) if isinstance(v, bool) else v for v in labels}
    if not seen:
        return EMPTY
    if len(seen) > 1:
        return None
    (only,) = seen
    if names and only in names:
        return f"{names[only]} ({ONE_CLASS})"
    return ONE_CLASS


def interval_reason(n: int, what: str = "items") -> str | None:
    """Why an interval over ``n`` resampled items is undefined (fewer than two), else None."""
    if n == 0:
        return f"no {what}"
    if n == 1:
        return f"n = 1: one {what.rstrip('s')} has no interval"
    return None


def clean(obj: Any) -> Any:
    """``obj`` with every nan or infinite float replaced by None (for JSON: never ``NaN``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    return obj


def show(value: Any, digits: int = 3, reason: str | None = None, scale: float = 1.0) -> str:
    """A statistic for a table: the number, or ``undefined (reason)`` (``–`` where absent and no
    reason is known)."""
    if defined(value):
        return f"{float(value) * scale:.{digits}f}"
    if reason:
        return f"undefined ({short(reason)})"
    return "–"


def short(reason: str) -> str:
    """The parenthesised core of a reason (``every answer is correct (one class)`` → ``one
    class``), or the reason itself."""
    if reason.endswith(")") and "(" in reason:
        return reason[reason.rindex("(") + 1:-1]
    return reason
