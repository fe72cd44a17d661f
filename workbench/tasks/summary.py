"""Statistics of an example set, as shown by ``lwb data inspect`` and ``lwb demo``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from workbench.tasks.base import Example, mean, share_table
from workbench.tokenizer import split_words


def summarize(examples: list[Example]) -> dict[str, Any]:
    """Counts, lengths and each task's own statistics (rows of ``lwb data inspect``)."""
    from workbench.tasks import TASKS

    tasks = Counter(e.get("task", "?") for e in examples)
    steps = [len(e["steps"]) for e in examples]
    q_words = [len(split_words(e["question"])) for e in examples]
    total = [
        q + sum(len(split_words(s)) for s in e["steps"]) + len(split_words(e["answer"]))
        for q, e in zip(q_words, examples)
    ]
    rows: dict[str, Any] = {
        "examples": len(examples),
        "task": ", ".join(f"{t} ({n})" for t, n in tasks.most_common()),
        "steps (mean)": mean(steps),
        "steps (min)": min(steps),
        "steps (max)": max(steps),
        "question words (mean)": mean(q_words),
        "question words (max)": max(q_words),
        "words with steps and answer (max)": max(total),
        "with proof %": 100.0 * sum("proof" in e for e in examples) / len(examples),
        "distinct questions": len({e["question"] for e in examples}),
    }
    if len(tasks) == 1:
        (name,) = tasks
        if name in TASKS:
            rows.update(TASKS[name].statistics(examples))
    return rows


__all__ = ["share_table", "summarize"]
