"""Reach: symbolic graph reachability that has no shortcut, so a model must walk the path.

The question lists the edges ``s t |`` (one token per node), then the two candidates, then the
root::

    ko mi | ba ko | lu fe | fe wu | ba ... | mi wu? ba

    (edges, shuffled)                        candidates  root

Two **disjoint components** of the same shape (one tree drawn, then named twice with fresh names)
hold the root and a decoy root; the candidates are the leaves at depth ``d`` on the path of each
component, so both have in-degree 1 and out-degree 0 and sit at the same depth: no local feature
(degree, depth, component size, position) tells them apart. Node names are drawn afresh for every
example from a pool (``names``, far larger than one graph), and the edges and the candidate order
are shuffled. The depth ``d`` is uniform over ``min_depth..max_depth``.

Shapes: ``chains`` (each component a simple path: every proof step is one lookup, "the node after
x") and ``trees`` (``branches`` · d side nodes hung on the path's inner nodes or on each other:
walking forward, the proof must choose the right child at every step, a search like ProsQA's).

The steps are the path's nodes after the root, one per step, up to the one before the reachable
candidate (``d − 1`` steps); the answer is that candidate (chance 50 %).
``proof[i] = {"node": path[i + 1], "depth": i + 1}``.

Task fields: ``edges`` (``[s, t]`` in question order), ``candidates`` (in question order),
``root`` and ``depth``.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from workbench.errors import UserError
from workbench.tasks.base import Example, Task, check_common, frontier_groups, mean, share_table
from workbench.tasks.problem import Problem, graph_proof_label
from workbench.tokenizer import join_words, split_words

#: The name pool: consonant + vowel syllables, one token each.
NAMES = [c + v for c in "bdfghklmnprstvwz" for v in "aeiou"]
EDGE_END, ASK = "|", "?"
TEMPLATE_WORDS = [EDGE_END, ASK]
FIELDS = ("edges", "candidates", "root", "depth")


@dataclass(frozen=True)
class ReachConfig:
    """Depth range, graph shape and name pool."""

    min_depth: int = 2
    """Shallowest candidate depth d (the proof has d − 1 steps)."""
    max_depth: int = 8
    """Deepest candidate depth d; depths are drawn uniformly in min_depth..max_depth."""
    shape: Literal["chains", "trees"] = "chains"
    """chains: each component is a simple path; trees: side branches hang on the path."""
    branches: float = 0.0
    """trees: side nodes per path step (round(branches · d) per component)."""
    names: int = len(NAMES)
    """Size of the name pool the nodes are drawn from (at most 80)."""
    pad: bool = False
    """False: a question lists its two components' edges only (2·d for chains, so its length
    tells the depth); True: noise edges between fresh names (pairs a → b joined to nothing) fill
    every question up to the edges of depth ``max_depth``, so every depth has the same length and
    positions (and a depth curriculum, which lowers ``max_depth``, shortens the padding too)."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_depth <= self.max_depth:
            raise UserError("need 1 <= min_depth <= max_depth", field="min_depth")
        if self.shape not in ("chains", "trees"):
            raise UserError("choose chains or trees", field="shape")
        if self.branches < 0 or (self.shape == "chains" and self.branches):
            raise UserError("must be >= 0, and 0 for chains", field="branches")
        if not 2 <= self.names <= len(NAMES):
            raise UserError(f"must lie in 2..{len(NAMES)}", field="names")
        if 2 * self.component_size(self.max_depth) > self.names:
            raise UserError(f"two components of depth {self.max_depth} need "
                            f"{2 * self.component_size(self.max_depth)} names", field="names")
        if self.pad:
            need = max(self.names_needed(d) for d in range(self.min_depth, self.max_depth + 1))
            if need > self.names:
                raise UserError(f"padding depths {self.min_depth}-{self.max_depth} needs "
                                f"{need} names", field="names")

    def edges(self, depth: int) -> int:
        """Edges a question of depth ``depth`` lists (its two components, then the padding)."""
        return 2 * (self.component_size(self.max_depth if self.pad else depth) - 1)

    def noise_edges(self, depth: int) -> int:
        return self.edges(depth) - 2 * (self.component_size(depth) - 1)

    def names_needed(self, depth: int) -> int:
        return 2 * self.component_size(depth) + 2 * self.noise_edges(depth)

    def side_nodes(self, depth: int) -> int:
        return round(self.branches * depth) if self.shape == "trees" else 0

    def component_size(self, depth: int) -> int:
        return depth + 1 + self.side_nodes(depth)


PRESETS = {
    "tiny": ReachConfig(min_depth=2, max_depth=3),
    # 48 names, the least that keeps the pool well above one graph (at most 18 nodes here): a
    # model must learn to look up every name, and a pool of 16 names let CoT learn its first
    # lookup about four times sooner than 48 (docs/methods.md, "A recipe for reach").
    "demo": ReachConfig(min_depth=2, max_depth=8, names=48),
    # side branches on the path (one side node per path step), padded like ``padded`` below
    "trees": ReachConfig(min_depth=2, max_depth=6, shape="trees", branches=1.0, names=48,
                         pad=True),
    # demo with every question 16 edges long (noise pairs fill the shallow ones): the length
    # no longer tells the depth, and every position is trained by every depth
    "padded": ReachConfig(min_depth=2, max_depth=8, names=48, pad=True),
}


def _draw_shape(cfg: ReachConfig, depth: int, rng: random.Random) -> list[tuple[int, int]]:
    """One component's edges over nodes 0..size-1: the path 0 → 1 → … → depth, then side nodes,
    each hung on a random inner path node (depth < d) or on an earlier side node."""
    edges = [(i, i + 1) for i in range(depth)]
    hosts = list(range(depth))  # never the candidate (node ``depth``): it stays a leaf
    for v in range(depth + 1, depth + 1 + cfg.side_nodes(depth)):
        edges.append((rng.choice(hosts), v))
        hosts.append(v)
    return edges


def _render(edges: list[list[str]], candidates: list[str], root: str) -> str:
    words = [w for s, t in edges for w in (s, t, EDGE_END)] + [*candidates, ASK, root]
    return join_words(words)


def generate(cfg: ReachConfig, rng: random.Random) -> Example:
    depth = rng.randint(cfg.min_depth, cfg.max_depth)
    shape = _draw_shape(cfg, depth, rng)
    size = cfg.component_size(depth)
    names = rng.sample(NAMES[: cfg.names], cfg.names_needed(depth))
    real, decoy, noise = names[:size], names[size:2 * size], names[2 * size:]
    edges = [[c[s], c[t]] for c in (real, decoy) for s, t in shape]
    edges += [[noise[i], noise[i + 1]] for i in range(0, len(noise), 2)]
    rng.shuffle(edges)
    candidates = [real[depth], decoy[depth]]
    rng.shuffle(candidates)
    root = real[0]
    example: Example = {
        "question": _render(edges, candidates, root),
        "steps": real[1:depth],
        "answer": real[depth],
        "edges": edges,
        "candidates": candidates,
        "root": root,
        "depth": depth,
    }
    example["proof"] = derive_proof(example)
    return example


# -- reading a question ----------------------------------------------------------------------------
@dataclass
class Graph:
    """A question's graph: ``children[parent]`` lists the edges' children, in question order."""

    root: str
    candidates: list[str]
    edges: list[tuple[str, str]]

    @property
    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s, t in self.edges:
            out.setdefault(s, []).append(t)
        return out

    @property
    def nodes(self) -> set[str]:
        return {v for e in self.edges for v in e}

    def depths(self) -> dict[str, int]:
        """BFS depth from the root of every reachable node (the root has depth 0)."""
        children, dist, queue = self.children, {self.root: 0}, deque([self.root])
        while queue:
            u = queue.popleft()
            for v in children.get(u, []):
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        return dist


def parse_question(question: str) -> Graph:
    """The edges, candidates and root of a question; raises (field ``question``) if malformed."""
    words = split_words(question)
    if len(words) < 4 or words[-2] != ASK:
        raise UserError("does not end with 'A B ? root'", field="question")
    root, candidates, body = words[-1], words[-4:-2], words[:-4]
    if len(body) % 3:
        raise UserError("the edges are not 's t |' triples", field="question")
    edges = []
    for i in range(0, len(body), 3):
        s, t, end = body[i:i + 3]
        if end != EDGE_END or EDGE_END in (s, t) or ASK in (s, t):
            raise UserError(f"edge {i // 3}: expected 's t |', got {' '.join(body[i:i + 3])!r}",
                            field="question")
        edges.append((s, t))
    return Graph(root, candidates, edges)


def derive_proof(example: Example) -> list[dict[str, Any]]:
    """Step i names the path node at depth i + 1."""
    return [{"node": node, "depth": i + 1} for i, node in enumerate(example["steps"])]


def _components(graph: Graph) -> list[set[str]]:
    """Weakly connected components."""
    neighbours: dict[str, set[str]] = {}
    for s, t in graph.edges:
        neighbours.setdefault(s, set()).add(t)
        neighbours.setdefault(t, set()).add(s)
    seen: set[str] = set()
    out = []
    for start in neighbours:
        if start in seen:
            continue
        comp, queue = {start}, deque([start])
        while queue:
            for v in neighbours[queue.popleft()] - comp:
                comp.add(v)
                queue.append(v)
        seen |= comp
        out.append(comp)
    return out


def check(example: Example) -> None:
    """Recomputes the question, steps and answer from the fields and checks the construction:
    two components of equal size, candidates that are leaves of in-degree 1 at the same depth."""
    check_common(example)
    for name in FIELDS:
        if name not in example:
            raise UserError("missing field", field=name)
    edges, cands, root, depth = (example[k] for k in FIELDS)
    if not isinstance(edges, list) or not all(
            isinstance(e, list) and len(e) == 2 and all(isinstance(v, str) for v in e)
            for e in edges):
        raise UserError("expected a list of [source, target] names", field="edges")
    if not isinstance(cands, list) or len(cands) != 2 or not all(isinstance(c, str)
                                                                 for c in cands):
        raise UserError("expected two names", field="candidates")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise UserError(f"expected a positive integer, got {depth!r}", field="depth")
    if not isinstance(root, str):
        raise UserError("expected a name", field="root")
    if example["question"] != _render(edges, cands, root):
        raise UserError("does not match 'edges', 'candidates' and 'root'", field="question")
    graph = parse_question(example["question"])
    comps = _components(graph)
    # the root's and the decoy candidate's components; every other one is a noise pair
    main = [c for c in comps if root in c or any(x in c for x in cands)]
    noise = [c for c in comps if c not in main]
    if len(main) != 2 or len(main[0]) != len(main[1]) or any(len(c) != 2 for c in noise):
        raise UserError(f"expected two components of equal size (and noise pairs), got sizes "
                        f"{sorted(len(c) for c in comps)}", field="edges")
    comps = main
    indegree: dict[str, int] = {}
    for _, t in graph.edges:
        indegree[t] = indegree.get(t, 0) + 1
    children = graph.children
    for i, c in enumerate(cands):
        if children.get(c) or indegree.get(c) != 1:
            raise UserError(f"{c!r} is not a leaf of in-degree 1", field=f"candidates[{i}]")
    dist = graph.depths()
    reachable = [c for c in cands if c in dist]
    if len(reachable) != 1:
        raise UserError(f"{len(reachable)} candidates are reachable from the root, expected 1",
                        field="candidates")
    target = reachable[0]
    if dist[target] != depth:
        raise UserError(f"the reachable candidate is at depth {dist[target]}", field="depth")
    other_root = next(v for v in (comps[1] if target in comps[0] else comps[0])
                      if v not in indegree)
    decoy = next(c for c in cands if c != target)
    if graph_depth(graph, other_root).get(decoy) != depth:
        raise UserError(f"{decoy!r} is not at depth {depth} of its component",
                        field="candidates")
    if example["answer"] != target:
        raise UserError(f"expected {target!r}", field="answer")
    steps = example["steps"]
    if len(steps) != depth - 1:
        raise UserError(f"{len(steps)} steps but depth {depth} needs {depth - 1}", field="steps")
    at = root
    for i, node in enumerate([*steps, target]):
        if node not in children.get(at, []):
            where = f"steps[{i}]" if i < len(steps) else "answer"
            raise UserError(f"no edge {at} → {node}", field=where)
        at = node
    if "proof" in example and example["proof"] != derive_proof(example):
        raise UserError("does not match the steps", field="proof")


def graph_depth(graph: Graph, root: str) -> dict[str, int]:
    return Graph(root, graph.candidates, graph.edges).depths()


def frontier(question: str, depth: int) -> dict[str, set[str]]:
    """For the proof step at ``depth``: ``frontier`` (BFS depth ``depth`` from the root),
    ``reachable`` (every other node reachable from the root, root excluded) and
    ``unreachable`` (the decoy component)."""
    graph = parse_question(question)
    return frontier_groups(graph.depths(), graph.nodes, graph.root, depth)


def statistics(examples: list[Example]) -> dict[str, Any]:
    depths = [e["depth"] for e in examples]
    first = [e["candidates"][0] == e["answer"] for e in examples]
    return {
        "depth (mean)": mean(depths),
        "depth share %": share_table(depths),
        "edges (mean)": mean([len(e["edges"]) for e in examples]),
        "answer is the first candidate %": 100.0 * mean(first),
        "distinct answers": len({e["answer"] for e in examples}),
    }


def vocabulary(cfg: ReachConfig | None = None) -> list[str]:
    return NAMES + TEMPLATE_WORDS


# -- shortcut controls -----------------------------------------------------------------------------
def choices(example: Example) -> list[str]:
    """The two candidates, in question order."""
    return parse_question(example["question"]).candidates


def local_features(example: Example) -> dict[str, float]:
    """Degrees, positions and occurrences of each candidate (alike by construction)."""
    from workbench.tasks.controls import graph_candidate_features

    graph = parse_question(example["question"])
    return graph_candidate_features(split_words(example["question"]), graph.edges,
                                    graph.candidates)


def problem(question: str, proof: list[dict[str, Any]]) -> Problem:
    """Both components (and any noise pairs), the path root → proof nodes → answer
    highlighted, each node labelled with its depth from the root."""
    graph = parse_question(question)
    depth = graph.depths()
    answer = next((c for c in graph.candidates if c in depth), None)
    path = [graph.root] + [str(r["node"]) for r in proof if r.get("node") is not None]
    if answer is not None:
        path.append(answer)
    roles = {graph.root: "root"}
    for c in graph.candidates:
        roles[c] = "target" if c == answer else "other option"
    parent = {t: s for s, t in graph.edges}
    other = next((c for c in graph.candidates if c != answer), None)
    while other in parent:  # up the decoy's component to its root
        other = parent[other]
    for n in sorted(graph.nodes - set(parent) - {graph.root}):
        # the padding's pairs of fresh names join neither component
        roles[n] = "other root" if n == other else "noise"
    for t, s in parent.items():
        if roles.get(s) == "noise":
            roles[t] = "noise"
    on_path = set(zip(path, path[1:]))
    statements = [(f"{s} {t} {EDGE_END}", (s, t) in on_path) for s, t in graph.edges]
    statements.append((f"{' '.join(graph.candidates)} {ASK} {graph.root}", False))
    nodes = sorted(graph.nodes | {graph.root})
    labels = {n: f"{n} (depth {depth[n]})" if n in depth else n for n in nodes}
    return Problem(nodes, list(graph.edges), path, labels, roles, statements,
                   legend="◆ root, ★ the reachable candidate (answer), ■ the other candidate, "
                          "◇ the other component's root, ○ padding (pairs joined to nothing)")


def recognise(example: Example) -> bool:
    """Edges ``s t |``, then two candidates, ``?`` and the root."""
    question = example.get("question")
    return isinstance(question, str) and bool(re.match(
        r"^([a-z]+ [a-z]+ \| )+[a-z]+ [a-z]+\? [a-z]+$", question.strip()))


TASK = Task(
    name="reach",
    description="Symbolic reachability with no shortcut: which candidate does the root reach?",
    config_type=ReachConfig,
    presets=PRESETS,
    generate=generate,
    vocabulary=vocabulary,
    derive_proof=derive_proof,
    check=check,
    statistics=statistics,
    default_sizes={
        "tiny": {"train": 64, "valid": 16, "test": 16},
        "demo": {"train": 4000, "valid": 200, "test": 1000},
        "trees": {"train": 4000, "valid": 200, "test": 1000},
        "padded": {"train": 4000, "valid": 200, "test": 1000},
    },
    fields=FIELDS,
    # the demo's chains without their length cue (docs/methods.md, "Depth 8 is a length
    # shortcut"): the zoo's reach-<method> models are trained on it
    zoo_preset="padded",
    depth=lambda example: int(example["depth"]),
    frontier=frontier,
    choices=choices,
    local_features=local_features,
    problem=problem,
    proof_label=graph_proof_label,
    recognise=recognise,
)
