"""What every method shares: encoded sequences, batching, the loss, greedy decoding.

A method turns an example into an :class:`Encoded` sequence for training (tokens, loss weights,
positions, levels, readout flags, thought placeholders) and into a prompt for inference, and
says which curriculum stages it trains through. Everything runs through
:func:`workbench.rollout.forward`, so one attention rule serves every method.

Loss: for each example, ``Σ_segments w_seg · mean CE over the segment's tokens``; a batch's loss
is the sum over its examples divided by the global batch size (so data-parallel shards add up
to exactly the single-process loss). Per-token weights are ``w_seg / len(seg)``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.errors import UserError
from workbench.models import HookedTransformer
from workbench.rollout import Layout, PassHooks, Recorder, Rollout, forward
from workbench.tasks.base import Example
from workbench.tokenizer import ANSWER, BOS, EOS, SEP, Tokenizer


@dataclass
class Tokenized:
    """An example with its parts already encoded."""

    question: list[int]
    steps: list[list[int]]
    answer: list[int]
    example: Example


def tokenize(example: Example, tok: Tokenizer) -> Tokenized:
    """The example's texts encoded as the tokenizer's template writes them."""
    t = tok.template
    return Tokenized(tok.encode(t.fill("question", example["question"])),
                     [tok.encode(t.fill("step", s)) for s in example["steps"]],
                     tok.encode(t.fill("answer", example["answer"])), example)


@dataclass
class Encoded:
    """One sequence with its structure; lists of equal length."""

    tokens: list[int]
    weights: list[float]
    """Loss weight for predicting ``tokens[i]`` (from position ``i - 1``); 0 = no loss."""
    pos: list[int] | None = None
    level: list[int] | None = None
    readout: list[bool] | None = None
    latent: list[bool] | None = None
    """Coconut: the input embedding here is the previous position's final hidden state."""
    align: int = 0
    """Index lined up across a batch (padding goes on the left of it, then on the right)."""

    def __len__(self) -> int:
        return len(self.tokens)


class Builder:
    """Appends segments to an :class:`Encoded`, keeping positions and structure in step."""

    def __init__(self) -> None:
        self.e = Encoded([], [], [], [], [], [])

    def add(self, ids: Sequence[int], *, weight: float = 0.0, level: int = 0,
            readout: bool = False, latent: bool = False, pos: int | None = None,
            loss_from: int = 0) -> Builder:
        """Append ``ids``; ``weight`` is spread over ``ids[loss_from:]`` (a segment's mean CE)."""
        e = self.e
        start = (e.pos[-1] + 1 if e.pos else 0) if pos is None else pos
        n_loss = len(ids) - loss_from
        for i, t in enumerate(ids):
            e.tokens.append(t)
            e.weights.append(weight / n_loss if weight and i >= loss_from else 0.0)
            e.pos.append(start + i)
            e.level.append(level)
            e.readout.append(readout)
            e.latent.append(latent)
        return self

    def mark_align(self) -> Builder:
        self.e.align = len(self.e.tokens)
        return self

    def done(self) -> Encoded:
        return self.e


@dataclass
class Batch:
    layout: Layout
    weights: Tensor
    latent: Tensor

    def __len__(self) -> int:
        return self.layout.shape[0]


def collate(items: Sequence[Encoded], pad_id: int, device: str | torch.device = "cpu") -> Batch:
    """Pad to one rectangle: ``align`` indices line up, the rest pads on the right."""
    front = max(e.align for e in items)
    width = max(front - e.align + len(e) for e in items)
    fields: dict[str, list[list[Any]]] = {k: [] for k in (
        "tokens", "pos", "level", "readout", "real", "latent", "weights")}
    for e in items:
        left = front - e.align
        right = width - left - len(e)
        n = len(e)

        def pad(values: Sequence[Any] | None, fill: Any, default: Any, left: int = left,
                n: int = n, right: int = right) -> list[Any]:
            return [fill] * left + (list(values) if values else [default] * n) + [fill] * right

        fields["tokens"].append(pad(e.tokens, pad_id, pad_id))
        fields["pos"].append(pad(e.pos if e.pos is not None else range(n), 0, 0))
        fields["level"].append(pad(e.level, 0, 0))
        fields["readout"].append(pad(e.readout, False, False))
        fields["latent"].append(pad(e.latent, False, False))
        fields["weights"].append(pad(e.weights, 0.0, 0.0))
        fields["real"].append([False] * left + [True] * n + [False] * right)
    t = {k: torch.tensor(v, dtype=torch.float32 if k == "weights" else
                         torch.bool if k in ("readout", "real", "latent") else torch.long,
                         device=device) for k, v in fields.items()}
    layout = Layout(t["tokens"], t["pos"], t["level"], t["readout"], t["real"])
    return Batch(layout, t["weights"], t["latent"])


def weighted_loss_sum(logits: Tensor, batch: Batch) -> Tensor:
    """``Σ_examples Σ_tokens weight · CE`` for next-token prediction."""
    target = batch.layout.tokens[:, 1:]
    w = batch.weights[:, 1:]
    ce = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), target.flatten(),
                         reduction="none").view_as(target)
    return (ce * w).sum()


@dataclass(frozen=True)
class Stage:
    """A curriculum stage: steps ``[start, end)``; ``reset`` restarts optimizer and schedule."""

    index: int
    name: str
    start: int
    end: int
    reset: bool = False


@dataclass
class Prediction:
    """What a model produced for one example."""

    answer: str
    generated_tokens: int
    """Tokens emitted before the answer ends (steps, markers and answer; not the final <eos>)."""
    latent_steps: int
    ttft_s: float
    """Seconds from the start of the batch to this example's first answer token."""
    latency_s: float
    """Seconds from the start of the batch to the end of this example's answer."""
    text: str = ""
    """Everything emitted, decoded (for inspection)."""
    emitted: list[int] = field(default_factory=list)
    """The token ids emitted after the prompt (thoughts are part of the prompt)."""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LatentStep:
    """Where a latent step sits in an example's sequence (prompt then emitted tokens)."""

    kind: str
    """``block``/``readout`` (RiM), ``thought`` (Coconut), ``pause``, ``step`` (CoT), ``answer``."""
    step: int
    """0-based index among the steps of this kind."""
    position: int
    """The summary position (e.g. a block's last token)."""
    tokens: tuple[int, ...]
    """Every position of the step (per-token detail)."""


class Method:
    """A training and inference recipe. Subclasses set ``name`` and ``Options``."""

    name: ClassVar[str]
    Options: ClassVar[type]
    description: ClassVar[str] = ""
    label: ClassVar[str] = ""
    """How tables and figures name the method (default: ``name``)."""
    order: ClassVar[int] = 100
    """Place in tables and figures (cheapest inference first); ties sort by name."""
    color: ClassVar[str] = "#444444"
    """Colour of the method in every figure."""
    baseline: ClassVar[bool] = False
    """The direct-answering baseline that time-to-first-token ratios divide by (one method)."""
    published: ClassVar[dict[str, float]] = {}
    """Published test accuracy % per task (Coconut's Table 1, GPT-2; ../shared/DESIGN.md)."""
    published_ttft: ClassVar[str] = ""
    """Published time to first token relative to direct answering (the RiM paper, GPU)."""
    step_kind: ClassVar[str] = "step"
    """What its steps are called in stores, tables and figures (the ``kind`` of its
    :class:`LatentStep` s; RiM: block, Coconut: thought)."""
    latent: ClassVar[bool] = False
    """Whether its steps are latent (nothing written): interventions ablate them."""
    one_pass: ClassVar[bool] = True
    """Whether the prompt with every latent step is one forward pass (nothing decoded before
    the answer)."""
    continuous: ClassVar[bool] = False
    """Whether it feeds final hidden states back as input embeddings (a sequential rollout)."""
    readouts: ClassVar[bool] = False
    """Whether every latent step is read out as an answer of its own (captured per step)."""
    written_steps: ClassVar[bool] = False
    """Whether it writes its reasoning steps as tokens (teacher-forced lookups apply)."""
    default: ClassVar[bool] = False
    """The method ``lwb train`` trains when none is named (one method)."""
    tiny_options: ClassVar[dict[str, Any]] = {}
    """Options with which it learns a task's tiny preset in the quick demo's 80 steps."""
    import_formats: ClassVar[tuple[str, ...]] = ()
    """Checkpoint formats of ``lwb import`` whose models run this method's rollout by default
    (the original project's method)."""
    inference_options: ClassVar[dict[str, str]] = {}
    """Options that training fills in from the task and inference cannot do without (Coconut's
    max_latent_stage): what ``lwb import`` must be told, each with a hint."""

    @classmethod
    def proof_step(cls, options: Mapping[str, Any], kind: str, step: int) -> int:
        """The proof step (0-based) that step ``step`` of ``kind`` stands for, given the run's
        method options (as saved in its config)."""
        return step

    def __init__(self, options: Any, tokenizer: Tokenizer) -> None:
        self.options = options
        self.tok = tokenizer
        self.bos, self.eos, self.ans = tokenizer.id(BOS), tokenizer.id(EOS), tokenizer.id(ANSWER)
        self.sep = tokenizer.id(SEP)
        template = tokenizer.template
        #: what opens every sequence (``<bos>``, or nothing where the model's template has none)
        self.start: list[int] = [self.bos] if template.bos else []
        #: the ``<ans>`` marker with the text its template writes before it
        self.answer_mark: list[int] = [*(tokenizer.encode(template.before_answer)
                                         if template.before_answer else []), self.ans]
        #: The method's own trainable parameters beside the model's (CODI's projection), built
        #: by :meth:`attach`; trained, checkpointed and saved as ``method.safetensors`` with the
        #: run. None for a method that has none.
        self.module: torch.nn.Module | None = None

    # -- the method's own parameters -------------------------------------------------------------
    def build_module(self, model: HookedTransformer) -> torch.nn.Module | None:
        """The method's own parameters for ``model`` (freshly initialised), or None."""
        return None

    @classmethod
    def import_module(cls, tensors: Mapping[str, Tensor], file: Path
                      ) -> tuple[torch.nn.Module | None, dict[str, Any]]:
        """The method's own parameters from an imported checkpoint's tensors of its own (the
        keys past the model's, e.g. CODI's ``prj.*``), and the options their shapes imply; a
        method that keeps none refuses them."""
        if tensors:
            raise UserError(f"the checkpoint holds tensors of its own ({sorted(tensors)[0]}, "
                            f"…) that the {cls.name} method does not keep", file=file,
                            field="method")
        return None, {}

    def attach(self, model: HookedTransformer, seed: int = 0) -> torch.nn.Module | None:
        """Build :attr:`module` for ``model`` (initialised from ``seed``, without touching the
        global random state) on the model's device."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self.build_module(model)
        if module is not None:
            module.to(next(model.parameters()).device)
        self.module = module
        return module

    def thought_map(self, model: HookedTransformer) -> torch.nn.Module | None:
        """Continuous methods: what turns a final hidden state into the next thought's input
        embedding (None: the state itself, as Coconut feeds it back; CODI: its projection)."""
        return None

    def module_for(self, model: HookedTransformer) -> torch.nn.Module:
        """:attr:`module`, built with its fresh initialisation if nothing attached one (a method
        built without a run: benchmarks, tests)."""
        if self.module is None:
            self.attach(model)
        assert self.module is not None
        return self.module

    # -- curriculum ------------------------------------------------------------------------------
    def stages(self, total_steps: int, steps_per_epoch: int) -> list[Stage]:
        return [Stage(0, "train", 0, total_steps)]

    # -- training --------------------------------------------------------------------------------
    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        raise NotImplementedError

    def collate(self, items: Sequence[Encoded], device: str | torch.device = "cpu") -> Batch:
        """One training batch of :meth:`encode`'s sequences (a method that trains on more than
        one sequence per example, like CODI's teacher and student, collates them its way)."""
        return collate(items, self.tok.pad_id, device)

    def loss_sum(self, model: HookedTransformer, batch: Batch) -> Tensor:
        logits, _ = forward(model, batch.layout)
        return weighted_loss_sum(logits, batch)

    # -- inference -------------------------------------------------------------------------------
    def prompt(self, ex: Tokenized) -> Encoded:
        """The inference input; decoding continues from its last position."""
        raise NotImplementedError

    def full_prompt(self, ex: Tokenized) -> Encoded:
        """The prompt as :meth:`generate` builds it when every latent step is wanted."""
        return self.prompt(ex)

    #: Whether the first decoded token is already part of the answer (else it opens after <ans>).
    answer_in_prompt: ClassVar[bool] = True

    def answer_prefix(self, ex: Tokenized) -> list[int]:
        """What decoding feeds after the prompt before the answer's first token: nothing where
        the prompt ends in ``<ans>``, else the written steps (if any) and ``<ans>``."""
        if self.answer_in_prompt:
            return []
        steps = self.steps_with_separators(ex.steps) if self.written_steps else []
        return [*steps, *self.answer_mark]

    def latent_steps(self, ex: Tokenized) -> int:
        return 0

    def max_length(self, ex: Tokenized) -> int:
        """Longest sequence this method builds for ``ex`` (sizes ``n_ctx``)."""
        raise NotImplementedError

    def prefill(self, model: HookedTransformer, batch: Batch, recorder: Recorder | None = None,
                pass_hooks: PassHooks | None = None) -> tuple[Rollout, Tensor]:
        """Run the prompt; returns the rollout and the logits at its last position."""
        roll = Rollout(model, len(batch), batch.layout.tokens.device, recorder, pass_hooks)
        logits, _ = roll.run(batch.layout)
        return roll, logits[:, -1]

    @torch.no_grad()
    def generate(self, model: HookedTransformer, examples: Sequence[Tokenized],
                 max_new: int = 64, recorder: Recorder | None = None,
                 pass_hooks: PassHooks | None = None, **kwargs: Any) -> list[Prediction]:
        """Greedy answers. ``recorder`` records states; ``pass_hooks`` adds hooks to every pass
        (see :class:`workbench.rollout.Rollout`); the prompt is :meth:`full_prompt`'s
        layout when all latent steps are wanted."""
        device = next(model.parameters()).device
        t0 = time.perf_counter()
        batch = collate([self.prompt(e) for e in examples], self.tok.pad_id, device)
        roll, last = self.prefill(model, batch, recorder, pass_hooks)
        out = greedy(self, roll, last, batch.layout.pos[:, -1] + 1, max_new, t0,
                     answer_open=self.answer_in_prompt)
        return [
            Prediction(answer=o.answer, generated_tokens=o.generated, text=o.text,
                       latent_steps=self.latent_steps(e), ttft_s=o.ttft, latency_s=o.latency,
                       emitted=o.tokens)
            for o, e in zip(out, examples)
        ]

    def latent_positions(self, prompt: Encoded, emitted: Sequence[int]) -> list[LatentStep]:
        """The latent steps of one example: the prompt's, then those in what it emitted."""
        raise NotImplementedError

    @staticmethod
    def positions_of(prompt: Encoded, kind: str, flags: Sequence[bool]) -> list[LatentStep]:
        """One single-token latent step per flagged prompt position."""
        idx = [i for i, f in enumerate(flags) if f]
        return [LatentStep(kind, k, i, (i,)) for k, i in enumerate(idx)]

    # -- helpers ---------------------------------------------------------------------------------
    def steps_with_separators(self, steps: Sequence[list[int]]) -> list[int]:
        return [t for s in steps for t in (*s, self.sep)]


@dataclass
class Decoded:
    tokens: list[int]
    answer: str
    text: str
    generated: int
    ttft: float
    latency: float


def greedy(method: Method, roll: Rollout, last_logits: Tensor, next_pos: Tensor, max_new: int,
           t0: float, *, answer_open: bool, level: Tensor | None = None,
           readout: bool = False) -> list[Decoded]:
    """Greedy decoding with the KV cache until every row has emitted ``<eos>``.

    The answer is what follows ``<ans>`` (or everything, when ``answer_open``) up to ``<eos>``.
    """
    model, tok = roll.model, method.tok
    n = last_logits.shape[0]
    dev = last_logits.device
    emitted: list[list[int]] = [[] for _ in range(n)]
    answer_start: list[int | None] = [0 if answer_open else None] * n
    ttft = [math.nan] * n
    end = [math.nan] * n
    done = [False] * n
    level_t = level if level is not None else torch.zeros(n, dtype=torch.long, device=dev)
    nxt = last_logits.argmax(-1)
    pos = next_pos.clone()
    for _ in range(max_new):
        now = time.perf_counter() - t0
        for i, t in enumerate(nxt.tolist()):
            if done[i]:
                continue
            if answer_start[i] is not None and math.isnan(ttft[i]):
                ttft[i] = now
            emitted[i].append(t)
            if t == method.eos:
                done[i], end[i] = True, now
            elif t == method.ans and answer_start[i] is None:
                answer_start[i] = len(emitted[i])
        if all(done) or roll.length + 1 > model.cfg.n_ctx or int(pos.max()) >= model.cfg.n_ctx:
            break
        ones = torch.ones((n, 1), dtype=torch.bool, device=dev)
        step = Layout(nxt[:, None], pos[:, None], level_t[:, None], ones & readout, ones)
        logits, _ = roll.run(step)
        nxt = logits[:, -1].argmax(-1)
        pos = pos + 1
    now = time.perf_counter() - t0
    out = []
    for i in range(n):
        toks = emitted[i]
        body = toks[: toks.index(method.eos)] if method.eos in toks else toks
        start = answer_start[i]
        answer = tok.decode(body[start:]) if start is not None else ""
        out.append(Decoded(toks, answer, tok.decode(toks), len(body),
                           ttft[i] if not math.isnan(ttft[i]) else now,
                           end[i] if not math.isnan(end[i]) else now))
    return out
