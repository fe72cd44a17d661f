"""torchrun with two workers takes the same steps as one process at the same global batch."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.train.conftest import tiny_config
from train.loop import train


def losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
            if "loss" in r]


def test_two_workers_match_one_process(tiny_chain, tmp_path):
    common = dict(steps=8, batch_size=16, log_every=1)
    train(tiny_config(tiny_chain, tmp_path / "single", "cot", **common), {})
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    cfg = tiny_config(tiny_chain, tmp_path / "ddp", "cot", **common)
    args = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "lwb.cli", "train"]
    for key, value in cfg.to_dict().items():
        if value not in (None, False):
            args += ["--" + key.replace("_", "-")] + ([] if value is True else [str(value)])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single, ddp = losses(tmp_path / "single"), losses(tmp_path / "ddp")
    assert len(single) == len(ddp) == 8
    for a, b in zip(single, ddp):
        assert abs(a - b) <= 1e-4 * max(1.0, abs(a)), (single, ddp)
    assert single[-1] < single[0], "the loss went down: the steps were real"
