"""torchrun with two workers (DistributedDataParallel, gloo) takes the same steps as one process
at the same global batch, for every registered method; only rank 0 writes the run's files; and a
run a single process checkpointed resumes under torchrun to the single process's weights.

All the two-worker runs share one torchrun launch (``tests/train/ddp_worker.py``): each launch
costs seconds of start-up."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from tests.train.conftest import tiny_config
from tests.train.test_resume import flags
from train.loop import Trainer, train
from workbench.methods import METHODS, get_method, tokenize
from workbench.tasks import task_tokenizer
from workbench.tasks.loaders import iter_file

ROOT = Path(__file__).resolve().parents[2]
#: 32 examples, batches of 16: two steps an epoch, so STEPS steps are three epochs
STEPS, BATCH = 6, 16
COMMON = dict(steps=STEPS, batch_size=BATCH, log_every=1, checkpoint_every=3, n_eval=2,
              eval_examples=2)
#: Options that take each method's curriculum to its last stage within STEPS steps (a method
#: not named here trains with its ``tiny_options``): Coconut's thoughts replace both steps of
#: the tiny chain by step 4, iCoT removes the whole CoT (16 tokens) by step 4, RiM's stage 2
#: begins at step 3. CODI keeps its default distillation divided by the teacher states' std,
#: which is the whole global batch's under two workers too (``codi.batch_std``; a worker's own
#: std made the weights differ by ~5e-4 after six steps).
OPTIONS = {
    "pause": {"pauses": 2},
    "coconut": {"epochs_per_stage": 1},
    "icot": {"remove_per_stage": 8, "epochs_per_stage": 1},
    "codi": {"thoughts": 2, "projection_dim": 16},
    "rim": {"stage1_fraction": 0.5},
}
#: the method whose one-process run is interrupted after its checkpoint at step 3 and resumed
#: under torchrun (it trains parameters of its own beside the model's)
RESUMED = "codi"
LOSS_RTOL, WEIGHT_ATOL = 1e-4, 1e-5
#: The attention key biases' gradient is zero in exact arithmetic (a query adds the same
#: q·b_K to every key's score, which softmax ignores): what the two runs compute for it is
#: rounding noise, and AdamW turns noise into steps of the learning rate's size (1e-4 apart
#: after six steps here), so these are held to a bound of the schedule's size only.
NOISE_ATOL = {"b_K": 1e-3}


def options(method):
    return {**METHODS[method].tiny_options, **OPTIONS.get(method, {})}


def option_flags(opts):
    out = []
    for key, value in opts.items():
        flag = key.replace("_", "-")
        if isinstance(value, bool):
            out.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            out += [f"--{flag}", str(value)]
    return out


def log(run):
    return [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]


def losses(run):
    return [r["loss"] for r in log(run) if "loss" in r]


def files(run):
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())


def weights(run):
    return {name: safetensors.torch.load_file(run / name)
            for name in ("model.safetensors", "method.safetensors") if (run / name).exists()}


class Interrupted(Exception):
    pass


def interrupt_after(n_steps):
    """A ``Trainer.train_step`` that stops the run when step ``n_steps + 1`` begins."""
    original, calls = Trainer.train_step, []

    def train_step(self, batch, optimizer):
        calls.append(1)
        if len(calls) > n_steps:
            raise Interrupted
        return original(self, batch, optimizer)
    return train_step


@pytest.fixture(scope="module")
def runs(tiny_chain, tmp_path_factory):
    """Per method, ``single/METHOD`` (one process) and ``ddp/METHOD`` (torchrun, two workers);
    ``resumed``: RESUMED's one-process run stopped after step 3, resumed under torchrun."""
    root = tmp_path_factory.mktemp("distributed")
    argvs = []
    for method in METHODS:
        train(tiny_config(tiny_chain, root / "single" / method, method, **COMMON),
              options(method))
        ddp = tiny_config(tiny_chain, root / "ddp" / method, method, **COMMON)
        argvs.append(["train", *flags(ddp), *option_flags(options(method))])
    resumed = tiny_config(tiny_chain, root / "resumed", RESUMED, **COMMON)
    with pytest.MonkeyPatch.context() as mp, pytest.raises(Interrupted):
        mp.setattr(Trainer, "train_step", interrupt_after(3))
        train(resumed, options(RESUMED))
    assert json.loads((root / "resumed/checkpoints/latest.json").read_text())["step"] == 3
    argvs.append(["train", *flags(resumed), "--resume", *option_flags(options(RESUMED))])

    spec = {"runs": argvs, "gradient": str(root / "gradient.json")}
    (root / "runs.json").write_text(json.dumps(spec))
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m",
                           "tests.train.ddp_worker", str(root / "runs.json")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-5000:]
    return root


def assert_same_steps(single, other):
    a, b = losses(single), losses(other)
    assert len(a) == len(b) == STEPS
    for x, y in zip(a, b):
        assert abs(x - y) <= LOSS_RTOL * max(1.0, abs(x)), (a, b)
    wa, wb = weights(single), weights(other)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert wa[name].keys() == wb[name].keys(), name  # no "module." prefixes
        for key in wa[name]:
            x, y = wa[name][key], wb[name][key]
            diff = 0.0 if torch.equal(x, y) else (x - y).abs().max().item()  # buffers hold -inf
            assert diff <= NOISE_ATOL.get(key.rsplit(".", 1)[-1], WEIGHT_ATOL), (name, key, diff)


def full_schedule(method, data):
    """The stage indices of ``method``'s curriculum (with OPTIONS) in a long run."""
    tok = task_tokenizer("chain")
    m = get_method(method, options(method), tok)
    if hasattr(m, "resolve"):
        m.resolve([tokenize(ex, tok) for ex, _, _ in iter_file(data)])
    return [s.index for s in m.stages(10**6, 32 // BATCH)]


@pytest.mark.parametrize("method", list(METHODS))
def test_two_workers_match_one_process(method, runs, tiny_chain):
    single, ddp = runs / "single" / method, runs / "ddp" / method
    assert_same_steps(single, ddp)
    a = losses(single)
    assert a[-1] < a[0], "the loss went down: the steps were real"
    stages = sorted({r["stage"] for r in log(single) if "loss" in r})
    assert stages == full_schedule(method, tiny_chain), "the run reaches every stage"
    # rank 0 alone writes: the same files, one log line per step
    assert files(ddp) == files(single)
    assert [r["step"] for r in log(ddp) if "loss" in r] == list(range(1, STEPS + 1))


def test_a_one_process_checkpoint_resumes_under_torchrun(runs):
    resumed = runs / "resumed"
    assert_same_steps(runs / "single" / RESUMED, resumed)
    assert files(resumed) == files(runs / "single" / RESUMED)
    assert json.loads((resumed / "metrics.json").read_text())["train"]["steps"] == STEPS


def test_ddp_sums_the_workers_gradients(runs):
    """Rank r's loss is w·(r + 1): summed, w's gradient is 1 + 2; DDP's own average is 1.5."""
    assert json.loads((runs / "gradient.json").read_text()) == 3.0


def test_a_single_process_is_not_wrapped(tiny_chain, tmp_path):
    trainer = Trainer(tiny_config(tiny_chain, tmp_path / "run", "cot", steps=1, n_eval=1))
    trainer.run()
    assert trainer.step_loss is trainer.objective
    assert not isinstance(trainer.step_loss, torch.nn.parallel.DistributedDataParallel)
