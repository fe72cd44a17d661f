"""RiM, Reasoning in Memory (Aichberger & Hochreiter 2026): memory blocks in one forward pass.

After the question come K memory blocks ``<b> <m>×M </b>``, then one readout segment per block,
``<r> target <eos>``, all in **one** sequence and one forward pass::

    <bos> question | <b> <m> <m> </b> | … K blocks … | <r> target_1 <eos> | … | <r> target_K <eos>

The block-causal mask (see :mod:`workbench.rollout`): block k sees the question and blocks ≤ k;
readout k sees those and itself (causally); no readout sees another. Readout k's position ids
continue from the end of block k, as if it followed that block directly.

Curriculum. **Stage 1**: readout t predicts reasoning step t (readouts beyond the example's
steps predict the answer, weighted α); step t's weight λ_t(s) is annealed to 0 during the stage,
earliest steps first. ``relative`` (default): λ_t(s) = max(0, 1 − s / (S·t/K)), S the stage's
length; ``linear``: 1 − s/S for every t; ``uniform``: 1 throughout. **Stage 2**: every readout
predicts the answer with weight α_k = 2k / (K(K+1)); optimizer and learning-rate schedule restart
at the switch. Inference reads the answer at readout K ("final block"); decoding every readout
gives "any-block" accuracy.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch

from workbench.config import Checked
from workbench.methods.base import (
    Builder,
    Encoded,
    LatentStep,
    Method,
    Prediction,
    Stage,
    Tokenized,
    collate,
    greedy,
)
from workbench.models import HookedTransformer
from workbench.rollout import PassHooks, Recorder, Rollout
from workbench.schemas import Count, Fraction
from workbench.tokenizer import BLOCK_CLOSE, BLOCK_OPEN, MEMORY, READOUT


@dataclass(frozen=True)
class RiMOptions(Checked):
    """Memory blocks and the two-stage curriculum."""

    blocks: Count | None = None
    """K, memory blocks (paper: 8); default: the most steps of any training example."""
    memory: Count = 2
    """M, memory tokens per block (paper: 2)."""
    stage1_fraction: Fraction = 0.5
    """Share of training steps spent in stage 1 (0: no stage 1)."""
    anneal: Literal["relative", "linear", "uniform"] = "relative"
    """How stage 1's step weights fall to 0."""
    reset_optimizer: bool = True
    """Restart the optimizer and learning-rate schedule when stage 2 begins."""


def alpha(k: int, n_blocks: int) -> float:
    """Stage-2 weight of readout k (1-based): later blocks weigh more; the weights sum to 1."""
    return 2 * k / (n_blocks * (n_blocks + 1))


def anneal_weight(kind: str, t: int, s: int, length: int, n_blocks: int) -> float:
    """λ_t(s): stage-1 weight of step t (1-based) after s of ``length`` steps."""
    if kind == "uniform" or length <= 0:
        return 1.0
    if kind == "linear":
        return max(0.0, 1.0 - s / length)
    return max(0.0, 1.0 - s / (length * t / n_blocks))


class RiM(Method):
    name = "rim"
    label = "RiM"
    order = 40
    color = "#2ca02c"
    inference_options = {"blocks": "memory blocks the model was trained with"}
    published_ttft = "≈ 1"
    Options = RiMOptions
    description = "question → K memory blocks (one pass, block-causal) → readouts"
    step_kind = "block"
    latent = True
    readouts = True

    def __init__(self, options: RiMOptions, tokenizer: Any) -> None:
        super().__init__(options, tokenizer)
        self.open, self.mem, self.close, self.readout = (
            tokenizer.id(t) for t in (BLOCK_OPEN, MEMORY, BLOCK_CLOSE, READOUT))

    def resolve(self, train: Sequence[Tokenized]) -> RiMOptions:
        if self.options.blocks is None:
            self.options = replace(self.options, blocks=max(1, max(len(e.steps) for e in train)))
        return self.options

    @property
    def K(self) -> int:  # noqa: N802 (the paper's name)
        return int(self.options.blocks)

    def stages(self, total_steps: int, steps_per_epoch: int) -> list[Stage]:
        s1 = round(self.options.stage1_fraction * total_steps)
        if s1 <= 0:
            return [Stage(2, "stage 2", 0, total_steps)]
        return [Stage(1, "stage 1", 0, s1),
                Stage(2, "stage 2", s1, total_steps, reset=self.options.reset_optimizer)]

    def _memory(self, ex: Tokenized) -> tuple[Builder, list[int]]:
        """Question and blocks; returns the builder and each block's last position."""
        b = Builder().add([*self.start, *ex.question]).mark_align()
        ends = []
        for j in range(1, self.K + 1):
            b.add([self.open, *[self.mem] * self.options.memory, self.close], level=j)
            ends.append(b.e.pos[-1])
        return b, ends

    def targets(self, ex: Tokenized, stage: Stage, step: int) -> list[tuple[list[int], float]]:
        """(target tokens, weight) of each readout at this point of the curriculum."""
        out = []
        for k in range(1, self.K + 1):
            if stage.index == 1 and k <= len(ex.steps):
                w = anneal_weight(self.options.anneal, k, step - stage.start,
                                  stage.end - stage.start, self.K)
                out.append((ex.steps[k - 1], w))
            else:
                out.append((ex.answer, alpha(k, self.K)))
        return out

    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        b, ends = self._memory(ex)
        for k, (target, w) in enumerate(self.targets(ex, stage, step), start=1):
            b.add([self.readout, *target, self.eos], weight=w, level=k, readout=True,
                  pos=ends[k - 1] + 1, loss_from=1)
        return b.done()

    def prompt(self, ex: Tokenized, readouts: Sequence[int] | None = None) -> Encoded:
        b, ends = self._memory(ex)
        for k in readouts if readouts is not None else [self.K]:
            b.add([self.readout], level=k, readout=True, pos=ends[k - 1] + 1)
        return b.done()

    def full_prompt(self, ex: Tokenized) -> Encoded:
        return self.prompt(ex, list(range(1, self.K + 1)))

    def latent_steps(self, ex: Tokenized) -> int:
        return self.K

    def max_length(self, ex: Tokenized) -> int:
        longest = max([len(ex.answer), *(len(s) for s in ex.steps)])
        return len(ex.question) + 1 + self.K * (self.options.memory + 2) + self.K * (longest + 2)

    def latent_positions(self, prompt: Encoded, emitted: list[int]) -> list[LatentStep]:
        """Each memory block (summary: its ``</b>``; tokens: the whole block), then each readout
        marker ``<r>`` (the state that predicts the readout's first token)."""
        out = []
        for k in range(1, self.K + 1):
            idx = [i for i, (lv, ro) in enumerate(zip(prompt.level, prompt.readout))
                   if lv == k and not ro]
            out.append(LatentStep(self.step_kind, k - 1, idx[-1], tuple(idx)))
        markers = [i for i, ro in enumerate(prompt.readout) if ro]
        out += [LatentStep("readout", prompt.level[i] - 1, i, (i,)) for i in markers]
        return out

    @torch.no_grad()
    def generate(self, model: HookedTransformer, examples: Sequence[Tokenized],
                 max_new: int = 64, all_readouts: bool = True, recorder: Recorder | None = None,
                 pass_hooks: PassHooks | None = None, **kwargs: Any) -> list[Prediction]:
        """Decode readout K (and, with ``all_readouts``, every readout, for any-block accuracy).

        One forward pass covers the question, every block and the readout markers; then each
        readout is decoded as its own row of the batch, sharing the cached prefix.
        """
        device = next(model.parameters()).device
        ks = list(range(1, self.K + 1)) if all_readouts else [self.K]
        t0 = time.perf_counter()
        batch = collate([self.prompt(e, ks) for e in examples], self.tok.pad_id, device)
        roll = Rollout(model, len(batch), device, recorder, pass_hooks)
        logits, _ = roll.run(batch.layout)
        n, r = len(examples), len(ks)
        roll.repeat_rows(r)
        last = logits[:, -r:].reshape(n * r, -1)
        next_pos = (batch.layout.pos[:, -r:] + 1).reshape(n * r)
        level = torch.tensor(ks, device=device).repeat(n)
        out = greedy(self, roll, last, next_pos, max_new, t0, answer_open=True, level=level,
                     readout=True)
        preds = []
        for i in range(n):
            rows = out[i * r:(i + 1) * r]
            final = rows[-1]
            answers = [d.answer for d in rows]
            preds.append(Prediction(
                answer=final.answer, generated_tokens=final.generated, latent_steps=self.K,
                ttft_s=final.ttft, latency_s=final.latency, text=final.text,
                emitted=final.tokens,
                extra={"readouts": answers} if all_readouts else {}))
        return preds
