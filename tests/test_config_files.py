"""One config file format for every command that takes options, and method options that keep
each method's own defaults."""

from __future__ import annotations

import json

import pytest

from lwb.cli import build_parser, main
from workbench.tasks.loaders import load_examples


def leaves(parser, path=()):
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from leaves(child, (*path, name))


COMMANDS = ["data", "train", "eval", "capture", "analyze", "compare", "results", "experiment",
            "models", "demo", "app"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_with_options_takes_a_config_file(command):
    parser = build_parser([command])
    for path, leaf in leaves(parser):
        if not path or path[0] != command:
            continue
        options = [a for a in leaf._actions if a.option_strings and a.dest != "help"]
        if options:
            assert "--config" in leaf._option_string_actions, " ".join(path)


def test_a_config_file_gives_defaults_that_flags_override(tmp_path, capsys):
    cfg = tmp_path / "gen.yaml"
    cfg.write_text("task: reach\npreset: tiny\nn: 7\nseed: 3\nquiet: true\n")
    out = tmp_path / "a.jsonl"
    assert main(["data", "generate", "--config", str(cfg), "--out", str(out)]) == 0
    first = load_examples(out)
    assert len(first) == 7 and {e["task"] for e in first} == {"reach"}
    out2 = tmp_path / "b.jsonl"
    assert main(["data", "generate", "--config", str(cfg), "--n", "3", "--out", str(out2)]) == 0
    second = load_examples(out2)
    assert [e["question"] for e in second] == [e["question"] for e in first[:3]]  # same seed


@pytest.mark.parametrize("content, field, words", [
    ({"n": -2}, "n", "greater than 0"),
    ({"n": "many"}, "n", "many"),
    ({"quiet": "yes"}, "quiet", "true or false"),
    ({"split": "holdout"}, "split", "holdout"),
    ({"bogus": 1}, "bogus", "unknown option"),
    ({"n": [1, 2]}, "n", "single value"),
])
def test_a_bad_config_value_is_one_line_naming_the_file_and_key(tmp_path, capsys, content,
                                                                 field, words):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps(content))
    code = main(["data", "generate", "--config", str(cfg), "--out", str(tmp_path / "x.jsonl")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(cfg) in err and field in err and words in err
    assert not (tmp_path / "x.jsonl").exists()


def test_analysis_commands_read_config_files_too(tmp_path, capsys):
    cfg = tmp_path / "probes.json"
    cfg.write_text(json.dumps({"n_boot": 0}))
    code = main(["analyze", "probes", "--config", str(cfg), "--store", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "n_boot" in err and str(cfg) in err


def test_a_shared_method_option_keeps_each_methods_own_default():
    """``reset_optimizer`` is an option of Coconut and of RiM: a flag not given must leave each
    method its own default, never the first method's."""
    parser = build_parser(["train"])
    args = parser.parse_args(["train", "--method", "rim", "--out", "r"])
    assert not hasattr(args, "reset_optimizer")
    assert not hasattr(args, "epochs_per_stage")
    args = parser.parse_args(["train", "--method", "rim", "--out", "r", "--no-reset-optimizer"])
    assert args.reset_optimizer is False
