"""A Hugging Face GPT-2 (config + state dict) as a TransformerLens ``HookedTransformer``.

The weights are rearranged by TransformerLens's own GPT-2 conversion
(``convert_gpt2_weights``), applied to a ``transformers`` ``GPT2LMHeadModel`` that holds the
checkpoint's tensors. Nothing is folded (``normalization_type="LN"``, no centring): the imported
model computes what the original computes, and a plain TransformerLens user loads it as our own
runs load (``HookedTransformer(HookedTransformerConfig(**config["model"]))``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from workbench.errors import UserError

#: GPT-2 options TransformerLens's GPT-2 block does not compute; a config that sets one is refused.
_UNSUPPORTED = {"scale_attn_by_inverse_layer_idx": True, "reorder_and_upcast_attn": True,
                "add_cross_attention": True}
#: Buffers older ``transformers`` versions saved with the weights (causal masks, not parameters).
_BUFFERS = (".attn.bias", ".attn.masked_bias")


def read_config(directory: str | Path) -> dict[str, Any]:
    """``config.json`` of a GPT-2-family directory, checked to be a GPT-2 this import computes."""
    file = Path(directory) / "config.json"
    try:
        config = json.loads(file.read_text())
    except FileNotFoundError:
        raise UserError("no config.json (a Hugging Face model directory has one)",
                        file=file) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"not valid JSON: {e}", file=file) from None
    if not isinstance(config, dict):
        raise UserError("must be a JSON object", file=file)
    kind = config.get("model_type")
    if kind != "gpt2":
        raise UserError(f"model_type is {kind!r}: only GPT-2-family models (model_type "
                        "'gpt2') are imported", file=file, field="model_type")
    for key in ("n_layer", "n_embd", "n_head", "vocab_size", "n_positions"):
        if not isinstance(config.get(key), int) or config[key] <= 0:
            raise UserError("must be a positive integer", file=file, field=key)
    for key, bad in _UNSUPPORTED.items():
        if config.get(key) == bad:
            raise UserError(f"{key} = {bad} is not supported by the import", file=file,
                            field=key)
    if config.get("activation_function", "gelu_new") not in ("gelu_new", "gelu"):
        raise UserError("only gelu_new and gelu are supported", file=file,
                        field="activation_function")
    if config["n_embd"] % config["n_head"]:
        raise UserError("n_embd is not a multiple of n_head", file=file, field="n_embd")
    return config


def model_kwargs(config: dict[str, Any], d_vocab: int) -> dict[str, Any]:
    """``HookedTransformerConfig`` keyword arguments for GPT-2 ``config`` with ``d_vocab``
    tokens (a checkpoint may carry more than its base config: added special tokens)."""
    d_model, n_heads = config["n_embd"], config["n_head"]
    return {
        "n_layers": config["n_layer"], "d_model": d_model, "n_heads": n_heads,
        "d_head": d_model // n_heads, "d_mlp": config.get("n_inner") or 4 * d_model,
        "d_vocab": d_vocab, "n_ctx": config["n_positions"],
        "act_fn": config.get("activation_function", "gelu_new"),
        "eps": config.get("layer_norm_epsilon", 1e-5), "normalization_type": "LN",
        "positional_embedding_type": "standard", "original_architecture": "GPT2LMHeadModel",
        "seed": 0,
    }


def expected_shapes(config: dict[str, Any], d_vocab: int) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter of a ``GPT2LMHeadModel`` (Conv1D weights are
    ``[in, out]``)."""
    d, layers = config["n_embd"], config["n_layer"]
    inner = config.get("n_inner") or 4 * d
    shapes = {"transformer.wte.weight": (d_vocab, d),
              "transformer.wpe.weight": (config["n_positions"], d),
              "transformer.ln_f.weight": (d,), "transformer.ln_f.bias": (d,),
              "lm_head.weight": (d_vocab, d)}
    for i in range(layers):
        h = f"transformer.h.{i}."
        shapes.update({
            h + "ln_1.weight": (d,), h + "ln_1.bias": (d,),
            h + "attn.c_attn.weight": (d, 3 * d), h + "attn.c_attn.bias": (3 * d,),
            h + "attn.c_proj.weight": (d, d), h + "attn.c_proj.bias": (d,),
            h + "ln_2.weight": (d,), h + "ln_2.bias": (d,),
            h + "mlp.c_fc.weight": (d, inner), h + "mlp.c_fc.bias": (inner,),
            h + "mlp.c_proj.weight": (inner, d), h + "mlp.c_proj.bias": (d,)})
    return shapes


def check_state(state: dict[str, torch.Tensor], config: dict[str, Any], file: Path,
                base: Path | None = None) -> dict[str, torch.Tensor]:
    """``state`` (keys as in ``GPT2LMHeadModel``) checked against ``config``: every tensor
    present with its shape, nothing unexpected; the tied ``lm_head.weight`` filled in from the
    embedding where the file leaves it out, the old causal-mask buffers dropped. Returns the
    state; a mismatch is one line naming the tensor."""
    state = {k: v for k, v in state.items() if not k.endswith(_BUFFERS)}
    if "lm_head.weight" not in state and "transformer.wte.weight" in state:
        state["lm_head.weight"] = state["transformer.wte.weight"]  # tied (save_pretrained)
    if "transformer.wte.weight" not in state:
        raise UserError("no tensor transformer.wte.weight: not a GPT-2 language model's "
                        "weights", file=file)
    d_vocab = state["transformer.wte.weight"].shape[0]
    want = expected_shapes(config, d_vocab)
    against = f" (the config of {base})" if base else " (its config)"
    for name, shape in want.items():
        if name not in state:
            raise UserError(f"tensor {name} is missing: the checkpoint does not match the "
                            f"model{against}", file=file)
        if tuple(state[name].shape) != shape:
            raise UserError(f"tensor {name} has shape {tuple(state[name].shape)} but the "
                            f"model{against} needs {shape}", file=file)
    extra = sorted(set(state) - set(want))
    if extra:
        raise UserError(f"unexpected tensor {extra[0]} ({len(extra)} in all): the checkpoint "
                        f"does not match the model{against}", file=file)
    return {k: v.float() for k, v in state.items()}


def to_hooked(state: dict[str, torch.Tensor], config: dict[str, Any]) -> tuple[Any, dict]:
    """The ``HookedTransformer`` computing what ``GPT2LMHeadModel(config)`` with ``state``
    (checked by :func:`check_state`) computes, and its config keyword arguments."""
    from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights
    from transformers import GPT2Config, GPT2LMHeadModel

    from workbench.models import build_model

    d_vocab = state["transformer.wte.weight"].shape[0]
    kwargs = model_kwargs(config, d_vocab)
    hf_config = GPT2Config(**{**{k: v for k, v in config.items()
                                 if k in GPT2Config().to_dict()}, "vocab_size": d_vocab})
    with torch.device("meta"):
        hf = GPT2LMHeadModel(hf_config)
    hf.load_state_dict(state, strict=True, assign=True)
    hf.lm_head.weight = torch.nn.Parameter(state["lm_head.weight"])  # untied where it differs
    model = build_model(kwargs)
    own = model.state_dict()
    converted = convert_gpt2_weights(hf, model.cfg)
    converted["unembed.b_U"] = torch.zeros(d_vocab)  # GPT-2's head has no bias
    buffers = {name for name, _ in model.named_buffers()}
    missing = sorted(k for k in own if k not in converted and k not in buffers)
    if missing:  # a TransformerLens that names its parameters differently
        raise UserError(f"the GPT-2 conversion left {missing[0]} unset", field="format")
    model.load_state_dict({**own, **{k: v.detach().clone() for k, v in converted.items()}})
    model.eval()
    return model, kwargs

