"""A command that fails leaves nothing half-made: a train that fails before its first checkpoint
leaves no run to block the retry, SIGTERM/SIGINT remove temporary files and exit 143/130 with
one line, and a full disk removes the `.partial` checkpoint and names the file."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lwb.cli import main
from tests.train.conftest import tiny_config
from train import checkpoint
from train.loop import Trainer, train
from workbench.errors import DiskFull, UserError
from workbench.io import append_jsonl, atomic_write_json
from workbench.methods.nocot import NoCoT

ROOT = Path(__file__).resolve().parents[1]


def flags(cfg):
    out = []
    for key, value in cfg.to_dict().items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def tiny_chain(tmp_path_factory):
    from workbench.tasks import TASKS
    from workbench.tasks.base import generate_split
    from workbench.tasks.loaders import write_jsonl

    path = tmp_path_factory.mktemp("data") / "chain32.jsonl"
    write_jsonl(path, generate_split(TASKS["chain"], "tiny", "train", 32, seed=0))
    return path


def poison(monkeypatch, at_call: int, error: BaseException | None = None):
    """From the ``at_call``-th training step on, the loss is NaN (or ``error`` is raised)."""
    calls = {"n": 0}
    real = NoCoT.loss_sum

    def poisoned(self, model, batch):
        calls["n"] += 1
        loss = real(self, model, batch)
        if calls["n"] >= at_call:
            if error is not None:
                raise error
            return loss * float("nan")
        return loss

    monkeypatch.setattr(NoCoT, "loss_sum", poisoned)


# -- a failed train leaves no run that blocks the retry ------------------------------------------
def test_a_nan_loss_before_the_first_checkpoint_removes_the_run_so_the_retry_works(
        tiny_chain, tmp_path, monkeypatch, capsys):
    cfg = tiny_config(tiny_chain, tmp_path / "run", "nocot", steps=6, n_eval=4,
                      checkpoint_every=5)
    poison(monkeypatch, 1)
    assert main(["train", *flags(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loss became nan at step 0" in err[0]
    assert "run directory is removed" in err[0]
    assert not (tmp_path / "run").exists()
    monkeypatch.undo()
    assert main(["train", *flags(cfg)]) == 0  # the same command, no --resume
    assert (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt(),
                                   UserError("a late user error")])
def test_any_failure_before_the_first_checkpoint_removes_only_what_it_made(
        tiny_chain, tmp_path, monkeypatch, error):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")  # a directory that existed before
    poison(monkeypatch, 2, error)
    with pytest.raises(type(error)):
        train(tiny_config(tiny_chain, out, "nocot", steps=6, checkpoint_every=5), {})
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    # a directory this invocation created is removed entirely
    poison(monkeypatch, 2, error)
    with pytest.raises(type(error)):
        train(tiny_config(tiny_chain, tmp_path / "new" / "run", "nocot", steps=6,
                          checkpoint_every=5), {})
    assert not (tmp_path / "new" / "run").exists()


def test_a_failure_before_training_starts_in_a_fresh_run_leaves_nothing(tiny_chain, tmp_path,
                                                                        monkeypatch):
    def broken(self, *a, **k):
        raise UserError("cannot happen")

    monkeypatch.setattr(checkpoint, "latest", broken)  # right after prepare_run_dir
    with pytest.raises(UserError):
        train(tiny_config(tiny_chain, tmp_path / "run", "nocot", steps=3), {})
    assert not (tmp_path / "run").exists()


def test_a_failure_after_the_first_checkpoint_leaves_a_resumable_run(tiny_chain, tmp_path,
                                                                     monkeypatch):
    out = tmp_path / "run"
    poison(monkeypatch, 8, RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        train(tiny_config(tiny_chain, out, "nocot", steps=12, n_eval=4, checkpoint_every=5), {})
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["step"] == 5
    monkeypatch.undo()
    metrics = train(tiny_config(tiny_chain, out, "nocot", steps=12, n_eval=4,
                                checkpoint_every=5, resume=True), {})
    assert metrics["train"]["steps"] == 12


def test_a_resumed_run_that_fails_is_never_removed(tiny_chain, tmp_path, monkeypatch):
    out = tmp_path / "run"
    cfg = dict(steps=12, n_eval=4, checkpoint_every=50)  # its only checkpoint is the last
    train(tiny_config(tiny_chain, out, "nocot", **cfg), {})
    (out / "metrics.json").unlink()
    before = sorted(p.name for p in out.iterdir())
    monkeypatch.setattr(Trainer, "finish", lambda self, *a: (_ for _ in ()).throw(
        RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        train(tiny_config(tiny_chain, out, "nocot", resume=True, **cfg), {})
    assert sorted(p.name for p in out.iterdir()) == before


# -- SIGTERM / SIGINT -----------------------------------------------------------------------------
def _default_sigint() -> None:
    # as in a terminal: a test suite started in the background (`make test &`) inherits SIGINT
    # ignored, and Python then keeps ignoring it, so Ctrl-C could not be tested
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "lwb.cli", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=_default_sigint)


def _wait_for(proc, ready, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("sig,status,word", [(signal.SIGTERM, 143, "terminated"),
                                             (signal.SIGINT, 130, "interrupted")])
def test_a_signal_during_data_generate_leaves_no_temporary_file(tmp_path, sig, status, word):
    out = tmp_path / "out"
    out.mkdir()
    proc = _start(["data", "generate", "--task", "chain", "--preset", "demo", "--n", "5000000",
                   "--out", str(out / "train.jsonl"), "--quiet"], cwd=tmp_path)
    try:
        def writing():  # the hidden temporary file exists and has received data
            return any(p.name.startswith(".") and p.stat().st_size > 0 for p in out.iterdir())

        assert _wait_for(proc, writing), proc.stderr.read() if proc.poll() is not None else ""
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()  # only the process this test started
    assert proc.returncode == status, stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in stderr, stderr
    assert list(out.iterdir()) == []


def test_sigterm_before_the_first_checkpoint_removes_the_run(tiny_chain, tmp_path):
    cfg = tiny_config(tiny_chain, tmp_path / "run", "nocot", steps=100_000,
                      checkpoint_every=100_000, log_every=1)
    proc = _start(["train", *flags(cfg)], cwd=tmp_path)
    log = tmp_path / "run" / "log.jsonl"
    try:
        assert _wait_for(proc, lambda: log.exists() and log.stat().st_size > 0), \
            proc.stderr.read() if proc.poll() is not None else ""
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "terminated" in stderr
    assert not (tmp_path / "run").exists()


# -- a full disk --------------------------------------------------------------------------------
def _ckpts(out):
    return sorted(p.name for p in (out / "checkpoints").iterdir())


@pytest.mark.parametrize("where,file", [("weights", "model.safetensors"),
                                        ("optimizer", "optimizer.pt")])
def test_a_full_disk_while_checkpointing_removes_the_partial_and_names_the_file(
        tiny_chain, tmp_path, monkeypatch, capsys, where, file):
    out = tmp_path / "run"
    calls = {"n": 0}
    real_weights, real_torch_save = checkpoint.save_weights, checkpoint.torch.save

    def second_fails(real):
        def wrapped(*a, **k):
            calls["n"] += 1
            if calls["n"] == 2:
                full()
            return real(*a, **k)
        return wrapped

    if where == "weights":
        monkeypatch.setattr(checkpoint, "save_weights", second_fails(real_weights))
    else:
        monkeypatch.setattr(checkpoint.torch, "save", second_fails(real_torch_save))
    cfg = tiny_config(tiny_chain, out, "nocot", steps=12, n_eval=4, checkpoint_every=5)
    assert main(["train", *flags(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    partial = out / "checkpoints" / ".step-0000010.partial" / file
    assert str(partial) in err[0] and "No space left on device" in err[0], err[0]
    assert "step 10" in err[0] and "previous checkpoint is kept" in err[0]
    # no .partial; the pointer and the previous checkpoint are intact; the run resumes
    assert _ckpts(out) == ["latest.json", "step-0000005"]
    assert json.loads((out / "checkpoints" / "latest.json").read_text()) == {
        "step": 5, "dir": "step-0000005"}
    assert sorted(p.name for p in (out / "checkpoints" / "step-0000005").iterdir()) == [
        "model.safetensors", "optimizer.pt", "state.json"]
    monkeypatch.undo()
    assert main(["train", *flags(cfg), "--resume"]) == 0


def test_a_full_disk_at_the_first_checkpoint_leaves_no_run(tiny_chain, tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "save_weights", full)
    out = tmp_path / "run"
    with pytest.raises(DiskFull) as info:
        train(tiny_config(tiny_chain, out, "nocot", steps=12, checkpoint_every=5), {})
    assert info.value.file.endswith(".step-0000005.partial/model.safetensors")
    assert not out.exists()


def test_a_full_disk_while_moving_the_pointer_keeps_the_previous_checkpoint(
        tiny_chain, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = checkpoint.atomic_write_json

    def pointer_fails(path, obj):
        if Path(path).name == "latest.json" and obj["step"] == 10:
            full()
        real(path, obj)

    monkeypatch.setattr(checkpoint, "atomic_write_json", pointer_fails)
    with pytest.raises(UserError, match="No space left on device") as info:
        train(tiny_config(tiny_chain, out, "nocot", steps=12, n_eval=4, checkpoint_every=5), {})
    assert info.value.file == str(out / "checkpoints" / "latest.json")
    assert _ckpts(out) == ["latest.json", "step-0000005"]


def test_atomic_writers_name_the_file_on_a_full_disk_and_leave_no_temporary(tmp_path,
                                                                            monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFull) as info:
        atomic_write_json(target, {"a": 1})
    assert info.value.file == str(target) and "No space left on device" in str(info.value)
    assert isinstance(info.value, UserError) and isinstance(info.value, OSError)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == [
        "metrics.json"]
    monkeypatch.undo()

    class FullFile:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        write = flush = full

    monkeypatch.setattr("workbench.io.open", FullFile, raising=False)
    with pytest.raises(DiskFull) as info:
        append_jsonl(tmp_path / "log.jsonl", {"step": 1})
    assert info.value.file == str(tmp_path / "log.jsonl")
