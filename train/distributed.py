"""Data parallelism through ``torchrun`` (gloo on CPU, nccl on GPU).

Each worker takes its share of the global batch; gradients are summed across workers after the
backward pass (the loss is already divided by the global batch size), so N workers compute the
same update as one process on the whole batch. Summing gradients by hand, instead of wrapping the
model in DistributedDataParallel, also serves Coconut, whose loss takes several forward passes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def sum_gradients(model: torch.nn.Module, world: World) -> None:
    if world.size <= 1:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


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
