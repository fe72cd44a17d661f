"""Faults: a full disk leaves no partial artifact and gives one line."""

import errno
import os

import pytest

from lwb.cli import main
from workbench.io import atomic_write_text


def test_a_full_disk_during_an_atomic_write_leaves_the_old_file_and_no_temp(tmp_path,
                                                                           monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        atomic_write_text(target, "new" * 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_the_cli_reports_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "d.jsonl"
    code = main(["data", "generate", "--task", "chain", "--preset", "tiny", "--n", "5",
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []

