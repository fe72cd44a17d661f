"""Zoo export: a run that started from another run's weights is exported with its lineage, and
the manifest's commands retrain it from scratch to the same weights."""

import json
import shlex

import pytest
import safetensors.torch
import torch

from lwb.cli import main
from lwb.zoo import export
from workbench.errors import UserError

TINY = ("--task reach --preset tiny --size nano --fresh --batch-size 8 --lr 3e-3 "
        "--warmup-steps 2 --eval-every 10000 --latency-examples 0 --n-eval 4 --quiet")


def lwb(command: str) -> None:
    argv = shlex.split(command)
    assert argv[0] == "lwb"
    main(argv[1:])


def weights(run) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(run / "model.safetensors")


@pytest.fixture()
def family(tmp_path, monkeypatch):
    """a: CoT from scratch; b: CoT continued from a; c: RiM from b."""
    monkeypatch.chdir(tmp_path)
    lwb(f"lwb train {TINY} --method cot --steps 3 --n-ctx 48 --out work/a")
    lwb(f"lwb train {TINY} --method cot --steps 2 --lr 1e-3 --n-ctx 48 --init-from work/a "
        "--out work/b")
    lwb(f"lwb train {TINY} --method rim --steps 2 --n-ctx 64 --init-from work/b --out work/c")
    return tmp_path


def test_commands_in_the_manifest_retrain_a_descendant_from_scratch(family):
    manifest = export([family / "work/b", family / "work/c"], family / "zoo")
    lineage = json.loads((family / "zoo/reach-tiny-rim/lineage.json").read_text())["runs"]
    assert [r["name"] for r in lineage] == ["a", "b"]
    assert [r["train"]["steps"] for r in lineage] == [3, 2]
    commands = manifest["runs"]["reach-tiny-rim"]["command"].split(" && ")
    assert len(commands) == 3
    assert "--init-from" not in commands[0]
    assert "--init-from runs/zoo/reach-tiny-rim.init0" in commands[1]
    assert "--init-from runs/zoo/reach-tiny-rim.init1" in commands[2]
    assert manifest["sha256"]["reach-tiny-rim/lineage.json"]
    for command in commands:
        lwb(command)
    rebuilt, original = weights(family / "runs/zoo/reach-tiny-rim"), weights(family / "work/c")
    assert rebuilt.keys() == original.keys()
    assert all(torch.equal(rebuilt[k], original[k]) for k in original)
    # the CoT continuation has a two-command lineage
    assert len(manifest["runs"]["reach-tiny-cot"]["command"].split(" && ")) == 2


def test_a_base_whose_weights_changed_is_not_recorded_as_the_ancestor(family):
    (family / "work/a/model.safetensors").write_bytes(
        (family / "work/b/model.safetensors").read_bytes())
    with pytest.raises(UserError, match="changed since") as e:
        export([family / "work/b"], family / "zoo")
    assert e.value.field == "init.weights_sha256"


def test_demo_retrain_rebuilds_a_lineage_training_a_shared_ancestor_once(family, monkeypatch):
    from lwb import demo

    export([family / "work/b", family / "work/c"], family / "zoo")
    monkeypatch.setattr(demo, "ZOO", family / "zoo")
    cfg = demo.DemoConfig(out=str(family / "again"), tasks=["reach-tiny"], retrain=True,
                          app=False, quiet=True)
    runs = demo.prepare_runs(cfg, family / "again")
    assert [r.name for r in runs] == ["reach-tiny-cot", "reach-tiny-rim"]
    ancestors = [p for p in (family / "again/.lineage").iterdir() if p.is_dir()]
    assert len(ancestors) == 1, "a trained once; b is reach-tiny-cot itself, reused for c"
    assert json.loads((ancestors[0] / "config.json").read_text())["train"]["steps"] == 3
    for name, original in (("reach-tiny-cot", "b"), ("reach-tiny-rim", "c")):
        rebuilt, want = weights(family / "again" / name), weights(family / "work" / original)
        assert all(torch.equal(rebuilt[k], want[k]) for k in want), name


def test_the_safety_layer_knows_every_file_a_zoo_run_may_hold():
    from lwb.zoo import FILES, OPTIONAL_FILES
    from workbench.safety import ZOO_ENTRIES

    assert set(FILES) | set(OPTIONAL_FILES) == ZOO_ENTRIES
