"""Multiplication: byte-for-byte iCoT format, integer arithmetic checked independently."""

import copy

import pytest

from workbench.errors import UserError
from workbench.tasks import mult
from workbench.tasks.base import generate_split, rng_for
from workbench.tokenizer import join_words, split_words

PRESETS = ("tiny", "demo", "paper")

#: Lines copied verbatim from da03/implicit_chain_of_thought, data/4_by_4_mult/test_bigbench.txt
#: (lines 1 and 15: a zero multiplier digit) and data/5_by_5_mult/test_bigbench.txt (line 1).
ICOT_LINES = [
    "1 3 4 5 * 8 1 9 3||8 4 4 3 4 + 0 1 3 4 5 0 ( 8 5 7 7 9 0 ) + 0 0 9 7 8 8 4 "
    "( 8 5 6 5 8 9 4 ) + 0 0 0 3 9 2 6 1 #### 8 5 6 8 7 2 1 2",
    "6 1 3 7 * 0 7 5 1||0 0 0 0 0 + 0 2 1 2 1 5 ( 0 2 1 2 1 5 ) + 0 0 0 8 5 6 3 "
    "( 0 2 1 0 7 1 4 ) + 0 0 0 6 1 3 7 0 #### 0 2 1 6 8 4 1 1",
    "4 2 8 8 6 * 6 1 7 2 4||4 4 9 2 1 4 + 0 4 2 8 8 6 0 ( 4 8 1 1 0 1 1 ) + 0 0 8 6 7 1 8 4 "
    "( 4 8 9 7 7 2 9 4 ) + 0 0 0 8 4 6 7 3 1 ( 4 8 9 5 2 9 6 8 1 ) + 0 0 0 0 6 9 2 5 7 2 "
    "#### 4 8 9 5 8 8 9 3 9 2",
]


def sample(preset, n, seed=0):
    rng = rng_for("mult", preset, "train", seed)
    return [mult.generate(mult.PRESETS[preset], rng) for _ in range(n)]


def number(reversed_digits):
    """'8 4 4 3 4' -> 43448, independently of the module."""
    return int("".join(reversed_digits.split())[::-1])


def test_same_seed_gives_the_same_examples_and_another_seed_different_ones():
    assert sample("demo", 40, seed=1) == sample("demo", 40, seed=1)
    first = [e["question"] for e in sample("demo", 40, seed=1)]
    assert first != [e["question"] for e in sample("demo", 40, seed=2)]


@pytest.mark.parametrize("line", ICOT_LINES)
def test_examples_reproduce_published_icot_lines_exactly(line):
    question = line.split("||")[0]
    a_text, b_text = question.split(" * ")
    k = len(a_text.split())
    ex = mult.make_example(number(a_text), number(b_text), k)
    assert mult.to_icot_line(ex) == line
    mult.check(ex)
    # The loader's view of a published line (no task fields) derives the same proof.
    cot, answer = line.split("||")[1].split(" #### ")
    published = {"question": question, "steps": cot.split(" + "), "answer": answer}
    assert mult.derive_proof(published) == ex["proof"]


@pytest.mark.parametrize("preset", PRESETS)
def test_generated_examples_pass_check_and_their_proof_is_derivable(preset):
    for ex in sample(preset, 300):
        mult.check(ex)
        assert ex["proof"] == mult.derive_proof(ex)


@pytest.mark.parametrize("preset", PRESETS)
def test_answer_and_steps_are_correct_integer_arithmetic(preset):
    k = mult.PRESETS[preset].k
    for ex in sample(preset, 300):
        a_text, b_text = ex["question"].split(" * ")
        a, b = number(a_text), number(b_text)
        assert (a, b, k) == (ex["a"], ex["b"], ex["k"])
        assert 10 ** (k - 1) <= a < 10**k and 10 ** (k - 1) <= b < 10**k
        assert number(ex["answer"]) == a * b
        b_digits = [int(d) for d in b_text.split()]
        for i, step in enumerate(ex["steps"]):
            partial_text, _, rest = step.partition(" ( ")
            assert number(partial_text) == a * b_digits[i] * 10**i
            if rest:
                assert number(rest.removesuffix(" )")) == a * (b % 10 ** (i + 1))
            record = ex["proof"][i]
            assert record == {"digit": b_digits[i], "partial": a * b_digits[i] * 10**i,
                              "sum": a * (b % 10 ** (i + 1))}


@pytest.mark.parametrize("preset", PRESETS)
def test_step_widths_and_padding_follow_icot(preset):
    k = mult.PRESETS[preset].k
    for ex in sample(preset, 100):
        assert len(ex["question"].split()) == 2 * k + 1
        assert len(ex["answer"].split()) == 2 * k
        assert len(ex["steps"]) == k
        for i, step in enumerate(ex["steps"]):
            partial_text, _, rest = step.partition(" ( ")
            assert len(partial_text.split()) == k + 1 + i
            assert partial_text.split()[:i] == ["0"] * i, "the shift is written as leading zeros"
            assert bool(rest) == (0 < i < k - 1), "running sums only between first and last"
            if rest:
                assert len(rest.removesuffix(" )").split()) == k + 1 + i


@pytest.mark.parametrize("preset", PRESETS)
def test_text_is_canonical_and_inside_the_vocabulary(preset):
    vocab = set(mult.vocabulary(mult.PRESETS[preset]))
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
        mult.check(ex)
    return e.value.field


def test_check_names_the_field_that_is_wrong():
    ex = mult.make_example(5431, 3918, 4)
    assert field_of(corrupt(ex, answer="8 5 6 8 7 2 1 3")) == "answer"
    steps = list(ex["steps"])
    steps[1] = "0 1 3 4 5 0 ( 8 5 7 7 9 1 )"
    assert field_of(corrupt(ex, steps=steps)) == "steps[1]"
    assert field_of(corrupt(ex, steps=ex["steps"][:-1], proof=ex["proof"][:-1])) == "steps"
    assert field_of(corrupt(ex, a=5432)) == "question"
    assert field_of(corrupt(ex, b=39180)) == "b"
    assert field_of(corrupt(ex, k="4")) == "k"
    proof = copy.deepcopy(ex["proof"])
    proof[2]["sum"] += 1
    assert field_of(corrupt(ex, proof=proof)) == "proof"


def test_derive_proof_rejects_what_it_cannot_parse():
    ex = mult.make_example(12, 34, 2)
    with pytest.raises(UserError) as e:
        mult.derive_proof(corrupt(ex, steps=[ex["steps"][0], "0 4 ( 5"]))
    assert e.value.field == "steps[1]"
    with pytest.raises(UserError) as e:
        mult.derive_proof(corrupt(ex, steps=ex["steps"] + ["0 0 0"]))
    assert e.value.field == "steps[2]"
    with pytest.raises(UserError) as e:
        mult.derive_proof(corrupt(ex, question="12 * 34"))
    assert e.value.field == "question"


def test_config_validation_names_the_field():
    with pytest.raises(UserError) as e:
        mult.MultConfig(k=1)
    assert e.value.field == "k"


def test_default_tiny_splits_can_be_generated():
    for split, n in mult.TASK.default_sizes["tiny"].items():
        examples = list(generate_split(mult.TASK, "tiny", split, n, seed=0))
        assert len({e["question"] for e in examples}) == n
