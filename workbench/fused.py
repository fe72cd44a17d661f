"""A fused forward pass over a ``HookedTransformer``'s own weights.

TransformerLens's forward runs every hook point, rearranges with einops and materialises the
attention scores and pattern of every head (``[batch, head, query, key]``, three times over in
the backward pass). That is what capture and interventions need, and it is most of a training
step on a CPU. This module computes the same function from the same parameters with fused
kernels: one matrix product for Q, K and V, ``scaled_dot_product_attention`` (flash attention
on the CPU), ``F.layer_norm`` and ``F.embedding``. It has no hook points and keeps no
activations it does not need, so it serves the passes that read nothing inside the model:
every training step and every rollout nobody records or edits.

Nothing is copied or re-shaped for good: the parameters stay TransformerLens's (``W_Q``, ``W_O``,
…), so a model trained here loads in plain TransformerLens and its captured states are
TransformerLens's own. ``tests/test_fused.py`` checks logits, hidden states, KV-cached passes
and gradients against TransformerLens's forward on the same weights (within 1e-5).

:func:`supports` says whether a model's configuration is one this path computes exactly;
:func:`workbench.rollout.forward` falls back to TransformerLens's forward otherwise, and
whenever a hook is attached.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

from workbench.models import HookedTransformer

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2's, the same formula
    "relu": F.relu,
}


def supports(model: HookedTransformer) -> bool:
    """True when the fused pass computes exactly what TransformerLens computes for this model:
    the GPT-2 family (learned absolute positions, LayerNorm before attention and MLP, one
    key/value head per query head, float32) that every preset and every import builds."""
    c = model.cfg
    return (
        c.normalization_type == "LN" and c.positional_embedding_type == "standard"
        and c.act_fn in _ACTIVATIONS and not c.attn_only and not c.parallel_attn_mlp
        and not c.gated_mlp and c.n_key_value_heads is None and c.attention_dir == "causal"
        and c.dtype == torch.float32 and c.use_attn_scale and c.attn_scores_soft_cap <= 0
        and c.output_logits_soft_cap <= 0 and not c.use_local_attn and c.n_devices == 1
        and not getattr(c, "use_attention_sinks", False) and c.clip_qkv is None
        and not c.use_qk_norm and not c.use_normalization_before_and_after
    )


def hooked(model: HookedTransformer) -> bool:
    """True when a hook is attached anywhere in the model (``model.hooks(...)``,
    ``add_hook``): then only TransformerLens's forward does what the caller asked."""
    return any(hp.fwd_hooks or hp.bwd_hooks for hp in model.hook_dict.values())


#: Per attention module: the parameters' versions and the Q, K, V weight and bias in one
#: matrix, kept while no gradient is taken (decoding runs many passes on unchanged weights).
_QKV: weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple[int, ...], Tensor, Tensor]] = (
    weakref.WeakKeyDictionary())


def _qkv_weights(attn: torch.nn.Module) -> tuple[Tensor, Tensor]:
    """``[d_model, 3 · heads · d_head]`` and its bias: Q, K and V of every head in one product
    (built from TransformerLens's ``W_Q``, ``W_K``, ``W_V``; rebuilt when one changes)."""
    params = (attn.W_Q, attn.W_K, attn.W_V, attn.b_Q, attn.b_K, attn.b_V)
    grad = torch.is_grad_enabled()
    if not grad:
        key = tuple(p._version for p in params) + tuple(p.data_ptr() for p in params)
        hit = _QKV.get(attn)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
    w = torch.cat([attn.W_Q, attn.W_K, attn.W_V]).permute(1, 0, 2).flatten(1)
    b = torch.cat([attn.b_Q, attn.b_K, attn.b_V]).flatten()
    if not grad:
        _QKV[attn] = (key, w, b)
    return w, b


class PreallocatedEntry:
    """A KV cache entry (TransformerLens's interface: ``past_keys``, ``past_values``,
    ``append``, ``frozen``) that writes into buffers allocated once for the whole context
    instead of concatenating a longer copy at every pass. Only for passes without gradients:
    an in-place write would corrupt what autograd saved."""

    def __init__(self, batch: int, capacity: int, n_heads: int, d_head: int,
                 device: torch.device | str, dtype: torch.dtype) -> None:
        shape = (batch, capacity, n_heads, d_head)
        self.keys = torch.empty(shape, device=device, dtype=dtype)
        self.values = torch.empty(shape, device=device, dtype=dtype)
        self.length, self.frozen = 0, False

    @property
    def past_keys(self) -> Tensor:
        return self.keys[:, :self.length]

    @past_keys.setter
    def past_keys(self, value: Tensor) -> None:  # rows re-shaped (Rollout.repeat_rows)
        self.keys, self.length = self._room_after(value), value.shape[1]

    @property
    def past_values(self) -> Tensor:
        return self.values[:, :self.length]

    @past_values.setter
    def past_values(self, value: Tensor) -> None:
        self.values, self.length = self._room_after(value), value.shape[1]

    def _room_after(self, value: Tensor, capacity: int | None = None) -> Tensor:
        """``value`` followed by unwritten room up to ``capacity`` (default: the current one)."""
        capacity = self.keys.shape[1] if capacity is None else capacity
        spare = value.new_empty((len(value), capacity - value.shape[1], *value.shape[2:]))
        return torch.cat([value, spare], dim=1)

    def append(self, new_keys: Tensor, new_values: Tensor) -> tuple[Tensor, Tensor]:
        end = self.length + new_keys.shape[1]
        if end > self.keys.shape[1]:  # more columns than the context (padding, readouts)
            capacity = max(end, 2 * self.keys.shape[1])
            self.keys = self._room_after(self.past_keys, capacity)
            self.values = self._room_after(self.past_values, capacity)
        self.keys[:, self.length:end] = new_keys
        self.values[:, self.length:end] = new_values
        if not self.frozen:
            self.length = end
        return self.keys[:, :end], self.values[:, :end]


def new_cache(model: HookedTransformer, batch: int, device: torch.device | str
              ) -> TransformerLensKeyValueCache:
    """A KV cache for ``batch`` rows: TransformerLens's own (it concatenates, so gradients flow
    through it) while gradients are on, else one of :class:`PreallocatedEntry` buffers for the
    model's whole context. Both engines read and extend either."""
    cfg = model.cfg
    cache = TransformerLensKeyValueCache.init_cache(cfg, device, batch)
    if not torch.is_grad_enabled():
        cache.entries = [PreallocatedEntry(batch, cfg.n_ctx, cfg.n_heads, cfg.d_head, device,
                                           cfg.dtype) for _ in range(cfg.n_layers)]
    return cache


def _layer_norm(x: Tensor, ln: torch.nn.Module) -> Tensor:
    return F.layer_norm(x, (x.shape[-1],), ln.w, ln.b, ln.eps)


def causal_mask(n_query: int, n_key: int, device: torch.device | str) -> Tensor:
    """``[query, key]``: query ``i`` (the ``n_key - n_query + i``-th key) sees keys up to
    itself."""
    q = torch.arange(n_query, device=device)[:, None] + (n_key - n_query)
    return torch.arange(n_key, device=device)[None, :] <= q


def fused_forward(
    model: HookedTransformer,
    tokens: Tensor,
    pos: Tensor,
    *,
    allowed: Tensor | None = None,
    cache: TransformerLensKeyValueCache | None = None,
    thoughts: Tensor | None = None,
    thought_rows: Tensor | None = None,
    embeds: Tensor | None = None,
    want_hidden: bool = False,
    want_layers: bool = False,
) -> tuple[Tensor, Tensor | None, list[Tensor] | None]:
    """Logits of ``tokens`` at positions ``pos`` (``[batch, query]``), after whatever ``cache``
    holds (its keys and values are extended, as TransformerLens extends them).

    ``allowed`` (``[batch, 1, query, key]``, bool) is the structural part of the attention rule;
    causality is applied here. ``None`` means plain causal attention, which is also what a
    right-padded batch needs for its real tokens. ``thoughts`` replace the input embedding of the
    first query column in ``thought_rows``; ``embeds`` (``[batch, query, d_model]``) replaces
    the token embedding of every query position. Returns the logits, the final hidden state
    (``ln_final`` of the last residual stream) with ``want_hidden``, and with ``want_layers`` the
    residual stream before block 0 and after every block.
    """
    cfg = model.cfg
    n_heads, d_head = cfg.n_heads, cfg.d_head
    x = F.embedding(tokens, model.W_E) if embeds is None else embeds
    if thoughts is not None:
        rows = thought_rows if thought_rows is not None else torch.ones(
            tokens.shape[0], dtype=torch.bool, device=tokens.device)
        first = torch.where(rows[:, None], thoughts.to(x.dtype), x[:, 0])
        x = torch.cat([first[:, None], x[:, 1:]], dim=1)
    x = x + F.embedding(pos, model.W_pos)
    batch, n_query = tokens.shape
    n_past = 0 if cache is None else cache.entries[0].past_keys.shape[1]
    n_key = n_past + n_query
    mask, is_causal = None, False
    if allowed is not None:
        mask = allowed & causal_mask(n_query, n_key, tokens.device)
    elif n_past == 0:
        is_causal = True
    elif n_query > 1:
        mask = causal_mask(n_query, n_key, tokens.device)
    if mask is not None:  # additive, once: the kernels convert a boolean mask at every layer
        mask = torch.zeros(mask.shape, dtype=x.dtype, device=x.device).masked_fill_(
            ~mask, float("-inf"))
    if cache is not None:
        cache.append_attention_mask(torch.ones_like(tokens))
    act = _ACTIVATIONS[cfg.act_fn]
    layers = [x] if want_layers else None
    for i, block in enumerate(model.blocks):
        attn, mlp = block.attn, block.mlp
        h = _layer_norm(x, block.ln1)
        # [d_model, 3 · heads · d_head]: Q, K and V of every head in one product
        w_qkv, b_qkv = _qkv_weights(attn)
        qkv = F.linear(h, w_qkv.T, b_qkv).view(batch, n_query, 3, n_heads, d_head)
        q, k, v = qkv.unbind(2)  # [batch, query, head, d_head], TransformerLens's cache layout
        if cache is not None:
            k, v = cache.entries[i].append(k, v)
        scale = 1.0 / float(attn.attn_scale)
        z = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask,
            is_causal=is_causal, scale=scale)
        z = z.transpose(1, 2).reshape(batch, n_query, n_heads * d_head)
        x = x + F.linear(z, attn.W_O.flatten(0, 1).T, attn.b_O)
        h = _layer_norm(x, block.ln2)
        x = x + F.linear(act(F.linear(h, mlp.W_in.T, mlp.b_in)), mlp.W_out.T, mlp.b_out)
        if layers is not None:
            layers.append(x)
    final = _layer_norm(x, model.ln_final)
    logits = F.linear(final, model.W_U.T, model.b_U)
    return logits, final if want_hidden else None, layers


_COMPILED: weakref.WeakKeyDictionary[HookedTransformer, Callable[..., tuple]] = (
    weakref.WeakKeyDictionary())


def compile_for(model: HookedTransformer) -> None:
    """Run ``model``'s fused passes through ``torch.compile`` (``lwb train --compile``).
    Measured on the 2-core CPU this project is built on, it is slower than the eager fused
    pass (0.35–0.52×, recompilations included) and costs 13–35 s to compile
    (docs/performance.md); it may pay on other hardware."""
    _COMPILED[model] = torch.compile(fused_forward, dynamic=True)


def engine(model: HookedTransformer) -> Callable[..., tuple]:
    """The fused forward ``model`` runs: compiled by :func:`compile_for`, or eager."""
    return _COMPILED.get(model, fused_forward)
