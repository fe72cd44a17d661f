"""Schemas of the analyses' JSON outputs (``analyses/*.json`` of a run, ``run.json`` of a
results snapshot), read by the app and ``lwb results`` through
:func:`workbench.artifacts.read_analysis`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel, model_validator

from workbench.schemas import (
    FiniteFloat,
    NonNegativeInt,
    Schema,
)

Interval = Annotated[list[FiniteFloat | None], Field(min_length=2, max_length=2)]
"""A 95 % interval: [low, high], either end None where undefined."""

Stat = FiniteFloat | None
"""A statistic: a finite number, or None where it is undefined (the record says why)."""


class Undefined(Schema):
    """A record that may carry an ``undefined`` reason beside its None statistics."""

    undefined: str | None = None


class ProbeCell(Undefined):
    """One probe's score in one cell (layer × step or layer × block), with its interval, its
    control task, selectivity and chance."""

    layer: int
    metric: str = ""
    value: Stat = None
    ci_lo: Stat = None
    ci_hi: Stat = None
    control: Stat = None
    selectivity: Stat = None
    chance: Stat = None
    majority: Stat = None
    n_items: NonNegativeInt | None = None
    n_classes: NonNegativeInt | None = None


class ProbeRecord(ProbeCell):
    step: int
    kind: str | None = None
    target: str | None = None


class Probes(RootModel[list[ProbeRecord]]):
    """``probes.json``: one record per layer × step cell."""

    @model_validator(mode="after")
    def _non_empty(self) -> Probes:
        if not self.root:
            raise ValueError("expected a non-empty list of probe records")
        return self


class Alignment(Undefined):
    key: str | None = None
    kind: str | None = None
    best_layer: int | None = None
    diagonality: Stat = None
    diagonality_ci: Interval | None = None
    diagonality_per_layer: dict[str, Stat] = {}
    matrices: dict[str, list[list[dict[str, Any]]]] = {}
    latent_steps: list[int] = []
    proof_steps: int | None = None
    layers: list[int] = []
    layer_matrix: list[list[dict[str, Any] | None]] | None = None
    """One-position methods: the layer × proof step matrix at that position."""

    @model_validator(mode="after")
    def _best_is_a_layer(self) -> Alignment:
        if self.matrices and self.best_layer is not None and \
                str(self.best_layer) not in self.matrices:
            raise ValueError(f"best_layer {self.best_layer} has no matrix")
        return self


class CorrectnessRecord(ProbeCell):
    block: int
    metric: str = "auroc"


class Selection(Undefined):
    accuracy: Stat = None
    ci: Interval | None = None
    n: NonNegativeInt


class Correctness(Undefined):
    records: list[CorrectnessRecord] = []
    best_layer: int | None = None
    mean_auroc_per_layer: dict[str, Stat] = {}
    selection: dict[str, Selection] = {}
    n_examples: NonNegativeInt | None = None
    blocks: list[int] = []


class InterventionResult(Undefined):
    step: int | Literal["all"]
    kind: str
    accuracy: Stat = None
    accuracy_change: Stat = None
    accuracy_change_ci: Interval | None = None
    flip_rate: Stat = None
    follows_donor: Stat = None


class Interventions(Schema):
    method: str | None = None
    step_kind: str = "step"
    steps: NonNegativeInt | None = None
    layer: int | None = None
    hook: str = ""
    n: NonNegativeInt | None = None
    clean_accuracy: Stat = None
    results: list[InterventionResult]


class Specificity(Schema):
    score: Stat = None
    chance: Stat = None
    n: NonNegativeInt | None = None


class Projections(Schema):
    method: str = "projection"
    layer: int | None = None
    kind: str | None = None
    explained_variance_ratio: list[Stat] | None = None
    block_specificity: dict[str, Specificity | None | str] | None = None


class Lens(Schema):
    task: str | None = None
    n_layers: NonNegativeInt | None = None
    kinds: list[str] = []
    frontier: Any = None
    cells: list[dict[str, Any]] = []


class FrontierCell(Schema):
    layer: NonNegativeInt
    kind: str
    step: NonNegativeInt
    n: NonNegativeInt | None = None
    lens: dict[str, Any] | None = None
    probe: dict[str, Any] | None = None


class Frontier(Schema):
    """``frontier.json`` of a results snapshot: the BFS-frontier readout of ``lens.json``."""

    method: str | None = None
    n_layers: NonNegativeInt | None = None
    cells: list[FrontierCell] = []


class Compare(Schema):
    split: str | None = None
    rows: list[dict[str, Any]] = []
    efficiency: list[dict[str, Any]] = []
    fits: list[dict[str, Any]] = []
    fit: str = ""


class RunIdentity(Schema):
    """``run.json`` of an analysis snapshot: which model the analyses describe."""

    task: str | None = None
    preset: str | None = None
    method: str | None = None
    size: str | None = None
    seed: int | None = None
