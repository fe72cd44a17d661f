"""Tiny random GPT-2s written the way each original project writes its checkpoints (no
downloads): a byte-level BPE trained here on a few sentences, a 2-layer GPT-2 of width 32."""

from __future__ import annotations

from pathlib import Path

import torch

TEXTS = ["Every wumpus is a yumpus. Alex is a wumpus. Is Alex a yumpus?",
         "question: 3 + 4 = 7 #### 7", "The answer is: 18", "<<2*3=6>> <<6+1=7>>",
         "Alex is a yumpus.\n### yes"] * 20


def tiny_tokenizer(directory: Path, *, files: str = "json") -> int:
    """A byte-level BPE with GPT-2's end-of-text token, saved as ``tokenizer.json`` or as GPT-2's
    ``vocab.json`` + ``merges.txt``; returns its size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TEXTS, trainer)
    directory.mkdir(parents=True, exist_ok=True)
    if files == "json":
        tok.save(str(directory / "tokenizer.json"))
    else:
        tok.model.save(str(directory))  # vocab.json, merges.txt
    return tok.get_vocab_size()


def tiny_gpt2(vocab: int, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=1024, vocab_size=vocab,
                        bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # GPT-2's init leaves biases and LayerNorms at 0/1: vary them
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def resized(model, extra: int, seed: int = 1):
    """``resize_token_embeddings`` by ``extra`` rows, the new rows random (tied head)."""
    n = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(n + extra)
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        model.get_input_embeddings().weight[n:] = torch.randn(extra, 32, generator=g) * 0.02
    return model
