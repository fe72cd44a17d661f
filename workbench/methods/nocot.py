"""no-CoT: question → answer, the direct-answering baseline."""

from __future__ import annotations

import random
from dataclasses import dataclass

from workbench.methods.base import Builder, Encoded, Method, Stage, Tokenized


@dataclass(frozen=True)
class NoCoTOptions:
    """no-CoT has no options."""


class NoCoT(Method):
    name = "nocot"
    label = "no-CoT"
    order = 0
    color = "#7f7f7f"
    baseline = True
    published = {"prosqa": 76.7, "prontoqa": 93.8}
    import_formats = ("hf",)
    published_ttft = "1"
    Options = NoCoTOptions
    description = "question → answer"
    step_kind = "answer"

    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        return (Builder().add([*self.start, *ex.question, *self.answer_mark])
                .add([*ex.answer, self.eos], weight=1.0).done())

    def prompt(self, ex: Tokenized) -> Encoded:
        return Builder().add([*self.start, *ex.question, *self.answer_mark]).mark_align().done()

    def max_length(self, ex: Tokenized) -> int:
        return len(ex.question) + len(ex.answer) + 3

    def latent_positions(self, prompt: Encoded, emitted: list[int]) -> list:
        """The answer position (``<ans>``, which predicts the first answer token)."""
        return self.positions_of(prompt, self.step_kind, [i == len(prompt) - 1
                                                     for i in range(len(prompt))])
