"""CODI (Shen et al. 2025, *CODI: Compressing Chain-of-Thought into Continuous Space via
Self-Distillation*): one model is both a CoT teacher and a continuous-thought student.

Every training example is two sequences through the same weights::

    teacher:  <bos> question  a <sep> b <sep>          <ans> answer <eos>   (CE on steps + answer)
    student:  <bos> question <bot> θ1 … θN <eot>       <ans> answer <eos>   (CE on the answer)

Each thought θ's input embedding is the projection (Linear, GELU, Linear, LayerNorm — the
method's own parameters, saved as ``method.safetensors``) of the final hidden state before it,
fed back through one KV cache as Coconut's are
(:func:`workbench.methods.coconut.continuous_passes`).
The distillation loss aligns the student's hidden states with the teacher's at the token before
the answer (``<ans>``, which predicts its first token), at every layer (the embedding, each
block's output, the last through ``ln_final`` as Hugging Face's ``hidden_states`` have it):
smooth L1, teacher detached, each layer's loss divided by the standard deviation of the
teacher's states there (one scalar over the batch and the model dimension), averaged over layers.

    loss = student CE + teacher_weight · teacher CE + distill_weight · distillation

As in the published code, the teacher drops the last written step unless ``drop_last_step`` is
off. Inference runs the student: N thoughts, ``<eot> <ans>``, then the answer.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.config import Checked
from workbench.errors import UserError
from workbench.methods.base import (
    Batch,
    Builder,
    Encoded,
    Method,
    Stage,
    Tokenized,
    collate,
    weighted_loss_sum,
)
from workbench.methods.coconut import continuous_passes
from workbench.models import HookedTransformer
from workbench.rollout import PassHooks, Recorder, Rollout, forward
from workbench.schemas import Count, Fraction, NonNegativeFloat
from workbench.tokenizer import BOT, EOT, LATENT


@dataclass(frozen=True)
class CODIOptions(Checked):
    """CODI's thoughts, projection and loss weights (defaults: the published GPT-2 scripts)."""

    thoughts: Count = 6
    """N: continuous thoughts between <bot> and <eot>."""
    projection_dim: Count | None = None
    """Hidden width of the projection (default: the model's d_model, as for GPT-2)."""
    projection_dropout: Fraction = 0.0
    """Dropout at the projection's input."""
    distill_weight: NonNegativeFloat = 1.0
    """Weight of the distillation loss."""
    teacher_weight: NonNegativeFloat = 1.0
    """Weight of the teacher's CoT cross-entropy."""
    distill_loss: Literal["smooth_l1", "l2"] = "smooth_l1"
    """Distance between student and teacher states."""
    distill_div_std: bool = True
    """Divide each layer's distillation loss by the teacher states' standard deviation there
    (by its square for l2)."""
    drop_last_step: bool = True
    """The teacher's CoT leaves out the last written step (the published default)."""


class Projection(nn.Module):
    """Dropout, Linear(d, h), GELU, Linear(h, d), LayerNorm(d): a final hidden state → the next
    thought's input embedding."""

    def __init__(self, d_model: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_model, hidden), nn.GELU(),
                                 nn.Linear(hidden, d_model), nn.LayerNorm(d_model))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@dataclass
class PairEncoded(Encoded):
    """The student's sequence, carrying the teacher's."""

    teacher: Encoded | None = None


@dataclass
class PairBatch(Batch):
    teacher: Batch | None = None


def distillation(student: Sequence[Tensor], teacher: Sequence[Tensor], kind: str = "smooth_l1",
                 div_std: bool = True) -> Tensor:
    """Mean over layers of ``distance(student_l, teacher_l.detach())`` (a mean over the batch
    and the model dimension), each divided by ``teacher_l.std()`` (squared for l2) when
    ``div_std``. Each state is ``[batch, d_model]``."""
    total = student[0].new_zeros(())
    for s, t in zip(student, teacher, strict=True):
        t = t.detach()
        if kind == "smooth_l1":
            loss = F.smooth_l1_loss(s, t)
        else:
            loss = F.mse_loss(s, t)
        if div_std:
            std = batch_std(t)
            loss = loss / std if kind == "smooth_l1" else loss / std ** 2
        total = total + loss
    return total / len(student)


def batch_std(t: Tensor) -> Tensor:
    """``t.std()`` over the whole global batch: under data-parallel training each worker holds a
    share of the batch, so the count, sum and sum of squares are summed across workers first
    (``t`` is the detached teacher: no gradient flows through the sum). In one process it is
    ``t.std()`` itself, so single-process runs are unchanged."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return t.std()
    x = t.detach().double()
    moments = torch.stack([x.new_tensor(float(x.numel())), x.sum(), (x * x).sum()])
    dist.all_reduce(moments)
    n, total, squares = moments
    return ((squares - total * total / n) / (n - 1)).clamp_min(0).sqrt().to(t.dtype)


class CODI(Method):
    name = "codi"
    label = "CODI"
    order = 35
    color = "#9467bd"
    import_formats = ("codi",)
    Options = CODIOptions
    description = "question → continuous thoughts → answer (self-distilled from its own CoT)"
    step_kind = "thought"
    latent = True
    one_pass = False
    continuous = True
    tiny_options: dict[str, Any] = {"thoughts": 2}

    def __init__(self, options: CODIOptions, tokenizer: Any) -> None:
        super().__init__(options, tokenizer)
        self.bot, self.eot, self.latent = (tokenizer.id(t) for t in (BOT, EOT, LATENT))

    #: The published ``prj`` (Dropout, Linear, GELU, Linear, LayerNorm named ``ln``) → this
    #: projection's ``net`` (the same layers, indexed 0-4).
    PUBLISHED_PROJECTION = {"prj.1.": "net.1.", "prj.3.": "net.3.", "prj.ln.": "net.4."}

    @classmethod
    def import_module(cls, tensors: Mapping[str, Tensor], file: Path
                      ) -> tuple[nn.Module | None, dict[str, Any]]:
        """The published checkpoint's projection ``prj.*`` as :class:`Projection`, and its
        width as ``projection_dim``."""
        from workbench.runs import load_module_state

        state = {}
        for key, value in tensors.items():
            head = next((h for h in cls.PUBLISHED_PROJECTION if key.startswith(h)), None)
            if head is None:
                raise UserError(f"unexpected tensor {key} beside the model (CODI keeps prj.1, "
                                "prj.3 and prj.ln)", file=file)
            state[cls.PUBLISHED_PROJECTION[head] + key[len(head):]] = value.float()
        if "net.1.weight" not in state:
            raise UserError("the checkpoint has no projection prj.1.weight (CODI's prj)",
                            file=file)
        hidden, d_model = state["net.1.weight"].shape
        module = Projection(d_model, hidden)
        load_module_state(module, state, file)
        return module, {"projection_dim": int(hidden)}

    def build_module(self, model: HookedTransformer) -> nn.Module:
        d = model.cfg.d_model
        return Projection(d, self.options.projection_dim or d, self.options.projection_dropout)

    # -- sequences -------------------------------------------------------------------------------
    def student(self, ex: Tokenized, weight: float) -> Builder:
        b = Builder().add([*self.start, *ex.question, self.bot]).mark_align()
        b.add([self.latent] * self.options.thoughts, latent=True)
        return b.add([self.eot, *self.answer_mark]).add([*ex.answer, self.eos], weight=weight)

    def teacher(self, ex: Tokenized) -> Encoded:
        steps = ex.steps[:-1] if self.options.drop_last_step else ex.steps
        rest = [*self.steps_with_separators(steps), *self.answer_mark, *ex.answer, self.eos]
        return Builder().add([*self.start, *ex.question]).add(rest, weight=1.0).done()

    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        s = self.student(ex, 1.0).done()
        return PairEncoded(s.tokens, s.weights, s.pos, s.level, s.readout, s.latent, s.align,
                           teacher=self.teacher(ex))

    def collate(self, items: Sequence[Encoded], device: str | torch.device = "cpu") -> Batch:
        student = collate(items, self.tok.pad_id, device)
        teachers = [getattr(e, "teacher", None) for e in items]
        teacher = (collate(teachers, self.tok.pad_id, device)
                   if all(t is not None for t in teachers) else None)
        return PairBatch(student.layout, student.weights, student.latent, teacher)

    def prompt(self, ex: Tokenized) -> Encoded:
        full = self.student(ex, 0.0).done()
        cut = len(full) - len(ex.answer) - 1
        return Encoded(full.tokens[:cut], full.weights[:cut], full.pos[:cut], full.level[:cut],
                       full.readout[:cut], full.latent[:cut], full.align)

    def latent_steps(self, ex: Tokenized) -> int:
        return self.options.thoughts

    def max_length(self, ex: Tokenized) -> int:
        teacher = len(ex.question) + sum(len(s) + 1 for s in ex.steps) + len(ex.answer) + 3
        return max(teacher, len(ex.question) + self.options.thoughts + len(ex.answer) + 5)

    # -- forward passes --------------------------------------------------------------------------
    def thought_map(self, model: HookedTransformer) -> nn.Module:
        """The projection, in the model's mode (dropout only while training)."""
        module = self.module_for(model)
        module.train(model.training)
        return module

    @staticmethod
    def states_at(model: HookedTransformer, passes: Sequence[tuple[int, list[Tensor]]],
                  columns: Tensor) -> list[Tensor]:
        """Every layer's state at ``columns`` (one per row) from the ``passes`` that computed
        them (per pass: its first column and its residual streams, as
        :func:`workbench.rollout.forward` returns them); the last layer through
        ``ln_final``."""
        rows = torch.arange(len(columns), device=columns.device)
        out = []
        for layer in range(len(passes[0][1])):
            pieces = []
            for start, states in passes:
                act = states[layer]
                local = (columns - start).clamp(0, act.shape[1] - 1)
                inside = (columns >= start) & (columns < start + act.shape[1])
                pieces.append((inside, act[rows, local]))
            state = pieces[0][1]
            for inside, value in pieces[1:]:
                state = torch.where(inside[:, None], value, state)
            out.append(state)
        out[-1] = model.ln_final(out[-1][:, None])[:, 0]
        return out

    def loss_sum(self, model: HookedTransformer, batch: Batch) -> Tensor:
        assert isinstance(batch, PairBatch) and batch.teacher is not None
        o, n = self.options, len(batch)
        # teacher: one pass with gradients for its CE; its states are detached for distillation
        t_states: list[Tensor] = []
        t_logits, _ = forward(model, batch.teacher.layout, layers=t_states)
        loss = o.teacher_weight * weighted_loss_sum(t_logits, batch.teacher)
        t_cols = first_column(batch.teacher.layout.tokens, self.ans)
        # student: continuous thoughts through the projection
        roll = Rollout(model, n, batch.layout.tokens.device)
        s_passes: list[tuple[int, list[Tensor]]] = []
        s_logits = continuous_passes(roll, batch, self.thought_map(model), layers=s_passes)
        loss = loss + weighted_loss_sum(s_logits, batch)
        s_cols = first_column(batch.layout.tokens, self.ans)
        if o.distill_weight:
            student = self.states_at(model, s_passes, s_cols)
            teacher = self.states_at(model, [(0, t_states)], t_cols)
            # a batch mean, as published; times n to sum over examples like the CE terms
            loss = loss + o.distill_weight * n * distillation(student, teacher, o.distill_loss,
                                                              o.distill_div_std)
        return loss

    def prefill(self, model: HookedTransformer, batch: Batch, recorder: Recorder | None = None,
                pass_hooks: PassHooks | None = None) -> tuple[Rollout, Tensor]:
        roll = Rollout(model, len(batch), batch.layout.tokens.device, recorder, pass_hooks)
        return roll, continuous_passes(roll, batch, self.thought_map(model))[:, -1]

    def latent_positions(self, prompt: Encoded, emitted: list[int]) -> list:
        """Each thought's position (its input embedding is the projected thought)."""
        return self.positions_of(prompt, self.step_kind, prompt.latent)


def first_column(tokens: Tensor, token: int) -> Tensor:
    """Per row, the first column holding ``token`` (every row must hold one)."""
    hit = tokens == token
    assert bool(hit.any(1).all()), "a row without the token"
    return hit.float().argmax(1)
