"""Shared fixtures. Tests never download anything and never depend on ../shared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).parent / "data"


@pytest.fixture
def prosqa_sample() -> Path:
    """Eight examples copied verbatim from Coconut's published ProsQA validation split."""
    return DATA / "prosqa_valid_sample.json"


def lwb(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``lwb`` entry point in a subprocess (exit status and stderr as users see)."""
    return subprocess.run(
        [sys.executable, "-m", "lwb.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=300,
    )


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, one line on stderr naming every fragment, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
