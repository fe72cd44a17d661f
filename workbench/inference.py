"""Evaluation: exact-match accuracy, generated tokens, latent steps, time to first answer token.

Accuracy is exact match of the decoded answer with the reference answer string. Generated tokens
are everything the model emits before its answer ends (written steps, markers and the answer,
not the final ``<eos>``); latent steps (thoughts, pauses, memory blocks) are counted apart.
Timing: ``ttft_ms`` and ``latency_ms`` are measured at batch size 1 (greedy decoding with the KV
cache) on the first ``latency_examples`` examples, after one warm-up call; ``*_batched`` are the
same quantities inside batches of ``batch_size`` (from the start of the batch).

``by_depth``: accuracy per reasoning depth (the task's ``depth_of``: e.g. reach's candidate depth;
by default, and for examples of no registered task, the number of steps), as
``{depth: {"n", "accuracy", "ci": [lo, hi]}}`` with 95 % Wilson intervals (RiM: also
``any_block_accuracy``).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from tqdm import tqdm

from workbench.methods import Method, Prediction, Tokenized
from workbench.models import HookedTransformer
from workbench.stats import wilson
from workbench.tasks import TASKS
from workbench.tasks.base import Example


def answer_budget(method: Method, examples: Iterable[Tokenized]) -> int:
    """Tokens to decode at most: the longest reference continuation plus slack."""
    longest = max(method.max_length(e) - len(method.prompt(e)) for e in examples)
    return longest + 8


def predict(method: Method, model: HookedTransformer, examples: Sequence[Tokenized],
            batch_size: int = 64, quiet: bool = True, **kwargs: Any) -> list[Prediction]:
    """Greedy predictions for ``examples``, in their order. Batches are made of prompts of
    similar length (a stable sort by prompt length), so a batch pads little."""
    max_new = answer_budget(method, examples)
    order = sorted(range(len(examples)), key=lambda i: len(method.prompt(examples[i])))
    out: dict[int, Prediction] = {}
    bar = tqdm(total=len(examples), desc="evaluate", unit="ex", disable=quiet, leave=False)
    for i in range(0, len(examples), batch_size):
        ids = order[i:i + batch_size]
        preds = method.generate(model, [examples[j] for j in ids], max_new=max_new, **kwargs)
        out.update(zip(ids, preds))
        bar.update(len(ids))
    bar.close()
    return [out[i] for i in range(len(examples))]


def _mean(xs: Sequence[float]) -> float:
    return float(statistics.fmean(xs)) if xs else math.nan


def depth_of(example: Example) -> int:
    """The example's reasoning depth: its task's ``depth_of``, else its number of steps."""
    task = TASKS.get(example.get("task"))
    return task.depth_of(example) if task is not None else len(example["steps"])


def by_depth(depths: Sequence[int], correct: Sequence[bool],
             any_block: Sequence[bool] | None = None) -> dict[str, dict[str, Any]]:
    """``{depth: {"n", "accuracy", "ci"}}`` (95 % Wilson), depths in increasing order; with
    ``any_block`` (RiM), each depth's any-block accuracy too."""
    out: dict[str, dict[str, Any]] = {}
    for d in sorted(set(depths)):
        idx = [i for i, x in enumerate(depths) if x == d]
        acc = sum(correct[i] for i in idx) / len(idx)
        out[str(d)] = {"n": len(idx), "accuracy": acc, "ci": list(wilson(acc, len(idx)))}
        if any_block is not None:
            out[str(d)]["any_block_accuracy"] = sum(any_block[i] for i in idx) / len(idx)
    return out


def evaluate(method: Method, model: HookedTransformer, examples: Sequence[Tokenized], *,
             batch_size: int = 64, latency_examples: int = 16, quiet: bool = True,
             keep_predictions: bool = False) -> dict[str, Any]:
    """The metrics of ``lwb eval`` (see the module docstring)."""
    was_training = model.training
    model.eval()
    preds = predict(method, model, examples, batch_size, quiet)
    correct = [p.answer == e.example["answer"] for p, e in zip(preds, examples)]
    result: dict[str, Any] = {
        "n": len(examples),
        "accuracy": sum(correct) / len(examples),
        "mean_generated_tokens": _mean([p.generated_tokens for p in preds]),
        "mean_latent_steps": _mean([p.latent_steps for p in preds]),
        "ttft_ms_batched": 1000 * _mean([p.ttft_s for p in preds]),
        "latency_ms_batched": 1000 * _mean([p.latency_s for p in preds]),
        "batch_size": batch_size,
        "majority_baseline": max(Counter(e.example["answer"] for e in examples).values())
        / len(examples),
    }
    any_block = None
    if preds and "readouts" in preds[0].extra:
        answers = [p.extra["readouts"] for p in preds]
        any_block = [e.example["answer"] in a for a, e in zip(answers, examples)]
        result["any_block_accuracy"] = _mean([float(x) for x in any_block])
        k = len(answers[0])
        result["block_accuracy"] = [
            _mean([float(a[j] == e.example["answer"]) for a, e in zip(answers, examples)])
            for j in range(k)]
    result["by_depth"] = by_depth([depth_of(e.example) for e in examples], correct, any_block)
    if latency_examples > 0:
        timed = list(examples[:latency_examples])
        max_new = answer_budget(method, timed)
        method.generate(model, timed[:1], max_new=max_new, all_readouts=False)  # warm-up
        single = [method.generate(model, [e], max_new=max_new, all_readouts=False)[0]
                  for e in timed]
        result["ttft_ms"] = 1000 * _mean([p.ttft_s for p in single])
        result["latency_ms"] = 1000 * _mean([p.latency_s for p in single])
        result["latency_n"] = len(timed)
    if keep_predictions:
        result["predictions"] = [
            {"id": e.example.get("id"), "answer": e.example["answer"], "prediction": p.answer,
             "correct": c, "generated_tokens": p.generated_tokens, "text": p.text, **p.extra}
            for p, e, c in zip(preds, examples, correct)]
    model.train(was_training)
    return result
