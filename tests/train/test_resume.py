"""Runs survive a SIGKILL, refuse to mix settings, and stop cleanly on a NaN loss."""

import json
import signal
import subprocess
import sys
import time

import pytest
import safetensors.torch
import torch

from tests.train.conftest import tiny_config
from train.loop import train
from workbench.errors import UserError
from workbench.methods.nocot import NoCoT

RIM = {"blocks": 2, "stage1_fraction": 0.4}


def flags(cfg):
    out = []
    for key, value in cfg.to_dict().items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


def test_a_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tiny_chain, tmp_path):
    common = dict(steps=240, batch_size=8, checkpoint_every=10)
    reference = tiny_config(tiny_chain, tmp_path / "reference", "rim", **common)
    train(reference, RIM)

    killed = tiny_config(tiny_chain, tmp_path / "killed", "rim", **common)
    args = [sys.executable, "-m", "lwb.cli", "train", *flags(killed),
            "--blocks", "2", "--stage1-fraction", "0.4"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pointer = tmp_path / "killed" / "checkpoints" / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pointer.exists() and json.loads(pointer.read_text())["step"] >= 20:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    step = json.loads(pointer.read_text())["step"]
    assert 20 <= step < 240 and not (tmp_path / "killed" / "metrics.json").exists()

    resumed = tiny_config(tiny_chain, tmp_path / "killed", "rim", resume=True, **common)
    train(resumed, RIM)
    a = safetensors.torch.load_file(tmp_path / "reference" / "model.safetensors")
    b = safetensors.torch.load_file(tmp_path / "killed" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = [json.loads(x) for x in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()]
    losses = [r["step"] for r in log if "loss" in r]
    assert losses == sorted(set(losses)), "no duplicated log lines after resuming"


def test_resume_refuses_a_different_setting_and_an_existing_dir_needs_resume(tiny_chain,
                                                                            tmp_path):
    train(tiny_config(tiny_chain, tmp_path / "run", "nocot", steps=5), {})
    with pytest.raises(UserError, match="already exists; pass --resume"):
        train(tiny_config(tiny_chain, tmp_path / "run", "nocot", steps=5), {})
    with pytest.raises(UserError, match=r"train\.lr was 0\.003, now 0\.001"):
        train(tiny_config(tiny_chain, tmp_path / "run", "nocot", steps=5, lr=1e-3,
                          resume=True), {})


def test_a_nan_loss_stops_cleanly_keeping_the_last_good_checkpoint(tiny_chain, tmp_path,
                                                                  monkeypatch):
    calls = {"n": 0}
    real = NoCoT.loss_sum

    def poisoned(self, model, batch):
        calls["n"] += 1
        loss = real(self, model, batch)
        return loss * float("nan") if calls["n"] == 13 else loss

    monkeypatch.setattr(NoCoT, "loss_sum", poisoned)
    out = tmp_path / "run"
    with pytest.raises(UserError) as info:
        train(tiny_config(tiny_chain, out, "nocot", steps=30, checkpoint_every=5), {})
    message = str(info.value)
    assert "loss became nan at step 12" in message and "checkpoint (step 10)" in message
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["step"] == 10
    assert not (out / "model.safetensors").exists() and not (out / "metrics.json").exists()
