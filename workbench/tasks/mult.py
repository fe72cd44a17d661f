"""Multiplication k × k in iCoT's format (Deng et al., implicit chain of thought).

iCoT's data files (``data/4_by_4_mult/*.txt``, ``data/5_by_5_mult/*.txt`` in
da03/implicit_chain_of_thought) hold one problem per line, ``question||cot #### answer``::

    1 3 4 5 * 8 1 9 3||8 4 4 3 4 + 0 1 3 4 5 0 ( 8 5 7 7 9 0 ) + 0 0 9 7 8 8 4 ( 8 5 6 5 8 9 4 )
        + 0 0 0 3 9 2 6 1 #### 8 5 6 8 7 2 1 2

(one line, wrapped here: 5431 × 3918 = 21286458, the first line of
``data/4_by_4_mult/test_bigbench.txt``; the 5 × 5 file follows the same rules). What the
files show, and what this module reproduces exactly:

* Every number is written digit by digit, least significant first, digits separated by spaces.
* Both operands have exactly k digits (the most significant digit is never 0).
* The CoT is the k partial products a × b_i × 10^i joined by ``" + "``; partial i is zero-padded
  (at its high end, i.e. on the right) to k + 1 + i digits, so it starts with i zeros.
* Partials 1..k-2 are followed by the running sum ``( … )``, also k + 1 + i digits wide; the
  first partial has none (it is its own sum), nor the last (its sum is the answer).
* The answer is the product, padded to 2k digits.

Here ``steps[i]`` is partial i with its running sum, without the ``+`` separators
(:func:`to_icot_line` puts them back). ``proof[i] = {"digit": b_i, "partial": a·b_i·10^i,
"sum": a·(b mod 10^(i+1))}``. Task fields: ``a``, ``b`` (the operands as integers) and ``k``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError
from workbench.tasks.base import Example, Task, check_common, mean, share_table
from workbench.tokenizer import split_words

DIGITS = [str(d) for d in range(10)]
TEMPLATE_WORDS = ["*", "(", ")"]
FIELDS = ("a", "b", "k")


@dataclass(frozen=True)
class MultConfig:
    """Operand length."""

    k: int = 4
    """Digits of each operand (iCoT publishes 4 × 4 and 5 × 5)."""

    def __post_init__(self) -> None:
        if self.k < 2:
            raise UserError("must be at least 2", field="k")


PRESETS = {
    "tiny": MultConfig(k=2),
    "demo": MultConfig(k=3),
    "paper": MultConfig(k=4),
}


def digits(n: int, width: int) -> str:
    """``n`` least significant digit first, zero-padded to ``width``: (1540, 5) → "0 4 5 1 0"."""
    text = str(n).zfill(width)
    if len(text) != width:
        raise ValueError(f"{n} has more than {width} digits")
    return " ".join(reversed(text))


def make_example(a: int, b: int, k: int) -> Example:
    """The example for a × b with k-digit operands."""
    steps, proof, total = [], [], 0
    for i, d in enumerate(int(c) for c in reversed(str(b))):
        partial = a * d * 10**i
        total += partial
        width = k + 1 + i
        step = digits(partial, width)
        if 0 < i < k - 1:
            step += f" ( {digits(total, width)} )"
        steps.append(step)
        proof.append({"digit": d, "partial": partial, "sum": total})
    return {
        "question": f"{digits(a, k)} * {digits(b, k)}",
        "steps": steps,
        "answer": digits(a * b, 2 * k),
        "proof": proof,
        "a": a,
        "b": b,
        "k": k,
    }


def generate(cfg: MultConfig, rng: random.Random) -> Example | None:
    low, high = 10 ** (cfg.k - 1), 10**cfg.k - 1
    return make_example(rng.randint(low, high), rng.randint(low, high), cfg.k)


def to_icot_line(example: Example) -> str:
    """The example as a line of iCoT's data files (without the newline)."""
    return f"{example['question']}||{' + '.join(example['steps'])} #### {example['answer']}"


_NUMBER = r"\d(?: \d)*"
_QUESTION = re.compile(rf"^({_NUMBER}) \* ({_NUMBER})$")
_STEP = re.compile(rf"^({_NUMBER})(?: \( ({_NUMBER}) \))?$")


def recognise(example: Example) -> bool:
    """``d d … * d d …`` (iCoT's digits, least significant first)."""
    question = example.get("question")
    return isinstance(question, str) and bool(_QUESTION.match(question.strip()))


def _value(reversed_digits: str) -> int:
    return int("".join(reversed(reversed_digits.split())))


def derive_proof(example: Example) -> list[dict[str, Any]]:
    """Step i: the multiplier digit b_i (from the question), the partial product a·b_i·10^i and
    the running sum (the stated one, else the previous sum plus the partial)."""
    m = _QUESTION.match(example["question"])
    if not m:
        raise UserError(f"cannot parse {example['question']!r} as 'digits * digits'",
                        field="question")
    multiplier = m.group(2).split()
    proof: list[dict[str, Any]] = []
    total = 0
    for i, step in enumerate(example["steps"]):
        s = _STEP.match(step)
        if not s:
            raise UserError(f"cannot parse {step!r} as 'digits' or 'digits ( digits )'",
                            field=f"steps[{i}]")
        if i >= len(multiplier):
            raise UserError(f"more steps than multiplier digits ({len(multiplier)})",
                            field=f"steps[{i}]")
        partial = _value(s.group(1))
        total = _value(s.group(2)) if s.group(2) else total + partial
        proof.append({"digit": int(multiplier[i]), "partial": partial, "sum": total})
    return proof


def check(example: Example) -> None:
    """Recomputes question, steps and answer from ``a``, ``b``, ``k``; raises naming the field."""
    check_common(example)
    for name in FIELDS:
        if name not in example:
            raise UserError("missing field", field=name)
        v = example[name]
        if not isinstance(v, int) or isinstance(v, bool):
            raise UserError(f"expected an integer, got {v!r}", field=name)
    k = example["k"]
    if k < 1:
        raise UserError("must be at least 1", field="k")
    for name in ("a", "b"):
        if not 10 ** (k - 1) <= example[name] < 10**k:
            raise UserError(f"{example[name]} does not have exactly k={k} digits", field=name)
    want = make_example(example["a"], example["b"], k)
    for name in ("question", "answer"):
        if example[name] != want[name]:
            raise UserError(f"expected {want[name]!r}, got {example[name]!r}", field=name)
    steps = example["steps"]
    if len(steps) != k:
        raise UserError(f"{len(steps)} steps, expected one per multiplier digit ({k})",
                        field="steps")
    for i, (got, expected) in enumerate(zip(steps, want["steps"])):
        if got != expected:
            raise UserError(f"expected {expected!r}, got {got!r}", field=f"steps[{i}]")
    if "proof" in example and example["proof"] != derive_proof(example):
        raise UserError("does not match the steps", field="proof")


def statistics(examples: list[Example]) -> dict[str, Any]:
    words = [sum(len(split_words(t)) for t in [e["question"], e["answer"], *e["steps"]])
             for e in examples]
    return {
        "k share %": share_table([e["k"] for e in examples]),
        "words per example (mean)": mean(words),
        "zero multiplier digits %": 100.0 * mean(
            [p["digit"] == 0 for e in examples for p in e["proof"]]
        ),
        "product digits share %": share_table([len(str(e["a"] * e["b"])) for e in examples]),
    }


def vocabulary(cfg: MultConfig | None = None) -> list[str]:
    return DIGITS + TEMPLATE_WORDS


TASK = Task(
    name="mult",
    description="k×k multiplication in iCoT's format: partial products and running sums.",
    config_type=MultConfig,
    presets=PRESETS,
    generate=generate,
    vocabulary=vocabulary,
    derive_proof=derive_proof,
    check=check,
    statistics=statistics,
    default_sizes={
        "tiny": {"train": 64, "valid": 16, "test": 16},
        "demo": {"train": 5000, "valid": 200, "test": 300},
        # iCoT's 4×4 sizes: 808k train (as reported in the paper), 1000 valid, 1000 test lines.
        "paper": {"train": 808000, "valid": 1000, "test": 1000},
    },
    fields=FIELDS,
    recognise=recognise,
)
