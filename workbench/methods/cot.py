"""CoT: question → written reasoning steps (each ended by ``<sep>``) → ``<ans>`` answer."""

from __future__ import annotations

import random
from dataclasses import dataclass

from workbench.methods.base import Builder, Encoded, LatentStep, Method, Stage, Tokenized


@dataclass(frozen=True)
class CoTOptions:
    """CoT has no options."""


class CoT(Method):
    name = "cot"
    label = "CoT"
    order = 20
    color = "#1f77b4"
    published = {"prosqa": 77.5, "prontoqa": 98.8}
    published_ttft = "≈ 27"
    Options = CoTOptions
    description = "question → steps → answer"
    step_kind = "step"
    one_pass = False
    written_steps = True
    default = True
    answer_in_prompt = False

    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        rest = [*self.steps_with_separators(ex.steps), *self.answer_mark, *ex.answer, self.eos]
        return Builder().add([*self.start, *ex.question]).add(rest, weight=1.0).done()

    def prompt(self, ex: Tokenized) -> Encoded:
        return Builder().add([*self.start, *ex.question]).mark_align().done()

    def max_length(self, ex: Tokenized) -> int:
        return len(ex.question) + sum(len(s) + 1 for s in ex.steps) + len(ex.answer) + 3

    def latent_positions(self, prompt: Encoded, emitted: list[int]) -> list[LatentStep]:
        """Each written step (the tokens before a ``<sep>``, until ``<ans>``); summary = its
        last token."""
        steps, current, start = [], [], len(prompt)
        for j, t in enumerate(emitted):
            if t in (self.ans, self.eos):
                break
            if t == self.sep:
                if current:
                    steps.append(LatentStep(self.step_kind, len(steps), current[-1],
                                            tuple(current)))
                current = []
            else:
                current.append(start + j)
        return steps
