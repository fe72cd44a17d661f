"""Interventions on latent steps: exact where nothing should change, causal where it should."""

import json

import numpy as np
import pytest
import torch

from analyses.interventions import (
    Clean,
    Intervention,
    InterventionConfig,
    clean_run,
    derangement,
    intervene,
    run,
    step_columns,
    summarize,
    summarize_by_depth,
)
from tests.capture.conftest import make_run
from workbench.capture import CaptureConfig, capture, load_for_capture
from workbench.errors import UserError
from workbench.methods.base import collate
from workbench.rollout import Recorder
from workbench.store import open_store
from workbench.tasks import TASKS
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import write_jsonl

NEW = 4  # tokens decoded in the exactness tests (random models never stop on their own)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest (and most predictably next to other jobs) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def chain6(tmp_path_factory):
    path = tmp_path_factory.mktemp("iv-data") / "chain6.jsonl"
    write_jsonl(path, generate_split(TASKS["chain"], "tiny", "test", 6, seed=1))
    return path


@pytest.fixture(scope="module")
def random_runs(chain6, tmp_path_factory):
    """Randomly initialised runs (rim: 3 blocks of 4 tokens; coconut: 4 thoughts; pause: 3).
    A random model never emits <eos>, so decoding runs to the full answer budget."""
    root = tmp_path_factory.mktemp("iv-runs")
    return {m: make_run(root, "chain", m, chain6) for m in ("rim", "coconut", "pause")}


def loaded(run_dir, data, limit=None):
    r, method, examples = load_for_capture(CaptureConfig(run=str(run_dir), data=str(data),
                                                         limit=limit))
    return method, r.model, examples


def recorded(method, model, examples, interventions=None, **kw):
    """All-layer states of one batch, with or without interventions (4 tokens decoded)."""
    rec = Recorder(model.cfg.n_layers, len(examples))
    if interventions is None:
        preds = method.generate(model, examples, max_new=NEW, all_readouts=False, recorder=rec)
    else:
        preds = intervene(method, model, examples, interventions, recorder=rec, max_new=NEW,
                          **kw)
    return [p.answer for p in preds], rec.states()


def test_clean_states_are_the_states_capture_stores(random_runs, chain6, tmp_path):
    for method_name in ("rim", "coconut"):
        run_dir = random_runs[method_name]
        store_dir = tmp_path / method_name
        capture(CaptureConfig(run=str(run_dir), data=str(chain6), out=str(store_dir), limit=4,
                              per_token=True, quiet=True, batch_size=3))
        store = open_store(store_dir)
        method, model, examples = loaded(run_dir, chain6, limit=4)
        kind = "block" if method_name == "rim" else "thought"
        for layer in (0, 1):
            clean = clean_run(method, model, examples, layer=layer, batch_size=3, max_new=NEW)
            rows = [r for r in store.steps.with_format("numpy") if r["kind"] == kind]
            ids = [str(e.example["id"]) for e in examples]
            assert len(rows) == sum(len(s) for s in clean.states)
            for r in rows:
                got = clean.states[ids.index(r["example_id"])][r["step"]].numpy()
                want = r["resid_tokens"][:, layer].astype(np.float32)
                assert got.shape == want.shape
                assert np.abs(got - want).max() <= 2e-3 * max(1.0, np.abs(want).max())
    # A store names its run and dataset, so it can stand in for both.
    result = run(InterventionConfig(store=str(tmp_path / "rim"), out=str(tmp_path / "iv"),
                                    limit=2, kinds=["zero"], all_steps=False, n_boot=10,
                                    quiet=True))
    assert result["run"] == str(random_runs["rim"].resolve()) and result["steps"] == 3
    assert [r["step"] for r in result["results"]] == [0, 1, 2]


@pytest.mark.parametrize("method_name", ["rim", "coconut", "pause"])
def test_identity_and_self_swap_change_nothing_exactly(method_name, random_runs, chain6):
    method, model, examples = loaded(random_runs[method_name], chain6)
    answers, states = recorded(method, model, examples)
    n_steps = len(step_columns(method, examples[:1])[0])
    for layer in (0, 1):
        clean = clean_run(method, model, examples, layer=layer, max_new=NEW)
        assert [p.answer for p in clean.predictions] == answers
        for kind, donors in (("identity", None), ("swap", list(range(len(examples))))):
            got, after = recorded(method, model, examples,
                                  [Intervention(t, kind) for t in range(n_steps)],
                                  clean=clean, donors=donors)
            assert got == answers
            assert torch.equal(after, states), (kind, layer)  # every layer, every position


def test_zero_writes_zeros_at_every_token_of_the_step_and_nowhere_else(random_runs, chain6):
    method, model, examples = loaded(random_runs["rim"], chain6)
    _, states = recorded(method, model, examples)
    columns = step_columns(method, examples)
    assert [len(set(c)) for c in columns[0]] == [4, 4, 4]  # <b> <m> <m> </b>
    width = collate([method.prompt(e) for e in examples], 0).layout.shape[1]
    for layer in (1, 2):
        clean = clean_run(method, model, examples, layer=layer, max_new=NEW)
        _, after = recorded(method, model, examples, [Intervention(1, "zero")], clean=clean)
        for b, cols in enumerate(columns):
            block = list(cols[1])
            assert (after[b, block, layer] == 0).all()
            others = [c for c in range(width) if c not in block]  # the prompt's columns
            assert torch.equal(after[b, others, :layer], states[b, others, :layer])
            assert torch.equal(after[b, : block[0]], states[b, : block[0]])  # causal
            later = after[b, cols[2][0]:, layer:], states[b, cols[2][0]:, layer:]
            if layer < model.cfg.n_layers:  # block 3 reads block 2's state
                assert not torch.equal(*later)
            else:  # nothing reads the last layer's state of a block
                assert torch.equal(*later)


def test_swap_installs_the_donor_state_and_moves_later_thoughts(random_runs, chain6):
    method, model, examples = loaded(random_runs["coconut"], chain6)
    _, states = recorded(method, model, examples)
    columns = step_columns(method, examples)
    donors = derangement(len(examples), seed=3)
    clean = clean_run(method, model, examples, layer=1, max_new=NEW)
    _, after = recorded(method, model, examples, [Intervention(1, "swap")], clean=clean,
                        donors=donors)
    for i, d in enumerate(donors):
        here, there = columns[i][1][0], columns[d][1][0]
        assert torch.equal(after[i, here, 1], states[d, there, 1])
        assert torch.equal(after[i, columns[i][0][0]], states[i, columns[i][0][0]])
        nxt = columns[i][2][0]  # the next thought is computed from the swapped one
        assert not torch.allclose(after[i, nxt, 0], states[i, nxt, 0])


def test_noise_keeps_each_tokens_norm_and_depends_only_on_the_seed(random_runs, chain6):
    method, model, examples = loaded(random_runs["rim"], chain6)
    columns = step_columns(method, examples)
    clean = clean_run(method, model, examples, layer=1, max_new=NEW)
    _, a = recorded(method, model, examples, [Intervention(0, "noise")], clean=clean, seed=5)
    _, b = recorded(method, model, examples, [Intervention(0, "noise")], clean=clean, seed=5)
    _, c = recorded(method, model, examples, [Intervention(0, "noise")], clean=clean, seed=6)
    preds = intervene(method, model, examples, [Intervention(0, "noise")], clean=clean, seed=5,
                      batch_size=4, max_new=NEW)  # the noise does not depend on batching
    assert [p.answer for p in preds] == recorded(
        method, model, examples, [Intervention(0, "noise")], clean=clean, seed=5)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    for i, cols in enumerate(columns):
        cols0 = list(cols[0])
        new, old = a[i, cols0, 1], clean.states[i][0]
        assert torch.allclose(new.norm(dim=-1), old.norm(dim=-1), rtol=1e-5)
        cosine = torch.nn.functional.cosine_similarity(new, old, dim=-1)
        assert cosine.abs().max() < 0.6  # a fresh direction, not the state itself


def test_mean_ablation_writes_each_tokens_mean_clean_state(random_runs, chain6):
    method, model, examples = loaded(random_runs["rim"], chain6)
    columns = step_columns(method, examples)
    clean = clean_run(method, model, examples, layer=1, max_new=NEW)
    _, after = recorded(method, model, examples, [Intervention(2, "mean")], clean=clean)
    want = torch.stack([s[2] for s in clean.states]).mean(0)  # [4 tokens, d_model]
    for i, cols in enumerate(columns):
        assert torch.allclose(after[i, list(cols[2]), 1], want, atol=1e-6)


def test_summary_counts_flips_and_donor_following_on_a_planted_case():
    answers = ["a", "b", "c", "d"]
    clean = ["a", "b", "c", "x"]          # 3 of 4 right
    donors = [1, 0, 3, 2]
    #          follows donor ('b'), keeps own, follows donor ('x'), changed to 'q'
    intervened = ["b", "b", "x", "q"]
    s = summarize(answers, clean, intervened, donors=donors, n_boot=200)
    assert s["accuracy"] == 0.25 and s["accuracy_change"] == -0.5
    assert s["flip_rate"] == 0.75
    assert s["follows_donor"] == 0.5
    assert s["donor_different"] == 4 and s["follows_donor_when_different"] == 0.5
    lo, hi = s["accuracy_change_ci"]
    assert -1.0 <= lo <= -0.5 <= hi <= 0.0
    d = derangement(50, seed=0)
    assert sorted(d) == list(range(50)) and all(i != j for i, j in enumerate(d))
    assert d == derangement(50, seed=0) != derangement(50, seed=1)


def test_the_summary_per_depth_is_the_summary_of_each_depths_examples():
    answers, clean = ["a", "b", "c", "d", "e"], ["a", "b", "x", "d", "e"]
    intervened = ["a", "q", "x", "q", "q"]
    table = summarize_by_depth([3, 2, 3, 2, 2], answers, clean, intervened, n_boot=100)
    assert list(table) == ["2", "3"]
    two, three = table["2"], table["3"]
    assert (two["n"], two["clean_accuracy"], two["accuracy"]) == (3, 1.0, 0.0)
    assert two["accuracy_change"] == -1.0 and two["flip_rate"] == 1.0
    assert (three["n"], three["clean_accuracy"], three["accuracy"]) == (2, 0.5, 0.5)
    assert three["accuracy_change"] == 0.0 and three["flip_rate"] == 0.0
    want = summarize(["b", "d", "e"], ["b", "d", "e"], ["q", "q", "q"], n_boot=100)
    assert {k: two[k] for k in want} == want


def test_interventions_on_reach_are_reported_per_depth(tmp_path):
    data = tmp_path / "reach.jsonl"
    write_jsonl(data, generate_split(TASKS["reach"], "tiny", "test", 8, seed=0))
    examples = [json.loads(x) for x in data.read_text().splitlines()]
    run_dir = make_run(tmp_path, "reach", "coconut", data)
    out = run(InterventionConfig(run=str(run_dir), data=str(data), out=str(tmp_path / "iv"),
                                 kinds=["zero", "identity"], n_boot=20, quiet=True))
    assert out["example_depths"] == [e["depth"] for e in examples]
    depths = sorted({e["depth"] for e in examples})
    assert len(depths) == 2  # tiny: depths 2 and 3
    for row in out["results"]:
        assert list(row["by_depth"]) == [str(d) for d in depths]
        assert sum(v["n"] for v in row["by_depth"].values()) == out["n"]
        if row["kind"] == "identity":
            assert all(v["flip_rate"] == 0.0 for v in row["by_depth"].values())
    html = (tmp_path / "iv" / "interventions.html").read_text()
    assert "by example depth" in html


def test_methods_without_prompt_latents_and_bad_layers_are_refused(random_runs, chain6,
                                                                   tmp_path):
    nocot = make_run(tmp_path, "chain", "nocot", chain6)
    with pytest.raises(UserError, match="no latent steps"):
        run(InterventionConfig(run=str(nocot), data=str(chain6), out=str(tmp_path / "o")))
    for method_name, layer in (("rim", 3), ("coconut", 3)):  # nano has layers 0..2
        with pytest.raises(UserError, match="layer"):
            run(InterventionConfig(run=str(random_runs[method_name]), data=str(chain6),
                                   out=str(tmp_path / "o"), layer=layer))
    with pytest.raises(UserError, match="unknown intervention"):
        run(InterventionConfig(run=str(random_runs["rim"]), data=str(chain6),
                               out=str(tmp_path / "o"), kinds=["scramble"]))
    assert not (tmp_path / "o").exists()


def readouts_without_question(monkeypatch):
    """A planted RiM: readouts may not attend to the question, so the answer must flow through
    the memory blocks (the unmodified tiny RiM reads the question directly and ignores them)."""
    import workbench.rollout as rollout

    rule = rollout.allowed_keys

    def no_question(query, keys):
        blocked = query.readout[:, :, None] & (keys.level[:, None, :] == 0)
        return rule(query, keys) & ~blocked[:, None]

    monkeypatch.setattr(rollout, "allowed_keys", no_question)


def test_ablating_every_block_of_a_trained_rim_lowers_accuracy(monkeypatch, tmp_path):
    from tests.train.conftest import tiny_config
    from train.loop import train

    readouts_without_question(monkeypatch)
    data = tmp_path / "chain32.jsonl"
    write_jsonl(data, generate_split(TASKS["chain"], "tiny", "train", 32, seed=0))
    metrics = train(tiny_config(data, tmp_path / "rim", "rim", steps=200),
                    {"blocks": 2, "stage1_fraction": 0.3})
    assert metrics["test"]["accuracy"] >= 0.9
    out = tmp_path / "iv"
    result = run(InterventionConfig(run=str(tmp_path / "rim"), data=str(data), out=str(out),
                                    kinds=["zero", "identity"], n_boot=200, quiet=True))
    assert result["layer"] == 0 and result["hook"] == "blocks.0.hook_resid_pre"
    assert result["clean_accuracy"] == metrics["test"]["accuracy"]
    rows = {(r["step"], r["kind"]): r for r in result["results"]}
    assert set(rows) == {(s, k) for s in (0, 1, "all") for k in ("zero", "identity")}
    zero = rows[("all", "zero")]
    assert zero["accuracy"] <= result["clean_accuracy"] - 0.5
    assert zero["accuracy_change_ci"][1] < 0
    assert rows[("all", "identity")]["flip_rate"] == 0.0
    saved = json.loads((out / "interventions.json").read_text())
    assert saved["results"] == json.loads(json.dumps(result["results"]))
    html = (out / "interventions.html").read_text()
    assert "accuracy change vs clean" in html and "latent step" in html
    # After block 1 the blocks carry the example: a swap there carries the donor's answer.
    swap = run(InterventionConfig(run=str(tmp_path / "rim"), data=str(data), out=str(out),
                                  layer=1, kinds=["swap"], all_steps=True, n_boot=50,
                                  quiet=True))
    every = next(r for r in swap["results"] if r["step"] == "all")
    assert every["follows_donor_when_different"] >= 0.8
    assert every["flip_rate"] >= 0.5


def test_clean_mean_needs_one_shape():
    clean = Clean(0, [], [[torch.zeros(2, 3)], [torch.zeros(3, 3)]])
    with pytest.raises(UserError, match="token counts"):
        clean.mean(0)
