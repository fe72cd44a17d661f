"""A tiny iCoT and a tiny CODI go through every floor: they train, resume bit for bit after a
SIGKILL, evaluate, capture and analyse; a one-position method's alignment reads layer × proof
step (a planted staircase is found)."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.torch
import torch

from analyses.alignment import AlignmentConfig
from analyses.alignment import run as align
from lwb.cli import main
from tests.train.conftest import tiny_config
from tests.train.test_resume import flags
from train.loop import train
from workbench.store import open_store, write_store

OPTIONS = {"icot": {"remove_per_stage": 2, "epochs_per_stage": 1},
           "codi": {"thoughts": 2, "projection_dim": 16}}


def option_flags(options):
    return [x for k, v in options.items() for x in ("--" + k.replace("_", "-"), str(v))]


@pytest.mark.parametrize("method", ["icot", "codi"])
def test_a_killed_run_resumes_bit_for_bit_then_evaluates_captures_and_analyses(
        method, tiny_chain, tmp_path, capsys):
    # batches of 8 of 32 examples: 4 steps an epoch; iCoT's stages are 4 steps long
    common = dict(steps=48, batch_size=8, checkpoint_every=5)
    reference = tiny_config(tiny_chain, tmp_path / "reference", method, **common)
    train(reference, OPTIONS[method])

    killed = tiny_config(tiny_chain, tmp_path / "killed", method, **common)
    args = [sys.executable, "-m", "lwb.cli", "train", *flags(killed),
            *option_flags(OPTIONS[method])]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pointer = tmp_path / "killed" / "checkpoints" / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pointer.exists() and json.loads(pointer.read_text())["step"] >= 10:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert 10 <= json.loads(pointer.read_text())["step"] < 48
    train(tiny_config(tiny_chain, tmp_path / "killed", method, resume=True, **common),
          OPTIONS[method])
    files = ["model.safetensors"] + (["method.safetensors"] if method == "codi" else [])
    for name in files:
        a = safetensors.torch.load_file(tmp_path / "reference" / name)
        b = safetensors.torch.load_file(tmp_path / "killed" / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert (tmp_path / "killed" / "method.safetensors").exists() == (method == "codi")
    metrics = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    if method == "icot":  # the schedule it followed: 2 tokens a stage, then all
        names = [s["name"] for s in metrics["train"]["stages"]]
        assert names[0] == "remove 0" and names[-1] == "remove all" and "remove 2" in names

    run = tmp_path / "killed"
    assert main(["eval", str(run), "--data", str(tiny_chain), "--quiet"]) == 0
    store = tmp_path / "store"
    assert main(["capture", str(run), "--data", str(tiny_chain), "--out", str(store),
                 "--quiet"]) == 0
    opened = open_store(store)
    kinds = set(opened.steps.data.table.column("kind").to_pylist())
    assert kinds == ({"answer"} if method == "icot" else {"thought"})
    out = tmp_path / "analyses"
    assert main(["analyze", "alignment", str(store), "--out", str(out / "alignment"),
                 "--n-jobs", "1"]) == 0
    result = json.loads((out / "alignment" / "alignment.json").read_text())
    if method == "icot":  # one position: layer × proof step (embedding + 2 blocks of nano)
        assert result["layers"] == [0, 1, 2] and len(result["layer_matrix"]) == 3
    else:
        assert result["latent_steps"] == [0, 1] and "layer_matrix" not in result
    for analysis in (["probes", "--target", "y_answer"], ["lens", "--run", str(run)],
                     ["projections", "--method", "pca"]):
        name = analysis[0]
        assert main(["analyze", *analysis[:1], str(store), *analysis[1:],
                     "--out", str(out / name)]) == 0, name
    code = main(["analyze", "interventions", str(store), "--run", str(run), "--data",
                 str(tiny_chain), "--out", str(out / "interventions"), "--limit", "8"])
    err = capsys.readouterr().err
    if method == "codi":
        assert code == 0
    else:  # nothing latent in iCoT's prompt to intervene on: one line naming what is covered
        assert code == 2 and "codi" in err and "Traceback" not in err


def test_a_codi_run_without_its_projection_is_refused_in_one_line(tiny_chain, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config(tiny_chain, run, "codi", steps=3), {"thoughts": 2})
    (run / "method.safetensors").write_bytes(b"not safetensors")
    assert main(["eval", str(run), "--data", str(tiny_chain), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "method.safetensors" in err and "checksum" in err and len(err.splitlines()) == 1


def test_a_planted_layer_staircase_is_read_as_layer_by_proof_step(tmp_path):
    """One latent position, four layers: proof step s is planted at layer s + 1 only."""
    rng = np.random.default_rng(0)
    n, layers, d, steps = 240, 4, 12, 3
    values = rng.integers(0, 3, (n, steps))
    resid = rng.normal(size=(n, layers, d))
    directions = rng.normal(size=(steps, 3, d)) * 3
    for s in range(steps):
        resid[:, s + 1] += directions[s][values[:, s]]
    eids = [f"e{i}" for i in range(n)]
    write_store(tmp_path / "s", {
        "example_id": eids, "step": [0] * n, "kind": ["answer"] * n, "position": [5] * n,
        "resid": resid}, {"example_id": eids, "input_ids": [[0]] * n,
                          "proof": [json.dumps([{"node": int(v)} for v in row])
                                    for row in values]})
    result = align(AlignmentConfig(store=str(tmp_path / "s"), out=str(tmp_path / "o"),
                                   n_boot=20, n_jobs=1))
    assert result["layers"] == [0, 1, 2, 3]
    sel = np.array([[c["selectivity"] for c in row] for row in result["layer_matrix"]])
    for s in range(steps):
        assert sel[s + 1, s] > 0.5, (s, sel)
        others = [sel[la, s] for la in range(layers) if la != s + 1]
        assert max(others) < 0.2, (s, sel)
