"""Fine-tuning a model imported with ``lwb import`` (``lwb train --init-from IMPORTED_RUN``).

The run keeps the imported model's shape and its BPE tokenizer (``--size`` and the task's
word-level tokenizer do not apply), with a token added for every workbench role the model lacks
(:func:`workbench.bpe.with_every_role`). The embedding and unembedding grow by those tokens: a
new row of ``W_E`` and a new column of ``W_U`` start at the mean of the existing ones (the
tokens start as an average token, not as noise), ``b_U`` at 0.
"""

from __future__ import annotations

from typing import Any

import torch

from workbench.bpe import BPETokenizer, with_every_role
from workbench.errors import UserError


def is_imported(source: Any) -> bool:
    """Whether the loaded run ``source`` is an imported model (it has a BPE tokenizer)."""
    return isinstance(source.tokenizer, BPETokenizer)


def tokenizer_for(source: Any) -> BPETokenizer:
    return with_every_role(source.tokenizer)


def model_config_for(source: Any, tok: BPETokenizer, longest: int, file: Any) -> dict[str, Any]:
    """The imported model's config with room for ``tok``; its context must hold ``longest``."""
    config = dict(source.config["model"])
    if longest > config["n_ctx"]:
        raise UserError(f"the longest sequence ({longest} tokens) exceeds the imported model's "
                        f"context ({config['n_ctx']})", file=file, field="init_from")
    config["d_vocab"] = max(int(config["d_vocab"]), len(tok))
    return config


def grown_state(state: dict[str, torch.Tensor], d_vocab: int) -> dict[str, torch.Tensor]:
    """``state`` with the vocabulary grown to ``d_vocab`` (see the module's docstring)."""
    out = dict(state)
    old = state["embed.W_E"].shape[0]
    extra = d_vocab - old
    if extra <= 0:
        return out
    w_e, w_u = state["embed.W_E"], state["unembed.W_U"]
    out["embed.W_E"] = torch.cat([w_e, w_e.mean(0, keepdim=True).expand(extra, -1)])
    out["unembed.W_U"] = torch.cat([w_u, w_u.mean(1, keepdim=True).expand(-1, extra)], dim=1)
    out["unembed.b_U"] = torch.cat([state["unembed.b_U"], torch.zeros(extra)])
    return out
