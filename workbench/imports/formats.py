"""The four checkpoint layouts ``lwb import`` reads, each turned into a plain GPT-2 state dict.

=========  ===================================  =============================================
format     what the original project writes     how it becomes a GPT-2
=========  ===================================  =============================================
hf         a Hugging Face GPT-2 directory       as it is (``model.safetensors`` or
                                                ``pytorch_model.bin``)
coconut    ``checkpoint_N``: its wrapper's      keys under ``base_causallm.``; the vocabulary
           state dict                           grows by its three latent tokens
icot       a directory with ``state_dict.bin``  keys under ``base_model.``
           (and its own ``config.json``)
codi       ``model.safetensors`` or             keys under ``codi.base_model.model.``; PEFT
           ``pytorch_model.bin`` of its         LoRA (``lora_A``/``lora_B`` beside each
           wrapper                              ``base_layer``) merged in: W + (α/r)·(B A)ᵀ
                                                (Conv1D weights are ``[in, out]``); the
                                                projection ``prj.*`` kept apart
=========  ===================================  =============================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from workbench.errors import UserError
from workbench.tokenizer import TextTemplate


@dataclass(frozen=True)
class Layout:
    """Where a format keeps its weights and what surrounds the GPT-2 in them."""

    name: str
    files: tuple[str, ...]
    """Weight files looked for in a source directory, in order (a file SRC is taken as is)."""
    prefix: str
    """Prefix of the GPT-2's keys in the checkpoint."""
    needs_base: bool
    """Whether ``--base`` (the GPT-2 directory it was trained from) must give config and
    tokenizer."""
    added_tokens: tuple[str, ...] = ()
    """Special tokens the original project appended to the base tokenizer, in order."""
    roles: dict[str, str] = field(default_factory=dict)
    """Workbench role → the model's token (or a text that is one token of it)."""
    template: TextTemplate = TextTemplate(bos=False)
    """How the original project writes question, steps and answer around those tokens."""
    extra_prefixes: tuple[str, ...] = ()
    """Prefixes of the method's own tensors kept apart (CODI's projection)."""
    duplicates: tuple[str, ...] = ()
    """Keys that repeat a tensor of the model (Coconut's second reference to the embedding)."""
    plain_ok: bool = False
    """Whether a checkpoint without the prefix is a plain GPT-2 of this format (Coconut's CoT
    stage 0, which its run.py tells apart the same way)."""


#: What every GPT-2 format shares: ``<|endoftext|>`` ends (and, where asked, opens) a sequence.
_EOT_ROLES = {"<eos>": "<|endoftext|>", "<bos>": "<|endoftext|>"}

LAYOUTS = {
    # a plain GPT-2: no template of its own; <|endoftext|> marks the answer (as in iCoT)
    "hf": Layout("hf", ("model.safetensors", "pytorch_model.bin"), "", False,
                 roles={**_EOT_ROLES, "<ans>": "<|endoftext|>", "<sep>": "\n"},
                 template=TextTemplate(bos=False, answer=" {}")),
    # run.py: pad = eos, then add_tokens <|start-latent|>, <|end-latent|>, <|latent|> (ordinary
    # added tokens, ids 50257-50259 on GPT-2); the wrapper registers the input embedding a
    # second time as ``embedding``. A CoT stage-0 checkpoint has no prefix and no new tokens.
    # dataset.py: question + "\n", each step + "\n", "### " + answer, eos; no bos.
    "coconut": Layout(
        "coconut", (), "base_causallm.", True,
        added_tokens=("<|start-latent|>", "<|end-latent|>", "<|latent|>"),
        roles={**_EOT_ROLES, "<bot>": "<|start-latent|>", "<eot>": "<|end-latent|>",
               "<latent>": "<|latent|>", "<ans>": "###", "<sep>": "\n",
               "<pad>": "<|endoftext|>"},
        template=TextTemplate(bos=False, question="{}\n", answer=" {}"),
        duplicates=("embedding.weight",), plain_ok=True),
    # save_pretrained: its own config.json (base_model, tokenizer_name) and state_dict.bin; the
    # text is " Q " eos " chain " eos " #### A " eos: eos separates, no tokens are added
    "icot": Layout("icot", ("state_dict.bin",), "base_model.", False,
                   roles={**_EOT_ROLES, "<ans>": "<|endoftext|>", "<sep>": "<|endoftext|>"},
                   template=TextTemplate(bos=False, question=" {} ", answer=" #### {} ")),
    # Trainer.save_model of the CODI module (pytorch_model.bin; model.safetensors when saving
    # them worked); the tokenizer gains [PAD] (50257) and the embedding two more rows, the
    # begin/end-of-thought ids 50258/50259, which have no strings: named here <|bot|>, <|eot|>.
    # The answer is written "The answer is: A"; its distillation point is the ":".
    "codi": Layout(
        "codi", ("pytorch_model.bin", "model.safetensors"), "codi.base_model.model.", True,
        added_tokens=("[PAD]", "<|bot|>", "<|eot|>"),
        roles={**_EOT_ROLES, "<bot>": "<|bot|>", "<eot>": "<|eot|>", "<pad>": "[PAD]",
               "<latent>": "[PAD]",  # a thought's input is its embedding, not a token's
               "<ans>": ":", "<sep>": "\n"},
        template=TextTemplate(bos=False, before_answer="The answer is", answer=" {}"),
        extra_prefixes=("prj.",)),
}


def weights_file(layout: Layout, source: Path) -> Path:
    """The checkpoint file of ``source`` (a file, or a directory holding one of the layout's
    files)."""
    if source.is_file():
        return source
    if not source.is_dir():
        raise UserError("no such file or directory", file=source)
    for name in layout.files:
        if (source / name).is_file():
            return source / name
    want = " or ".join(layout.files) or "the checkpoint file itself"
    raise UserError(f"holds no {want} (the {layout.name} format's weights)", file=source)


def split_state(layout: Layout, state: dict[str, torch.Tensor], file: Path, lora_alpha: float
                ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The GPT-2's state dict (keys as in ``GPT2LMHeadModel``) and the method's own tensors."""
    own = {k: v for k, v in state.items() if k.startswith(layout.extra_prefixes)} \
        if layout.extra_prefixes else {}
    rest = {k: v for k, v in state.items() if k not in own}
    rest = {k: v for k, v in rest.items() if k not in layout.duplicates}
    if layout.plain_ok and not any(k.startswith(layout.prefix) for k in rest):
        return rest, own  # Coconut's CoT stage 0: a plain GPT-2
    if layout.prefix:
        outside = sorted(k for k in rest if not k.startswith(layout.prefix))
        if outside:
            raise UserError(f"unexpected tensor {outside[0]} ({len(outside)} in all): the "
                            f"{layout.name} format keeps the model under {layout.prefix!r}",
                            file=file)
        rest = {k[len(layout.prefix):]: v for k, v in rest.items()}
    if layout.name == "codi":
        rest = merge_lora(rest, lora_alpha, file)
    return rest, own


def merge_lora(state: dict[str, torch.Tensor], alpha: float, file: Path
               ) -> dict[str, torch.Tensor]:
    """PEFT LoRA merged into its base weights: ``x.base_layer.weight`` + ``x.lora_A.<name>`` +
    ``x.lora_B.<name>`` → ``x.weight`` = W + (α / r) · (B A)ᵀ (GPT-2's Conv1D stores
    ``[in, out]``, so the update is transposed); ``x.base_layer.bias`` → ``x.bias``. The rank r
    is read from the shapes; α is not stored in the checkpoint."""
    out: dict[str, torch.Tensor] = {}
    lora: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if ".lora_A." in key or ".lora_B." in key:
            module, rest = key.split(".lora_", 1)
            side = rest[0]
            lora.setdefault(module, {})[side] = value
        elif ".lora_" in key:  # lora_embedding_A, lora_dropout, … : not produced on Conv1D
            raise UserError(f"unsupported LoRA tensor {key}", file=file)
        else:
            out[key.replace(".base_layer.", ".")] = value
    for module, ab in lora.items():
        if set(ab) != {"A", "B"}:
            raise UserError(f"LoRA of {module} lacks its {'B' if 'A' in ab else 'A'} matrix",
                            file=file)
        a, b = ab["A"].float(), ab["B"].float()  # A [r, in], B [out, r]
        if a.shape[0] != b.shape[1]:
            raise UserError(f"LoRA of {module}: A has rank {a.shape[0]} but B {b.shape[1]}",
                            file=file)
        target = module + ".weight"
        if target not in out:
            raise UserError(f"LoRA on {module}, which has no base weight", file=file)
        w = out[target].float()
        delta = (alpha / a.shape[0]) * (b @ a)  # [out, in]
        if w.shape == delta.T.shape:
            out[target] = w + delta.T  # Conv1D [in, out]
        elif w.shape == delta.shape:
            out[target] = w + delta  # nn.Linear [out, in]
        else:
            raise UserError(f"LoRA of {module} has shape {tuple(delta.shape)}, its base weight "
                            f"{tuple(w.shape)}", file=file)
    return out
