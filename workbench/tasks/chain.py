"""Chain: variable binding with arithmetic modulo p, worked in GSM8k-Aug-style steps.

The question is a shuffled program of single-letter assignments, then a query::

    b = 5. a = 3. d = b + 1. c = a + 4. e = c * 2. What is e?

Every variable is assigned once: to a literal (``a = 3.``) or to one earlier variable combined
with a constant (``c = a + 4.`` means c = (a + 4) mod p). The **main chain** is a literal followed
by ``depth`` operations (drawn in ``min_depth..max_depth``); the query is its last variable.
``distractors`` more chains (1..``distractor_depth`` operations each, default ``max_depth``; 0
allows bare literals) use other variables; each starts at
its own literal or, with probability ``branch_prob``, branches off a variable already defined, so
the query's value depends only on its own chain. No two operations share (source, operator,
constant), so a step names its statement unambiguously. Statements are shuffled: a statement may
come before the one defining its source.

Steps follow GSM8k-Aug's calculator annotations, one per operation of the main chain in dependency
order: ``<<a+4=7>>`` (source, operator, constant, ``=``, value mod p). The answer is the query's
value in decimal, e.g. ``"1"``. ``proof[i] = {"var", "value", "src", "op", "arg"}``.

Task fields: ``program`` (the statements in question order, ``[var, src, op, arg]``; a literal is
``[var, None, None, value]``), ``query`` (the asked variable) and ``modulus``.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError
from workbench.tasks.base import Example, Task, check_common, mean, share_table
from workbench.tasks.problem import Problem, number
from workbench.tokenizer import split_words

VARIABLES = list(string.ascii_lowercase)
OPS = ("+", "-", "*")
TEMPLATE_WORDS = ["=", ".", "What", "is", "?", "<<", ">>"]
FIELDS = ("program", "query", "modulus")

Statement = list[Any]  # [var, src | None, op | None, arg]


@dataclass(frozen=True)
class ChainConfig:
    """Chain lengths, the modulus and the operators."""

    min_depth: int = 3
    """Fewest operations in the main chain (= number of steps)."""
    max_depth: int = 6
    """Most operations in the main chain; distractor chains have 1..max_depth operations."""
    modulus: int = 97
    """Every value is taken modulo this number (literals lie in 0..modulus-1)."""
    ops: tuple[str, ...] = OPS
    """Operators to draw from, among ``+ - *``."""
    max_arg: int = 96
    """Largest constant of an operation (constants are 1..max_arg, 2..max_arg for ``*``)."""
    distractors: int = 2
    """Number of distractor chains."""
    distractor_depth: int | None = None
    """Most operations of a distractor chain (default max_depth; 0: bare literals ``x = 5.``)."""
    branch_prob: float = 0.5
    """Probability that a distractor chain branches off an existing variable (else a literal)."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_depth <= self.max_depth:
            raise UserError("need 1 <= min_depth <= max_depth", field="min_depth")
        if self.modulus < 2:
            raise UserError("must be at least 2", field="modulus")
        if not self.ops or any(op not in OPS for op in self.ops):
            raise UserError(f"choose among {' '.join(OPS)}", field="ops")
        if not 2 <= self.max_arg < self.modulus:
            raise UserError("need 2 <= max_arg < modulus", field="max_arg")
        if not 0.0 <= self.branch_prob <= 1.0:
            raise UserError("must lie in 0..1", field="branch_prob")
        if self.distractors < 0 or (self.distractors + 1) * (self.max_depth + 1) > len(VARIABLES):
            raise UserError(
                f"(distractors + 1) * (max_depth + 1) must not exceed {len(VARIABLES)} variables",
                field="distractors",
            )


PRESETS = {
    "tiny": ChainConfig(min_depth=2, max_depth=2, modulus=11, max_arg=10, distractors=1),
    # Learnable by CoT in minutes on two CPU cores (0.9M parameters: 98-99 %). Measured in the
    # same budget: one distractor chain held CoT at 22 %, one bare distractor literal at 41 %,
    # mixing in * at 46-52 %, and +/- mod 23 left the values at chance (docs/RESULTS.md). The
    # price: with + only and no distractors the answer is the sum of the question's numbers
    # mod 10, a shortcut open to no-CoT. The paper preset keeps distractor chains and * .
    "demo": ChainConfig(min_depth=2, max_depth=4, modulus=10, ops=("+",), max_arg=3,
                        distractors=0),
    "paper": ChainConfig(),
}


def _draw_chain(
    cfg: ChainConfig, rng: random.Random, src: str | None, depth: int, names: list[str]
) -> list[Statement]:
    """A chain of ``depth`` operations from ``src`` (or from a new literal); pops from ``names``."""
    out: list[Statement] = []
    if src is None:
        src = names.pop()
        out.append([src, None, None, rng.randrange(cfg.modulus)])
    for _ in range(depth):
        op = rng.choice(cfg.ops)
        arg = rng.randint(2 if op == "*" else 1, cfg.max_arg)
        var = names.pop()
        out.append([var, src, op, arg])
        src = var
    return out


def generate(cfg: ChainConfig, rng: random.Random) -> Example | None:
    depth = rng.randint(cfg.min_depth, cfg.max_depth)
    names = rng.sample(VARIABLES, (cfg.distractors + 1) * (cfg.max_depth + 1))
    main = _draw_chain(cfg, rng, None, depth, names)
    program = list(main)
    for _ in range(cfg.distractors):
        src = None
        if rng.random() < cfg.branch_prob:
            src = rng.choice(program)[0]
        most = cfg.max_depth if cfg.distractor_depth is None else cfg.distractor_depth
        depth = rng.randint(min(1, most), most)
        if src is not None and depth == 0:
            continue
        program += _draw_chain(cfg, rng, src, depth, names)
    keys = [tuple(s[1:]) for s in program if s[1] is not None]
    if len(set(keys)) != len(keys):
        return None
    rng.shuffle(program)
    query = main[-1][0]
    values = _evaluate(program, cfg.modulus)
    example: Example = {
        "question": _render(program, query),
        "steps": _steps(program, query, values),
        "answer": str(values[query]),
        "program": program,
        "query": query,
        "modulus": cfg.modulus,
    }
    example["proof"] = derive_proof(example)
    return example


def _statement(s: Statement) -> str:
    var, src, op, arg = s
    return f"{var} = {arg}." if src is None else f"{var} = {src} {op} {arg}."


def _render(program: list[Statement], query: str) -> str:
    return " ".join(_statement(s) for s in program) + f" What is {query}?"


def _apply(op: str, x: int, arg: int, p: int) -> int:
    return (x + arg if op == "+" else x - arg if op == "-" else x * arg) % p


def _evaluate(program: list[Statement], p: int) -> dict[str, int]:
    """Every variable's value; raises (field ``program``) on undefined, repeated or cyclic names."""
    by_var: dict[str, Statement] = {}
    for s in program:
        if s[0] in by_var:
            raise UserError(f"variable {s[0]!r} is assigned twice", field="program")
        by_var[s[0]] = s
    values: dict[str, int] = {}
    for start in by_var:
        path, var = [], start
        while var not in values:  # walk back to a known value, then fill in forwards
            if var in path:
                raise UserError(f"variable {var!r} depends on itself", field="program")
            if var not in by_var:
                raise UserError(f"variable {var!r} is never assigned", field="program")
            path.append(var)
            _, src, _, arg = by_var[var]
            if src is None:
                values[var] = arg % p
                path.pop()
                break
            var = src
        for v in reversed(path):
            _, src, op, arg = by_var[v]
            values[v] = _apply(op, values[src], arg, p)
    return values


def _dependency_chain(program: list[Statement], query: str) -> list[Statement]:
    """The operations leading to ``query``, in dependency order (the literal excluded)."""
    by_var = {s[0]: s for s in program}
    out, var = [], query
    while by_var[var][1] is not None:
        out.append(by_var[var])
        var = by_var[var][1]
    return out[::-1]


def _steps(program: list[Statement], query: str, values: dict[str, int]) -> list[str]:
    return [f"<<{src}{op}{arg}={values[var]}>>"
            for var, src, op, arg in _dependency_chain(program, query)]


_STATEMENT = re.compile(r"([a-z]) = (?:([a-z]) ([-+*]) )?(\d+)\.")
_QUERY = re.compile(r"What is ([a-z])\?\s*$")
_STEP = re.compile(r"^<<([a-z])([-+*])(\d+)=(\d+)>>$")


def parse_question(question: str) -> tuple[list[tuple[str, str | None, str | None, int]],
                                          str | None]:
    """The question's statements in order, ``(var, src, op, arg)`` with ``src`` and ``op``
    ``None`` for a literal, and the queried variable (None if the question asks none)."""
    statements = [(var, src or None, op or None, int(arg))
                  for var, src, op, arg in _STATEMENT.findall(question)]
    query = _QUERY.search(question)
    return statements, query.group(1) if query else None


def derive_proof(example: Example) -> list[dict[str, Any]]:
    """Step i computes ``var`` = ``src`` ``op`` ``arg`` = ``value``; ``var`` is found by matching
    the step's (src, op, arg) against the question's statements."""
    defined: dict[tuple[str, str, int], list[str]] = {}
    for var, src, op, arg in parse_question(example["question"])[0]:
        if src is not None:
            defined.setdefault((src, op, arg), []).append(var)
    proof = []
    for i, step in enumerate(example["steps"]):
        m = _STEP.match(step)
        if not m:
            raise UserError(f"cannot parse {step!r} as '<<a+4=7>>'", field=f"steps[{i}]")
        src, op, arg, value = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
        found = defined.get((src, op, arg), [])
        if len(found) != 1:
            what = "no statement" if not found else "several statements"
            raise UserError(f"{what} '? = {src} {op} {arg}.' in the question",
                            field=f"steps[{i}]")
        proof.append({"var": found[0], "value": value, "src": src, "op": op, "arg": arg})
    return proof


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_program(program: Any, p: int) -> None:
    if not isinstance(program, list) or not program:
        raise UserError("expected a non-empty list of statements", field="program")
    for i, s in enumerate(program):
        ok = isinstance(s, list) and len(s) == 4 and s[0] in VARIABLES and _is_int(s[3])
        if ok and s[1] is None:
            ok = s[2] is None and 0 <= s[3] < p
        elif ok:
            ok = s[1] in VARIABLES and s[2] in OPS and s[3] >= 0
        if not ok:
            raise UserError(f"expected [var, src, op, arg] or [var, null, null, value], got {s!r}",
                            field=f"program[{i}]")


def check(example: Example) -> None:
    """Recomputes the question, steps and answer from ``program``; raises naming the field."""
    check_common(example)
    for name in FIELDS:
        if name not in example:
            raise UserError("missing field", field=name)
    p, program, query = example["modulus"], example["program"], example["query"]
    if not _is_int(p) or p < 2:
        raise UserError(f"expected an integer >= 2, got {p!r}", field="modulus")
    _check_program(program, p)
    values = _evaluate(program, p)
    if query not in values:
        raise UserError(f"{query!r} is not a variable of the program", field="query")
    if example["question"] != _render(program, query):
        raise UserError("does not match 'program' and 'query'", field="question")
    if example["answer"] != str(values[query]):
        raise UserError(f"expected {values[query]!r}", field="answer")
    expected, steps = _steps(program, query, values), example["steps"]
    if len(steps) != len(expected):
        raise UserError(f"{len(steps)} steps but {query} needs {len(expected)}", field="steps")
    for i, (got, want) in enumerate(zip(steps, expected)):
        if got != want:
            raise UserError(f"expected {want!r}, got {got!r}", field=f"steps[{i}]")
    if "proof" in example and example["proof"] != derive_proof(example):
        raise UserError("does not match the steps", field="proof")


def in_question_order(example: Example) -> bool:
    """Whether the main chain's statements appear in the question in dependency order."""
    order = {s[0]: i for i, s in enumerate(example["program"])}
    chain = [order[s[0]] for s in _dependency_chain(example["program"], example["query"])]
    return chain == sorted(chain)


def statistics(examples: list[Example]) -> dict[str, Any]:
    depths = [len(e["steps"]) for e in examples]
    return {
        "depth (mean)": mean(depths),
        "depth (min)": min(depths),
        "depth (max)": max(depths),
        "depth share %": share_table(depths),
        "statements (mean)": mean([len(e["program"]) for e in examples]),
        "question words (mean)": mean([len(split_words(e["question"])) for e in examples]),
        "steps in question order %": 100.0 * mean([in_question_order(e) for e in examples]),
        "distinct answers": len({e["answer"] for e in examples}),
    }


def vocabulary(cfg: ChainConfig) -> list[str]:
    numbers = [str(i) for i in range(cfg.modulus)]  # constants are below the modulus too
    return VARIABLES + numbers + list(cfg.ops) + TEMPLATE_WORDS


# -- shortcut controls -----------------------------------------------------------------------------
def local_features(example: Example) -> dict[str, float]:
    """What the query's own statement shows without following its chain: its operator and
    constant (as a number and as a category), where it stands, and how many statements there
    are."""
    program = example["program"]
    at = next(i for i, s in enumerate(program) if s[0] == example["query"])
    _, src, op, arg = program[at]
    kind = "literal" if src is None else op
    return {
        "statements": float(len(program)),
        "query position": at / len(program),
        f"query operator {kind}": 1.0,
        "query constant": float(arg),
        f"query constant {arg}": 1.0,
    }


def problem(question: str, proof: list[dict[str, Any]]) -> Problem:
    """The assignments as a dependency graph (source → variable), the query's chain
    highlighted from the literal it starts at, each variable labelled with its statement and,
    on the chain, its value."""
    statements, query = parse_question(question)
    edges, labels = [], {}
    for var, src, op, arg in statements:
        labels[var] = f"{var} = {src} {op} {arg}" if src else f"{var} = {arg}"
        if src:
            edges.append((src, var))
    path: list[str] = []
    if proof:
        path = [str(proof[0]["src"])] + [str(r["var"]) for r in proof]
    for r in proof:
        if r.get("value") is not None:
            labels[str(r["var"])] = f"{labels.get(str(r['var']), r['var'])} = {r['value']}"
    roles = {}
    if path:
        roles[path[0]] = "root"
    if query:
        roles[query] = "target"
    on_path = set(path)
    sentences = [(f"{v} = {f'{s} {o} {a}' if s else a}.", v in on_path)
                 for v, s, o, a in statements]
    if query:
        sentences.append((f"What is {query}?", False))
    return Problem(sorted(labels), edges, path, labels, roles, sentences,
                   what="dependency chain",
                   legend="◆ the literal the chain starts from, ★ the queried variable")


def proof_label(record: dict[str, Any]) -> str | None:
    """``c = a + 4 = 7`` (``c = 7`` for a literal); None without a variable and its value."""
    var, value = record.get("var"), record.get("value")
    if var is None or value is None:
        return None
    src = record.get("src")
    computed = f"{src} {record.get('op')} {number(record.get('arg'))} = " if src is not None else ""
    return f"{var} = {computed}{number(value)}"


_LOOKS_LIKE = re.compile(r"^([a-z] = [^.]+\. )+What is [a-z]\?$")


def recognise(example: Example) -> bool:
    """Assignments, then ``What is x?``."""
    question = example.get("question")
    return isinstance(question, str) and bool(_LOOKS_LIKE.match(question.strip()))


TASK = Task(
    name="chain",
    description="Variable binding mod p: follow shuffled assignments to the queried variable.",
    config_type=ChainConfig,
    presets=PRESETS,
    generate=generate,
    vocabulary=vocabulary,
    derive_proof=derive_proof,
    check=check,
    statistics=statistics,
    default_sizes={
        "tiny": {"train": 64, "valid": 16, "test": 16},
        "demo": {"train": 4000, "valid": 200, "test": 300},
        "paper": {"train": 20000, "valid": 500, "test": 1000},
    },
    fields=FIELDS,
    local_features=local_features,
    problem=problem,
    proof_label=proof_label,
    recognise=recognise,
)
