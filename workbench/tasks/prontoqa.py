"""ProntoQA (Saparov & He 2023; Coconut's 5-hop setting): true/false over a fictional ontology.

Facts in random order, with singular templates::

    Max is a c0.  Every c0 is a c1. ... Every c(k-1) is a ck.  Every ck is [not] P.

then ``True or false: Max is P.`` or ``True or false: Max is not P.``; the answer is ``True`` or
``False``. The entity's chain c0 → … → ck has ``hops`` = k links and ck carries the property P
with value True ("is P") or False ("is not P"). As in ProntoQA, a **distractor chain** d0 → … → dm
(``distractor_hops`` = m links, concepts disjoint from the entity's chain) ends in a concept with
the *opposite* value of the same adjective, and ``extra_facts`` property facts about other
adjectives (each used once, on random concepts of either chain) are mixed in. No fact links the two
chains, so the ontology is consistent and only the entity's chain decides the answer. The property
value and the wording ("is" / "is not") are drawn independently, so answers are ~50 % True.

Steps: ``Max is a c1.`` … ``Max is a ck.``, then ``Max is P.`` or ``Max is not P.`` (what the
chain proves). ``proof``: ``{"node": ci, "depth": i}`` for i = 1..k, then
``{"property": P, "value": bool, "depth": k + 1}``.

Task fields: ``entity``, ``chain`` (c0..ck), ``property``, ``value`` (whether the entity has the
property), ``negated`` (the question asks "is not"), ``distractor`` (d0..dm).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError
from workbench.tasks.base import Example, Task, check_common, mean, share_table
from workbench.tasks.prosqa import CONCEPTS, PEOPLE
from workbench.tokenizer import split_words

ADJECTIVES = (
    "bright cold fast happy kind loud red shy small sour transparent wooden"
).split()
TEMPLATE_WORDS = ["Every", "is", "a", "not", "True", "or", "false", "False", ":", "."]
FIELDS = ("entity", "chain", "property", "value", "negated", "distractor")


@dataclass(frozen=True)
class ProntoQAConfig:
    """Chain lengths and the number of irrelevant facts."""

    hops: int = 5
    """Links from the entity's concept to the concept with the property (the steps are hops+1)."""
    distractor_hops: int = 1
    """Links in the distractor chain, whose last concept has the opposite property value."""
    extra_facts: int = 6
    """Property facts about other adjectives (one each) on random concepts of either chain."""

    def __post_init__(self) -> None:
        if self.hops < 1:
            raise UserError("must be at least 1", field="hops")
        if self.distractor_hops < 0:
            raise UserError("must be at least 0", field="distractor_hops")
        if self.hops + self.distractor_hops + 2 > len(CONCEPTS):
            raise UserError(f"the two chains need more than {len(CONCEPTS)} concepts",
                            field="distractor_hops")
        if not 0 <= self.extra_facts < len(ADJECTIVES):
            raise UserError(f"must lie in 0..{len(ADJECTIVES) - 1}", field="extra_facts")


PRESETS = {
    "tiny": ProntoQAConfig(hops=2, distractor_hops=1, extra_facts=1),
    "demo": ProntoQAConfig(hops=3, distractor_hops=1, extra_facts=2),
    "paper": ProntoQAConfig(),
}


def _isa(x: str, y: str) -> str:
    return f"Every {x} is a {y}."


def _has(x: str, adjective: str, value: bool) -> str:
    return f"Every {x} is {'' if value else 'not '}{adjective}."


def _claim(entity: str, adjective: str, value: bool) -> str:
    return f"{entity} is {'' if value else 'not '}{adjective}."


def _tail(entity: str, adjective: str, negated: bool) -> str:
    return f"True or false: {_claim(entity, adjective, not negated)}"


def _required_facts(ex: Example) -> list[str]:
    """The facts every question must state: both chains and their property facts."""
    e, chain, dis = ex["entity"], ex["chain"], ex["distractor"]
    p, v = ex["property"], ex["value"]
    facts = [f"{e} is a {chain[0]}."]
    facts += [_isa(x, y) for x, y in zip(chain, chain[1:])]
    facts += [_has(chain[-1], p, v)]
    facts += [_isa(x, y) for x, y in zip(dis, dis[1:])]
    facts += [_has(dis[-1], p, not v)]
    return facts


def _steps(ex: Example) -> list[str]:
    e = ex["entity"]
    return [f"{e} is a {c}." for c in ex["chain"][1:]] + [_claim(e, ex["property"], ex["value"])]


def generate(cfg: ProntoQAConfig, rng: random.Random) -> Example | None:
    concepts = rng.sample(CONCEPTS, cfg.hops + cfg.distractor_hops + 2)
    adjectives = rng.sample(ADJECTIVES, cfg.extra_facts + 1)
    example: Example = {
        "entity": rng.choice(PEOPLE),
        "chain": concepts[: cfg.hops + 1],
        "property": adjectives[0],
        "value": rng.random() < 0.5,
        "negated": rng.random() < 0.5,
        "distractor": concepts[cfg.hops + 1:],
    }
    facts = _required_facts(example)
    facts += [_has(rng.choice(concepts), q, rng.random() < 0.5) for q in adjectives[1:]]
    rng.shuffle(facts)
    example["question"] = " ".join(facts) + " " + _tail(
        example["entity"], example["property"], example["negated"]
    )
    example["steps"] = _steps(example)
    example["answer"] = "True" if example["value"] != example["negated"] else "False"
    example["proof"] = derive_proof(example)
    return example


# A conclusion about the entity: "Max is a wumpus." (a concept) or "Max is [not] bright."
_CLAIM = re.compile(r"^(?!Every |Each )([A-Z]\w*) is (?:an? (\w+)|(not )?(\w+))\.$")
_SENTENCE = re.compile(r"[^.]+\.")


def derive_proof(example: Example) -> list[dict[str, Any]]:
    """Step i (from 1) concludes that the entity is a ``node``, or has ``property`` = ``value``.

    A step of several sentences (Coconut's published ProntoQA pairs a conclusion with a rule) is
    labelled by its last sentence about the entity.
    """
    proof: list[dict[str, Any]] = []
    for i, step in enumerate(example["steps"]):
        claims = [m for s in _SENTENCE.findall(step) if (m := _CLAIM.match(s.strip()))]
        if not claims:
            raise UserError(f"cannot parse {step!r} as 'Max is a X.' or 'Max is [not] P.'",
                            field=f"steps[{i}]")
        m = claims[-1]
        if m.group(2):
            proof.append({"node": m.group(2), "depth": i + 1})
        else:
            proof.append({"property": m.group(4), "value": not m.group(3), "depth": i + 1})
    return proof


def _check_fields(ex: Example) -> None:
    for name in FIELDS:
        if name not in ex:
            raise UserError("missing field", field=name)
    for name in ("entity", "property"):
        if not isinstance(ex[name], str) or split_words(ex[name]) != [ex[name]]:
            raise UserError(f"expected a single word, got {ex[name]!r}", field=name)
    for name in ("value", "negated"):
        if not isinstance(ex[name], bool):
            raise UserError(f"expected true or false, got {ex[name]!r}", field=name)
    for name, least in (("chain", 2), ("distractor", 1)):
        names = ex[name]
        if not (isinstance(names, list) and len(names) >= least
                and all(isinstance(c, str) and split_words(c) == [c] for c in names)):
            raise UserError(f"expected a list of at least {least} concept names", field=name)
        if len(set(names)) != len(names):
            raise UserError("repeated concept", field=name)
    if set(ex["chain"]) & set(ex["distractor"]):
        raise UserError("shares concepts with 'chain'", field="distractor")


def check(example: Example) -> None:
    """Recomputes facts, steps and answer from the task fields; raises naming the field."""
    check_common(example)
    _check_fields(example)
    e, p = example["entity"], example["property"]
    tail = " " + _tail(e, p, example["negated"])
    question = example["question"]
    if not question.endswith(tail):
        raise UserError(f"does not end with {tail.strip()!r}", field="question")
    stated = [s.strip() for s in _SENTENCE.findall(question[: -len(tail)])]
    required = _required_facts(example)
    missing = sorted(set(required) - set(stated))
    if missing:
        raise UserError(f"missing the fact {missing[0]!r}", field="question")
    concepts = set(example["chain"]) | set(example["distractor"])
    used = {p}
    for fact in stated:
        if fact in required:
            continue
        m = re.fullmatch(r"Every (\w+) is (?:not )?(\w+)\.", fact)
        if not m or m.group(1) not in concepts or m.group(2) in used:
            raise UserError(f"unexpected fact {fact!r} (only one fact per other adjective, "
                            "about a concept of either chain)", field="question")
        used.add(m.group(2))
    if len(stated) != len(set(stated)):
        raise UserError("repeated fact", field="question")
    answer = "True" if example["value"] != example["negated"] else "False"
    if example["answer"] != answer:
        raise UserError(f"expected {answer!r}", field="answer")
    expected, steps = _steps(example), example["steps"]
    if len(steps) != len(expected):
        raise UserError(f"{len(steps)} steps but the chain needs {len(expected)}", field="steps")
    for i, (got, want) in enumerate(zip(steps, expected)):
        if got != want:
            raise UserError(f"expected {want!r}, got {got!r}", field=f"steps[{i}]")
    if "proof" in example and example["proof"] != derive_proof(example):
        raise UserError("does not match the steps", field="proof")


def statistics(examples: list[Example]) -> dict[str, Any]:
    hops = [len(e["chain"]) - 1 for e in examples]
    return {
        "hops (mean)": mean(hops),
        "hops (min)": min(hops),
        "hops (max)": max(hops),
        "answer share %": share_table([e["answer"] for e in examples]),
        "negated questions %": 100.0 * mean([e["negated"] for e in examples]),
        "facts (mean)": mean([e["question"].count(".") - 1 for e in examples]),
        "question words (mean)": mean([len(split_words(e["question"])) for e in examples]),
    }


def vocabulary(cfg: ProntoQAConfig | None = None) -> list[str]:
    return PEOPLE + CONCEPTS + ADJECTIVES + TEMPLATE_WORDS


# -- shortcut controls -----------------------------------------------------------------------------
_QUESTION = re.compile(r"True or false: (\w+) is (not )?(\w+)\.$")


def local_features(example: Example) -> dict[str, float]:
    """The question's last sentence alone: whether it asks "is not", its adjective, its entity."""
    m = _QUESTION.search(example["question"])
    if m is None:
        raise UserError("does not end with 'True or false: X is [not] P.'", field="question")
    return {"negated": float(bool(m.group(2))), f"adjective {m.group(3)}": 1.0,
            f"entity {m.group(1)}": 1.0}


def recognise(example: Example) -> bool:
    """A question that asks ``True or false: …``."""
    question = example.get("question")
    return isinstance(question, str) and "True or false:" in question


TASK = Task(
    name="prontoqa",
    description="ProntoQA (5-hop in Coconut): true or false, following 'Every X is a Y' facts.",
    config_type=ProntoQAConfig,
    presets=PRESETS,
    generate=generate,
    vocabulary=vocabulary,
    derive_proof=derive_proof,
    check=check,
    statistics=statistics,
    default_sizes={
        "tiny": {"train": 64, "valid": 16, "test": 16},
        "demo": {"train": 4000, "valid": 200, "test": 300},
        # Coconut's split of 10,000 generated 5-hop examples: 9000 / 200 / the rest (800).
        "paper": {"train": 9000, "valid": 200, "test": 800},
    },
    fields=FIELDS,
    local_features=local_features,
    recognise=recognise,
)
