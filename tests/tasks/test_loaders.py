"""Loaders for our JSONL, Coconut's JSON and iCoT's text lines; errors name file, line, field."""

import json

import pytest

from workbench.errors import UserError
from workbench.tasks.loaders import load_examples, load_file, write_jsonl

GSM_LINE = (
    "Tom has 600 apples and sells 30 percent of them, then buys 20. How many now?"
    "||<<600*30/100=180>> <<600-180=420>> <<420+20=440>> #### 440"
)


def test_icot_gsm_lines_give_steps_and_proofs_from_the_expressions(tmp_path):
    path = tmp_path / "gsm.txt"
    path.write_text(GSM_LINE + "\n\n" + "Half of 3?||<<3/2=1.5>> #### 1.5\n")
    examples = load_examples(path)
    assert [e["task"] for e in examples] == ["gsm", "gsm"]
    first = examples[0]
    assert first["steps"] == ["<<600*30/100=180>>", "<<600-180=420>>", "<<420+20=440>>"]
    assert first["answer"] == "440"
    assert first["proof"] == [
        {"expr": "600*30/100", "value": 180},
        {"expr": "600-180", "value": 420},
        {"expr": "420+20", "value": 440},
    ]
    assert examples[1]["proof"] == [{"expr": "3/2", "value": 1.5}]
    assert examples[1]["id"] == "gsm-000001"


def test_coconut_json_array_and_jsonl_load_the_same_examples(tmp_path, prosqa_sample):
    raw = json.loads(prosqa_sample.read_text())
    jsonl = tmp_path / "prosqa.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in raw))
    a = load_file(prosqa_sample)
    b = load_file(jsonl)
    assert (a.format, b.format) == ("json", "jsonl")
    assert a.derived_proofs == b.derived_proofs == 8
    strip = [{k: v for k, v in e.items() if k != "id"} for e in a.examples]
    assert strip == [{k: v for k, v in e.items() if k != "id"} for e in b.examples]


def test_a_written_file_reloads_identically_without_deriving_again(tmp_path, prosqa_sample):
    examples = load_examples(prosqa_sample)
    write_jsonl(tmp_path / "out.jsonl", examples)
    again = load_file(tmp_path / "out.jsonl")
    assert again.examples == examples and again.derived_proofs == 0


def good_lines(n=4):
    return [json.dumps({"question": f"q{i}?", "steps": ["<<1+1=2>>"], "answer": "2"})
            for i in range(n)]


@pytest.mark.parametrize(
    "edit,line,fragment",
    [
        (lambda ls: ls.__setitem__(2, '{"question": "q", "steps": [}'), 3, "invalid JSON"),
        (lambda ls: ls.__setitem__(1, json.dumps({"question": "q", "steps": []})), 2,
         "field 'answer': missing field"),
        (lambda ls: ls.__setitem__(3, json.dumps({"question": "q", "steps": "s", "answer": "1"})),
         4, "field 'steps': expected list"),
        (lambda ls: ls.__setitem__(1, "[1, 2]"), 2, "expected a JSON object"),
        (lambda ls: ls.__setitem__(2, json.dumps({"question": "q", "steps": ["bad"],
                                                  "answer": "1"})), 3, "field 'steps[0]'"),
    ],
)
def test_malformed_jsonl_names_file_line_and_field(tmp_path, edit, line, fragment):
    lines = good_lines()
    edit(lines)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as info:
        load_examples(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_json_array_errors_name_the_element(tmp_path, prosqa_sample):
    raw = json.loads(prosqa_sample.read_text())
    del raw[5]["answer"]
    path = tmp_path / "arr.json"
    path.write_text("[\n" + ",\n".join(json.dumps(e) for e in raw) + "\n]\n")
    with pytest.raises(UserError, match=r"arr.json:7: field '\[5\].answer': missing field"):
        load_examples(path)


def test_an_unknown_word_is_named_before_structural_problems(tmp_path, prosqa_sample):
    raw = json.loads(prosqa_sample.read_text())
    raw[1]["question"] = raw[1]["question"].replace("Every", "Each", 1)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in raw))
    with pytest.raises(UserError, match=r"p.jsonl:2: field 'question': unknown token 'Each'"):
        load_examples(path, check_vocab=True)
    with pytest.raises(UserError, match=r"p.jsonl:2: field 'question': the facts do not match"):
        load_examples(path)


def test_non_utf8_and_unrecognised_files(tmp_path):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(good_lines()[0].encode() + b"\n" + b'{"question": "caf\xe9"}\n')
    with pytest.raises(UserError, match=r"latin1.jsonl:2: not UTF-8"):
        load_examples(bad)
    prose = tmp_path / "notes.txt"
    prose.write_text("just some prose\n")
    with pytest.raises(UserError, match="unrecognised format"):
        load_examples(prose)


def test_icot_text_of_each_task_is_recognised_and_its_proofs_derived(tmp_path):
    from workbench.tasks import TASKS
    from workbench.tasks.base import generate_split
    from workbench.tasks.loaders import write_icot

    for name in ("chain", "mult", "prosqa", "prontoqa"):
        generated = list(generate_split(TASKS[name], "tiny", "train", 5, seed=0))
        path = tmp_path / f"{name}.txt"
        write_icot(path, generated)
        loaded = load_file(path)
        assert loaded.format == "icot" and loaded.derived_proofs == 5
        for ex, original in zip(loaded.examples, generated):
            assert ex["task"] == name
            assert (ex["steps"], ex["answer"], ex["proof"]) == (
                original["steps"], original["answer"], original["proof"])


def test_jsonl_streams_examples_before_a_later_bad_line(tmp_path, prosqa_sample):
    """Examples come one at a time: the first ones arrive before line 4's problem is read."""
    from workbench.tasks.loaders import iter_file

    raw = json.loads(prosqa_sample.read_text())[:3]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in raw) + "{broken\n")
    stream = iter_file(path)
    got = [next(stream)[:2] for _ in range(3)]
    assert [line for _, line in got] == [1, 2, 3]
    assert [e["question"] for e, _ in got] == [e["question"] for e in raw]
    with pytest.raises(UserError, match=r"s.jsonl:4: invalid JSON"):
        next(stream)


def test_pretty_printed_json_array_names_each_elements_first_line(tmp_path, prosqa_sample):
    raw = json.loads(prosqa_sample.read_text())[:6]
    text = json.dumps(raw, indent=2)
    path = tmp_path / "pretty.json"
    path.write_text(text)
    # independent: element k starts at the k-th line indented by exactly two spaces and "{"
    starts = [i for i, line in enumerate(text.splitlines(), start=1) if line == "  {"]
    assert load_file(path).lines == starts
    raw[4]["answer"] = 7
    path.write_text(json.dumps(raw, indent=2))
    with pytest.raises(UserError, match=rf"pretty.json:{starts[4]}: field '\[4\]"):
        load_examples(path)
