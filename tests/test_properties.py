"""Property-based tests: any bytes, any JSON, any text → a result or a one-line UserError."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import UserError
from workbench.tasks import TASKS, task_tokenizer
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import load_file, write_icot, write_jsonl
from workbench.tokenizer import join_words, split_words

SETTINGS = settings(max_examples=60, deadline=2000,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def load_or_user_error(path):
    try:
        return load_file(path)
    except UserError as e:
        text = str(e)
        assert "\n" not in text and str(path) in text, text
        return None


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_load_or_fail_with_a_one_line_error(tmp_path, data):
    path = tmp_path / "blob.jsonl"
    path.write_bytes(data)
    load_or_user_error(path)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)


@SETTINGS
@given(records=st.lists(st.dictionaries(
    st.sampled_from(["question", "steps", "answer", "proof", "task", "id", "edges", "extra"]),
    JSONISH, max_size=6), min_size=1, max_size=4))
def test_wrong_types_missing_and_extra_fields_are_named(tmp_path, records):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    try:
        load_file(path)
    except UserError as e:
        assert e.file == str(path) and e.line is not None


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_encodes_or_names_the_unknown_word(text):
    tok = task_tokenizer("chain")
    try:
        ids = tok.encode(text)
    except UserError as e:
        assert "unknown token" in str(e)
        return
    assert join_words(split_words(tok.decode(ids))) == tok.decode(ids)


@SETTINGS
@given(seed=st.integers(0, 10_000), task=st.sampled_from(sorted(TASKS)))
def test_generated_examples_round_trip_through_jsonl_and_icot(tmp_path, seed, task):
    examples = list(generate_split(TASKS[task], "tiny", "train", 3, seed))
    write_jsonl(tmp_path / "a.jsonl", examples)
    assert load_file(tmp_path / "a.jsonl").examples == examples
    write_icot(tmp_path / "a.txt", examples)
    back = load_file(tmp_path / "a.txt").examples
    for x, y in zip(examples, back):
        assert (x["question"], x["steps"], x["answer"], x["proof"]) == (
            y["question"], y["steps"], y["answer"], y["proof"])
    tok = task_tokenizer(task)
    for ex in examples:
        for text in (ex["question"], ex["answer"], *ex["steps"]):
            assert tok.decode(tok.encode(text)) == text


def test_a_huge_line_is_read_without_a_hang(tmp_path):
    path = tmp_path / "huge.jsonl"
    big = {"question": "a " * 2_000_000, "steps": [], "answer": "b"}
    path.write_text(json.dumps(big) + "\n{broken\n")
    try:
        load_file(path)
    except UserError as e:
        assert e.line == 2
