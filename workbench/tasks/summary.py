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


def format_table(rows: dict[str, Any], title: str = "") -> str:
    """Rows as an aligned two-column text table; nested dicts print as ``key: value`` lists,
    lists as ``[a, b]``, floats with two decimals."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}"
        if isinstance(v, dict):
            return "  ".join(f"{k}: {fmt(x)}" for k, x in v.items())
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return str(v)

    width = max(len(k) for k in rows)
    lines = [title] if title else []
    lines += [f"  {k.ljust(width)}  {fmt(v)}" for k, v in rows.items()]
    return "\n".join(lines)


__all__ = ["format_table", "share_table", "summarize"]
