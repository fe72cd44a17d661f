"""``lwb train`` from a config file and ``lwb eval`` on a published Coconut file."""

import json

import pytest

from lwb.cli import main
from tests.conftest import DATA, assert_user_error, lwb


@pytest.fixture(scope="module")
def prosqa_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prosqa")
    config = root / "train.yaml"
    config.write_text("task: prosqa\npreset: tiny\nmethod: rim\nsize: nano\nsteps: 12\n"
                      "batch-size: 8\nblocks: 3\nlatency_examples: 0\nquiet: true\n")
    out = root / "run"
    assert main(["train", "--config", str(config), "--steps", "6", "--out", str(out),
                 "--threads", "1", "--n-ctx", "400"]) == 0
    return out


def test_flags_override_the_config_file_and_the_resolved_config_is_saved(prosqa_run):
    cfg = json.loads((prosqa_run / "config.json").read_text())
    assert cfg["train"]["steps"] == 6 and cfg["train"]["batch_size"] == 8
    assert cfg["method"] == {"name": "rim", "blocks": 3, "memory": 2, "stage1_fraction": 0.5,
                             "anneal": "relative", "reset_optimizer": True}
    assert cfg["task"]["name"] == "prosqa" and cfg["model"]["n_layers"] == 2


def test_eval_reads_a_coconut_array_without_proofs_and_reports_every_key(prosqa_run, tmp_path,
                                                                         capsys):
    out = tmp_path / "eval.json"
    assert main(["eval", str(prosqa_run), "--data", str(DATA / "prosqa_valid_sample.json"),
                 "--out", str(out), "--predictions", "--latency-examples", "2",
                 "--quiet"]) == 0
    result = json.loads(out.read_text())
    for key in ("accuracy", "n", "mean_generated_tokens", "mean_latent_steps", "ttft_ms",
                "latency_ms", "any_block_accuracy"):
        assert key in result, key
    assert result["n"] == 8 and result["mean_latent_steps"] == 3
    preds = result["predictions"]
    assert all(p["correct"] == (p["prediction"] == p["answer"]) for p in preds)
    assert result["accuracy"] == sum(p["correct"] for p in preds) / 8
    assert result["any_block_accuracy"] == sum(p["answer"] in p["readouts"] for p in preds) / 8
    # per depth: a file without task fields falls back to the number of steps
    full = json.loads((DATA / "prosqa_valid_sample.json").read_text())
    depth = [len(e["steps"]) for e in full]
    assert list(result["by_depth"]) == [str(d) for d in sorted(set(depth))]
    for d, row in result["by_depth"].items():
        mine = [p for p, x in zip(preds, depth) if str(x) == d]
        assert row["n"] == len(mine)
        assert row["accuracy"] == sum(p["correct"] for p in mine) / len(mine)
        assert row["any_block_accuracy"] == sum(p["answer"] in p["readouts"]
                                                for p in mine) / len(mine)
        assert row["ci"][0] <= row["accuracy"] <= row["ci"][1]
    assert "accuracy" in capsys.readouterr().out


def test_bad_config_file_and_unknown_token_are_one_line_errors(prosqa_run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: rim\nlearning_rate: 3\n")
    assert_user_error(lwb("train", "--config", bad, "--out", tmp_path / "x"),
                      "bad.yaml", "learning_rate")
    data = tmp_path / "chain.jsonl"
    data.write_text(json.dumps({"question": "a = 1. b = a + 2. What is b?",
                                "steps": ["<<a+2=3>>"], "answer": "3"}) + "\n")
    assert_user_error(lwb("eval", prosqa_run, "--data", data), f"{data}:1:", "unknown token")
    long = tmp_path / "long.jsonl"
    full = json.loads((DATA / "prosqa_valid_sample.json").read_text())[0]
    first = {k: full[k] for k in ("question", "steps", "answer")}
    first["question"] = " ".join([first["question"].rsplit(" Is ", 1)[0]] * 3) + " Is " + \
        first["question"].rsplit(" Is ", 1)[1]
    long.write_text(json.dumps(first) + "\n")
    assert_user_error(lwb("eval", prosqa_run, "--data", long),
                      f"{long}:1:", "context is 400")


def test_accuracy_by_depth_uses_the_tasks_depth_and_wilson_intervals():
    from lwb.results import wilson
    from workbench.inference import by_depth, depth_of
    from workbench.tasks import TASKS
    from workbench.tasks.base import generate_split

    reach = list(generate_split(TASKS["reach"], "tiny", "test", 6, seed=0))
    assert [depth_of(e) for e in reach] == [e["depth"] for e in reach]
    assert all(depth_of(e) == len(e["steps"]) + 1 for e in reach)  # not the number of steps
    assert depth_of({"question": "q", "steps": ["a", "b"], "answer": "x"}) == 2
    table = by_depth([3, 2, 3, 3], [True, False, False, True], any_block=[True, True, False, True])
    assert list(table) == ["2", "3"]
    assert table["3"]["n"] == 3 and table["3"]["accuracy"] == 2 / 3
    assert table["3"]["ci"] == list(wilson(2 / 3, 3))
    assert table["2"] == {"n": 1, "accuracy": 0.0, "ci": list(wilson(0.0, 1)),
                          "any_block_accuracy": 1.0}
