"""Coconut's KV-cached, batched rollout against a full recomputation per example."""

import random

import torch

from workbench.methods import get_method, tokenize
from workbench.methods.base import collate
from workbench.models import build_model, model_config
from workbench.rollout import Rollout
from workbench.tasks import TASKS, task_tokenizer
from workbench.tasks.base import generate_split


def reference_logits(model, tokens, latent):
    """The published way: recompute the whole prefix for every thought, no cache, no padding.

    Thought i is the final hidden state (after ln_final) at the position before latent i; it is
    spliced in at hook_embed and the whole sequence is run again.
    """
    thoughts = {}
    positions = [i for i, flag in enumerate(latent) if flag]
    x = torch.tensor([tokens])

    def splice(embed, hook):
        embed = embed.clone()
        for p, v in thoughts.items():
            embed[0, p] = v
        return embed

    for p in positions:
        with model.hooks(fwd_hooks=[("hook_embed", splice)]):
            _, cache = model.run_with_cache(
                x[:, :p], names_filter=f"blocks.{model.cfg.n_layers - 1}.hook_resid_post")
        last = cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"][0, -1]
        thoughts[p] = model.ln_final(last[None, None])[0, 0]
    with model.hooks(fwd_hooks=[("hook_embed", splice)]):
        return model(x)[0]


def test_batched_cached_rollout_equals_full_recomputation_with_padding():
    torch.manual_seed(0)
    tok = task_tokenizer("chain")
    examples = [tokenize(e, tok) for e in generate_split(TASKS["chain"], "demo", "train", 6, 4)]
    lengths = [len(e.question) for e in examples]
    assert len(set(lengths)) > 1, "questions of different lengths, so padding is exercised"
    coconut = get_method("coconut", {"max_latent_stage": 3, "thoughts_per_step": 2}, tok)
    stage = coconut.stages(100, 10)[2]  # stage 2: 4 thoughts, then the remaining steps
    encoded = [coconut.encode(e, stage, 0, random.Random(0)) for e in examples]
    model = build_model(model_config("nano", len(tok), 160, seed=3))
    batch = collate(encoded, tok.pad_id)
    real = batch.layout.real
    assert not real[:, 0].all() and not real[:, -1].all(), "left and right padding both occur"
    with torch.no_grad():
        batched = coconut.run_thoughts(Rollout(model, len(batch), "cpu"), batch)
        for row, enc in enumerate(encoded):
            ref = reference_logits(model, enc.tokens, enc.latent)
            got = batched[row][real[row]]
            assert got.shape == ref.shape
            assert (got - ref).abs().max() <= 1e-4


def test_curriculum_replaces_the_first_k_steps_with_k_times_c_thoughts():
    tok = task_tokenizer("chain")
    ex = tokenize(next(generate_split(TASKS["chain"], "demo", "train", 1, seed=7)), tok)
    coconut = get_method("coconut", {"max_latent_stage": 4, "thoughts_per_step": 2,
                                     "pad_latent_to_max": False}, tok)
    stages = coconut.stages(1000, 10)
    assert [s.index for s in stages] == [0, 1, 2, 3, 4]
    assert all(s.reset for s in stages[1:]) and stages[-1].end == 1000
    for stage in stages:
        enc = coconut.encode(ex, stage, stage.start, random.Random(0))
        replaced = min(stage.index, len(ex.steps)) if stage.index < 4 else len(ex.steps)
        assert sum(enc.latent) == 2 * replaced
        text = tok.decode([t for t, w in zip(enc.tokens, enc.weights) if w > 0])
        for i, step in enumerate(tok.decode(s) for s in ex.steps):
            assert (step in text) == (i >= replaced), (stage.index, i)
