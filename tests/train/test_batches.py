"""Length-bucketed batches and the prefetching worker."""

import json

import pytest

from tests.train.conftest import tiny_config
from train.loop import Trainer, train
from train.prefetch import Prefetch
from workbench.errors import UserError
from workbench.tasks import TASKS
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import write_jsonl


@pytest.fixture(scope="module")
def prosqa_file(tmp_path_factory):
    """ProsQA questions, whose lengths vary (70 to 200 tokens with CoT)."""
    path = tmp_path_factory.mktemp("data") / "prosqa.jsonl"
    write_jsonl(path, generate_split(TASKS["prosqa"], "demo", "train", 256, seed=0))
    return path


def epoch_batches(trainer: Trainer) -> list[list[int]]:
    return [trainer.batch_examples(step)[0] for step in range(trainer.steps_per_epoch)]


def padded_tokens(trainer: Trainer, batches: list[list[int]]) -> int:
    return sum(max(trainer.lengths[i] for i in b) * len(b) for b in batches)


def config(data, out, **kw):
    base = dict(task="prosqa", batch_size=16, epochs=2)
    return tiny_config(data, out, "cot", **{**base, **kw})


def test_buckets_use_every_example_once_per_epoch_and_pad_less(prosqa_file, tmp_path):
    bucketed = Trainer(config(prosqa_file, tmp_path / "a", bucket=8))
    plain = Trainer(config(prosqa_file, tmp_path / "b", bucket=0))
    b_batches, p_batches = epoch_batches(bucketed), epoch_batches(plain)
    # the same examples, each once: bucketing only regroups the epoch's shuffled order
    assert sorted(i for b in b_batches for i in b) == sorted(i for b in p_batches for i in b)
    assert len({i for b in b_batches for i in b}) == 256
    assert all(len(b) == 16 for b in b_batches)
    # within a window of 8 batches, batches cover disjoint length ranges
    for w in range(0, 16, 8):
        spans = sorted((min(bucketed.lengths[i] for i in b), max(bucketed.lengths[i] for i in b))
                       for b in b_batches[w:w + 8])
        assert all(hi <= lo for (_, hi), (lo, _) in zip(spans, spans[1:]))
    real = sum(bucketed.lengths)
    assert real / padded_tokens(bucketed, b_batches) > 0.9
    assert real / padded_tokens(plain, p_batches) < 0.8
    # a function of (seed, step): another trainer draws the same batches, another seed others
    assert epoch_batches(Trainer(config(prosqa_file, tmp_path / "c", bucket=8))) == b_batches
    other = epoch_batches(Trainer(config(prosqa_file, tmp_path / "d", bucket=8, seed=1)))
    assert other != b_batches
    # the next epoch regroups
    assert [bucketed.batch_examples(s)[0] for s in range(16, 32)] != b_batches


def test_a_run_recorded_before_buckets_resumes_without_them(tiny_chain, tmp_path):
    out = tmp_path / "old"
    train(tiny_config(tiny_chain, out, "cot", steps=4, bucket=0))
    cfg = json.loads((out / "config.json").read_text())
    del cfg["train"]["bucket"]  # as every run written before the setting existed
    (out / "config.json").write_text(json.dumps(cfg))
    train(tiny_config(tiny_chain, out, "cot", steps=4, bucket=0, resume=True))
    with pytest.raises(UserError, match="train.bucket was 0, now 16"):
        train(tiny_config(tiny_chain, out, "cot", steps=4, resume=True))


def test_prefetch_returns_each_steps_batch_and_raises_in_the_step_that_failed():
    built = []

    def make(step):
        built.append(step)
        if step == 5:
            raise UserError("a fresh example of step 5 is too long")
        return step * 10

    with Prefetch(make, 2, 8, ahead=2) as batches:
        assert [batches.get(s) for s in (2, 3, 4)] == [20, 30, 40]
        with pytest.raises(UserError, match="step 5"):
            batches.get(5)
        assert batches.get(6) == 60
        assert batches.get(3) == 30  # asked out of order: rebuilt from there
    assert set(built) >= {2, 3, 4, 5, 6, 7}
    assert max(built) <= 7, "never past the last step"
