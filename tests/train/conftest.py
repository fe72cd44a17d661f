from pathlib import Path

import pytest

from train.config import TrainConfig
from workbench.tasks import TASKS
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import write_jsonl


@pytest.fixture(scope="session")
def tiny_chain(tmp_path_factory) -> Path:
    """32 tiny chain examples, used as train, valid and test (for overfitting)."""
    path = tmp_path_factory.mktemp("data") / "chain32.jsonl"
    write_jsonl(path, generate_split(TASKS["chain"], "tiny", "train", 32, seed=0))
    return path


def tiny_config(data: Path, out: Path, method: str, **kw) -> TrainConfig:
    base = dict(task="chain", method=method, size="nano", out=str(out), train_data=str(data),
                valid_data=str(data), test_data=str(data), batch_size=32, lr=3e-3,
                warmup_steps=10, quiet=True, latency_examples=0, eval_every=10_000, threads=1)
    base.update(kw)
    return TrainConfig(**base)
