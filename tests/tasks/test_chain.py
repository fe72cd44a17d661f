"""Chain: shuffled assignments mod p, evaluated independently of the generator."""

import copy
import re

import pytest

from workbench.errors import UserError
from workbench.tasks import chain
from workbench.tasks.base import generate_split, rng_for
from workbench.tokenizer import join_words, split_words

PRESETS = ("tiny", "demo", "paper")


def sample(preset, n, seed=0):
    rng = rng_for("chain", preset, "train", seed)
    out = []
    while len(out) < n:
        ex = chain.generate(chain.PRESETS[preset], rng)
        if ex is not None:
            out.append(ex)
    return out


def solve(question, p):
    """Evaluate the question's statements from its text alone; returns (values, query)."""
    body, query = re.fullmatch(r"(.*) What is ([a-z])\?", question).groups()
    defs = {}
    for sentence in body.split(". "):
        var, rhs = sentence.rstrip(".").split(" = ")
        assert var not in defs, "each variable is assigned once"
        defs[var] = rhs.split()
    values = {}

    def value(v):
        if v not in values:
            rhs = defs[v]
            if len(rhs) == 1:
                values[v] = int(rhs[0])
            else:
                x, op, k = value(rhs[0]), rhs[1], int(rhs[2])
                values[v] = {"+": x + k, "-": x - k, "*": x * k}[op] % p
        return values[v]

    for v in defs:
        value(v)
    return values, query, defs


def test_same_seed_gives_the_same_examples_and_another_seed_different_ones():
    assert sample("demo", 40, seed=1) == sample("demo", 40, seed=1)
    first = [e["question"] for e in sample("demo", 40, seed=1)]
    assert first != [e["question"] for e in sample("demo", 40, seed=2)]


@pytest.mark.parametrize("preset", PRESETS)
def test_generated_examples_pass_check_and_their_proof_is_derivable(preset):
    cfg = chain.PRESETS[preset]
    for ex in sample(preset, 300):
        chain.check(ex)
        assert ex["proof"] == chain.derive_proof(ex)
        assert cfg.min_depth <= len(ex["steps"]) <= cfg.max_depth
        assert ex["modulus"] == cfg.modulus


@pytest.mark.parametrize("preset", PRESETS)
def test_answer_and_steps_follow_from_the_question_text(preset):
    p = chain.PRESETS[preset].modulus
    for ex in sample(preset, 200):
        values, query, defs = solve(ex["question"], p)
        assert ex["answer"] == str(values[query])
        # Walk back from the query to its literal: the steps are that chain, in order.
        chain_vars = [query]
        while len(defs[chain_vars[-1]]) == 3:
            chain_vars.append(defs[chain_vars[-1]][0])
        chain_vars = chain_vars[::-1]
        assert len(ex["steps"]) == len(chain_vars) - 1
        for step, src, var in zip(ex["steps"], chain_vars, chain_vars[1:]):
            _, op, k = defs[var]
            assert step == f"<<{src}{op}{k}={values[var]}>>"
        assert [r["var"] for r in ex["proof"]] == chain_vars[1:]
        assert [r["value"] for r in ex["proof"]] == [values[v] for v in chain_vars[1:]]
        if chain.PRESETS[preset].distractors:
            assert len(defs) > len(chain_vars), "distractor statements are present"
        else:
            assert len(defs) == len(chain_vars), "no distractors in this preset"


@pytest.mark.parametrize("preset", PRESETS)
def test_text_is_canonical_and_inside_the_vocabulary(preset):
    cfg = chain.PRESETS[preset]
    vocab = set(chain.vocabulary(cfg))
    assert chain.vocabulary(cfg) == chain.vocabulary(cfg)
    for ex in sample(preset, 200):
        for text in [ex["question"], ex["answer"], *ex["steps"]]:
            assert join_words(split_words(text)) == text
            assert set(split_words(text)) <= vocab, set(split_words(text)) - vocab


def test_the_paper_vocabulary_covers_the_smaller_presets():
    paper = set(chain.vocabulary(chain.PRESETS["paper"]))
    assert set(chain.vocabulary(chain.PRESETS["demo"])) <= paper
    assert set(chain.vocabulary(chain.PRESETS["tiny"])) <= paper


def test_a_step_splits_into_the_documented_words():
    assert split_words("<<a+4=7>>") == ["<<", "a", "+", "4", "=", "7", ">>"]
    assert join_words(split_words("c = a - 12.")) == "c = a - 12."


def corrupt(ex, **changes):
    bad = copy.deepcopy(ex)
    bad.update(changes)
    return bad


def field_of(ex):
    with pytest.raises(UserError) as e:
        chain.check(ex)
    return e.value.field


def test_check_names_the_field_that_is_wrong():
    ex = next(e for e in sample("demo", 50) if len(e["steps"]) >= 3)
    p = ex["modulus"]
    assert field_of(corrupt(ex, answer=str((int(ex["answer"]) + 1) % p))) == "answer"
    steps = list(ex["steps"])
    head, value = steps[1][:-2].rsplit("=", 1)
    steps[1] = f"{head}={(int(value) + 1) % p}>>"
    assert field_of(corrupt(ex, steps=steps)) == "steps[1]"
    assert field_of(corrupt(ex, steps=ex["steps"][:-1], proof=ex["proof"][:-1])) == "steps"
    program = copy.deepcopy(ex["program"])
    op_index = next(i for i, s in enumerate(program) if s[1] is not None)
    program[op_index][3] += 1
    assert field_of(corrupt(ex, program=program)) == "question"
    assert field_of(corrupt(ex, query="?")) == "query"
    proof = copy.deepcopy(ex["proof"])
    proof[0]["value"] += 1
    assert field_of(corrupt(ex, proof=proof)) == "proof"
    cyclic = [["a", "b", "+", 1], ["b", "a", "+", 1]]
    assert field_of(corrupt(ex, program=cyclic, query="a")) == "program"


def test_derive_proof_rejects_a_step_it_cannot_parse_or_place():
    ex = sample("tiny", 1)[0]
    with pytest.raises(UserError) as e:
        chain.derive_proof(corrupt(ex, steps=[ex["steps"][0], "<<a plus 4>>"]))
    assert e.value.field == "steps[1]"
    src = ex["proof"][0]["src"]
    absent = f"<<{src}+{chain.PRESETS['tiny'].modulus + 5}=0>>"  # no such statement
    with pytest.raises(UserError) as e:
        chain.derive_proof(corrupt(ex, steps=[absent]))
    assert e.value.field == "steps[0]"


def test_statements_are_shuffled_so_question_order_is_not_dependency_order():
    examples = sample("demo", 300)
    in_order = [chain.in_question_order(e) for e in examples]
    assert 0.05 < sum(in_order) / len(in_order) < 0.6
    # A statement may come before the one that defines its source.
    assert any(ex["question"].index(f"{s[0]} = ") < ex["question"].index(f"{s[1]} = ")
               for ex in examples for s in ex["program"] if s[1] is not None)


def test_variables_are_random_distinct_letters_and_operations_are_unique():
    examples = sample("paper", 200)
    assert len({e["query"] for e in examples}) > 15
    for ex in examples:
        names = [s[0] for s in ex["program"]]
        assert len(set(names)) == len(names)
        keys = [tuple(s[1:]) for s in ex["program"] if s[1] is not None]
        assert len(set(keys)) == len(keys)


def test_config_validation_names_the_field():
    with pytest.raises(UserError) as e:
        chain.ChainConfig(min_depth=3, max_depth=2)
    assert e.value.field == "min_depth"
    with pytest.raises(UserError) as e:
        chain.ChainConfig(ops=("/",))
    assert e.value.field == "ops"
    with pytest.raises(UserError) as e:
        chain.ChainConfig(max_depth=8, distractors=3)
    assert e.value.field == "distractors"


def test_default_tiny_splits_can_be_generated():
    for split, n in chain.TASK.default_sizes["tiny"].items():
        examples = list(generate_split(chain.TASK, "tiny", split, n, seed=0))
        assert len({e["question"] for e in examples}) == n
