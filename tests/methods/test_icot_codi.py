"""iCoT's removal schedule and CODI's losses, each against an independent small computation."""

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import geom

from tests.train.conftest import tiny_config
from train.loop import train
from workbench.methods import get_method, tokenize
from workbench.methods.codi import Projection, distillation
from workbench.methods.icot import MAX_OFFSET, smoothing_distribution
from workbench.models import build_model, model_config
from workbench.tasks import TASKS, task_tokenizer
from workbench.tasks.base import generate_split
from workbench.tokenizer import ANSWER, BOT

# -- iCoT ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.5, 1.0, 4.0])
def test_smoothing_is_the_published_truncated_geometric(lam):
    p = np.array(smoothing_distribution(lam))
    # scipy's geometric counts trials from 1: P(o extra) = geom.pmf(o + 1, 1 - e^-λ)
    want = geom.pmf(np.arange(1, MAX_OFFSET + 1), 1 - math.exp(-lam))
    want[-1] += 1 - want.sum()
    assert len(p) == MAX_OFFSET and np.allclose(p, want, atol=1e-12)
    assert math.isclose(p.sum(), 1.0, abs_tol=1e-12)
    assert smoothing_distribution(0.0)[0] == 1.0  # λ = 0: no smoothing


def reach_examples(n=40):
    tok = task_tokenizer("reach")
    return tok, [tokenize(e, tok) for e in generate_split(TASKS["reach"], "demo", "train", n, 3)]


def test_each_stage_removes_its_tokens_from_the_left_and_the_last_removes_all():
    tok, exs = reach_examples()
    icot = get_method("icot", {"remove_per_stage": 4, "smoothing_lambda": 0}, tok)
    icot.resolve(exs)
    ex = max(exs, key=lambda e: len(e.steps))
    cot = [t for s in ex.steps for t in (*s, tok.id("<sep>"))]
    assert icot.options.max_cot_tokens == len(cot) == 14  # depth 8: 7 steps and separators
    stages = icot.stages(1000, 10)
    assert [s.name for s in stages] == ["remove 0", "remove 4", "remove 8", "remove 12",
                                        "remove all"]
    assert [s.reset for s in stages] == [False, True, True, True, True]
    assert [s.end - s.start for s in stages[:-1]] == [10] * 4 and stages[-1].end == 1000
    nocot = get_method("nocot", {}, tok)
    for stage, removed in zip(stages, [0, 4, 8, 12, 14]):
        enc = icot.encode(ex, stage, stage.start, random.Random(0))
        head = [tok.id("<bos>"), *ex.question]
        assert enc.tokens == [*head, *cot[removed:], tok.id(ANSWER), *ex.answer,
                              tok.id("<eos>")]
        assert all(w == 0 for w in enc.weights[:len(head)])  # no loss on the question
    last = icot.encode(ex, stages[-1], 999, random.Random(0))
    assert last.tokens == nocot.encode(ex, stages[-1], 999, random.Random(0)).tokens


def test_removal_smoothing_removes_extra_tokens_at_the_published_rates():
    tok, exs = reach_examples()
    icot = get_method("icot", {"remove_per_stage": 2, "smoothing_lambda": 1.0}, tok)
    icot.resolve(exs)
    ex = max(exs, key=lambda e: len(e.steps))
    stage = icot.stages(1000, 10)[1]  # remove 2
    head = len(ex.question) + 1
    extra = []
    for i in range(3000):
        enc = icot.encode(ex, stage, 0, random.Random(i))
        cot_left = len(enc.tokens) - head - len(ex.answer) - 2
        extra.append(14 - 2 - cot_left)
    counts = np.bincount(extra, minlength=13) / len(extra)
    p = smoothing_distribution(1.0)
    assert min(extra) == 0
    for o in range(3):  # 0.632, 0.233, 0.086
        assert abs(counts[o] - p[o]) < 0.03, (o, counts[o], p[o])
    assert max(extra) <= 12  # never beyond the CoT


@pytest.mark.parametrize("reset", [True, False])
def test_the_optimizer_restarts_at_every_stage(reset, tiny_chain, tmp_path):
    # 32 examples, batches of 32: a stage of 3 epochs is 3 steps; removing 100 tokens at once
    # leaves two stages, [0, 3) and [3, 10)
    cfg = tiny_config(tiny_chain, tmp_path / "run", "icot", steps=10, checkpoint_every=10)
    metrics = train(cfg, {"remove_per_stage": 100, "epochs_per_stage": 3,
                          "reset_optimizer": reset})
    stages = metrics["train"]["stages"]
    assert [(s["name"], s["start"], s["end"], s["reset"]) for s in stages] == [
        ("remove 0", 0, 3, False), ("remove all", 3, 10, reset)]
    ckpt = tmp_path / "run" / "checkpoints" / "step-0000010" / "optimizer.pt"
    state = torch.load(ckpt, weights_only=True)["state"]
    adam_steps = {int(s["step"]) for s in state.values()}
    assert adam_steps == ({7} if reset else {10})  # Adam's step count restarted at step 3


# -- CODI ------------------------------------------------------------------------------------------


def test_the_projection_is_linear_gelu_linear_layernorm():
    prj = Projection(16, 8)
    kinds = [type(m).__name__ for m in prj.net]
    assert kinds == ["Dropout", "Linear", "GELU", "Linear", "LayerNorm"]
    assert prj.net[1].weight.shape == (8, 16) and prj.net[3].weight.shape == (16, 8)
    out = prj(torch.randn(5, 16) * 7 + 3)
    assert out.shape == (5, 16)
    assert torch.allclose(out.mean(-1), torch.zeros(5), atol=1e-5)  # LayerNorm, fresh affine
    tok = task_tokenizer("chain")
    codi = get_method("codi", {"projection_dim": 24}, tok)
    model = build_model(model_config("nano", len(tok), 64, seed=0))
    module = codi.attach(model)
    assert module.net[1].weight.shape == (24, model.cfg.d_model)
    assert module.net[4].normalized_shape == (model.cfg.d_model,)


def smooth_l1(x):
    a = x.abs()
    return torch.where(a < 1, 0.5 * x * x, a - 0.5)


@pytest.mark.parametrize("kind", ["smooth_l1", "l2"])
def test_distillation_is_a_per_layer_std_normalised_mean_with_the_teacher_detached(kind):
    torch.manual_seed(0)
    student = [torch.randn(4, 6, requires_grad=True) for _ in range(3)]
    teacher = [(torch.randn(4, 6) * (i + 1)).requires_grad_() for i in range(3)]
    got = distillation(student, teacher, kind)
    want = 0.0
    for s, t in zip(student, teacher):
        d = (s - t).detach()
        per = smooth_l1(d).mean() if kind == "smooth_l1" else (d * d).mean()
        sd = t.detach().std()  # one scalar over batch and model dimension (unbiased)
        want += float(per / (sd if kind == "smooth_l1" else sd * sd))
    assert math.isclose(float(got.detach()), want / 3, rel_tol=1e-6)
    got.backward()
    assert all(t.grad is None for t in teacher)
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)
    plain = distillation(student, teacher, kind, div_std=False)
    assert not math.isclose(float(plain.detach()), float(got.detach()))


def names(model):
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post"
                                          for i in range(model.cfg.n_layers)]


def reference_pass(model, tokens, latent, prj):
    """No cache, no padding: each thought is prj(ln_final(last state before it)), spliced in
    at hook_embed and the prefix run again (as the published code feeds them back). Returns the
    logits and every layer's states [pos, layer, d] of the last full pass."""
    thoughts = {}

    def splice(embed, hook):
        embed = embed.clone()
        for p, v in thoughts.items():
            embed[0, p] = v
        return embed

    x = torch.tensor([tokens])
    last = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    for p in [i for i, f in enumerate(latent) if f]:
        kept = {}  # not run_with_cache, which detaches: gradients flow through every thought
        with model.hooks(fwd_hooks=[("hook_embed", splice),
                                    (last, lambda a, hook, kept=kept: kept.__setitem__("x", a))]):
            model(x[:, :p])
        thoughts[p] = prj(model.ln_final(kept["x"][0, -1][None, None])[0, 0])
    grabbed = {}
    hooks = [("hook_embed", splice)] + [(n, lambda a, hook, n=n: grabbed.__setitem__(n, a))
                                        for n in names(model)]
    with model.hooks(fwd_hooks=hooks):
        logits = model(x)[0]
    return logits, torch.stack([grabbed[n][0] for n in names(model)], dim=1)


def ce_sum(logits, tokens, weights):
    ce = F.cross_entropy(logits[:-1], torch.tensor(tokens[1:]), reduction="none")
    return (ce * torch.tensor(weights[1:])).sum()


def reference_loss(model, codi, encoded, tok):
    """CODI's loss, one example at a time: teacher CE + student CE + n · distillation."""
    ans = tok.id(ANSWER)
    loss, s_states, t_states = 0.0, [], []
    for enc in encoded:
        t = enc.teacher
        t_logits, t_all = reference_pass(model, t.tokens, [False] * len(t), codi.module)
        s_logits, s_all = reference_pass(model, enc.tokens, enc.latent, codi.module)
        loss = loss + ce_sum(t_logits, t.tokens, t.weights)
        loss = loss + ce_sum(s_logits, enc.tokens, enc.weights)
        t_states.append(t_all[t.tokens.index(ans)])
        s_states.append(s_all[enc.tokens.index(ans)])
    T, S = torch.stack(t_states, 1), torch.stack(s_states, 1)  # [layer, batch, d]
    T, S = list(T), list(S)
    T[-1], S[-1] = model.ln_final(T[-1][:, None])[:, 0], model.ln_final(S[-1][:, None])[:, 0]
    distill = sum(smooth_l1(s - t.detach()).mean() / t.detach().std() for s, t in zip(S, T))
    return loss + len(encoded) * distill / len(S)


def test_codi_loss_equals_a_per_example_recomputation_with_the_teacher_detached():
    torch.manual_seed(0)
    tok = task_tokenizer("chain")
    exs = [tokenize(e, tok) for e in generate_split(TASKS["chain"], "demo", "train", 5, 4)]
    assert len({len(e.question) for e in exs}) > 1 and len({len(e.steps) for e in exs}) > 1
    codi = get_method("codi", {"thoughts": 3}, tok)
    model = build_model(model_config("nano", len(tok), 160, seed=3))
    codi.attach(model, seed=1)
    stage = codi.stages(10, 1)[0]
    encoded = [codi.encode(e, stage, 0, random.Random(0)) for e in exs]
    # the student: 3 thoughts after <bot>, the answer after <eot> <ans>; the teacher: the CoT
    # without its last step (the published default)
    for enc, ex in zip(encoded, exs):
        b = enc.tokens.index(tok.id(BOT))
        assert enc.latent[b + 1:b + 4] == [True] * 3 and sum(enc.latent) == 3
        steps = [t for s in ex.steps[:-1] for t in (*s, tok.id("<sep>"))]
        assert enc.teacher.tokens == [tok.id("<bos>"), *ex.question, *steps, tok.id(ANSWER),
                                      *ex.answer, tok.id("<eos>")]
    batch = codi.collate(encoded)
    params = [*model.parameters(), *codi.module.parameters()]
    got = codi.loss_sum(model, batch)
    got_grads = torch.autograd.grad(got, params, allow_unused=True)
    want = reference_loss(model, codi, encoded, tok)
    want_grads = torch.autograd.grad(want, params, allow_unused=True)
    assert math.isclose(float(got.detach()), float(want.detach()), rel_tol=1e-4)
    for g, w in zip(got_grads, want_grads):
        if w is None:
            assert g is None or g.abs().max() == 0
            continue
        assert torch.allclose(g, w, atol=1e-4, rtol=1e-3)
    # an attached teacher would give the distillation a gradient through the teacher pass too
    codi_no_ce = get_method("codi", {"thoughts": 3, "teacher_weight": 0.0}, tok)
    codi_no_ce.module = codi.module
    only = torch.autograd.grad(codi_no_ce.loss_sum(model, batch), model.W_U)[0]
    ref = reference_loss(model, codi, encoded, tok)
    t_ce = sum(ce_sum(reference_pass(model, e.teacher.tokens, [False] * len(e.teacher),
                                     codi.module)[0], e.teacher.tokens, e.teacher.weights)
               for e in encoded)
    ref_only = torch.autograd.grad(ref - t_ce, model.W_U)[0]
    assert torch.allclose(only, ref_only, atol=1e-4, rtol=1e-3)
