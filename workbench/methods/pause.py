"""Pause tokens: question → ``<pause>``×n → answer (extra computation without content)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from workbench.config import Checked
from workbench.methods.base import Builder, Encoded, Method, Stage, Tokenized
from workbench.schemas import Count
from workbench.tokenizer import PAUSE


@dataclass(frozen=True)
class PauseOptions(Checked):
    """How many pause tokens sit between question and answer."""

    pauses: Count = 6
    """Number of <pause> tokens (each is a latent step)."""


class Pause(Method):
    name = "pause"
    label = "pause"
    order = 10
    color = "#bcbd22"
    published = {"prosqa": 75.9, "prontoqa": 77.7}
    Options = PauseOptions
    description = "question → <pause>×n → answer"
    step_kind = "pause"
    latent = True

    def _head(self, ex: Tokenized) -> list[int]:
        pauses = [self.tok.id(PAUSE)] * self.options.pauses
        return [*self.start, *ex.question, *pauses, *self.answer_mark]

    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        return Builder().add(self._head(ex)).add([*ex.answer, self.eos], weight=1.0).done()

    def prompt(self, ex: Tokenized) -> Encoded:
        return Builder().add(self._head(ex)).mark_align().done()

    def latent_steps(self, ex: Tokenized) -> int:
        return self.options.pauses

    def max_length(self, ex: Tokenized) -> int:
        return len(ex.question) + self.options.pauses + len(ex.answer) + 3

    def latent_positions(self, prompt: Encoded, emitted: list[int]) -> list:
        pause = self.tok.id(PAUSE)
        return self.positions_of(prompt, self.step_kind, [t == pause for t in prompt.tokens])
