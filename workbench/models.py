"""Model presets: named sizes mapped to ``HookedTransformerConfig`` keyword arguments.

Every model is a plain TransformerLens ``HookedTransformer`` trained from scratch, so a run can be
loaded with nothing but TransformerLens: ``HookedTransformer(HookedTransformerConfig(**kwargs))``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

from workbench.errors import UserError

# TransformerLens 3.9 warns that HookedTransformer goes away in 4.0; this project pins 3.9.
warnings.filterwarnings(
    "ignore", message="HookedTransformer is deprecated", category=DeprecationWarning
)

from transformer_lens import HookedTransformer, HookedTransformerConfig  # noqa: E402


@dataclass(frozen=True)
class ModelPreset:
    """The shape of a preset; vocabulary size and context length come from the task."""

    n_layers: int
    """Transformer blocks."""
    d_model: int
    """Width of the residual stream."""
    n_heads: int
    """Attention heads per block (``d_head = d_model // n_heads``)."""
    d_mlp: int
    """Hidden width of each MLP."""


PRESETS: dict[str, ModelPreset] = {
    "nano": ModelPreset(n_layers=2, d_model=64, n_heads=2, d_mlp=256),
    "micro": ModelPreset(n_layers=4, d_model=128, n_heads=4, d_mlp=512),
    "mini": ModelPreset(n_layers=4, d_model=256, n_heads=4, d_mlp=1024),
    "small": ModelPreset(n_layers=6, d_model=384, n_heads=6, d_mlp=1536),
    # micro's parameters with wider heads: a lookup over names redrawn per example (reach)
    # matches one name among many in a head's query-key space, which 32 dimensions crowd.
    "micro-h2": ModelPreset(n_layers=4, d_model=128, n_heads=2, d_mlp=512),
    "micro-h1": ModelPreset(n_layers=4, d_model=128, n_heads=1, d_mlp=512),
}


def model_config(preset: str, d_vocab: int, n_ctx: int, seed: int = 0) -> dict[str, Any]:
    """``HookedTransformerConfig`` keyword arguments (JSON-serialisable) for a preset."""
    try:
        p = PRESETS[preset]
    except KeyError:
        raise UserError(
            f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}"
        ) from None
    return {
        **asdict(p),
        "d_head": p.d_model // p.n_heads,
        "d_vocab": d_vocab,
        "n_ctx": n_ctx,
        "act_fn": "gelu",
        "normalization_type": "LN",
        "positional_embedding_type": "standard",
        "seed": seed,
    }


def build_model(kwargs: dict[str, Any], device: str = "cpu") -> HookedTransformer:
    """A freshly initialised model (seeded by ``kwargs['seed']``)."""
    try:
        cfg = HookedTransformerConfig(**{**kwargs, "device": device})
    except (TypeError, ValueError, AssertionError) as e:
        raise UserError(f"invalid model config: {e}", field="model") from None
    return HookedTransformer(cfg)


def count_parameters(model: HookedTransformer) -> int:
    return sum(p.numel() for p in model.parameters())
