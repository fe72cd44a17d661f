"""RiM's block-causal mask inside one ordinary forward pass."""

import random

import pytest
import torch

from workbench.methods import get_method, tokenize
from workbench.methods.base import collate
from workbench.methods.rim import alpha, anneal_weight
from workbench.models import build_model, model_config
from workbench.rollout import forward
from workbench.tasks import TASKS, task_tokenizer
from workbench.tasks.base import generate_split


@pytest.fixture(scope="module")
def setup():
    tok = task_tokenizer("chain")
    ex = [tokenize(e, tok) for e in generate_split(TASKS["chain"], "tiny", "train", 2, seed=0)]
    rim = get_method("rim", {"blocks": 4, "memory": 2}, tok)
    stage = rim.stages(100, 10)[0]
    enc = rim.encode(ex[0], stage, 0, random.Random(0))
    model = build_model(model_config("nano", len(tok), 128, seed=1))
    return tok, rim, enc, model


def segments(enc):
    """Index ranges of each block and each readout, from the encoded structure."""
    blocks, readouts = {}, {}
    for i, (lv, ro) in enumerate(zip(enc.level, enc.readout)):
        if lv:
            (readouts if ro else blocks).setdefault(lv, []).append(i)
    return blocks, readouts


def logits_of(model, enc, tok):
    with torch.no_grad():
        return forward(model, collate([enc], tok.pad_id).layout)[0][0]


def test_changing_a_readout_leaves_every_other_position_unchanged(setup):
    tok, rim, enc, model = setup
    base = logits_of(model, enc, tok)
    blocks, readouts = segments(enc)
    for idx in readouts.values():
        changed = type(enc)(**{**enc.__dict__, "tokens": list(enc.tokens)})
        for i in idx[1:]:
            changed.tokens[i] = tok.id("7")
        out = logits_of(model, changed, tok)
        others = [i for i in range(len(enc)) if i not in idx]
        assert (out[others] - base[others]).abs().max() <= 1e-5
        assert (out[idx[1:]] - base[idx[1:]]).abs().max() > 1e-3, "the readout itself changes"


def test_changing_block_j_changes_only_blocks_and_readouts_from_j_on(setup):
    tok, rim, enc, model = setup
    base = logits_of(model, enc, tok)
    blocks, readouts = segments(enc)
    for j, idx in blocks.items():
        changed = type(enc)(**{**enc.__dict__, "tokens": list(enc.tokens)})
        changed.tokens[idx[1]] = tok.id("3")  # a memory token of block j
        out = logits_of(model, changed, tok)
        question = [i for i, lv in enumerate(enc.level) if lv == 0]
        assert (out[question] - base[question]).abs().max() <= 1e-5
        for k in readouts:
            diff = (out[readouts[k]] - base[readouts[k]]).abs().max()
            if k < j:
                assert diff <= 1e-5, (j, k)
            else:
                assert diff > 1e-4, (j, k)
        for k in blocks:
            if k < j:
                assert (out[blocks[k]] - base[blocks[k]]).abs().max() <= 1e-5


def test_readout_positions_continue_from_their_block(setup):
    tok, rim, enc, model = setup
    blocks, readouts = segments(enc)
    for j in blocks:
        assert enc.pos[readouts[j][0]] == enc.pos[blocks[j][-1]] + 1


def test_stage_weights_alpha_and_relative_annealing():
    k = 8
    assert abs(sum(alpha(i, k) for i in range(1, k + 1)) - 1) < 1e-12
    assert [alpha(i, k) for i in range(1, k + 1)] == sorted(alpha(i, k) for i in range(1, k + 1))
    length = 800
    # relative-to-T: step t's weight reaches 0 at s = S·t/K, earliest steps first
    for t in range(1, k + 1):
        zero_at = length * t / k
        assert anneal_weight("relative", t, int(zero_at), length, k) == 0.0
        assert anneal_weight("relative", t, int(zero_at) - 2, length, k) > 0.0
        assert anneal_weight("relative", t, 0, length, k) == 1.0
    assert anneal_weight("linear", 3, 400, length, k) == 0.5
    assert anneal_weight("uniform", 3, 799, length, k) == 1.0


def test_stage_one_targets_steps_then_answers_and_stage_two_only_answers(setup):
    tok, rim, _, _ = setup
    ex = tokenize(next(generate_split(TASKS["chain"], "tiny", "train", 1, seed=3)), tok)
    s1, s2 = rim.stages(100, 10)
    assert (s1.index, s1.reset, s2.index, s2.reset) == (1, False, 2, True)
    t1 = rim.targets(ex, s1, 0)
    assert [t for t, _ in t1] == [*ex.steps, *[ex.answer] * (4 - len(ex.steps))]
    t2 = rim.targets(ex, s2, 60)
    assert [t for t, _ in t2] == [ex.answer] * 4
    assert [w for _, w in t2] == [alpha(k, 4) for k in range(1, 5)]
