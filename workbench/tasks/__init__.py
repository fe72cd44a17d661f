"""Task generators and loaders. ``TASKS`` is the one registry of tasks."""

from __future__ import annotations

from workbench.errors import UserError
from workbench.tasks import chain, mult, prontoqa, prosqa, reach
from workbench.tasks.base import SPLITS, Example, Task, generate_split
from workbench.tokenizer import Tokenizer

TASKS: dict[str, Task] = {
    t.name: t for t in (prosqa.TASK, prontoqa.TASK, chain.TASK, mult.TASK, reach.TASK)}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def task_tokenizer(name: str, config: object | None = None) -> Tokenizer:
    """The deterministic tokenizer of a task: its symbol set (of ``config``, by default of the
    largest preset — "paper" where the task has one — which covers every preset's) plus the
    special tokens."""
    task = get_task(name)
    cfg = config if config is not None else task.presets.get("paper",
                                                             list(task.presets.values())[-1])
    return Tokenizer(task.vocabulary(cfg), name=name)


__all__ = ["SPLITS", "TASKS", "Example", "Task", "generate_split", "get_task", "task_tokenizer"]
