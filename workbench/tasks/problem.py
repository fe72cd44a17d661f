"""A problem drawn for a person (the app's trajectory browser): a task's question as a graph
with its proof path highlighted, and what one proof step establishes in words. Each task module
builds its own from its own parser (``Task.problem``, ``Task.proof_label``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Problem:
    """A problem as a graph: ``edges`` (parent, child), the highlighted ``path`` (nodes in
    order), display ``labels`` and ``roles`` (root, target, other option, query)."""

    nodes: list[str]
    edges: list[tuple[str, str]]
    path: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    statements: list[tuple[str, bool]] = field(default_factory=list)
    """The question's sentences in order, each with whether it lies on the highlighted path."""
    what: str = "proof path"
    """What the highlighted path is, for a caption."""
    legend: str = ""
    """What the node symbols mean (roles), for a caption."""

    @property
    def path_edges(self) -> set[tuple[str, str]]:
        return set(zip(self.path, self.path[1:]))


def graph_proof_label(record: dict[str, Any]) -> str | None:
    """A graph task's proof step: ``parent → node`` (or the node alone); None without a node."""
    node = record.get("node")
    if node is None:
        return None
    parent = record.get("parent")
    return f"{parent} → {node}" if parent is not None else str(node)


def number(v: Any) -> Any:
    """A float that is a whole number, as an int (store columns hold numbers as floats)."""
    return int(v) if isinstance(v, float) and v == int(v) else v
