"""ProsQA (Coconut, Hao et al. 2024): reachability questions over a random DAG of concepts.

Facts ``Every X is a Y.`` / ``Tom is a X.`` in random order, then ``Is Tom a A or B?``.

The graph follows the paper's Algorithm 1: each new node draws Poisson(1.5) parents (a draw of
zero is redrawn ``zero_redraws`` times); 35 % of nodes may only hang below seed 0's side, 35 %
only below seed 1's, the rest anywhere; parents are weighted by ``depth * 1.5 + 1`` (depth =
longest path from a person: deeper first, to make chains longer); a node's label ORs its parents'
labels (bit s = reachable from seed s). Nodes without parents are people, the rest "-pus"
concepts; a node in no fact is dropped. The root is the seed whose deepest exclusively-reachable
leaf lies deeper (ties at random); the target is that leaf, the negative target a leaf reachable
only from the other seed. The steps are one shortest root→target path, uniform over all of them.

The constants not fixed by the paper (node-count range, zero redraws, longest-path depth) were
calibrated against the published validation split; ``lwb data inspect`` on both shows the match.
Fields and sentence templates are exactly Coconut's, so models trained on generated data can be
evaluated on the published files.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import UserError
from workbench.tasks.base import (
    Example,
    Task,
    check_common,
    frontier_groups,
    mean,
    poisson,
    share_table,
)
from workbench.tasks.problem import Problem, graph_proof_label

#: The released name inventory (Coconut's ProsQA, MIT licence).
PEOPLE = (
    "Alex Bob Carol Davis Eva Fae Gabriel Jack Max Oliver Polly Rex Sally Sam Stella Tom Wren"
).split()
CONCEPTS = (
    "bompus boompus brimpus chorpus dumpus felpus fompus gerpus gorpus grimpus gwompus hilpus "
    "impus jelpus jompus kerpus lempus lorpus numpus quimpus rempus rompus rorpus scrompus "
    "shumpus sterpus storpus terpus timpus tumpus vumpus worpus wumpus yerpus yimpus yumpus "
    "zhorpus zumpus"
).split()
TEMPLATE_WORDS = ["Every", "is", "a", "Is", "or", ".", "?"]

FIELDS = ("question", "answer", "steps", "idx_to_symbol", "edges", "root", "target", "neg_target")


@dataclass(frozen=True)
class ProsQAConfig:
    """Graph sizes and Algorithm 1's constants."""

    min_nodes: int = 18
    """Fewest nodes drawn for a graph (before nodes in no fact are dropped)."""
    max_nodes: int = 28
    """Most nodes drawn for a graph."""
    mean_parents: float = 1.5
    """Poisson mean of a new node's number of parents."""
    zero_redraws: int = 1
    """How many times a draw of zero parents is redrawn (zero parents makes a new person)."""
    side_prob: float = 0.35
    """Probability that a new node may only attach below seed 0's side (and again for seed 1)."""
    depth_weight: float = 1.5
    """Parent weight is ``depth * depth_weight + 1``, depth = longest path from a person."""
    min_path: int = 3
    """Shortest root→target path length, at least."""
    max_path: int = 6
    """Shortest root→target path length, at most."""


PRESETS = {
    "tiny": ProsQAConfig(min_nodes=8, max_nodes=10, min_path=2, max_path=3),
    # ~11 nodes, 15 edges, shortest paths 2/3/4 in about 54/38/8 %: from scratch on two CPU
    # cores, larger graphs left too little budget to learn the search (docs/RESULTS.md).
    "demo": ProsQAConfig(min_nodes=10, max_nodes=13, min_path=2, max_path=4),
    "paper": ProsQAConfig(),
}


def _weighted_sample(
    rng: random.Random, items: list[int], weights: list[float], k: int
) -> list[int]:
    """``k`` distinct items, drawn one by one with probability proportional to weight."""
    items, weights, out = list(items), list(weights), []
    for _ in range(k):
        r, acc = rng.random() * sum(weights), 0.0
        for j, w in enumerate(weights):
            acc += w
            if r < acc or j == len(weights) - 1:
                out.append(items.pop(j))
                weights.pop(j)
                break
    return out


def _bfs(children: list[list[int]], start: int) -> dict[int, int]:
    dist, queue = {start: 0}, deque([start])
    while queue:
        u = queue.popleft()
        for v in children[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def _draw_graph(cfg: ProsQAConfig, rng: random.Random) -> tuple[int, list[tuple[int, int]]]:
    """Algorithm 1: returns the node count and the edges (parent, child), grouped by child."""
    n = rng.randint(cfg.min_nodes, cfg.max_nodes)
    labels, depth = [1, 2], [0, 0]
    groups: dict[int, list[int]] = {0: [], 1: [0], 2: [1], 3: []}
    edges: list[tuple[int, int]] = []
    for idx in range(2, n):
        k = poisson(rng, cfg.mean_parents)
        for _ in range(cfg.zero_redraws):
            if k:
                break
            k = poisson(rng, cfg.mean_parents)
        r = rng.random()
        if r <= cfg.side_prob:
            candidates = groups[0] + groups[1]
        elif r <= 2 * cfg.side_prob:
            candidates = groups[0] + groups[2]
        else:
            candidates = list(range(idx))
        weights = [depth[c] * cfg.depth_weight + 1 for c in candidates]
        parents = _weighted_sample(rng, candidates, weights, min(k, len(candidates)))
        label = 0
        for p in parents:
            label |= labels[p]
            edges.append((p, idx))
        labels.append(label)
        depth.append(1 + max(depth[p] for p in parents) if parents else 0)
        groups[label].append(idx)
    return n, edges


def _sample_shortest_path(
    children: list[list[int]], dist: dict[int, int], target: int, rng: random.Random
) -> list[int]:
    """One shortest path from the BFS source to ``target``, uniform over all shortest paths."""
    parents: dict[int, list[int]] = {}
    for u, kids in enumerate(children):
        for v in kids:
            if u in dist and v in dist and dist[v] == dist[u] + 1:
                parents.setdefault(v, []).append(u)
    count: dict[int, int] = {}
    for v in sorted(dist, key=dist.get):
        count[v] = 1 if dist[v] == 0 else sum(count[p] for p in parents[v])
    path = [target]
    while dist[path[-1]] > 0:
        ps = parents[path[-1]]
        path.append(_weighted_sample(rng, ps, [count[p] for p in ps], 1)[0])
    return path[::-1]


def generate(cfg: ProsQAConfig, rng: random.Random) -> Example | None:
    n, edges = _draw_graph(cfg, rng)
    has_parent = {c for _, c in edges}
    in_fact = has_parent | {p for p, _ in edges}
    if 0 not in in_fact or 1 not in in_fact:
        return None
    keep = [v for v in range(n) if v in in_fact]
    new = {v: i for i, v in enumerate(keep)}
    n = len(keep)
    edges = [(new[p], new[c]) for p, c in edges]
    children: list[list[int]] = [[] for _ in range(n)]
    for p, c in edges:
        children[p].append(c)
    dists = [_bfs(children, 0), _bfs(children, 1)]
    leaves = [v for v in range(n) if not children[v]]
    exclusive = [[v for v in leaves if v in dists[s] and v not in dists[1 - s]] for s in (0, 1)]
    if not exclusive[0] or not exclusive[1]:
        return None
    best = [max(dists[s][v] for v in exclusive[s]) for s in (0, 1)]
    root = rng.randrange(2) if best[0] == best[1] else (0 if best[0] > best[1] else 1)
    if not cfg.min_path <= best[root] <= cfg.max_path:
        return None
    has_parent = {c for _, c in edges}
    sources = [v for v in range(n) if v not in has_parent]
    if len(sources) > len(PEOPLE) or n - len(sources) > len(CONCEPTS):
        return None
    target = rng.choice([v for v in exclusive[root] if dists[root][v] == best[root]])
    neg_target = rng.choice(exclusive[1 - root])

    people, concepts = iter(rng.sample(PEOPLE, len(sources))), iter(
        rng.sample(CONCEPTS, n - len(sources))
    )
    source_set = set(sources)
    symbols = [next(people) if v in source_set else next(concepts) for v in range(n)]
    facts = [_sentence(symbols, p, c, p in source_set) for p, c in edges]
    rng.shuffle(facts)
    options = [symbols[target], symbols[neg_target]]
    rng.shuffle(options)
    question = " ".join(facts) + f" Is {symbols[root]} a {options[0]} or {options[1]}?"
    path = _sample_shortest_path(children, dists[root], target, rng)
    steps = [_sentence(symbols, p, c, p in source_set) for p, c in zip(path, path[1:])]
    example: Example = {
        "question": question,
        "answer": f"{symbols[root]} is a {symbols[target]}.",
        "steps": steps,
        "idx_to_symbol": symbols,
        "edges": [[p, c] for p, c in edges],
        "root": root,
        "target": target,
        "neg_target": neg_target,
    }
    example["proof"] = derive_proof(example)
    return example


def _sentence(symbols: list[str], parent: int, child: int, parent_is_person: bool) -> str:
    if parent_is_person:
        return f"{symbols[parent]} is a {symbols[child]}."
    return f"Every {symbols[parent]} is a {symbols[child]}."


_STEP = re.compile(r"^(?:Every (\w+)|(\w+)) is a (\w+)\.$")


def _parse_step(i: int, step: str) -> tuple[str, str]:
    m = _STEP.match(step)
    if not m:
        raise UserError(
            f"cannot parse {step!r} as 'X is a Y.' or 'Every X is a Y.'", field=f"steps[{i}]"
        )
    return m.group(1) or m.group(2), m.group(3)


def derive_proof(example: Example) -> list[dict[str, Any]]:
    """Step i establishes that the root is a ``node`` (reached from ``parent``) at ``depth`` i+1."""
    proof = []
    for i, step in enumerate(example["steps"]):
        parent, node = _parse_step(i, step)
        proof.append({"node": node, "parent": parent, "depth": i + 1})
    return proof


# -- reading a question ----------------------------------------------------------------------------
_QUERY = re.compile(r"^Is (\w+) a (\w+) or (\w+)\?$")


@dataclass
class ProsQAGraph:
    """A ProsQA question's graph: ``children[parent]`` lists the facts' children."""

    root: str
    children: dict[str, list[str]]
    concepts: set[str]
    options: tuple[str, str] = ("", "")
    """The query's two options, in question order."""
    facts: list[tuple[str, str, str]] = field(default_factory=list)
    """The facts in question order: (sentence, parent, child)."""

    def depths(self) -> dict[str, int]:
        """BFS depth from the root of every reachable node (the root has depth 0)."""
        names = sorted(set(self.children) | {c for cs in self.children.values() for c in cs}
                       | {self.root})
        index = {n: i for i, n in enumerate(names)}
        kids = [[index[c] for c in self.children.get(n, [])] for n in names]
        return {names[i]: d for i, d in _bfs(kids, index[self.root]).items()}


def parse_question(question: str) -> ProsQAGraph:
    """Rebuild the graph from the facts ``Every X is a Y.`` / ``Tom is a X.`` and the final
    ``Is Tom a A or B?`` (the root is Tom); raises (field ``question``) if malformed."""
    sentences = [s.strip() for s in re.findall(r"[^.?]+[.?]", question)]
    query = _QUERY.match(sentences[-1]) if sentences else None
    if query is None:
        raise UserError("does not end with 'Is X a A or B?'", field="question")
    children: dict[str, list[str]] = {}
    concepts: set[str] = set()
    facts = []
    for i, fact in enumerate(sentences[:-1]):
        try:
            parent, child = _parse_step(i, fact)
        except UserError as e:
            raise UserError(e.message.replace("steps", "facts"), field="question") from None
        children.setdefault(parent, []).append(child)
        facts.append((fact, parent, child))
        concepts.add(child)
        if fact.startswith("Every "):
            concepts.add(parent)
    return ProsQAGraph(root=query.group(1), children=children, concepts=concepts,
                       options=(query.group(2), query.group(3)), facts=facts)


def frontier(question: str, depth: int) -> dict[str, set[str]]:
    """For the proof step at ``depth``: ``frontier`` (BFS depth ``depth`` from the root),
    ``reachable`` (every other node reachable from the root, root excluded) and ``unreachable``
    (concept nodes the root cannot reach)."""
    graph = parse_question(question)
    return frontier_groups(graph.depths(), graph.concepts, graph.root, depth)


def check(example: Example) -> None:
    """Coconut's fields and ProsQA's structural invariants; raises naming the field."""
    check_common(example)
    for name in FIELDS:
        if name not in example:
            raise UserError("missing field", field=name)
    symbols, edges = example["idx_to_symbol"], example["edges"]
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise UserError("expected a list of strings", field="idx_to_symbol")
    if len(set(symbols)) != len(symbols):
        raise UserError("repeated symbol", field="idx_to_symbol")
    n = len(symbols)
    for name in ("root", "target", "neg_target"):
        v = example[name]
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < n:
            raise UserError(f"expected a node index in 0..{n - 1}, got {v!r}", field=name)
    children: list[list[int]] = [[] for _ in range(n)]
    for i, e in enumerate(edges if isinstance(edges, list) else [None]):
        if not (
            isinstance(e, list)
            and len(e) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n for v in e)
        ):
            raise UserError(
                f"expected [parent, child] node indices, got {e!r}", field=f"edges[{i}]"
            )
        children[e[0]].append(e[1])
    if _has_cycle(children):
        raise UserError("the graph has a cycle", field="edges")
    root, target, neg = example["root"], example["target"], example["neg_target"]
    is_source = [True] * n
    for _, c in edges:
        is_source[c] = False
    facts = {_sentence(symbols, p, c, is_source[p]) for p, c in edges}
    name = symbols[root]
    tail = f" Is {name} a {symbols[target]} or {symbols[neg]}?"
    tail2 = f" Is {name} a {symbols[neg]} or {symbols[target]}?"
    question = example["question"]
    if not (question.endswith(tail) or question.endswith(tail2)):
        raise UserError(f"does not end with {tail.strip()!r}", field="question")
    try:
        stated_facts = [sentence for sentence, _, _ in parse_question(question).facts]
    except UserError:
        raise UserError("the facts do not match 'edges'", field="question") from None
    if sorted(stated_facts) != sorted(facts):
        raise UserError("the facts do not match 'edges'", field="question")
    if children[target]:
        raise UserError(f"target {symbols[target]!r} is not a leaf", field="target")
    if children[neg]:
        raise UserError(f"neg_target {symbols[neg]!r} is not a leaf", field="neg_target")
    dist = _bfs(children, root)
    if target not in dist:
        raise UserError(f"target {symbols[target]!r} is not reachable from root", field="target")
    if neg in dist:
        raise UserError(f"neg_target {symbols[neg]!r} is reachable from root", field="neg_target")
    if example["answer"] != f"{name} is a {symbols[target]}.":
        raise UserError(f"expected '{name} is a {symbols[target]}.'", field="answer")
    steps = example["steps"]
    if len(steps) != dist[target]:
        raise UserError(
            f"{len(steps)} steps but the shortest path has {dist[target]}", field="steps"
        )
    index = {s: i for i, s in enumerate(symbols)}
    at = name
    for i, step in enumerate(steps):
        if step not in facts:
            raise UserError(f"{step!r} is not one of the facts", field=f"steps[{i}]")
        parent, node = _parse_step(i, step)
        if parent != at:
            raise UserError(f"does not continue from {at!r}", field=f"steps[{i}]")
        at = node
    if at != symbols[target] or index[at] != target:
        raise UserError("the steps do not end at the target", field="steps")
    if "proof" in example and example["proof"] != derive_proof(example):
        raise UserError("does not match the steps", field="proof")


def _has_cycle(children: list[list[int]]) -> bool:
    indegree = [0] * len(children)
    for kids in children:
        for v in kids:
            indegree[v] += 1
    queue = deque(v for v, d in enumerate(indegree) if d == 0)
    seen = 0
    while queue:
        u = queue.popleft()
        seen += 1
        for v in children[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                queue.append(v)
    return seen != len(children)


def count_shortest_paths(example: Example) -> int:
    n = len(example["idx_to_symbol"])
    children: list[list[int]] = [[] for _ in range(n)]
    for p, c in example["edges"]:
        children[p].append(c)
    dist = _bfs(children, example["root"])
    count = {example["root"]: 1}
    for v in sorted(dist, key=dist.get):
        if v != example["root"]:
            count[v] = sum(count[u] for u in range(n) if u in dist and v in children[u]
                           and dist[u] == dist[v] - 1)
    return count[example["target"]]


def statistics(examples: list[Example]) -> dict[str, Any]:
    nodes = [len(e["idx_to_symbol"]) for e in examples]
    people = [sum(1 for s in e["idx_to_symbol"] if s in PEOPLE) for e in examples]
    return {
        "nodes (mean)": mean(nodes),
        "nodes (min)": min(nodes),
        "nodes (max)": max(nodes),
        "edges (mean)": mean([len(e["edges"]) for e in examples]),
        "people (mean)": mean(people),
        "shortest paths (mean)": mean([count_shortest_paths(e) for e in examples]),
        "path length share %": share_table([len(e["steps"]) for e in examples]),
    }


def vocabulary(cfg: ProsQAConfig | None = None) -> list[str]:
    return PEOPLE + CONCEPTS + TEMPLATE_WORDS


# -- shortcut controls -----------------------------------------------------------------------------
_LOOKS_LIKE = re.compile(r"\bis a \w+\. Is \w+ a \w+ or \w+\?$")


def recognise(example: Example) -> bool:
    """Coconut's ProsQA record (``idx_to_symbol``), or facts then ``Is X a A or B?``."""
    question = example.get("question")
    return "idx_to_symbol" in example or (
        isinstance(question, str) and bool(_LOOKS_LIKE.search(question.strip())))


def choices(example: Example) -> list[str]:
    """The two options of ``Is Tom a A or B?``, in question order."""
    return list(parse_question(example["question"]).options)


def problem(question: str, proof: list[dict[str, Any]]) -> Problem:
    """The concept graph from the question's facts, the proof path (root → proof nodes)
    highlighted, the query's options marked."""
    graph = parse_question(question)
    edges = [(p, c) for p, cs in graph.children.items() for c in cs]
    nodes = sorted({n for e in edges for n in e} | {graph.root})
    path = [graph.root] + [str(r["node"]) for r in proof if r.get("node") is not None]
    roles = {graph.root: "root"}
    first, second = graph.options
    target = path[-1] if len(path) > 1 else first
    for option in (first, second):
        roles.setdefault(option, "target" if option == target else "other option")
    on_path = set(zip(path, path[1:]))
    statements = [(sentence, (parent, child) in on_path) for sentence, parent, child in graph.facts]
    statements.append((f"Is {graph.root} a {first} or {second}?", False))
    return Problem(nodes, edges, path, {n: n for n in nodes}, roles, statements,
                   legend="◆ root, ★ target, ■ the other option")


def local_features(example: Example) -> dict[str, float]:
    """Degrees, positions and occurrences of each option in the question's graph."""
    from workbench.tasks.controls import graph_candidate_features
    from workbench.tokenizer import split_words

    symbols = example["idx_to_symbol"]
    edges = [(symbols[p], symbols[c]) for p, c in example["edges"]]
    return graph_candidate_features(split_words(example["question"]), edges, choices(example))


TASK = Task(
    name="prosqa",
    description="ProsQA graph reachability (Coconut): is the person an A or a B?",
    config_type=ProsQAConfig,
    presets=PRESETS,
    generate=generate,
    vocabulary=vocabulary,
    derive_proof=derive_proof,
    check=check,
    statistics=statistics,
    default_sizes={
        "tiny": {"train": 64, "valid": 16, "test": 16},
        "demo": {"train": 8000, "valid": 200, "test": 300},
        "paper": {"train": 17886, "valid": 300, "test": 500},
    },
    fields=FIELDS[3:],
    frontier=frontier,
    choices=choices,
    local_features=local_features,
    problem=problem,
    proof_label=graph_proof_label,
    recognise=recognise,
)
