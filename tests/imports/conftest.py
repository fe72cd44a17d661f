"""The local GPT-2 a checkpoint was trained from (helpers: tests/imports/tiny_gpt2.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports.tiny_gpt2 import tiny_gpt2, tiny_tokenizer


@pytest.fixture
def base_dir(tmp_path) -> Path:
    """The local GPT-2 a checkpoint was trained from: config, weights and tokenizer files."""
    d = tmp_path / "gpt2"
    vocab = tiny_tokenizer(d, files="vocab")
    tiny_gpt2(vocab).save_pretrained(d)
    return d
