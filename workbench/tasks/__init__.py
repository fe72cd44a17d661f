"""Task generators and loaders. ``TASKS`` is the one registry of tasks."""

from __future__ import annotations

from workbench.errors import UserError
from workbench.tasks import chain, mult, prontoqa, prosqa, reach
from workbench.tasks.base import SPLITS, Example, Task, generate_split

TASKS: dict[str, Task] = {
    t.name: t for t in (prosqa.TASK, prontoqa.TASK, chain.TASK, mult.TASK, reach.TASK)}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


__all__ = ["SPLITS", "TASKS", "Example", "Task", "generate_split", "get_task"]
