"""Data parallelism through ``torchrun`` (gloo on CPU, nccl on GPU).

Each worker takes its share of the global batch. A step's whole loss, every pass of it (Coconut,
CODI and iCoT take several), is one call of an :class:`Objective`, the module that
:func:`parallel` wraps in :class:`~torch.nn.parallel.DistributedDataParallel`: one DDP forward and
one backward per step, and DDP's all-reduce of the gradients overlaps the backward pass and has
finished when ``backward()`` returns (so clipping sees the synchronised gradients). The methods
call functions with the model rather than ``model.forward`` (the fused path in
``workbench/fused.py`` reads the weights directly), so wrapping the HookedTransformer itself would
never run DDP's forward, which readies its reducer for the backward pass.

The loss is the sum over the worker's examples divided by the global batch size, so the workers'
gradients are *summed* (:func:`sum_hook`), not averaged as DDP does by default: N workers take
the same steps as one process on the whole batch. A single process is never wrapped.
"""

# no ``from __future__ import annotations``: DDP compares sum_hook's annotations, at run time,
# with dist.GradBucket and torch.futures.Future[torch.Tensor]
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> World:
    """Join the process group when launched by torchrun; a single process otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if device.startswith("cuda") and torch.cuda.is_available():
        # one GPU per worker: "cuda" then means this worker's own (NCCL refuses two on one)
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


class Objective(torch.nn.Module):
    """A training step's loss as a module: ``forward(batch)`` is ``loss(batch)``, all of the
    method's passes, and :attr:`trainable` holds every parameter it trains (the model's and the
    method's own), the parameters DDP keeps in sync. The model's state dict is the model's own:
    checkpoints and weights are saved from it, never from this wrapper."""

    def __init__(self, trainable: torch.nn.Module, loss: Callable[[Any], Tensor]) -> None:
        super().__init__()
        self.trainable = trainable
        self.loss = loss

    def forward(self, batch: Any) -> Tensor:
        return self.loss(batch)


def sum_hook(state: object, bucket: dist.GradBucket) -> torch.futures.Future[Tensor]:
    """DDP communication hook: all-reduce a bucket of gradients to their sum over the workers.

    DDP's default averages (it divides by the world size before summing). Summing here keeps the
    objective what one process computes, the sum over the global batch divided by its size, so
    the loss needs no rescaling (the loss a worker returns and logs is its exact share) and N
    workers take one process's steps for any N, not only where multiplying and dividing by N is
    exact in floating point."""
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def parallel(objective: Objective, world: World) -> torch.nn.Module:
    """``objective`` wrapped in DistributedDataParallel with summed gradients (:func:`sum_hook`)
    under torchrun; itself in a single process (no wrapper, no cost).

    DDP broadcasts rank 0's parameters once here (every rank built or restored the same ones).
    Buffers are not synchronised at every step: the model's are constants (causal masks). Every
    trainable parameter must receive a gradient at every step (true of every registered method);
    one that does not makes DDP refuse the next step, naming ``find_unused_parameters``."""
    if world.size <= 1:
        return objective
    ddp = DistributedDataParallel(objective, forward_sync_buffers=False)
    ddp.register_comm_hook(None, sum_hook)
    return ddp


def sum_scalar(value: float, world: World) -> float:
    if world.size <= 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def teardown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()
