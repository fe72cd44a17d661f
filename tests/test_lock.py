"""One writer per run or store; a crashed writer's lock does not outlive it."""

import os
import signal
import subprocess
import sys
import time

import pytest

from workbench.errors import UserError
from workbench.lock import exclusive

HOLD = """
import sys, time
from workbench.lock import exclusive
with exclusive(sys.argv[1], "training"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_while_the_first_lives_and_admitted_after_it_dies(tmp_path):
    target = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(UserError) as info:
        with exclusive(target, "capturing"):
            pass
    message = str(info.value)
    assert "already training here" in message and f"pid {proc.pid}" in message
    os.kill(proc.pid, signal.SIGKILL)  # a crash: no clean-up code runs
    proc.wait()
    deadline = time.time() + 10
    while True:
        try:
            with exclusive(target, "training"):
                break
        except UserError:
            assert time.time() < deadline, "the dead writer's lock was never released"
            time.sleep(0.05)


def test_the_lock_is_reentrant_across_sequential_uses(tmp_path):
    for _ in range(3):
        with exclusive(tmp_path / "store", "capturing"):
            pass


@pytest.mark.parametrize("content", [b"[1, 2]", b'"text"', b"{not json", b"\xff\xfe", b"[" * 5000])
def test_a_garbled_lock_file_gives_the_refusal_not_a_traceback(tmp_path, content):
    """The lock file only records who held it; whatever it holds, a refused writer gets the
    one-line message (with the holder unknown)."""
    target = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        (tmp_path / ".run.lock").write_bytes(content)  # same inode: the lock is still held
        with pytest.raises(UserError, match=r"already writing here \(pid \? on \?"):
            with exclusive(target, "capturing"):
                pass
    finally:
        proc.kill()
        proc.wait()
