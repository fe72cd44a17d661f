"""The ``lwb`` command line as users meet it: help, one-line errors, generate → inspect."""

import json

from lwb.cli import main
from tests.conftest import assert_user_error, lwb


def test_help_lists_every_subcommand_with_a_line_of_help(capsys):
    assert lwb("--help").returncode == 0
    out = lwb("--help").stdout
    for command in ("data", "models", "demo"):
        assert any(line.split()[:1] == [command] and len(line.split()) > 1
                   for line in out.splitlines()), command
    out = lwb("data", "--help").stdout
    for command in ("generate", "inspect", "validate", "convert"):
        assert any(line.split()[:1] == [command] for line in out.splitlines()), command
    generate_help = lwb("data", "generate", "--help").stdout
    assert "the same seed gives a byte-identical file" in " ".join(generate_help.split())


def test_bad_arguments_are_one_line_errors_with_status_2():
    assert_user_error(lwb("data", "generate", "--task", "sudoku", "--n", "3"), "sudoku")
    assert_user_error(lwb("data", "generate", "--n", "many"), "--n", "valid integer")
    assert_user_error(lwb("nonsense"), "invalid choice")
    assert_user_error(lwb("data", "inspect", "/no/such/file.jsonl"), "/no/such/file.jsonl",
                      "file not found")


def test_bad_json_on_line_3_exits_2_naming_file_and_line_and_writes_nothing(tmp_path):
    good = json.dumps({"question": "q?", "steps": ["<<1+1=2>>"], "answer": "2"})
    src = tmp_path / "in.jsonl"
    src.write_text(f"{good}\n{good}\n{{broken\n{good}\n")
    out = tmp_path / "out.jsonl"
    for command in (["validate", src], ["inspect", src], ["convert", src, "--out", out]):
        assert_user_error(lwb("data", *command), f"{src}:3:", "invalid JSON")
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_unknown_token_exits_2_naming_line_and_field(tmp_path, prosqa_sample):
    raw = json.loads(prosqa_sample.read_text())
    raw[2]["steps"][1] = raw[2]["steps"][1].replace("Every", "Every single")
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in raw))
    proc = lwb("data", "validate", src, "--task", "prosqa")
    assert_user_error(proc, f"{src}:3:", "steps[1]")


def test_generate_then_inspect_reports_the_file_statistics(tmp_path, capsys):
    out = tmp_path / "chain.jsonl"
    assert main(["data", "generate", "--task", "chain", "--preset", "tiny", "--n", "40",
                 "--seed", "5", "--out", str(out), "--quiet"]) == 0
    assert f"wrote 40 examples to {out}" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert len(lines) == 40
    assert main(["data", "inspect", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    steps = [len(json.loads(line)["steps"]) for line in lines]
    assert rows["examples"] == 40 and rows["task"] == "chain (40)"
    assert rows["steps (max)"] == max(steps)
    assert abs(rows["steps (mean)"] - sum(steps) / 40) < 1e-9
    assert main(["data", "validate", str(out)]) == 0
    assert "40 examples valid (chain; jsonl), 0 proofs derived" in capsys.readouterr().out


def test_same_seed_gives_a_byte_identical_file(tmp_path):
    for task in ("prosqa", "prontoqa", "chain", "mult"):
        paths = []
        for name, seed in (("a", 1), ("b", 1), ("c", 2)):
            paths.append(tmp_path / f"{task}-{name}.jsonl")
            assert main(["data", "generate", "--task", task, "--preset", "tiny", "--n", "30",
                         "--seed", str(seed), "--out", str(paths[-1]), "--quiet"]) == 0
        a, b, c = (p.read_bytes() for p in paths)
        assert a == b and a != c, task


def test_convert_writes_icot_text_that_loads_back_to_the_same_steps(tmp_path, capsys):
    src = tmp_path / "mult.jsonl"
    main(["data", "generate", "--task", "mult", "--preset", "tiny", "--n", "10", "--out",
          str(src), "--quiet"])
    dst = tmp_path / "mult.txt"
    assert main(["data", "convert", str(src), "--out", str(dst), "--format", "icot"]) == 0
    assert main(["data", "convert", str(dst), "--out", str(tmp_path / "back.jsonl")]) == 0
    before = [json.loads(x) for x in src.read_text().splitlines()]
    after = [json.loads(x) for x in (tmp_path / "back.jsonl").read_text().splitlines()]
    for x, y in zip(before, after):
        assert (y["question"], y["steps"], y["answer"], y["proof"]) == (
            x["question"], x["steps"], x["answer"], x["proof"])
        assert y["task"] == "mult"
