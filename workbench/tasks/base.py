"""What every task shares: the example record, the task interface, split-safe generation.

An **example** is a plain dict, so that published files round-trip unchanged::

    {"question": str, "steps": [str, ...], "answer": str,
     "proof": [{...one record per step...}, ...], "task": str, "id": str, ...task fields}

``proof[i]`` is the structured content of ``steps[i]`` (e.g. ``{"node": "wumpus"}`` or
``{"var": "c", "value": 7}``), which is what analyses use to label latent states.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError

Example = dict[str, Any]

SPLITS = ("train", "valid", "test")
#: Share of the question-hash space owned by each split. A question belongs to exactly one split,
#: so a generated test set never repeats a training question, whatever the seeds.
SPLIT_SHARES = {"train": 0.8, "valid": 0.1, "test": 0.1}

REQUIRED_FIELDS: dict[str, type] = {"question": str, "steps": list, "answer": str}


@dataclass(frozen=True)
class Task:
    """A registered task: its config type, presets and the functions that define it."""

    name: str
    description: str
    config_type: type
    presets: dict[str, Any]
    #: ``generate(config, rng)`` draws one example (without ``id``/``task``), or ``None`` to reject.
    generate: Callable[[Any, random.Random], Example | None]
    #: ``vocabulary(config)``: every word the task can produce, for a deterministic tokenizer.
    vocabulary: Callable[[Any], list[str]]
    #: ``derive_proof(example)`` rebuilds ``proof`` from the steps (published files have none).
    derive_proof: Callable[[Example], list[dict[str, Any]]]
    #: ``check(example)`` raises :class:`UserError` (naming the field) if an invariant fails.
    check: Callable[[Example], None]
    #: ``statistics(examples)`` returns task-specific rows for ``lwb data inspect``.
    statistics: Callable[[list[Example]], dict[str, Any]]
    #: Default sizes per split, by preset (used by ``lwb demo`` and docs).
    default_sizes: dict[str, dict[str, int]]
    #: The task's own fields beyond question/steps/answer/proof (checked where present).
    fields: tuple[str, ...] = ()
    #: ``depth(example)``: how many reasoning steps the example needs (per-depth reports);
    #: default: its number of steps.
    depth: Callable[[Example], int] | None = None
    #: ``frontier(question, depth)``: graph tasks only: the nodes at BFS ``depth`` from the root
    #: (``frontier``), the other reachable nodes (``reachable``) and the nodes the root cannot
    #: reach (``unreachable``), as sets of node names; ``None`` for tasks without a graph.
    frontier: Callable[[str, int], dict[str, set[str]]] | None = None
    #: ``choices(example)``: the answer candidates in question order, for tasks whose question
    #: offers them (the answer names exactly one); ``None``: the answer is free. The shortcut
    #: controls (:mod:`workbench.tasks.controls`) then predict which candidate is the answer.
    choices: Callable[[Example], list[str]] | None = None
    #: ``local_features(example)``: named numbers a shallow reader could take off the question
    #: without following the steps (degrees and positions of candidates, the query's own
    #: statement), for the local-features shortcut control; ``None``: the task declares none.
    local_features: Callable[[Example], dict[str, float]] | None = None
    #: ``problem(question, proof)``: the question as a graph for a person, its proof path
    #: highlighted (:class:`workbench.tasks.problem.Problem`); ``None``: not drawn.
    problem: Callable[[str, list[dict[str, Any]]], Any] | None = None
    #: ``proof_label(record)``: what one proof record establishes, in words (``c = a + 4 = 7``,
    #: ``wumpus → zumpus``); None where the record is not of this task's shape.
    proof_label: Callable[[dict[str, Any]], str | None] | None = None
    #: ``recognise(example)``: whether an example without a ``task`` field is one of this
    #: task's (the loaders ask every task, in registry order); ``None``: never guessed.
    recognise: Callable[[Example], bool] | None = None
    #: The preset of the task's main zoo models (named ``<task>-<method>``; other presets'
    #: models are ``<task>-<preset>-<method>``), the one ``lwb demo`` shows for the task.
    zoo_preset: str = "demo"

    def depth_of(self, example: Example) -> int:
        return self.depth(example) if self.depth is not None else len(example["steps"])

    def preset_config(self, preset: str) -> Any:
        """The generator config of ``preset`` (a one-line error naming the choices if none)."""
        if preset not in self.presets:
            raise UserError(f"unknown preset {preset!r} for task {self.name}; choose one of "
                            + ", ".join(self.presets), field="preset")
        return self.presets[preset]


def split_of(question: str) -> str:
    """The split that owns ``question``: a stable hash of its text decides."""
    digest = hashlib.sha256(question.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for split in SPLITS:
        edge += SPLIT_SHARES[split]
        if u < edge:
            return split
    return SPLITS[-1]


def rng_for(task: str, preset: str, split: str, seed: int) -> random.Random:
    """A generator seeded by (task, preset, split, seed); stable across Python versions."""
    return random.Random(f"latent-workbench/{task}/{preset}/{split}/{seed}")


def generate_split(
    task: Task,
    preset: str,
    split: str,
    n: int,
    seed: int,
    config: Any | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Example]:
    """Yield ``n`` distinct examples whose questions belong to ``split``.

    Deterministic: the same arguments give the same examples in the same order.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    cfg = config if config is not None else task.preset_config(preset)
    rng = rng_for(task.name, preset, split, seed)
    seen: set[str] = set()
    # Rejection (wrong split, duplicate, or a draw the task rejects) is bounded, so a task whose
    # space is too small for n fails with a message instead of looping forever.
    max_draws = max(10_000, int(200 * n / SPLIT_SHARES[split]))
    draws = 0
    while len(seen) < n:
        draws += 1
        if draws > max_draws:
            raise UserError(
                f"could only generate {len(seen)} distinct {split} examples of {task.name} "
                f"preset {preset} (asked for {n}); the task's space is too small"
            )
        example = task.generate(cfg, rng)
        if example is None:
            continue
        question = example["question"]
        if question in seen or split_of(question) != split:
            continue
        seen.add(question)
        example["task"] = task.name
        example["id"] = f"{task.name}-{preset}-{split}-s{seed}-{len(seen) - 1:06d}"
        if progress is not None:
            progress(1)
        yield example


def check_common(example: Example) -> None:
    """Invariants shared by every task: field types and one proof record per step."""
    for name, kind in REQUIRED_FIELDS.items():
        if name not in example:
            raise UserError("missing field", field=name)
        if not isinstance(example[name], kind):
            raise UserError(
                f"expected {kind.__name__}, got {type(example[name]).__name__}", field=name
            )
    for i, step in enumerate(example["steps"]):
        if not isinstance(step, str):
            raise UserError(f"expected str, got {type(step).__name__}", field=f"steps[{i}]")
    proof = example.get("proof")
    if proof is not None:
        if not isinstance(proof, list) or not all(isinstance(p, dict) for p in proof):
            raise UserError("expected a list of objects", field="proof")
        if len(proof) != len(example["steps"]):
            raise UserError(
                f"{len(proof)} proof records for {len(example['steps'])} steps", field="proof"
            )


def frontier_groups(depths: dict[str, int], nodes: set[str], root: str, depth: int
                    ) -> dict[str, set[str]]:
    """A graph task's ``frontier`` from BFS ``depths`` (root at 0): the nodes at ``depth``
    (``frontier``), the other nodes the root reaches (``reachable``, root excluded) and the rest
    of ``nodes`` (``unreachable``)."""
    reachable = {n for n, d in depths.items() if d >= 1}
    front = {n for n in reachable if depths[n] == depth}
    return {"frontier": front, "reachable": reachable - front,
            "unreachable": nodes - reachable - {root}}


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth's method; fine for small ``lam``), using only ``rng``."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def share_table(values: list[Any]) -> dict[str, float]:
    """``{value: percent}`` over the distinct values, sorted by value."""
    counts: dict[Any, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return {str(k): 100.0 * counts[k] / len(values) for k in sorted(counts)}
