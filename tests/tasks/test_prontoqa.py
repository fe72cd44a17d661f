"""ProntoQA: the answer follows from the facts, whatever the wording, and check catches lies."""

import copy
import re
from collections import deque

import pytest

from workbench.errors import UserError
from workbench.tasks import prontoqa
from workbench.tasks.base import generate_split, rng_for
from workbench.tokenizer import join_words, split_words

PRESETS = ("tiny", "demo", "paper")


def sample(preset, n, seed=0):
    rng = rng_for("prontoqa", preset, "train", seed)
    return [prontoqa.generate(prontoqa.PRESETS[preset], rng) for _ in range(n)]


def reason(question):
    """Follow the facts from the entity, using the question text only.

    Returns (entity, concepts the entity belongs to in BFS order with parents, truth of the query).
    """
    body, entity, neg, adjective = re.fullmatch(
        r"(.*) True or false: (\w+) is (not )?(\w+)\.", question).groups()
    isa, props, start = {}, {}, []
    for fact in re.findall(r"[^.]+\.", body):
        fact = fact.strip()
        if m := re.fullmatch(r"Every (\w+) is a (\w+)\.", fact):
            isa.setdefault(m[1], []).append(m[2])
        elif m := re.fullmatch(r"Every (\w+) is (not )?(\w+)\.", fact):
            props.setdefault(m[1], []).append((m[3], m[2] is None))
        elif m := re.fullmatch(rf"{entity} is a (\w+)\.", fact):
            start.append(m[1])
        else:
            raise AssertionError(f"unexpected fact {fact!r}")
    parent = {c: None for c in start}
    queue = deque(start)
    while queue:
        c = queue.popleft()
        for d in isa.get(c, []):
            if d not in parent:
                parent[d] = c
                queue.append(d)
    values = {v for c in parent for adj, v in props.get(c, []) if adj == adjective}
    assert len(values) == 1, "exactly one value of the property is derivable"
    value = values.pop()
    return entity, parent, value == (neg is None)


def test_same_seed_gives_the_same_examples_and_another_seed_different_ones():
    assert sample("demo", 40, seed=1) == sample("demo", 40, seed=1)
    first = [e["question"] for e in sample("demo", 40, seed=1)]
    assert first != [e["question"] for e in sample("demo", 40, seed=2)]


@pytest.mark.parametrize("preset", PRESETS)
def test_generated_examples_pass_check_and_their_proof_is_derivable(preset):
    hops = prontoqa.PRESETS[preset].hops
    for ex in sample(preset, 300):
        prontoqa.check(ex)
        assert ex["proof"] == prontoqa.derive_proof(ex)
        assert len(ex["steps"]) == hops + 1
        assert [r["node"] for r in ex["proof"][:-1]] == ex["chain"][1:]
        assert [r["depth"] for r in ex["proof"]] == list(range(1, hops + 2))
        assert ex["proof"][-1] == {"property": ex["property"], "value": ex["value"],
                                   "depth": hops + 1}


@pytest.mark.parametrize("preset", PRESETS)
def test_answer_and_steps_follow_from_the_facts_in_the_question(preset):
    for ex in sample(preset, 200):
        entity, parent, truth = reason(ex["question"])
        assert ex["answer"] == ("True" if truth else "False")
        previous = None
        for step in ex["steps"][:-1]:
            m = re.fullmatch(rf"{entity} is a (\w+)\.", step)
            assert m and m[1] in parent, "each step is a concept the entity belongs to"
            if previous is not None:
                assert parent[m[1]] == previous, "each step follows one 'Every X is a Y.' fact"
            previous = m[1]
        claim = f"{entity} is {'' if ex['value'] else 'not '}{ex['property']}."
        assert ex["steps"][-1] == claim


def test_the_distractor_states_the_opposite_value_of_the_same_adjective():
    for ex in sample("demo", 100):
        p = ex["property"]
        assert f"Every {ex['chain'][-1]} is {'' if ex['value'] else 'not '}{p}." in ex["question"]
        opposite = f"Every {ex['distractor'][-1]} is {'not ' if ex['value'] else ''}{p}."
        assert opposite in ex["question"]
        assert not set(ex["distractor"]) & set(ex["chain"])


def test_answers_are_balanced_and_independent_of_the_wording():
    examples = sample("demo", 600)
    share = sum(e["answer"] == "True" for e in examples) / len(examples)
    assert 0.42 < share < 0.58
    for negated in (True, False):
        subset = [e for e in examples if e["negated"] == negated]
        share = sum(e["answer"] == "True" for e in subset) / len(subset)
        assert 0.35 < share < 0.65, "the answer must not be readable off 'is not'"


@pytest.mark.parametrize("preset", PRESETS)
def test_text_is_canonical_and_inside_the_vocabulary(preset):
    vocab = set(prontoqa.vocabulary(prontoqa.PRESETS[preset]))
    for ex in sample(preset, 200):
        for text in [ex["question"], ex["answer"], *ex["steps"]]:
            assert join_words(split_words(text)) == text
            assert set(split_words(text)) <= vocab, set(split_words(text)) - vocab


def corrupt(ex, **changes):
    bad = copy.deepcopy(ex)
    bad.update(changes)
    return bad


def field_of(ex):
    with pytest.raises(UserError) as e:
        prontoqa.check(ex)
    return e.value.field


def test_check_names_the_field_that_is_wrong():
    ex = sample("demo", 1)[0]
    flipped = "False" if ex["answer"] == "True" else "True"
    assert field_of(corrupt(ex, answer=flipped)) == "answer"
    steps = list(ex["steps"])
    steps[1] = f"{ex['entity']} is a {ex['distractor'][0]}."
    assert field_of(corrupt(ex, steps=steps)) == "steps[1]"
    assert field_of(corrupt(ex, steps=ex["steps"][:-1], proof=ex["proof"][:-1])) == "steps"
    # Dropping a link of the chain from the question.
    link = f"Every {ex['chain'][0]} is a {ex['chain'][1]}. "
    assert link in ex["question"]
    assert field_of(corrupt(ex, question=ex["question"].replace(link, ""))) == "question"
    # Claiming the opposite value while the facts stay as they are.
    assert field_of(corrupt(ex, value=not ex["value"])) == "question"
    assert field_of(corrupt(ex, negated=not ex["negated"])) == "question"
    assert field_of(corrupt(ex, distractor=[ex["chain"][0]])) == "distractor"
    proof = copy.deepcopy(ex["proof"])
    proof[0]["depth"] = 7
    assert field_of(corrupt(ex, proof=proof)) == "proof"


def test_derive_proof_rejects_a_step_it_cannot_parse():
    ex = sample("tiny", 1)[0]
    with pytest.raises(UserError) as e:
        prontoqa.derive_proof(corrupt(ex, steps=[ex["steps"][0], "so it goes"]))
    assert e.value.field == "steps[1]"


def test_derive_proof_reads_coconut_style_paired_steps():
    steps = ["Max is an impus. Every impus is a rompus.", "Max is a rompus. Rompuses are not red.",
             "Max is not red."]
    assert prontoqa.derive_proof({"steps": steps}) == [
        {"node": "impus", "depth": 1}, {"node": "rompus", "depth": 2},
        {"property": "red", "value": False, "depth": 3},
    ]


def test_config_validation_names_the_field():
    with pytest.raises(UserError) as e:
        prontoqa.ProntoQAConfig(hops=0)
    assert e.value.field == "hops"
    with pytest.raises(UserError) as e:
        prontoqa.ProntoQAConfig(extra_facts=len(prontoqa.ADJECTIVES))
    assert e.value.field == "extra_facts"


def test_default_tiny_splits_can_be_generated():
    for split, n in prontoqa.TASK.default_sizes["tiny"].items():
        examples = list(generate_split(prontoqa.TASK, "tiny", split, n, seed=0))
        assert len({e["question"] for e in examples}) == n
