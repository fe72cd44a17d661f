"""Several ``lwb train`` command lines in one torchrun launch (each launch costs seconds of
start-up): ``torchrun --standalone --nproc_per_node 2 -m tests.train.ddp_worker SPEC.json``.
SPEC.json holds ``runs``, argument lists for ``lwb`` (each ``["train", ...]``) that every worker
runs in order, and ``gradient``, a file where rank 0 writes the gradient :func:`summed_gradient`
finds (AdamW and clipping hardly tell summed gradients from averaged ones, so the trainings
alone could not).

The trainings share one process group: the worker joins it first and leaves it at the end.
(``lwb train`` leaves the group when it finishes; joining again in the same process reads the
previous rendezvous's keys from torchrun's store, which reuses them, and can hang.)"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import train.loop
from lwb.cli import main
from train.distributed import Objective, parallel, setup


def summed_gradient() -> float:
    """The gradient of w after one step of ``parallel(Objective)`` where rank r's loss is
    w·(r + 1): the sum over the workers' gradients (3 with two workers; averaged: 1.5)."""
    world = setup("cpu")
    w = torch.nn.Linear(1, 1, bias=False)
    step = parallel(Objective(w, lambda x: w(x).sum()), world)
    step(torch.tensor([[world.rank + 1.0]])).backward()
    return float(w.weight.grad.item())


def run_all(path: str) -> int:
    spec = json.loads(Path(path).read_text())
    train.loop.teardown = lambda world: None  # one process group for all the runs
    try:
        grad = summed_gradient()
        if dist.get_rank() == 0:
            Path(spec["gradient"]).write_text(json.dumps(grad))
        for argv in spec["runs"]:
            code = main(argv)
            if code:
                return code
        return 0
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(run_all(sys.argv[1]))
