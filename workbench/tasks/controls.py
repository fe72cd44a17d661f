"""Shortcut controls: can a shallow classifier read the answer off the question?

A task is worth analysing only if its answer needs the intermediate steps (DESIGN.md, "Specimens
must need their steps"). Two controls measure how far a shallow model gets without them, each
trained and scored on held-out examples (grouped stratified K-fold: every example is predicted
once by a model that never saw it, or any example with the same question):

* **bag of tokens**: a logistic regression on the question's token counts, plus the identity of
  each answer candidate (one block per position) where the task has candidates;
* **local features**: a logistic regression on the features the task declares local (for graph
  tasks the degrees, positions and occurrences of each candidate, and their differences).

The target is, for tasks with answer candidates (``Task.choices``), whether the answer is the
first candidate; otherwise the answer string itself. Chance is the majority-class rate of the
target. A control near chance says the shortcut it stands for is closed; one well above chance
names a shortcut a model can take instead of the steps.

Accuracies, intervals and chance are fractions in 0..1; ``lwb data inspect`` prints percent.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.io import atomic_write_json
from workbench.stats import wilson
from workbench.tasks.base import Example, Task
from workbench.tokenizer import split_words

CONTROLS = {
    "bag_of_tokens": "bag of tokens",
    "local_features": "local features",
}
Features = dict[str, float]


# -- features that tasks share ---------------------------------------------------------------------
def graph_candidate_features(
    words: Sequence[str], edges: Sequence[Sequence[str]], candidates: Sequence[str]
) -> Features:
    """Local features of a graph question's candidates: for each, its in- and out-degree, how
    many of its parents have no parent themselves, its first and last position (word index over
    question length) and its number of occurrences; with two candidates, also their differences.

    Nothing here follows a path from the root: these are what a model could read off each
    candidate's own neighbourhood.
    """
    indegree = Counter(t for _, t in edges)
    outdegree = Counter(s for s, _ in edges)
    parents: dict[str, list[str]] = {}
    for s, t in edges:
        parents.setdefault(t, []).append(s)
    n = len(words)
    out: Features = {}
    per: list[Features] = []
    for c in candidates:
        at = [i for i, w in enumerate(words) if w == c]
        f = {
            "in-degree": float(indegree[c]),
            "out-degree": float(outdegree[c]),
            "parents without parent": float(sum(indegree[p] == 0 for p in parents.get(c, []))),
            "first position": at[0] / n if at else -1.0,
            "last position": at[-1] / n if at else -1.0,
            "occurrences": float(len(at)),
        }
        per.append(f)
        out.update({f"candidate {len(per)} {k}": v for k, v in f.items()})
    if len(per) == 2:
        out.update({f"difference {k}": per[0][k] - per[1][k] for k in per[0]})
    return out


def answer_choice(example: Example, choices: Sequence[str]) -> int:
    """Index of the choice the answer names: the answer itself, or the one choice among the
    answer's words (ProsQA's answer is a sentence ``Tom is a X.``)."""
    if example["answer"] in choices:
        return list(choices).index(example["answer"])
    named = [i for i, c in enumerate(choices) if c in split_words(example["answer"])]
    if len(named) != 1:
        raise UserError(f"names {len(named)} of the choices {list(choices)}", field="answer")
    return named[0]


# -- the controls ----------------------------------------------------------------------------------
def shortcut_controls(examples: list[Example], *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Both controls on ``examples``: ``{name: {"accuracy", "ci", "chance", "n", "folds",
    "target", "what"}}``, ``name`` in :data:`CONTROLS`.

    ``accuracy`` is over all ``n`` out-of-fold predictions and ``ci`` its 95 % Wilson interval.
    A control that cannot be measured (several tasks in one file, no declared local features,
    too few examples, an answer with too many values to learn) has ``accuracy``, ``ci`` and
    ``chance`` set to ``None`` and says why under ``skipped``.
    """
    name, task, why = _task_of(examples)
    choices = task.choices if task is not None else None
    if choices is not None:
        target = "answer is the first candidate"
        y = [str(answer_choice(e, choices(e)) == 0) for e in examples]
    else:
        target = "the answer"
        y = [e["answer"] for e in examples]
    groups = [e["question"] for e in examples]

    def bag(e: Example) -> Features:
        words = Counter(split_words(e["question"]))
        f: Features = {f"count {w}": float(k) for w, k in words.items()}
        if choices is not None:
            f.update({f"candidate {i + 1} is {c}": 1.0 for i, c in enumerate(choices(e))})
        return f

    local = task.local_features if task is not None else None
    plans: dict[str, tuple[Callable[[Example], Features] | None, str, str]] = {
        "bag_of_tokens": (
            bag, "question token counts" + (" + candidate identities" if choices else ""),
            why or "",
        ),
        "local_features": (
            local, " ".join((getattr(local, "__doc__", None) or "local features").split()),
            why or ("" if local else f"task {name} declares no local features"),
        ),
    }
    out = {}
    splits: list[tuple[Any, Any]] = []
    for control, (featurize, what, skipped) in plans.items():
        base = {"n": len(examples), "folds": folds, "target": target, "what": what}
        skipped = skipped or _unlearnable(y, folds)
        if skipped or featurize is None:
            out[control] = {"accuracy": None, "ci": None, "chance": None, **base,
                            "skipped": skipped}
            continue
        splits = splits or _folds(y, groups, folds, seed)
        dense = control == "local_features"
        predicted = _out_of_fold([featurize(e) for e in examples], y, splits, dense)
        correct = sum(p == t for p, t in zip(predicted, y))
        out[control] = {
            "accuracy": correct / len(y),
            "ci": list(wilson(correct / len(y), len(y))),
            "chance": Counter(y).most_common(1)[0][1] / len(y),
            **base,
        }
    return out


def save_controls(
    examples: list[Example], path: str | Path, *, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Measure :func:`shortcut_controls` and write them as JSON (atomically) to ``path``."""
    controls = shortcut_controls(examples, folds=folds, seed=seed)
    atomic_write_json(path, controls)
    return controls


def format_controls(controls: dict[str, Any]) -> str:
    """The block ``lwb data inspect`` prints: one line per control, in percent."""
    folds = next(iter(controls.values()))["folds"]
    targets = {c["target"] for c in controls.values()}
    lines = [f"shortcut controls (held-out, {folds}-fold; target: {', '.join(sorted(targets))})"]
    width = max(len(CONTROLS[k]) for k in controls)
    for key, c in controls.items():
        label = CONTROLS[key].ljust(width)
        if c["accuracy"] is None:
            lines.append(f"  {label}  not applicable: {c['skipped']}")
            continue
        lo, hi = c["ci"]
        lines.append(
            f"  {label}  accuracy {100 * c['accuracy']:.1f} % (95 % CI {100 * lo:.1f}–"
            f"{100 * hi:.1f})  chance {100 * c['chance']:.1f} %  n {c['n']}"
        )
    return "\n".join(lines)


# -- helpers ---------------------------------------------------------------------------------------
def _task_of(examples: list[Example]) -> tuple[str, Task | None, str]:
    """The examples' task name and registered task (``None`` if not registered), and why the
    controls cannot be measured (``""`` if they can)."""
    from workbench.tasks import TASKS

    names = sorted({str(e.get("task", "?")) for e in examples})
    if len(names) != 1:
        why = f"examples of several tasks ({', '.join(names)})" if names else "no examples"
        return "", None, why
    return names[0], TASKS.get(names[0]), ""


def _unlearnable(y: list[str], folds: int) -> str:
    """Why a classifier cannot be trained and scored on ``y`` with ``folds`` folds, or ``""``."""
    counts = Counter(y)
    if len(y) < 2 * folds:
        return f"{len(y)} examples are too few for {folds} folds"
    if len(counts) < 2:
        return f"the target is always {y[0]!r}"
    frequent = sum(k for k in counts.values() if k >= folds)
    if 2 * frequent < len(y):
        return (f"the answer takes {len(counts)} distinct values in {len(y)} examples, "
                "too many to learn as classes")
    return ""


def _folds(y: list[str], groups: list[str], folds: int, seed: int) -> list[tuple[Any, Any]]:
    """Stratified K-fold (train, test) index pairs that keep each group in one fold."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    # With every question distinct the groups are singletons, and plain stratified K-fold makes
    # the same kind of split much faster than the group-balancing search.
    distinct = len(set(groups)) == len(groups)
    kind = StratifiedKFold if distinct else StratifiedGroupKFold
    cv = kind(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # Rare answers (fewer than ``folds`` examples) cannot be in every fold; that is fine.
        warnings.filterwarnings("ignore", message="The least populated class")
        return list(cv.split(groups, y, None if distinct else groups))


def _out_of_fold(
    x: list[Features], y: list[str], splits: list[tuple[Any, Any]], dense: bool
) -> list[str]:
    """Each example's prediction by a logistic regression fitted on the other folds.

    Features are named once over all examples (a label-free step: a feature that no training
    example has keeps weight 0); scaling and the regression are fitted on the training folds.
    """
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, StandardScaler

    matrix = DictVectorizer(sparse=not dense).fit_transform(x)
    predicted = [""] * len(y)
    for train, test in splits:
        y_train = [y[i] for i in train]
        if len(set(y_train)) == 1:  # nothing to fit: predict the only class seen
            for i in test:
                predicted[i] = y_train[0]
            continue
        model = make_pipeline(StandardScaler() if dense else MaxAbsScaler(),
                              LogisticRegression(max_iter=2000))
        model.fit(matrix[train], y_train)
        for i, p in zip(test, model.predict(matrix[test])):
            predicted[i] = str(p)
    return predicted
