"""The fused forward computes what TransformerLens's forward computes, on the same weights.

Every comparison runs both engines through :func:`workbench.rollout.forward` (``fused=False``
forces TransformerLens's own forward) on a model whose every parameter, biases and LayerNorm
gains included, is drawn at random, so a parameter the fused path read wrongly or not at all
shows up as a difference.
"""

import random

import pytest
import torch

from workbench.fused import PreallocatedEntry, supports
from workbench.methods import get_method, tokenize
from workbench.models import build_model, model_config
from workbench.rollout import Layout, Rollout, forward
from workbench.tasks import TASKS, task_tokenizer
from workbench.tasks.base import generate_split

TOL = 1e-5


def random_model(size: str = "micro", vocab: int = 40, n_ctx: int = 96, act: str = "gelu"):
    torch.manual_seed(0)
    model = build_model({**model_config(size, vocab, n_ctx, seed=1), "act_fn": act})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def close(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max())


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_plain_logits_and_hidden_agree(act):
    model = random_model(act=act)
    assert supports(model)
    tokens = torch.randint(0, 40, (3, 50))
    layout = Layout.plain(tokens)
    fused, h_fused = forward(model, layout, want_hidden=True)
    ref, h_ref = forward(model, layout, want_hidden=True, fused=False)
    assert close(fused, ref) <= TOL and close(h_fused, h_ref) <= TOL
    # and both are TransformerLens's own logits, hooks and all
    assert close(ref, model(tokens)) <= TOL


def structured_layout() -> Layout:
    """Left and right padding, levels and readout tokens (RiM's rule), explicit positions."""
    torch.manual_seed(1)
    b, n = 4, 30
    tokens = torch.randint(0, 40, (b, n))
    real = torch.ones(b, n, dtype=torch.bool)
    real[0, :5] = False  # left padding
    real[1, -4:] = False  # right padding
    real[2, :2] = False
    real[2, -3:] = False
    level = torch.zeros(b, n, dtype=torch.long)
    level[:, 12:18], level[:, 18:24], level[:, 24:] = 1, 2, 3
    readout = torch.zeros(b, n, dtype=torch.bool)
    readout[:, [17, 23, 29]] = True
    pos = torch.cumsum(real.long(), 1).clamp(min=1) - 1
    return Layout(tokens, pos, level, readout, real)


def test_structured_attention_agrees_at_every_real_position():
    model = random_model()
    layout = structured_layout()
    assert not layout.is_causal()
    fused, _ = forward(model, layout)
    ref, _ = forward(model, layout, fused=False)
    assert close(fused[layout.real], ref[layout.real]) <= TOL
    # the rule matters here: plain causal attention would give other logits
    plain, _ = forward(model, Layout.plain(layout.tokens))
    assert close(plain[layout.real], ref[layout.real]) > 1e-2


def test_right_padding_takes_causal_attention_and_agrees():
    model = random_model()
    layout = Layout.plain(torch.randint(0, 40, (3, 20)))
    layout.real[0, 15:] = False
    layout.real[2, 8:] = False
    assert layout.is_causal()
    fused, _ = forward(model, layout)
    ref, _ = forward(model, layout, fused=False)
    assert close(fused[layout.real], ref[layout.real]) <= TOL


@pytest.mark.parametrize("grad", [True, False])
def test_kv_cached_passes_with_thoughts_agree(grad):
    """A left-padded prefix, then a thought spliced into some rows' embedding, then several
    tokens, then one: each engine through its own cache (the fused pass extends
    TransformerLens's cache format). Without gradients the cache is preallocated
    (:class:`PreallocatedEntry`), and TransformerLens's forward extends that one too."""
    torch.set_grad_enabled(grad)
    try:
        check_kv_cached_passes(grad)
    finally:
        torch.set_grad_enabled(True)


def check_kv_cached_passes(grad):
    model = random_model()
    s = structured_layout()
    layout = Layout(s.tokens, s.pos, torch.zeros_like(s.level), torch.zeros_like(s.readout),
                    s.real)
    rows = torch.tensor([True, False, True, True])
    results = {}
    for fused in (True, False):
        roll = Rollout(model, 4, "cpu")
        assert isinstance(roll.cache.entries[0], PreallocatedEntry) is not grad
        outs, hidden = [], None
        for a, b in ((0, 20), (20, 21), (21, 25), (25, 26)):
            thoughts = {"thoughts": hidden[:, -1], "thought_rows": rows} if a == 20 else {}
            logits, hidden = forward(model, layout[a:b], past=roll.past, cache=roll.cache,
                                     want_hidden=True, fused=fused, **thoughts)
            roll.past = layout[a:b] if roll.past is None else roll.past.cat(layout[a:b])
            outs.append(logits)
        results[fused] = torch.cat(outs, 1)
    real = layout.real[:, :26]
    assert close(results[True][real], results[False][real]) <= TOL


@pytest.mark.parametrize("name", ["cot", "rim", "coconut", "icot", "codi"])
def test_training_loss_and_gradients_agree(name, monkeypatch):
    """A method's whole training loss and every parameter's gradient, fused against
    TransformerLens (the fused path is what training runs). CODI's distillation reads every
    layer's residual stream, which the fused pass returns and TransformerLens's hooks grab."""
    tok = task_tokenizer("prosqa")
    examples = [tokenize(e, tok)
                for e in generate_split(TASKS["prosqa"], "demo", "test", 6, 0)]
    options = {"blocks": 3} if name == "rim" else {}
    method = get_method(name, options, tok)
    if hasattr(method, "resolve"):  # stage counts read from the data
        method.resolve(examples)
    n_ctx = max(method.max_length(e) for e in examples) + 8
    model = random_model("nano", len(tok), n_ctx)
    method.attach(model, seed=0)
    model.eval()  # CODI's projection has dropout: the same function on both paths
    stage = method.stages(100, 10)[-1]
    batch = method.collate([method.encode(e, stage, 0, random.Random(i))
                            for i, e in enumerate(examples)])
    grads, losses = {}, {}
    import workbench.rollout as rollout

    real_forward = rollout.forward
    for fused in (True, False):
        monkeypatch.setattr(rollout, "forward", lambda *a, fused_=fused, **k: real_forward(
            *a, **{**k, "fused": fused_}))
        for module in ("base", "codi"):  # the methods that call forward themselves
            monkeypatch.setattr(f"workbench.methods.{module}.forward", rollout.forward)
        model.zero_grad()
        if method.module is not None:
            method.module.zero_grad()
        loss = method.loss_sum(model, batch)
        loss.backward()
        losses[fused] = float(loss.detach())
        grads[fused] = {n: p.grad.clone() for n, p in model.named_parameters()}
        if method.module is not None:  # CODI's projection trains too
            grads[fused] |= {f"method.{n}": p.grad.clone()
                             for n, p in method.module.named_parameters()}
    assert abs(losses[True] - losses[False]) <= TOL * max(1.0, abs(losses[False]))
    for n in grads[True]:
        scale = max(1.0, float(grads[False][n].abs().max()))
        assert close(grads[True][n], grads[False][n]) <= TOL * scale, n


def test_hooks_always_take_transformer_lens():
    """A hook attached to the model (as interventions and capture attach them) must fire: the
    fused path is not taken then."""
    model = random_model()
    layout = Layout.plain(torch.randint(0, 40, (2, 10)))
    seen = []
    with model.hooks(fwd_hooks=[("blocks.1.hook_resid_post",
                                 lambda x, hook: seen.append(x.shape) or x * 0)]):
        zeroed, _ = forward(model, layout)
    assert seen == [(2, 10, 128)]
    clean, _ = forward(model, layout)
    assert close(zeroed, clean) > 1e-2


def test_unsupported_configuration_falls_back():
    model = build_model({**model_config("nano", 40, 32), "normalization_type": "RMS"})
    assert not supports(model)
    layout = Layout.plain(torch.randint(0, 40, (2, 10)))
    assert close(forward(model, layout)[0], model(layout.tokens)) <= TOL


def test_preallocated_entry_extends_grows_and_reshapes_rows_as_concatenation_does():
    """Appends write in place and return what concatenation returns; past the capacity the
    buffers grow; re-shaped rows (RiM's repeat_rows) keep their columns and room to append."""
    torch.manual_seed(0)
    entry = PreallocatedEntry(2, 4, 1, 3, "cpu", torch.float32)
    keys = torch.empty(2, 0, 1, 3)
    for n in (3, 1, 2):  # 6 columns: past the capacity of 4
        new_k, new_v = torch.randn(2, n, 1, 3), torch.randn(2, n, 1, 3)
        got_k, got_v = entry.append(new_k, new_v)
        keys = torch.cat([keys, new_k], 1)
        assert torch.equal(got_k, keys) and torch.equal(entry.past_keys, keys)
        assert torch.equal(got_v[:, -n:], new_v)
    index = torch.tensor([0, 0, 1, 1])
    entry.past_keys = entry.past_keys[index]
    entry.past_values = entry.past_values[index]
    assert torch.equal(entry.past_keys, keys[index])
    more = torch.randn(4, 1, 1, 3)
    got_k, _ = entry.append(more, more)
    assert torch.equal(got_k, torch.cat([keys[index], more], 1))
    entry.frozen = True  # a frozen entry returns the extension but keeps its length
    entry.append(more, more)
    assert entry.past_keys.shape[1] == 7
