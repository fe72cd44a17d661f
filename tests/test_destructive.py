"""Destructive operations are safe by design (issue 17): ``--force`` replaces only a store lwb
wrote, output never aliases input, and every refusal is one line, exit 2, nothing deleted.

Each refusal below deleted or overwrote something before: ``lwb capture RUN --out RUN --force``
removed the run itself, ``--out RUNS_ROOT --force`` a whole runs root."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lwb.cli import main
from tests.capture.conftest import make_run
from tests.conftest import assert_user_error, lwb
from workbench.errors import UserError
from workbench.tasks import TASKS
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import write_jsonl


def tree(path: Path) -> dict[str, str]:
    """Every file and directory under ``path`` (links not followed) with its content's hash."""
    out = {}
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            out[rel] = "link:" + str(p.readlink())
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> dict[str, Path]:
    """root/runs/chain-rim (a run), root/data/chain.jsonl, root/other-runs/chain-rim (a runs
    root the input run is not in), root/notes/ (an unrelated directory), root/stores/s (a store
    lwb wrote)."""
    root = tmp_path_factory.mktemp("destructive")
    data = root / "data" / "chain.jsonl"
    write_jsonl(data, generate_split(TASKS["chain"], "tiny", "test", 6, seed=1))
    runs = root / "runs"
    run = make_run(runs, "chain", "rim", data)
    other = root / "other-runs"
    make_run(other, "chain", "rim", data, seed=1)
    notes = root / "notes"
    notes.mkdir()
    (notes / "thesis.tex").write_text("years of work\n")
    (notes / "figures").mkdir()
    (notes / "figures" / "f1.pdf").write_bytes(b"%PDF")
    store = root / "stores" / "s"
    assert main(["capture", str(run), "--data", str(data), "--out", str(store), "--limit", "3",
                 "--quiet"]) == 0
    return {"root": root, "data": data, "runs": runs, "run": run, "other": other,
            "notes": notes, "store": store}


def refused(capsys, argv: list[str], *fragments: str) -> str:
    """In-process ``lwb ARGV``: exit status 2 and one line on stderr naming every fragment."""
    assert main([str(a) for a in argv]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])
    return err[0]


def capture_argv(layout, out, *extra) -> list[str]:
    return ["capture", layout["run"], "--data", layout["data"], "--out", out, "--quiet", *extra]


# ---------------------------------------------------------------------------------- capture


def test_capture_force_onto_the_run_itself_is_refused_and_the_run_survives(layout):
    before = tree(layout["run"])
    proc = lwb(*capture_argv(layout, layout["run"], "--force"))  # the real entry point
    assert_user_error(proc, str(layout["run"]), "field 'out'", "is the input run")
    assert tree(layout["run"]) == before


def test_capture_force_onto_the_runs_root_holding_the_run_is_refused(layout, capsys):
    before = tree(layout["runs"])
    refused(capsys, capture_argv(layout, layout["runs"], "--force"), "holds the input run")
    assert tree(layout["runs"]) == before


def test_capture_force_onto_another_runs_root_is_refused(layout, capsys):
    """A directory of runs that the capture does not read: not a store, so not replaced."""
    before = tree(layout["other"])
    refused(capsys, capture_argv(layout, layout["other"], "--force"), "holds runs or stores",
            "nothing deleted")
    assert tree(layout["other"]) == before
    refused(capsys, capture_argv(layout, layout["other"] / "chain-rim", "--force"),
            "is a run directory", "nothing deleted")
    assert tree(layout["other"]) == before


def test_capture_force_onto_the_data_file_or_its_directory_is_refused(layout, capsys):
    before = tree(layout["data"].parent)
    refused(capsys, capture_argv(layout, layout["data"].parent, "--force"),
            "holds the input --data")
    refused(capsys, capture_argv(layout, layout["data"], "--force"), "is the input --data")
    assert tree(layout["data"].parent) == before


def test_capture_force_onto_an_unrelated_directory_with_files_is_refused(layout, capsys):
    before = tree(layout["notes"])
    refused(capsys, capture_argv(layout, layout["notes"], "--force"),
            "is not a trajectory store", "nothing deleted")
    assert tree(layout["notes"]) == before
    assert (layout["notes"] / "thesis.tex").read_text() == "years of work\n"


def test_a_store_holding_anything_else_is_not_replaced(layout, capsys, tmp_path):
    """A store's manifest alone does not make a directory replaceable: a file lwb did not
    write there (or a run inside it) stops --force."""
    import shutil

    store = tmp_path / "s"
    shutil.copytree(layout["store"], store)
    (store / "my-notes.txt").write_text("keep\n")
    before = tree(store)
    refused(capsys, capture_argv(layout, store, "--force"), "'my-notes.txt'",
            "nothing deleted")
    assert tree(store) == before
    (store / "my-notes.txt").unlink()
    shutil.copytree(layout["run"], store / "steps" / "a-run")
    before = tree(store)
    refused(capsys, capture_argv(layout, store, "--force"), "holds runs or stores")
    assert tree(store) == before


def test_the_run_spelled_differently_or_through_a_symlink_is_still_the_run(layout, capsys,
                                                                           monkeypatch):
    before = tree(layout["run"])
    monkeypatch.chdir(layout["root"])
    for spelling in ("./runs/chain-rim", "runs/../runs/chain-rim", "runs/chain-rim/",
                     "runs//chain-rim/."):
        refused(capsys, capture_argv(layout, spelling, "--force"), "is the input run")
    link = layout["root"] / "link-to-run"
    link.symlink_to(layout["run"], target_is_directory=True)
    try:
        refused(capsys, capture_argv(layout, link, "--force"), "is the input run")
        root_link = layout["root"] / "link-to-runs"
        root_link.symlink_to(layout["runs"], target_is_directory=True)
        refused(capsys, capture_argv(layout, root_link, "--force"), "holds the input run")
        assert link.is_symlink() and root_link.is_symlink()
    finally:
        link.unlink()
        (layout["root"] / "link-to-runs").unlink(missing_ok=True)
    assert tree(layout["run"]) == before


def test_a_symlink_to_a_store_is_not_replaced_through_the_link(layout, capsys, tmp_path):
    link = tmp_path / "store-link"
    link.symlink_to(layout["store"], target_is_directory=True)
    before = tree(layout["store"])
    refused(capsys, capture_argv(layout, link, "--force"), "symbolic link")
    assert tree(layout["store"]) == before and link.is_symlink()


def test_output_inside_the_run_is_refused_even_without_force(layout, capsys):
    before = tree(layout["run"])
    for inside in (layout["run"] / "checkpoints" / "s", layout["run"] / "my-store",
                   layout["run"] / "store" / "nested"):
        refused(capsys, capture_argv(layout, inside), "lies inside the input run",
                f"{layout['run']}/store")
    assert tree(layout["run"]) == before


def test_a_stray_directory_in_the_partial_place_is_not_deleted(layout, capsys, tmp_path):
    stray = tmp_path / ".fresh.partial"
    stray.mkdir()
    (stray / "mine.txt").write_text("keep\n")
    refused(capsys, capture_argv(layout, tmp_path / "fresh"), "temporary directory",
            "nothing deleted")
    assert (stray / "mine.txt").read_text() == "keep\n"
    assert not (tmp_path / "fresh").exists()


def test_a_store_lwb_wrote_is_replaced_with_force(layout, capsys, tmp_path):
    """The positive case: --force replaces a store (also at <run>/store, the layout's place)."""
    import shutil

    store = tmp_path / "s"
    shutil.copytree(layout["store"], store)
    (store / ".cache" / "projections").mkdir(parents=True)  # what projections adds
    (store / ".cache" / "projections" / "k.npz").write_bytes(b"x")
    assert json.loads((store / "manifest.json").read_text())["rows"]["examples"] == 3
    refused(capsys, capture_argv(layout, store, "--limit", "4"), "already exists",
            "pass --force")
    assert main([str(a) for a in capture_argv(layout, store, "--limit", "4", "--force")]) == 0
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["rows"]["examples"] == 4 and not (store / ".cache").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".s.lock", "s"]
    in_run = layout["run"] / "store"
    try:
        for _ in range(2):
            assert main([str(a) for a in capture_argv(layout, in_run, "--limit", "2",
                                                      "--force")]) == 0
        assert json.loads((in_run / "manifest.json").read_text())["rows"]["examples"] == 2
    finally:
        shutil.rmtree(in_run)
        (layout["run"] / ".store.lock").unlink(missing_ok=True)


# -------------------------------------------------------------------------------- analyses


def test_an_analysis_never_writes_into_its_store_a_run_or_a_file(layout, capsys, tmp_path):
    store = layout["store"]
    before_store, before_run = tree(store), tree(layout["run"])
    probes = ["analyze", "probes", store, "--target", "y_answer_correct", "--out"]
    refused(capsys, [*probes, store], "is the input store")
    refused(capsys, [*probes, store / "results"], "lies inside the input store")
    refused(capsys, [*probes, store.parent], "holds the input store")
    refused(capsys, [*probes, layout["run"]], "is a run directory")
    f = tmp_path / "a-file"
    f.write_text("keep\n")
    refused(capsys, [*probes, f], "is a file")
    lens = ["analyze", "lens", store, "--run", layout["run"], "--out"]
    refused(capsys, [*lens, layout["run"]], "is the input run")
    refused(capsys, [*lens, layout["run"] / "checkpoints"], "lies inside the input run",
            f"{layout['run']}/analyses")
    refused(capsys, ["analyze", "compare", layout["run"], "--out", layout["runs"]],
            "holds the input runs")
    assert tree(store) == before_store and tree(layout["run"]) == before_run
    assert f.read_text() == "keep\n"


# ------------------------------------------------------------------------------ data, results


def test_data_generate_never_replaces_a_directory_or_a_file_of_a_run_or_store(layout, capsys):
    before_run, before_store = tree(layout["run"]), tree(layout["store"])
    gen = ["data", "generate", "--task", "chain", "--preset", "tiny", "--n", "3", "--quiet",
           "--out"]
    refused(capsys, [*gen, layout["run"] / "config.json"], "lies in a run directory")
    refused(capsys, [*gen, layout["store"] / "manifest.json"], "lies in a trajectory store")
    refused(capsys, [*gen, layout["notes"]], "is a directory")
    assert tree(layout["run"]) == before_run and tree(layout["store"]) == before_store


def test_a_data_writer_never_replaces_its_input(layout, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(layout["data"].read_text())
    with pytest.raises(UserError, match="is the input file"):
        write_jsonl(tmp_path / "." / "in.jsonl", [], inputs={"file": src})
    assert src.read_text() == layout["data"].read_text()


def test_a_benchmark_result_never_replaces_a_file_of_a_run(layout, capsys):
    from workbench.io import print_json

    before = tree(layout["run"])
    with pytest.raises(UserError, match="lies in a run directory"):
        print_json({"x": 1}, layout["run"] / "metrics.json")
    assert tree(layout["run"]) == before


def test_results_never_write_into_a_run_it_reads(layout, tmp_path):
    from lwb.results import results

    before = tree(layout["run"])
    with pytest.raises(UserError, match="lies inside the input runs"):
        results([layout["run"]], layout["run"] / "RESULTS.md")
    assert tree(layout["run"]) == before


# ------------------------------------------------------------------------------ zoo, demo


def test_zoo_export_overwrites_only_a_zoo_it_made(layout, tmp_path):
    import shutil

    from lwb.zoo import export
    from workbench.runs import write_manifest

    run = tmp_path / "work" / "chain-rim"  # a run with the train settings the zoo records
    shutil.copytree(layout["run"], run)
    config = json.loads((run / "config.json").read_text())
    config["train"] = {"size": "nano", "seed": 0}
    (run / "config.json").write_text(json.dumps(config))
    write_manifest(run)
    before = tree(run)
    with pytest.raises(UserError, match="is the input runs"):
        export([run], run)
    with pytest.raises(UserError, match="holds the input runs"):
        export([run], run.parent)
    with pytest.raises(UserError, match="holds no MANIFEST.json"):
        export([run], layout["notes"])
    assert tree(run) == before
    zoo = tmp_path / "zoo"
    (zoo / "chain-tiny-rim" / "checkpoints").mkdir(parents=True)  # a training run, not a copy
    (zoo / "chain-tiny-rim" / "config.json").write_text("{}")
    (zoo / "MANIFEST.json").write_text("{}")
    before_zoo = tree(zoo)
    with pytest.raises(UserError, match="holds 'checkpoints'"):
        export([run], zoo)
    assert tree(zoo) == before_zoo
    shutil.rmtree(zoo / "chain-tiny-rim" / "checkpoints")
    (zoo / "chain-tiny-rim" / "lineage.json").write_text("{}")  # left by an earlier export
    export([run], zoo)  # a zoo run's files only: overwritten, the stale optional file removed
    assert sorted(p.name for p in (zoo / "chain-tiny-rim").iterdir()) == sorted(
        ["config.json", "model.safetensors", "tokenizer.json", "metrics.json", "log.jsonl",
         "manifest.json"])
    with pytest.raises(UserError, match="holds the input runs"):
        export([zoo / "chain-tiny-rim"], zoo)  # a run already in the zoo


def test_the_demo_never_fills_the_zoo_or_overwrites_a_run_it_did_not_copy(tmp_path,
                                                                          monkeypatch):
    from lwb import demo
    from workbench.safety import replaceable_entry

    zoo = tmp_path / "zoo"
    zoo.mkdir()
    monkeypatch.setattr(demo, "ZOO", zoo)
    for out, says in ((zoo, "is the input zoo"), (zoo / "demo", "lies inside the input zoo"),
                      (tmp_path, "holds the input zoo")):
        with pytest.raises(UserError, match=says):
            demo.run_demo(demo.DemoConfig(out=str(out), app=False, quiet=True))
    assert list(zoo.iterdir()) == [], "nothing made in the zoo"
    trained = tmp_path / "runs" / "chain-rim"
    (trained / "checkpoints").mkdir(parents=True)
    with pytest.raises(UserError, match="holds 'checkpoints'"):
        replaceable_entry(trained, what="copy of a zoo run")
    assert (trained / "checkpoints").is_dir()


# ------------------------------------------------------------------- eval, convert, train


def test_eval_out_never_replaces_its_data_or_a_run_file(layout, capsys, tmp_path):
    data = tmp_path / "copy.jsonl"
    data.write_bytes(layout["data"].read_bytes())
    before = tree(layout["run"])
    base = ["eval", layout["run"], "--data", data, "--limit", "2", "--quiet", "--out"]
    refused(capsys, [*base, tmp_path / "." / "copy.jsonl"], "is the input --data")
    refused(capsys, [*base, layout["run"] / "metrics.json"], "lies inside the input run")
    assert data.read_bytes() == layout["data"].read_bytes() and tree(layout["run"]) == before


def test_data_convert_onto_its_own_input_is_refused(layout, capsys, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(layout["data"].read_bytes())
    refused(capsys, ["data", "convert", src, "--out", tmp_path / "." / "in.jsonl"],
            "is the input file")
    assert src.read_bytes() == layout["data"].read_bytes()


def test_train_out_never_aliases_its_data_or_the_run_it_starts_from(layout, capsys, tmp_path):
    data = tmp_path / "d" / "train.jsonl"
    data.parent.mkdir()
    data.write_bytes(layout["data"].read_bytes())
    before_run, before_data = tree(layout["run"]), tree(data.parent)
    base = ["train", "--task", "chain", "--preset", "tiny", "--method", "nocot", "--size", "nano",
            "--steps", "1", "--quiet"]
    refused(capsys, [*base, "--train-data", data, "--out", data.parent], "holds the input")
    refused(capsys, [*base, "--init-from", layout["run"], "--out", layout["run"] / "again"],
            "lies inside the input --init-from")
    refused(capsys, [*base, "--init-from", layout["run"], "--out", layout["run"] / "."],
            "is the input --init-from")
    assert tree(layout["run"]) == before_run and tree(data.parent) == before_data


def test_a_checkpoint_save_deletes_only_checkpoints_it_wrote(tmp_path):
    import torch

    from train import checkpoint

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    run = tmp_path / "run"
    keep = run / "checkpoints" / "step-keepme"  # a name save never writes
    keep.mkdir(parents=True)
    (keep / "notes.txt").write_text("mine")
    foreign = run / "checkpoints" / "step-0000001"  # save's name, but someone else's files
    foreign.mkdir()
    (foreign / "analysis.ipynb").write_text("{}")
    checkpoint.save(run, 2, model, opt, {"elapsed_s": 0.0})
    checkpoint.save(run, 3, model, opt, {"elapsed_s": 0.0})
    assert (keep / "notes.txt").read_text() == "mine"
    assert (foreign / "analysis.ipynb").exists()
    assert not (run / "checkpoints" / "step-0000002").exists()  # its own older one is removed
    stray = run / "checkpoints" / ".step-0000004.partial"
    stray.mkdir()
    (stray / "data.bin").write_bytes(b"x")
    with pytest.raises(UserError, match="not a checkpoint lwb wrote"):
        checkpoint.save(run, 4, model, opt, {"elapsed_s": 0.0})
    assert (stray / "data.bin").exists() and checkpoint.latest(run).name == "step-0000003"
