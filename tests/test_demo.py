"""``lwb demo --quick --no-app``: the whole pipeline on tiny models, every artifact present and
readable, and a second run reuses everything."""

import json

from lwb.cli import main
from workbench.methods import METHODS
from workbench.runs import load_run
from workbench.store import open_store


def test_quick_demo_makes_every_artifact_and_reuses_them(tmp_path, capsys):
    root = tmp_path / "demo"
    assert main(["demo", "--quick", "--no-app", "--quiet", "--out", str(root)]) == 0
    table = capsys.readouterr().out
    files = []
    for method in METHODS:
        run = root / f"reach-{method}"  # the default group's task, on its tiny preset
        load_run(run)  # weights, tokenizer and config agree, checksums hold
        store = open_store(run / "store")
        assert len(store.examples) == 16
        analyses = ["probes", "alignment", "projections", "lens"]
        analyses += ["correctness"] if METHODS[method].readouts else []
        analyses += ["interventions"] if METHODS[method].latent else []
        for name in analyses:
            path = run / "analyses" / f"{name}.json"
            json.loads(path.read_text())
            files.append(path)
        assert f"reach-{method}" in table
    compare = json.loads((root / "compare" / "compare.json").read_text())
    assert len(compare["rows"]) == len(METHODS)
    assert "diagonality" in table and "correctness_auroc" in table
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert main(["demo", "--quick", "--no-app", "--quiet", "--out", str(root)]) == 0
    assert {f: f.stat().st_mtime_ns for f in files} == stamps, "finished steps are reused"
    # a comparison of another set of runs (a demo root from before a method was added) is redone
    from analyses.compare import CompareConfig
    from analyses.compare import run as compare_runs

    runs = [str(root / f"reach-{m}") for m in METHODS]
    compare_runs(CompareConfig(runs=runs[:2], out=str(root / "compare")))
    assert main(["demo", "--quick", "--no-app", "--quiet", "--out", str(root)]) == 0
    redone = json.loads((root / "compare" / "compare.json").read_text())
    assert [r["run"] for r in redone["rows"]] == runs
    # the captures hold the 16 questions of the tiny test split; asking for 8 is refused with a
    # one-line error from the worker process that found it (its file and field cross over)
    capsys.readouterr()
    assert main(["demo", "--quick", "--no-app", "--quiet", "--examples", "8", "--out",
                 str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "/store: field 'examples': this demo root's captures hold 16 test questions, not 8" \
        in err
    assert {f: f.stat().st_mtime_ns for f in files} == stamps, "nothing was rewritten"
    # --examples N captures the first N questions: a copy of one trained run, analysed afresh
    import shutil

    from lwb.demo import DemoConfig, capture_and_analyse

    fresh = tmp_path / "fresh"
    shutil.copytree(root / "reach-cot", fresh / "reach-cot",
                    ignore=shutil.ignore_patterns("store", "analyses"))
    capture_and_analyse(DemoConfig(out=str(fresh), quick=True, quiet=True, examples=12), fresh,
                        fresh / "reach-cot")
    small = open_store(fresh / "reach-cot" / "store")
    assert [r["example_id"] for r in small.examples] == [
        r["example_id"] for r in open_store(root / "reach-cot" / "store").examples][:12]
    assert json.loads((fresh / "reach-cot" / "analyses" / "lens.json").read_text())


def test_the_demo_picks_zoo_groups_by_task_and_preset():
    import pytest

    from lwb.demo import DemoConfig, _zoo_runs, zoo_groups
    from workbench.errors import UserError

    # reach's main models are trained on its padded chains (Task.zoo_preset), chain's on demo
    runs = {"reach-cot": ("reach", "padded"), "reach-rim": ("reach", "padded"),
            "reach-trees-cot": ("reach", "trees"), "chain-rim": ("chain", "demo")}
    manifest = {"runs": {n: {"task": t, "preset": p} for n, (t, p) in runs.items()}}
    assert zoo_groups(manifest) == {"reach": ["reach-cot", "reach-rim"],
                                    "reach-trees": ["reach-trees-cot"], "chain": ["chain-rim"]}
    assert _zoo_runs(DemoConfig(tasks=["reach-trees", "reach"]), manifest) == [
        "reach-trees-cot", "reach-cot", "reach-rim"]
    with pytest.raises(UserError, match="no 'prosqa' models; choose among chain, reach, "
                                        "reach-trees"):
        _zoo_runs(DemoConfig(tasks=["prosqa"]), manifest)


def test_retrain_trains_the_groups_asked_for_and_nothing_else(tmp_path, monkeypatch):
    """``lwb demo --retrain --tasks prosqa`` retrains the prosqa models with the zoo's recorded
    settings (the defect was that it silently retrained chain's)."""
    from lwb import demo

    trained = []
    monkeypatch.setattr(demo, "_train", lambda cfg, out, opts, options: trained.append(
        (out.name, opts["task"], opts["method"])))
    cfg = demo.DemoConfig(out=str(tmp_path / "runs"), tasks=["prosqa"], retrain=True,
                          app=False, quiet=True)
    runs = demo.prepare_runs(cfg, tmp_path / "runs")
    zoo = demo.verify_zoo()["runs"]  # the zoo's prosqa models, in the registry's order
    in_zoo = [m for m in demo.METHODS if f"prosqa-{m}" in zoo]
    assert len(in_zoo) >= 5
    assert [r.name for r in runs] == [f"prosqa-{m}" for m in in_zoo]
    assert {task for _, task, _ in trained} == {"prosqa"}
    assert {method for _, _, method in trained} == set(in_zoo)
