"""iCoT (Deng et al. 2024, *From Explicit CoT to Implicit CoT: Learning to Internalize CoT Step by
Step*): train on the CoT, then remove its tokens from the left, stage by stage, until the model
answers with none — the reasoning has to move "vertically", into the layers.

At stage k the first ``k · remove_per_stage`` tokens of the written steps (steps with their
``<sep>`` separators) are removed, plus a random offset o per example (removal smoothing): with
probability ``p(o) = (1 − e^{−λ}) e^{−λo}`` for o = 0 … 99, the rest of the mass on o = 99, as
the published code draws it (there λ = ∞ turns smoothing off; here λ = 0 does, since a run's
config is strict JSON). The last stage removes every step::

    stage 0:  <bos> question  a <sep> b <sep> c <sep>  <ans> answer <eos>
    stage 1:  <bos> question  b <sep> c <sep>          <ans> answer <eos>     (remove 2)
    last:     <bos> question                           <ans> answer <eos>

The optimizer (and the learning-rate schedule) restart at every stage. Inference decodes from
``<bos> question`` as CoT does, so a model that has internalised its steps writes ``<ans>`` at
once; the run's ``metrics.json`` lists the stages it went through (``train.stages``, each named
by the tokens it removes). Its one latent position is the answer position (the ``<ans>`` it
writes): capture records every layer there, and the alignment analysis reads layer × proof step.

Differences from the published code: removal grows per stage here (``epochs_per_stage`` long),
not one token at a time within an epoch; the schedule restarts with the optimizer (the published
code has no schedule).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from workbench.config import Checked
from workbench.methods.base import Builder, Encoded, LatentStep, Method, Stage, Tokenized
from workbench.schemas import Count, Count0, NonNegativeFloat, PositiveFloat

#: The published code's truncation of the smoothing distribution (offsets 0 … 99).
MAX_OFFSET = 100


@functools.lru_cache(maxsize=8)  # drawn from once per training example
def smoothing_distribution(lam: float, truncate: int = MAX_OFFSET) -> tuple[float, ...]:
    """``p(o)`` for o = 0 … truncate − 1: ``(1 − e^{−λ}) e^{−λo}``, the leftover mass on the
    last offset; λ = 0 (or ∞) is a point mass on 0 (no smoothing)."""
    if lam == 0 or math.isinf(lam):
        return (1.0,) + (0.0,) * (truncate - 1)
    p = [(1 - math.exp(-lam)) * math.exp(-lam * o) for o in range(truncate)]
    p[-1] += 1 - sum(p)
    return tuple(p)


@dataclass(frozen=True)
class ICoTOptions(Checked):
    """iCoT's removal schedule."""

    remove_per_stage: Count = 8
    """CoT tokens removed from the left at each stage (the paper removes 8 per epoch)."""
    epochs_per_stage: PositiveFloat = 1.0
    """Epochs spent at each stage (with --fresh: steps_per_epoch = train split size / batch)."""
    smoothing_lambda: NonNegativeFloat = 4.0
    """λ of removal smoothing: o extra tokens are removed with probability ∝ exp(−λ·o)
    (the paper's 4; 0 turns it off)."""
    reset_optimizer: bool = True
    """Restart the optimizer and learning-rate schedule at every stage."""
    max_cot_tokens: Count0 | None = None
    """Longest CoT (tokens of the steps with their separators) the schedule removes; default:
    that of the longest training example."""


class ICoT(Method):
    name = "icot"
    label = "iCoT"
    order = 25
    color = "#8c564b"
    import_formats = ("icot",)
    Options = ICoTOptions
    description = "question → answer, the CoT removed from the left stage by stage"
    step_kind = "answer"
    one_pass = False
    answer_in_prompt = False
    tiny_options = {"remove_per_stage": 2, "epochs_per_stage": 2}

    def resolve(self, train: Sequence[Tokenized]) -> ICoTOptions:
        if self.options.max_cot_tokens is None:
            most = max(len(self.steps_with_separators(e.steps)) for e in train)
            self.options = replace(self.options, max_cot_tokens=most)
        return self.options

    @property
    def n_stages(self) -> int:
        """Stage 0 keeps the whole CoT; the last removes all of it."""
        return math.ceil(int(self.options.max_cot_tokens) / self.options.remove_per_stage) + 1

    def removed_at(self, stage: int) -> int | None:
        """Tokens stage ``stage`` removes before smoothing (None: all of them)."""
        return None if stage >= self.n_stages - 1 else stage * self.options.remove_per_stage

    def stages(self, total_steps: int, steps_per_epoch: int) -> list[Stage]:
        per = max(1, round(self.options.epochs_per_stage * steps_per_epoch))
        out, start = [], 0
        for k in range(self.n_stages):
            end = total_steps if k == self.n_stages - 1 else min(total_steps, start + per)
            if start >= end:
                break
            removed = self.removed_at(k)
            name = "remove all" if removed is None else f"remove {removed}"
            out.append(Stage(k, name, start, end, reset=k > 0 and self.options.reset_optimizer))
            start = end
        return out

    def offset(self, rng: random.Random) -> int:
        """A removal-smoothing offset drawn from :func:`smoothing_distribution`."""
        lam = float(self.options.smoothing_lambda)
        if lam == 0:
            return 0
        return rng.choices(range(MAX_OFFSET), weights=smoothing_distribution(lam))[0]

    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        cot = self.steps_with_separators(ex.steps)
        base = self.removed_at(stage.index)
        cut = len(cot) if base is None else min(len(cot), base + self.offset(rng))
        rest = [*cot[cut:], *self.answer_mark, *ex.answer, self.eos]
        return Builder().add([*self.start, *ex.question]).add(rest, weight=1.0).done()

    def __init__(self, options: ICoTOptions, tokenizer: Any) -> None:
        super().__init__(options, tokenizer)
        # Where the answer marker is the end-of-text token (iCoT's own format, an imported
        # iCoT), the prompt ends with it, as iCoT's inference cuts the prompt after its first
        # eos: decoding would otherwise stop at the marker.
        self.answer_in_prompt = self.ans == self.eos

    def prompt(self, ex: Tokenized) -> Encoded:
        mark = self.answer_mark if self.answer_in_prompt else []
        return Builder().add([*self.start, *ex.question, *mark]).mark_align().done()

    def max_length(self, ex: Tokenized) -> int:
        return len(ex.question) + sum(len(s) + 1 for s in ex.steps) + len(ex.answer) + 3

    def latent_positions(self, prompt: Encoded, emitted: list[int]) -> list[LatentStep]:
        """The answer position: the ``<ans>`` it writes (which predicts the answer's first
        token), with every layer there; none if it never writes one."""
        if self.answer_in_prompt:
            at = len(prompt) - 1
        elif self.ans not in emitted:
            return []
        else:
            at = len(prompt) + emitted.index(self.ans)
        return [LatentStep(self.step_kind, 0, at, (at,))]
