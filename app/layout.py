"""Where the nodes of a problem graph go on the page."""

from __future__ import annotations

import numpy as np


def layered_layout(nodes: list[str], edges: list[tuple[str, str]]
                   ) -> dict[str, tuple[float, float]]:
    """Positions for a DAG drawn top-down: a node's row is its longest distance from a source,
    nodes within a row ordered by the mean position of their parents (fewer crossings)."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for p, c in edges:
        parents.setdefault(c, []).append(p)
        parents.setdefault(p, [])
    depth: dict[str, int] = {}

    def level(n: str, seen: frozenset[str] = frozenset()) -> int:
        if n not in depth:
            ps = [p for p in parents[n] if p not in seen]
            depth[n] = 1 + max((level(p, seen | {n}) for p in ps), default=-1)
        return depth[n]

    for n in parents:
        level(n)
    rows: dict[int, list[str]] = {}
    for n in sorted(parents):
        rows.setdefault(depth[n], []).append(n)
    pos: dict[str, tuple[float, float]] = {}
    for d in sorted(rows):
        def key(n: str) -> tuple[float, str]:
            xs = [pos[p][0] for p in parents[n] if p in pos]
            return (float(np.mean(xs)) if xs else 0.0, n)

        members = sorted(rows[d], key=key)
        width = len(members)
        for i, n in enumerate(members):
            pos[n] = (i - (width - 1) / 2, -float(d))
    return pos
