"""Coconut (Hao et al. 2024): continuous thoughts fed back as input embeddings.

At stage k of the curriculum the first k reasoning steps are replaced by k·c thoughts::

    <bos> question <bot> <latent>×(k·c) <eot> step_{k+1} <sep> … <ans> answer <eos>

Each ``<latent>`` placeholder's input embedding is the final hidden state (after ``ln_final``) of
the position before it, so a sequence with n thoughts takes n+1 passes; they share one KV cache
and gradients flow back through every thought. The batch is padded so the ``<bot>`` positions
line up; every pass then covers the same columns of every row, and inference is batched (the
published implementation decodes one example at a time, recomputing the prefix per token).
At the last stage every step is replaced; inference always uses ``max_latent_stage · c`` thoughts.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from workbench.config import Checked
from workbench.methods.base import (
    Batch,
    Builder,
    Encoded,
    Method,
    Stage,
    Tokenized,
    weighted_loss_sum,
)
from workbench.models import HookedTransformer
from workbench.rollout import Hook, PassHooks, Recorder, Rollout
from workbench.schemas import Count, Count0, Fraction, PositiveFloat
from workbench.tokenizer import BOT, EOT, LATENT


@dataclass(frozen=True)
class CoconutOptions(Checked):
    """Coconut's curriculum."""

    thoughts_per_step: Count = 1
    """c: continuous thoughts that replace one reasoning step."""
    epochs_per_stage: PositiveFloat = 1.0
    """Epochs spent at each stage before the next step is replaced by thoughts."""
    max_latent_stage: Count0 | None = None
    """Last stage (steps replaced); default: the most steps of any training example."""
    mix_prob: Fraction = 0.0
    """Probability that an example is trained at a random earlier stage (stage mixing)."""
    pad_latent_to_max: bool = True
    """At stage k use k·c thoughts even for examples with fewer than k steps."""
    reset_optimizer: bool = True
    """Restart the optimizer and learning-rate schedule at every stage."""


class Coconut(Method):
    name = "coconut"
    label = "Coconut"
    order = 30
    color = "#ff7f0e"
    published = {"prosqa": 97.0, "prontoqa": 99.8}
    import_formats = ("coconut",)
    inference_options = {"max_latent_stage": "stages of thoughts it was trained to (the "
                                              "published ProsQA and ProntoQA runs: 6; GSM8k: 3, "
                                              "with thoughts_per_step=2)"}
    published_ttft = "≈ 6.7"
    Options = CoconutOptions
    description = "question → continuous thoughts → answer (stage curriculum)"
    step_kind = "thought"
    latent = True
    one_pass = False
    continuous = True
    tiny_options = {"epochs_per_stage": 5}
    answer_in_prompt = False

    @classmethod
    def proof_step(cls, options: Mapping[str, Any], kind: str, step: int) -> int:
        """Thought ``t`` stands for proof step ``t // thoughts_per_step``."""
        if kind != cls.step_kind:
            return step
        return step // max(1, int(options.get("thoughts_per_step", 1) or 1))

    def __init__(self, options: CoconutOptions, tokenizer: Any) -> None:
        super().__init__(options, tokenizer)
        self.bot, self.eot, self.latent = (tokenizer.id(t) for t in (BOT, EOT, LATENT))

    def resolve(self, train: Sequence[Tokenized]) -> CoconutOptions:
        if self.options.max_latent_stage is None:
            most = max(len(e.steps) for e in train)
            self.options = replace(self.options, max_latent_stage=max(most, 1))
        return self.options

    @property
    def n_stages(self) -> int:
        return int(self.options.max_latent_stage) + 1

    def stages(self, total_steps: int, steps_per_epoch: int) -> list[Stage]:
        per = max(1, round(self.options.epochs_per_stage * steps_per_epoch))
        out, start = [], 0
        for k in range(self.n_stages):
            end = total_steps if k == self.n_stages - 1 else min(total_steps, start + per)
            if start >= end:
                break
            out.append(Stage(k, f"stage {k}", start, end, reset=k > 0
                             and self.options.reset_optimizer))
            start = end
        return out

    def _sequence(self, ex: Tokenized, k: int, weight: float) -> Encoded:
        o = self.options
        last = k >= int(o.max_latent_stage)
        replaced = len(ex.steps) if last else min(k, len(ex.steps))
        n = k * o.thoughts_per_step if o.pad_latent_to_max else replaced * o.thoughts_per_step
        b = Builder().add([*self.start, *ex.question, self.bot]).mark_align()
        b.add([self.latent] * n, latent=True)
        rest = [*self.steps_with_separators(ex.steps[replaced:]), *self.answer_mark, *ex.answer,
                self.eos]
        return b.add([self.eot]).add(rest, weight=weight).done()

    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        k = stage.index
        if self.options.mix_prob and rng.random() < self.options.mix_prob:
            k = rng.randint(0, k)
        return self._sequence(ex, k, 1.0)

    def prompt(self, ex: Tokenized) -> Encoded:
        full = self._sequence(ex, int(self.options.max_latent_stage), 0.0)
        cut = full.tokens.index(self.eot) + 1
        return Encoded(full.tokens[:cut], full.weights[:cut], full.pos[:cut], full.level[:cut],
                       full.readout[:cut], full.latent[:cut], full.align)

    def latent_steps(self, ex: Tokenized) -> int:
        return int(self.options.max_latent_stage) * self.options.thoughts_per_step

    def max_length(self, ex: Tokenized) -> int:
        o = self.options
        most = max(int(o.max_latent_stage), len(ex.steps)) * o.thoughts_per_step
        return len(ex.question) + most + sum(len(s) + 1 for s in ex.steps) + len(ex.answer) + 6

    # -- the multi-pass forward ------------------------------------------------------------------
    def run_thoughts(self, roll: Rollout, batch: Batch) -> Tensor:
        """All positions' logits; a new pass starts at every column holding a thought."""
        return continuous_passes(roll, batch)

    def loss_sum(self, model: HookedTransformer, batch: Batch) -> Tensor:
        roll = Rollout(model, len(batch), batch.layout.tokens.device)
        return weighted_loss_sum(self.run_thoughts(roll, batch), batch)

    def prefill(self, model: HookedTransformer, batch: Batch, recorder: Recorder | None = None,
                pass_hooks: PassHooks | None = None) -> tuple[Rollout, Tensor]:
        roll = Rollout(model, len(batch), batch.layout.tokens.device, recorder, pass_hooks)
        return roll, self.run_thoughts(roll, batch)[:, -1]

    def latent_positions(self, prompt: Encoded, emitted: list[int]) -> list:
        """Each thought's position (its input embedding is the thought)."""
        return self.positions_of(prompt, self.step_kind, prompt.latent)


def continuous_passes(roll: Rollout, batch: Batch, feed: Callable[[Tensor], Tensor] | None = None,
                      extra_hooks: Sequence[Hook] = (),
                      layers: list[tuple[int, list[Tensor]]] | None = None) -> Tensor:
    """All positions' logits of ``batch`` run through ``roll``, a new pass starting at every
    column holding a thought (``batch.latent``): a thought's input embedding is the final hidden
    state of the column before it, through ``feed`` if given (CODI's projection). Columns line up
    across rows (collate aligns them), so every pass covers the same columns of every row.
    ``extra_hooks`` go on every pass; ``layers``, if given, receives per pass its first column
    and its residual streams (see :func:`workbench.rollout.forward`)."""
    width = batch.layout.shape[1]
    cols = torch.nonzero(batch.latent.any(0)).flatten().tolist()
    bounds = [0, *cols, width]
    parts, hidden = [], None
    for a, b in zip(bounds, bounds[1:]):
        if b <= a:
            continue
        rows = batch.latent[:, a] if a in cols else None
        thoughts = None
        if rows is not None:
            thoughts = hidden[:, -1] if feed is None else feed(hidden[:, -1])
        states: list[Tensor] | None = None if layers is None else []
        if layers is not None:
            layers.append((a, states))
        logits, hidden = roll.run(batch.layout[a:b], thoughts=thoughts, thought_rows=rows,
                                  want_hidden=True, extra_hooks=extra_hooks, layers=states)
        parts.append(logits)
    return torch.cat(parts, dim=1)
