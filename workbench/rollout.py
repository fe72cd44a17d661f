"""Forward passes over structured sequences: explicit positions, attention structure, thoughts.

Every method runs its model through :func:`forward`. A batch is a :class:`Layout`: per token its
id, its position id, its **level** and whether it is a **readout** token, and whether it is real
(not padding). The attention rule, applied by a hook on ``blocks.{l}.attn.hook_attn_scores``
(TransformerLens 3.9 applies its causal mask just before that hook), is

    query q may attend key k  ⇔  k ≤ q (causal)  ∧  real(k)  ∧  level(k) ≤ level(q)
                                 ∧  (¬readout(k) ∨ (readout(q) ∧ level(k) = level(q)))

Ordinary sequences have every level 0, so this is causal attention with padding. RiM gives the
question level 0, memory block j and readout j level j, and marks readout tokens: block j sees the
question and blocks ≤ j; readout j sees those and itself; nothing sees another readout.

Positions are set explicitly (``hook_pos_embed`` returns ``W_pos[pos]``), so left padding costs
nothing and RiM's readouts can all sit "right after their block". Coconut's continuous thoughts
replace the input embedding at ``<latent>`` placeholders (``hook_embed``; gradients flow).

A pass that nobody records or edits (training, evaluation) computes the same rule with fused
kernels on the same weights (:mod:`workbench.fused`); a pass with hooks, and every pass of a
rollout that records or edits states, runs TransformerLens's own forward.

A :class:`Rollout` keeps a TransformerLens KV cache and the layout of everything cached, so a
sequence can be extended pass by pass (Coconut's thoughts, greedy decoding) with the same rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

from workbench.fused import engine, hooked, new_cache, supports
from workbench.models import HookedTransformer

Hook = tuple[str, Callable]
#: ``pass_hooks(start, query)`` gives extra hooks for one pass: ``start`` is the cache column of
#: the pass's first query position and ``query`` its layout (interventions use this).
PassHooks = Callable[[int, "Layout"], Sequence[Hook]]


@dataclass
class Layout:
    """The structure of a batch of token sequences (all tensors ``[batch, pos]``)."""

    tokens: Int[Tensor, "batch pos"]
    pos: Int[Tensor, "batch pos"]
    level: Int[Tensor, "batch pos"]
    readout: Bool[Tensor, "batch pos"]
    real: Bool[Tensor, "batch pos"]

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.tokens.shape)  # type: ignore[return-value]

    def __getitem__(self, cols: slice) -> Layout:
        return Layout(*(t[:, cols] for t in self._fields()))

    def rows(self, index: Tensor) -> Layout:
        return Layout(*(t[index] for t in self._fields()))

    def _fields(self) -> tuple[Tensor, ...]:
        return (self.tokens, self.pos, self.level, self.readout, self.real)

    def cat(self, other: Layout) -> Layout:
        return Layout(*(torch.cat([a, b], dim=1) for a, b in zip(self._fields(), other._fields())))

    def is_plain(self) -> bool:
        """True when the rule reduces to causal attention without padding."""
        return bool(self.real.all()) and not bool(self.level.any()) and not bool(self.readout.any())

    def is_causal(self) -> bool:
        """True when causal attention alone gives every real token what the rule gives it:
        level 0, no readouts, and padding only after each row's real tokens (what a padding
        query attends to is then left unspecified; nothing reads it)."""
        if bool(self.level.any()) or bool(self.readout.any()):
            return False
        return bool((self.real[:, 1:] <= self.real[:, :-1]).all())

    @classmethod
    def plain(cls, tokens: Tensor, start: Tensor | int = 0) -> Layout:
        """Ordinary tokens: level 0, no readouts, real, positions ``start, start+1, …``."""
        b, n = tokens.shape
        start_t = torch.as_tensor(start, device=tokens.device).reshape(-1, 1)
        pos = start_t + torch.arange(n, device=tokens.device)[None, :]
        zeros = torch.zeros_like(tokens)
        return cls(tokens, pos.expand(b, n), zeros, zeros.bool(), torch.ones_like(tokens).bool())


def allowed_keys(query: Layout, keys: Layout) -> Bool[Tensor, "batch 1 q k"]:
    """The structural part of the attention rule (causality is applied by TransformerLens)."""
    ql, kl = query.level[:, :, None], keys.level[:, None, :]
    ok = (kl <= ql) & keys.real[:, None, :]
    ok &= ~keys.readout[:, None, :] | (query.readout[:, :, None] & (kl == ql))
    # A padding query attends to itself only, so no softmax row is empty.
    nq, nk = query.shape[1], keys.shape[1]
    diagonal = torch.zeros(nq, nk, dtype=torch.bool, device=ok.device)
    diagonal[torch.arange(nq), nk - nq + torch.arange(nq)] = True
    ok = torch.where(query.real[:, :, None], ok, diagonal[None])
    return ok[:, None]


def forward(
    model: HookedTransformer,
    query: Layout,
    *,
    past: Layout | None = None,
    cache: TransformerLensKeyValueCache | None = None,
    thoughts: Float[Tensor, "batch d_model"] | None = None,
    thought_rows: Bool[Tensor, " batch"] | None = None,
    extra_hooks: Sequence[Hook] = (),
    want_hidden: bool = False,
    layers: list[Tensor] | None = None,
    fused: bool = True,
) -> tuple[Float[Tensor, "batch pos vocab"], Float[Tensor, "batch pos d_model"] | None]:
    """Run ``query`` (after ``past``, whose keys and values are in ``cache``).

    ``thoughts`` replace the input embedding of the first query column in ``thought_rows``
    (Coconut). Returns the logits and, with ``want_hidden``, the final hidden state
    (``ln_final`` of the last residual stream: what Coconut feeds back as the next thought).

    ``layers``, if given, receives the residual stream before block 0 and after every block
    (``[batch, pos, d_model]`` each, gradients attached): CODI distils them.

    A pass with no hooks (none given, none attached to the model) runs through
    :func:`workbench.fused.fused_forward`, the same function of the same weights with fused
    kernels; ``fused=False`` forces TransformerLens's own forward.
    """
    keys = query if past is None else past.cat(query)
    if fused and not extra_hooks and supports(model) and not hooked(model):
        # nothing reads or edits the inside of this pass: the fused kernels compute it
        allowed = None if keys.is_causal() else allowed_keys(query, keys)
        logits, final, states = engine(model)(
            model, query.tokens, query.pos, allowed=allowed, cache=cache, thoughts=thoughts,
            thought_rows=thought_rows, want_hidden=want_hidden, want_layers=layers is not None)
        if layers is not None:
            layers += states
        return logits, final
    W_pos = model.W_pos
    hooks: list[Hook] = [("hook_pos_embed", lambda x, hook: W_pos[query.pos])]
    if thoughts is not None:
        rows = thought_rows if thought_rows is not None else torch.ones(
            query.shape[0], dtype=torch.bool, device=thoughts.device)

        def put_thoughts(x: Tensor, hook: object) -> Tensor:
            first = torch.where(rows[:, None], thoughts.to(x.dtype), x[:, 0])
            return torch.cat([first[:, None], x[:, 1:]], dim=1)

        hooks.append(("hook_embed", put_thoughts))
    if not keys.is_plain():
        blocked = ~allowed_keys(query, keys)

        def mask(scores: Tensor, hook: object) -> Tensor:
            return scores.masked_fill(blocked, float("-inf"))

        hooks += [(f"blocks.{i}.attn.hook_attn_scores", mask) for i in range(model.cfg.n_layers)]
    hooks += list(extra_hooks)  # before the hidden-state grab, so edits reach the next thought
    if layers is not None:
        grabbed: dict[str, Tensor] = {}
        names = ["blocks.0.hook_resid_pre",
                 *(f"blocks.{i}.hook_resid_post" for i in range(model.cfg.n_layers))]
        hooks += [(name, lambda x, hook, name=name: grabbed.__setitem__(name, x))
                  for name in names]
    hidden: list[Tensor] = []
    if want_hidden:
        last = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
        hooks.append((last, lambda x, hook: hidden.append(x)))
    mask_arg = torch.ones_like(query.tokens) if cache is not None else None
    with model.hooks(fwd_hooks=hooks):
        logits = model(query.tokens, past_kv_cache=cache, attention_mask=mask_arg)
    final = model.ln_final(hidden[0]) if want_hidden else None
    if layers is not None:
        layers += [grabbed[name] for name in names]
    return logits, final


class Recorder:
    """Records the residual stream at every layer (index 0 = embedding + position, i = after
    block i) for every position a :class:`Rollout` processes, one pass at a time.

    TransformerLens's ``run_with_cache`` would keep only the last call of a hook that fires in
    several passes; this keeps each. Passes run after the batch was re-shaped (RiM's readout rows)
    are not recorded: every latent step lies before that.
    """

    def __init__(self, n_layers: int, rows: int, extra: Sequence[str] = ()) -> None:
        self.n_layers, self.rows, self.extra = n_layers, rows, list(extra)
        self.passes: list[Tensor] = []
        #: Extra hooks: per name, (first column of the pass, activation) for every pass.
        self.extra_passes: dict[str, list[tuple[int, Tensor]]] = {n: [] for n in self.extra}
        self.columns = 0

    def hooks(self) -> tuple[list[Hook], Callable[[], None]]:
        grabbed: dict[object, Tensor] = {}

        def grab(key: object) -> Callable:
            def hook(x: Tensor, hook: object) -> None:
                grabbed[key] = x.detach()
            return hook

        names = ["blocks.0.hook_resid_pre"] + [
            f"blocks.{i}.hook_resid_post" for i in range(self.n_layers)]

        def commit() -> None:
            layers = torch.stack([grabbed[i] for i in range(len(names))], dim=2)
            for name in self.extra:
                self.extra_passes[name].append((self.columns, grabbed[name]))
            self.passes.append(layers)
            self.columns += layers.shape[1]

        hooks = [(name, grab(i)) for i, name in enumerate(names)]
        hooks += [(name, grab(name)) for name in self.extra]
        return hooks, commit

    def states(self) -> Float[Tensor, "batch pos layer d_model"]:
        return torch.cat(self.passes, dim=1)

    def extra_at(self, name: str, row: int, column: int) -> Tensor:
        """An extra hook's activation of ``row`` at ``column``; attention patterns
        (``[batch, head, query, key]``) give ``[key, head]`` over the keys up to ``column``."""
        for start, act in self.extra_passes[name]:
            width = act.shape[2] if name.endswith("hook_pattern") else act.shape[1]
            if start <= column < start + width:
                if name.endswith("hook_pattern"):
                    return act[row, :, column - start, : column + 1].T
                return act[row, column - start]
        raise KeyError(f"{name} was not recorded at column {column}")


class Rollout:
    """A batch of sequences extended pass by pass through one KV cache."""

    def __init__(self, model: HookedTransformer, batch_size: int, device: str | torch.device,
                 recorder: Recorder | None = None, pass_hooks: PassHooks | None = None):
        self.model = model
        self.cache = new_cache(model, batch_size, device)
        self.past: Layout | None = None
        self.recorder = recorder
        self.pass_hooks = pass_hooks
        #: A rollout that records or edits states (capture, interventions) runs every pass
        #: through TransformerLens's own forward, so what it records and what it reproduces
        #: are TransformerLens's states exactly; any other takes the fused kernels.
        self.fused = recorder is None and pass_hooks is None

    @property
    def length(self) -> int:
        return 0 if self.past is None else self.past.shape[1]

    def run(
        self,
        query: Layout,
        *,
        thoughts: Tensor | None = None,
        thought_rows: Tensor | None = None,
        extra_hooks: Sequence[Hook] = (),
        want_hidden: bool = False,
        layers: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        commit = None
        if self.pass_hooks is not None:
            extra_hooks = [*extra_hooks, *self.pass_hooks(self.length, query)]
        if self.recorder is not None and query.shape[0] == self.recorder.rows:
            record, commit = self.recorder.hooks()
            extra_hooks = [*extra_hooks, *record]
        logits, hidden = forward(
            self.model, query, past=self.past, cache=self.cache, thoughts=thoughts,
            thought_rows=thought_rows, extra_hooks=extra_hooks, want_hidden=want_hidden,
            layers=layers, fused=self.fused)
        if commit is not None:
            commit()
        self.past = query if self.past is None else self.past.cat(query)
        return logits, hidden

    def repeat_rows(self, repeats: int) -> None:
        """Each row becomes ``repeats`` consecutive rows (RiM decodes every readout of a row)."""
        index = torch.arange(self.past.shape[0], device=self.past.tokens.device)
        index = index.repeat_interleave(repeats)
        for entry in self.cache.entries:
            entry.past_keys = entry.past_keys[index]
            entry.past_values = entry.past_values[index]
        self.cache.previous_attention_mask = self.cache.previous_attention_mask[index]
        self.past = self.past.rows(index)
