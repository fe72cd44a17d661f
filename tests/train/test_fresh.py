"""--fresh: a new batch from the generator every step, reproducible, never a held-out question."""

import json

import pytest
import safetensors.torch
import torch

from train.config import TrainConfig
from train.data import fresh_examples
from train.loop import Trainer, train
from workbench.errors import UserError
from workbench.methods.cot import CoT
from workbench.tasks.base import split_of


def fresh_config(out, **kw) -> TrainConfig:
    base = dict(task="reach", preset="tiny", method="cot", size="nano", out=str(out), fresh=True,
                batch_size=8, lr=3e-3, warmup_steps=5, quiet=True, latency_examples=0,
                eval_every=10_000, threads=1, steps=20, checkpoint_every=10)
    base.update(kw)
    return TrainConfig(**base)


def test_fresh_batches_are_new_every_step_deterministic_and_train_split_only(tmp_path):
    cfg = fresh_config(tmp_path / "run", preset="demo")
    steps = [fresh_examples(cfg, step, 64) for step in range(20)]
    questions = [ex["question"] for batch in steps for ex in batch]
    assert len(set(questions)) == len(questions), "no question repeats across 20 steps"
    assert all(split_of(q) == "train" for q in questions)
    again = fresh_examples(cfg, 7, 64)
    assert [e["question"] for e in again] == [e["question"] for e in steps[7]]
    other_seed = fresh_examples(fresh_config(tmp_path / "run", preset="demo", data_seed=1), 7, 64)
    assert [e["question"] for e in other_seed] != [e["question"] for e in steps[7]]


def test_the_trainer_trains_on_the_fresh_batch_of_each_step(tmp_path):
    trainer = Trainer(fresh_config(tmp_path / "run"))
    _, batch = trainer.batch_examples(3)
    assert [t.example["question"] for t in batch] == [
        e["question"] for e in fresh_examples(trainer.cfg, 3, 8)]
    fixed = {t.example["question"] for t in trainer.data["train"]}
    assert not fixed >= {t.example["question"] for t in batch}, "not the fixed train set"


def test_a_fresh_run_resumed_after_a_failure_ends_with_the_uninterrupted_weights(
        tmp_path, monkeypatch):
    train(fresh_config(tmp_path / "reference"))
    calls = {"n": 0}
    real = CoT.loss_sum

    def fails_at_step_13(self, model, batch):
        calls["n"] += 1
        loss = real(self, model, batch)
        return loss * float("nan") if calls["n"] == 14 else loss

    monkeypatch.setattr(CoT, "loss_sum", fails_at_step_13)
    with pytest.raises(UserError, match="checkpoint \\(step 10\\)"):
        train(fresh_config(tmp_path / "resumed"))
    monkeypatch.setattr(CoT, "loss_sum", real)
    train(fresh_config(tmp_path / "resumed", resume=True))
    a = safetensors.torch.load_file(tmp_path / "reference" / "model.safetensors")
    b = safetensors.torch.load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    saved = json.loads((tmp_path / "resumed" / "config.json").read_text())
    assert saved["train"]["fresh"] is True


def test_a_finished_run_keeps_the_shortcut_controls_of_its_test_split(tmp_path):
    train(fresh_config(tmp_path / "run", preset="demo", steps=2, n_eval=16))
    controls = json.loads((tmp_path / "run" / "controls.json").read_text())
    n_test = json.loads((tmp_path / "run" / "config.json").read_text())["task"]["sizes"]["test"]
    for name in ("bag_of_tokens", "local_features"):
        assert controls[name]["n"] == n_test
        assert abs(controls[name]["accuracy"] - controls[name]["chance"]) < 0.08


def test_fresh_needs_a_generated_task(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("")
    with pytest.raises(UserError, match="--fresh .* --train-data"):
        Trainer(fresh_config(tmp_path / "run", train_data=str(data)))


def test_a_depth_warmup_opens_the_deeper_depths_step_by_step(tmp_path):
    cfg = fresh_config(tmp_path / "run", preset="demo", depth_warmup=700)
    deepest = [max(e["depth"] for e in fresh_examples(cfg, step, 64)) for step in (0, 350, 800)]
    assert deepest == [2, 5, 8]
    assert {e["depth"] for e in fresh_examples(cfg, 0, 64)} == {2}
    with pytest.raises(UserError, match="--fresh"):
        Trainer(fresh_config(tmp_path / "other", fresh=False, depth_warmup=10))


def test_init_from_starts_at_a_finished_runs_weights_and_refuses_another_shape(tmp_path):
    train(fresh_config(tmp_path / "cot", steps=3, n_ctx=48, n_eval=4))
    trainer = Trainer(fresh_config(tmp_path / "rim", method="rim", n_ctx=64,
                                   init_from=str(tmp_path / "cot")))
    source = safetensors.torch.load_file(tmp_path / "cot" / "model.safetensors")
    mine = trainer.model.state_dict()
    assert all(torch.equal(v, source[k]) for k, v in mine.items() if k != "pos_embed.W_pos")
    assert torch.equal(mine["pos_embed.W_pos"][:48], source["pos_embed.W_pos"])
    untouched = Trainer(fresh_config(tmp_path / "z", method="rim", n_ctx=64)).model.W_pos[48:]
    assert torch.equal(mine["pos_embed.W_pos"][48:], untouched), "new positions: fresh init"
    assert trainer.config["init"]["method"] == "cot"
    fresh = Trainer(fresh_config(tmp_path / "other", method="rim", n_ctx=64))
    assert not torch.equal(fresh.model.W_E, trainer.model.W_E)
    with pytest.raises(UserError, match="model.d_mlp is 256 there but 512 here"):
        Trainer(fresh_config(tmp_path / "x", size="micro", n_ctx=48,
                             init_from=str(tmp_path / "cot")))
    with pytest.raises(UserError, match="tokenizer differs"):
        Trainer(fresh_config(tmp_path / "y", task="chain", preset="tiny", fresh=False,
                             init_from=str(tmp_path / "cot")))
