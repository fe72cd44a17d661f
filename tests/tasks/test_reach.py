"""Reach: the construction leaves no shortcut, the proof is the path, and the checker catches
every broken invariant."""

import dataclasses
import json
from collections import Counter

import pytest

from workbench.errors import UserError
from workbench.tasks import get_task, task_tokenizer
from workbench.tasks.base import generate_split, split_of
from workbench.tasks.reach import NAMES, PRESETS, ReachConfig, frontier, parse_question

TASK = get_task("reach")


def examples(preset: str, n: int, split: str = "train", seed: int = 0):
    return list(generate_split(TASK, preset, split, n, seed))


@pytest.fixture(scope="module")
def demo():
    return examples("demo", 700)


@pytest.fixture(scope="module")
def trees():
    """Trees without the padding (the preset pads them like ``padded``; the noise pairs are
    checked there), so every node belongs to one of the two components."""
    import random

    cfg = dataclasses.replace(PRESETS["trees"], pad=False)
    rng, out = random.Random(0), []
    while len(out) < 300:
        ex = TASK.generate(cfg, rng)
        if ex is not None:
            out.append(ex)
    return out


def indegree(graph):
    return Counter(t for _, t in graph.edges)


def test_the_path_from_the_root_through_the_steps_ends_at_the_answer(demo, trees):
    for ex in demo + trees:
        graph = parse_question(ex["question"])
        children = graph.children
        path = [ex["root"], *ex["steps"], ex["answer"]]
        assert all(b in children[a] for a, b in zip(path, path[1:]))
        assert len(ex["steps"]) == ex["depth"] - 1
        assert graph.depths()[ex["answer"]] == ex["depth"]
        assert ex["proof"] == [{"node": n, "depth": i + 1} for i, n in enumerate(ex["steps"])]


def test_candidates_are_indistinguishable_leaves_at_the_same_depth(demo, trees):
    for ex in demo + trees:
        graph = parse_question(ex["question"])
        inn, children = indegree(graph), graph.children
        decoy = next(c for c in ex["candidates"] if c != ex["answer"])
        assert decoy not in graph.depths(), "the decoy is unreachable from the root"
        decoy_root = next(v for v in graph.nodes if inn[v] == 0 and v != ex["root"])
        assert graph.__class__(decoy_root, [], graph.edges).depths()[decoy] == ex["depth"]
        for c in ex["candidates"]:
            assert inn[c] == 1 and not children.get(c)
        # the two components have the same degree sequence (one shape, named twice)
        reach = set(graph.depths())
        real = sorted((inn[v], len(children.get(v, []))) for v in reach)
        other = sorted((inn[v], len(children.get(v, []))) for v in graph.nodes - reach)
        assert real == other


def test_nothing_but_the_path_separates_the_answer_from_the_decoy(demo):
    """Order and names carry no signal: the answer is first half the time, every name is used as
    an answer, and depths are uniform over the preset's range."""
    first = sum(ex["candidates"][0] == ex["answer"] for ex in demo) / len(demo)
    assert 0.45 < first < 0.55
    answers = Counter(ex["answer"] for ex in demo)
    pool = PRESETS["demo"].names
    assert len(answers) == pool and max(answers.values()) < 3 * len(demo) / pool
    depths = Counter(ex["depth"] for ex in demo)
    cfg = PRESETS["demo"]
    assert sorted(depths) == list(range(cfg.min_depth, cfg.max_depth + 1))
    expected = len(demo) / len(depths)
    assert all(abs(c - expected) < 0.35 * expected for c in depths.values())
    # position of the answer's and the decoy's edge in the question: same distribution
    def edge_index(ex, node):
        return next(i for i, (_, t) in enumerate(ex["edges"]) if t == node) / len(ex["edges"])
    gap = sum(edge_index(ex, ex["answer"]) - edge_index(ex, next(
        c for c in ex["candidates"] if c != ex["answer"])) for ex in demo) / len(demo)
    assert abs(gap) < 0.05


def test_trees_branch_on_the_path_and_chains_do_not(demo, trees):
    for ex in demo:
        assert len(ex["edges"]) == 2 * ex["depth"]
        assert all(len(kids) == 1 for kids in parse_question(ex["question"]).children.values())
    branching = 0
    for ex in trees:
        cfg = PRESETS["trees"]
        assert len(ex["edges"]) == 2 * (ex["depth"] + cfg.side_nodes(ex["depth"]))
        children = parse_question(ex["question"]).children
        on_path = [ex["root"], *ex["steps"]]
        branching += sum(len(children[v]) > 1 for v in on_path) / len(on_path)
    assert branching / len(trees) > 0.3, "most forward steps must choose among children"


def test_the_frontier_is_the_bfs_layer_of_the_roots_component(trees):
    for ex in trees[:50]:
        graph = parse_question(ex["question"])
        depths = graph.depths()
        for k, node in enumerate(ex["steps"], start=1):
            sets = frontier(ex["question"], k)
            assert node in sets["frontier"]
            assert sets["frontier"] == {v for v, d in depths.items() if d == k}
            assert not sets["frontier"] & sets["reachable"]
            assert sets["unreachable"] == graph.nodes - set(depths)
            assert {c for c in ex["candidates"] if c != ex["answer"]} <= sets["unreachable"]


def test_generation_is_deterministic_split_safe_and_tokenizes(tmp_path):
    a, b = examples("demo", 50, "test", seed=3), examples("demo", 50, "test", seed=3)
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(a) != json.dumps(examples("demo", 50, "test", seed=4))
    assert all(split_of(ex["question"]) == "test" for ex in a)
    tok = task_tokenizer("reach")
    for ex in a:
        ids = tok.encode(ex["question"])
        assert len(ids) == 3 * len(ex["edges"]) + 4, "one token per node and per mark"
        assert tok.decode(tok.encode(ex["answer"])) == ex["answer"]


@pytest.mark.parametrize("field,edit,message", [
    ("answer", lambda ex: ex.__setitem__("answer", ex["candidates"][0]
                                         if ex["answer"] != ex["candidates"][0]
                                         else ex["candidates"][1]), "expected"),
    ("steps", lambda ex: ex["steps"].reverse(), "no edge"),
    ("depth", lambda ex: ex.__setitem__("depth", ex["depth"] + 1), "depth"),
    ("question", lambda ex: ex.__setitem__("question", ex["question"].replace(" |", "", 1)),
     "does not match"),
])
def test_check_names_the_broken_field(field, edit, message):
    ex = next(e for e in examples("demo", 20) if e["depth"] >= 4)
    TASK.check(ex)
    edit(ex)
    with pytest.raises(UserError, match=message) as info:
        TASK.check(ex)
    assert field in str(info.value)


def test_check_refuses_a_decoy_with_a_child_and_unequal_components():
    ex = examples("demo", 1)[0]
    decoy = next(c for c in ex["candidates"] if c != ex["answer"])
    spare = next(n for n in NAMES if n not in ex["question"].split())
    leaky = dict(ex, edges=[*ex["edges"], [decoy, spare]])
    from workbench.tasks.reach import _render
    leaky["question"] = _render(leaky["edges"], ex["candidates"], ex["root"])
    with pytest.raises(UserError, match="equal size"):
        TASK.check(leaky)


def test_presets_validate_their_sizes():
    with pytest.raises(UserError, match="names"):
        ReachConfig(max_depth=40)
    with pytest.raises(UserError, match="branches"):
        ReachConfig(branches=1.0)  # chains have no side nodes


def test_padded_questions_all_have_the_same_length_and_noise_joins_nothing():
    """The padded preset: every question lists the same number of edges whatever its depth (so
    its length does not tell the depth); the noise edges are pairs of fresh names joined to
    nothing, and the two components are exactly the demo's."""
    cfg = PRESETS["padded"]
    exs = examples("padded", 300)
    from workbench.tokenizer import split_words

    assert {len(split_words(ex["question"])) for ex in exs} == {3 * 16 + 4}
    assert sorted({ex["depth"] for ex in exs}) == list(range(cfg.min_depth, cfg.max_depth + 1))
    for ex in exs:
        TASK.check(ex)
        graph = parse_question(ex["question"])
        count = Counter(v for e in graph.edges for v in e)
        special = {ex["root"], *ex["candidates"]}
        noise = [(s, t) for s, t in graph.edges
                 if count[s] == count[t] == 1 and not {s, t} & special]
        real_edges = 2 * ex["depth"]
        assert len(graph.edges) - real_edges == cfg.noise_edges(ex["depth"])
        names = [v for e in graph.edges for v in e]
        assert len(names) == len(set(names)) + real_edges - 2  # only path nodes repeat
        assert len(noise) == cfg.noise_edges(ex["depth"])
    # a noise pair next to a component is not a component of equal size: the checker says so
    ex = next(e for e in exs if e["depth"] == 8)
    spare = [n for n in NAMES[:48] if n not in ex["question"].split()][:2]
    from workbench.tasks.reach import _render
    bad = dict(ex, edges=[*ex["edges"], [spare[0], ex["root"]]])
    bad["question"] = _render(bad["edges"], ex["candidates"], ex["root"])
    with pytest.raises(UserError, match="equal size"):
        TASK.check(bad)


def test_a_depth_curriculum_shortens_the_padding_with_the_deepest_open_depth():
    """Under ``--depth-warmup`` the padded preset pads to the deepest depth open at that step,
    so early batches are as short as the demo's shallow questions (the lookup is learned on
    short questions) and no batch's length tells the depth."""
    import random

    from train.data import depth_curriculum
    from workbench.tokenizer import split_words

    cfg = PRESETS["padded"]
    for step, deepest in ((0, 2), (2000, 5), (4000, 8)):
        early = depth_curriculum(cfg, step, 4000)
        assert early.max_depth == deepest
        rng = random.Random(step)
        exs = [TASK.generate(early, rng) for _ in range(60)]
        assert {len(split_words(ex["question"])) for ex in exs} == {3 * 2 * deepest + 4}
        assert {ex["depth"] for ex in exs} == set(range(2, deepest + 1))


def test_trees_are_padded_too_every_question_lists_24_edges():
    """The trees preset pads like ``padded``: depths 2–6 all list 2·(6 + 1 + 6 − 1) = 24 edges,
    and each example still passes the task's checker (two equal components, the path)."""
    cfg = PRESETS["trees"]
    exs = examples("trees", 200)
    assert cfg.pad and {len(ex["edges"]) for ex in exs} == {24}
    assert sorted({ex["depth"] for ex in exs}) == list(range(2, 7))
    for ex in exs:
        TASK.check(ex)
        path = [ex["root"], *ex["steps"], ex["answer"]]
        children = parse_question(ex["question"]).children
        assert all(b in children[a] for a, b in zip(path, path[1:]))
