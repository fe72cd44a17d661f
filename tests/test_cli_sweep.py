"""The command line's edge (issue 17): every numeric flag of every subcommand refuses a bad value
while the command line is parsed — one line naming the flag, exit status 2, no traceback — so no
command ever starts with a value that would crash it or quietly give a wrong result."""

from __future__ import annotations

import argparse
import json

import pytest

from lwb.cli import ANALYSES, build_parser, main
from workbench.errors import UserError

#: Each subcommand with the positional arguments it needs to reach its flags.
COMMANDS: dict[str, list[str]] = {
    "data generate": ["data", "generate"],
    "train": ["train"],
    "eval": ["eval", "RUN", "--data", "DATA"],
    "capture": ["capture", "RUN"],
    "models": ["models"],
    "demo": ["demo"],
    "app": ["app"],
    **{f"analyze {name}": ["analyze", name, "STORE"] for name in ANALYSES},
}
COMMANDS["analyze compare"] = ["analyze", "compare", "RUN"]

#: Values no numeric flag accepts.
ALWAYS_BAD = ["-1", "nan", "inf", "-inf", "1e400", "x", "2.5e"]
#: Flags where -1 has a meaning (every core; the last layer, counted from the end).
MINUS_ONE_OK = {"--n-jobs", "--workers@demo", "--layer@analyze projections"}
#: Flags where 0 has a meaning (off, none, the default, the embeddings, a seed).
ZERO_OK = {"--seed", "--data-seed", "--depth-warmup", "--warmup-steps", "--weight-decay",
           "--bucket", "--grad-clip", "--eval-every", "--checkpoint-every", "--latency-examples",
           "--min-lr-ratio", "--trajectories", "--shuffles", "--layer", "--layers",
           "--steps@analyze probes",
           "--max-latent-stage", "--min-dist", "--stage1-fraction", "--mix-prob",
           # iCoT: no smoothing, a CoT-free schedule; CODI: no dropout, a loss term off
           "--smoothing-lambda", "--max-cot-tokens", "--projection-dropout", "--distill-weight",
           "--teacher-weight"}


def subparser(argv: list[str]) -> argparse.ArgumentParser:
    parser = build_parser(argv)
    words = [w for w in argv if not w.startswith("-")][:2]
    p = parser
    for w in words:
        sub = next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or w not in sub.choices:
            break
        p = sub.choices[w]
    return p


def numeric_flags(argv: list[str]) -> list[str]:
    """Every option of the command whose value parses as a number (found, not listed)."""
    flags = []
    for action in subparser(argv)._actions:
        if not action.option_strings or action.type is None or action.choices:
            continue
        for text in ("1", "2"):  # a count starts at 1, folds at 2
            try:
                value = action.type(text)
            except (argparse.ArgumentTypeError, ValueError, TypeError):
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                flags.append(action.option_strings[0])
            break
    return flags


def refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as e:
        build_parser(argv).parse_args(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2, (argv, err)
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


CASES = [(cmd, flag) for cmd, argv in COMMANDS.items() for flag in numeric_flags(argv)]


def test_the_sweep_covers_every_subcommand_and_the_flags_of_the_report():
    commands = {cmd for cmd, _ in CASES}
    assert commands >= {"data generate", "train", "eval", "capture", "models", "demo", "app",
                        *(f"analyze {a}" for a in ANALYSES)}
    flags = {f"{cmd} {flag}" for cmd, flag in CASES}
    assert {"train --batch-size", "train --lr", "train --threads", "train --log-every",
            "train --steps", "eval --batch-size", "analyze probes --layers",
            "analyze probes --folds", "models --n-ctx"} <= flags
    assert len(CASES) > 60


@pytest.mark.parametrize("cmd,flag", CASES, ids=[f"{c}:{f}" for c, f in CASES])
def test_every_numeric_flag_refuses_bad_values_at_the_edge(cmd, flag, capsys):
    argv = COMMANDS[cmd]
    bad = list(ALWAYS_BAD)
    if flag in MINUS_ONE_OK or f"{flag}@{cmd}" in MINUS_ONE_OK:
        bad.remove("-1")
    if not (flag in ZERO_OK or f"{flag}@{cmd}" in ZERO_OK):
        bad.append("0")
    for value in bad:
        line = refused([*argv, f"{flag}={value}"], capsys)
        assert flag in line and repr(value) in line, line


@pytest.mark.parametrize("argv,fragment", [
    (["analyze", "probes", "S", "--folds", "1"], "greater than or equal to 2"),
    (["models", "--n-ctx", "100000000"], "less than or equal to 65536"),
    (["train", "--batch-size", "1e12"], "less than or equal to 1000000000"),
    (["train", "--steps", "2.5"], "integer"),
    (["app", "--port", "70000"], "less than or equal to 65535"),
    (["analyze", "projections", "S", "--n-components", "4"], "less than or equal to 3"),
    (["analyze", "probes", "S", "--n-jobs", "0"], "-1 for every core"),
])
def test_particular_bounds(argv, fragment, capsys):
    assert fragment in refused(argv, capsys)


def test_a_config_file_is_checked_like_the_flags_and_named(tmp_path, capsys):
    cases = {
        "zero.yaml": ("batch_size: 0\n", "field 'batch_size'"),
        "list.json": (json.dumps({"lr": [1]}), "field 'lr'"),
        "nan.json": ('{"lr": NaN}', "not a number JSON allows"),
        "deep.json": ("[" * 5000, "nested deeper than"),
        "deep.yaml": ("a: " + "[" * 5000, "nested too deeply"),
        "latin1.json": (b"{\"task\": \"\xe9\"}", "not UTF-8"),
        "method.yaml": ("pauses: -2\n", "field 'pauses'"),
        "name.yaml": ("task: [1, 2]\n", "field 'task'"),
    }
    for name, (text, fragment) in cases.items():
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err and fragment in err, err
    assert main(["train", "--config", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_configs_built_in_code_are_checked_too():
    from analyses.probes import ProbeConfig
    from train.config import TrainConfig
    from workbench.methods.rim import RiMOptions

    with pytest.raises(UserError, match="--batch-size"):
        TrainConfig(batch_size=0)
    with pytest.raises(UserError, match="--lr"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(UserError, match="--layers"):
        ProbeConfig(layers=[-1])
    with pytest.raises(UserError, match="--stage1-fraction"):
        RiMOptions(stage1_fraction=1.5)
    assert TrainConfig(batch_size=3, lr=1e-3).batch_size == 3


def test_a_layer_beyond_the_store_is_named_not_probed(tmp_path):
    from analyses.probes import ProbeConfig
    from analyses.probes import run as probe
    from tests.analyses.test_probes import LAYERS, synthetic

    synthetic(tmp_path / "store")
    with pytest.raises(UserError, match=rf"'--layers'.*99 is not a layer.*0\.\.{LAYERS}"):
        probe(ProbeConfig(store=str(tmp_path / "store"), out=str(tmp_path / "p"),
                          target="y_planted", layers=[1, 99], n_jobs=1))
    assert not (tmp_path / "p").exists()
