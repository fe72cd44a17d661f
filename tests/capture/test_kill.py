"""SIGKILL during capture or analysis: nothing half-written, and the rerun gives the numbers
an uninterrupted run gives."""

import json
import random
import signal
import subprocess
import sys
import time

import numpy as np

from analyses.probes import ProbeConfig
from analyses.probes import run as probes
from tests.capture.conftest import make_run
from workbench.capture import CaptureConfig, capture
from workbench.store import open_store


def kill_after(args, delay, started=None):
    """Start ``lwb args``; once ``started`` exists (if given), wait ``delay`` s and SIGKILL it."""
    proc = subprocess.Popen([sys.executable, "-m", "lwb.cli", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while started is not None and not started.exists() and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def same_store(a, b):
    sa, sb = open_store(a), open_store(b)
    assert len(sa.steps) == len(sb.steps)
    assert np.array_equal(sa.resid_all(), sb.resid_all())
    cols = [c for c in sa.steps.column_names if c.startswith("y_")]
    assert sa.steps.select_columns(cols).to_list() == sb.steps.select_columns(cols).to_list()


def test_killed_capture_and_analysis_rerun_to_the_uninterrupted_results(data_files, tmp_path):
    rng = random.Random(0)
    run = make_run(tmp_path, "chain", "rim", data_files["chain"])
    data = data_files["chain"]
    reference = tmp_path / "reference"
    capture(CaptureConfig(run=str(run), data=str(data), out=str(reference), quiet=True,
                          batch_size=2))
    for attempt in range(1):
        target = tmp_path / f"killed{attempt}"
        kill_after(["capture", run, "--data", data, "--out", target, "--batch-size", "2",
                    "--quiet"], rng.uniform(0.0, 0.6), started=tmp_path / f".{target.name}.partial")
        assert not target.exists() or (target / "manifest.json").exists(), \
            "a killed capture leaves no store that looks complete"
        capture(CaptureConfig(run=str(run), data=str(data), out=str(target), quiet=True,
                              batch_size=2, force=True))
        same_store(reference, target)

    cfg = dict(store=str(reference), target="y_proof_value", n_boot=30, n_jobs=1)
    probes(ProbeConfig(out=str(tmp_path / "p-ref"), **cfg))
    out = tmp_path / "p-killed"
    kill_after(["analyze", "probes", reference, "--target", "y_proof_value", "--n-boot", "30",
                "--n-jobs", "1", "--out", out], rng.uniform(1.0, 4.0))
    if (out / "probes.json").exists():
        json.loads((out / "probes.json").read_text())  # complete, never torn
    probes(ProbeConfig(out=str(out), **cfg))
    assert (json.loads((out / "probes.json").read_text())
            == json.loads((tmp_path / "p-ref" / "probes.json").read_text()))
