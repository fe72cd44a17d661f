"""ProsQA: the generator's structural invariants, its statistics, and the published format."""

import copy
import json
from collections import deque

import pytest

from workbench.errors import UserError
from workbench.tasks import prosqa
from workbench.tasks.base import generate_split, split_of
from workbench.tasks.loaders import load_examples


def reachable(ex, start):
    """Independent BFS distances over the example's edges."""
    children = {}
    for p, c in ex["edges"]:
        children.setdefault(p, []).append(c)
    dist, queue = {start: 0}, deque([start])
    while queue:
        u = queue.popleft()
        for v in children.get(u, []):
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def assert_invariants(ex):
    names = ex["idx_to_symbol"]
    parents_of = {c for _, c in ex["edges"]}
    out = {p for p, _ in ex["edges"]}
    assert all(p < c for p, c in ex["edges"]), "nodes are numbered in generation order"
    for v, name in enumerate(names):
        assert (name in prosqa.PEOPLE) == (v not in parents_of), "people are the sources"
        assert name in prosqa.PEOPLE or name in prosqa.CONCEPTS
        assert v in parents_of or v in out, "every node appears in a fact"
    assert ex["root"] in (0, 1) and names[ex["root"]] in prosqa.PEOPLE
    assert ex["target"] not in out and ex["neg_target"] not in out, "targets are leaves"
    from_root, from_other = reachable(ex, ex["root"]), reachable(ex, 1 - ex["root"])
    assert ex["target"] in from_root and ex["target"] not in from_other
    assert ex["neg_target"] in from_other and ex["neg_target"] not in from_root
    assert len(ex["steps"]) == from_root[ex["target"]], "steps follow a shortest path"
    leaves = [v for v in from_root if v not in out and v not in from_other]
    assert from_root[ex["target"]] == max(from_root[v] for v in leaves), "deepest exclusive leaf"
    sentences = ex["question"].split("? ")[0]
    for step in ex["steps"]:
        assert step in sentences
    assert [p["node"] for p in ex["proof"]] == [s.split()[-1].rstrip(".") for s in ex["steps"]]
    assert ex["proof"][-1]["node"] == names[ex["target"]]
    assert ex["answer"] == f"{names[ex['root']]} is a {names[ex['target']]}."


@pytest.mark.parametrize("preset,n", [("tiny", 200), ("demo", 200), ("paper", 300)])
def test_every_generated_example_satisfies_the_structural_invariants(preset, n):
    for ex in generate_split(prosqa.TASK, preset, "train", n, seed=3):
        assert_invariants(ex)
        prosqa.check(ex)


def test_paper_preset_matches_the_released_statistics():
    examples = list(generate_split(prosqa.TASK, "paper", "train", 1500, seed=0))
    stats = prosqa.statistics(examples)
    assert abs(stats["nodes (mean)"] - 23) <= 1.5
    assert 14 <= stats["nodes (min)"] and stats["nodes (max)"] <= 28
    assert abs(stats["edges (mean)"] - 36) <= 3
    shares = stats["path length share %"]
    for length, published in {"3": 41, "4": 44, "5": 13, "6": 2}.items():
        assert abs(shares.get(length, 0.0) - published) <= 6, (length, shares)
    assert set(shares) <= {"3", "4", "5", "6"}


def test_published_examples_pass_check_and_get_proofs_from_their_steps(prosqa_sample):
    examples = load_examples(prosqa_sample)
    assert len(examples) == 8 and {e["task"] for e in examples} == {"prosqa"}
    raw = json.loads(prosqa_sample.read_text())
    for ex, original in zip(examples, raw):
        for key, value in original.items():
            assert ex[key] == value, "published fields are kept unchanged"
        assert_invariants(ex)
    first = examples[0]
    assert first["steps"][0] == "Tom is a terpus."
    assert first["proof"] == [
        {"node": "terpus", "parent": "Tom", "depth": 1},
        {"node": "brimpus", "parent": "terpus", "depth": 2},
        {"node": "lempus", "parent": "brimpus", "depth": 3},
    ]


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda e: e.update(target=e["neg_target"]), "question"),
        (lambda e: e.update(answer="Tom is a wumpus."), "answer"),
        (lambda e: e["steps"].pop(), "steps"),
        (lambda e: e["edges"].append([e["target"], e["root"]]), "edges"),
        (lambda e: e.pop("idx_to_symbol"), "idx_to_symbol"),
        (lambda e: e["steps"].__setitem__(1, "Every lempus is a terpus."), "steps[1]"),
    ],
)
def test_check_names_the_field_of_a_broken_example(prosqa_sample, mutate, field):
    ex = copy.deepcopy(json.loads(prosqa_sample.read_text())[0])
    mutate(ex)
    with pytest.raises(UserError) as info:
        prosqa.check(ex)
    assert info.value.field == field


def test_generation_is_deterministic_and_splits_never_share_questions():
    a = list(generate_split(prosqa.TASK, "tiny", "train", 50, seed=1))
    b = list(generate_split(prosqa.TASK, "tiny", "train", 50, seed=1))
    c = list(generate_split(prosqa.TASK, "tiny", "train", 50, seed=2))
    assert a == b and a != c
    test = list(generate_split(prosqa.TASK, "tiny", "test", 50, seed=1))
    assert not {e["question"] for e in a} & {e["question"] for e in test}
    assert all(split_of(e["question"]) == "test" for e in test)
