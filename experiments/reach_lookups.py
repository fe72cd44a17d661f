"""Where a CoT model fails on reach: teacher-forced accuracy of every lookup, by depth and step.

    python experiments/reach_lookups.py RUN [--checkpoint DIR] [--n 700] [--split test]

Feeds each example's gold steps (teacher forcing) and asks, at every target token (each path
node, then the answer), whether the model's top token is the gold one. Prints one JSON object:
per depth, the rate at which every lookup is right and the accuracy of lookup k (k = 0 is the
root's child), and, for depths ≥ 7, lookup accuracy by the position in the question of the edge
it has to find (buckets of 6 tokens: two edges). A uniform error over k with a falling rate over
the edge's position says the lookup itself, not the length of the proof, is what fails.
Used for docs/methods.md ("A recipe for reach").
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--checkpoint", help="a checkpoint directory instead of the final weights")
    p.add_argument("--n", type=int, default=700)
    p.add_argument("--split", default="test")
    a = p.parse_args()

    import torch

    from workbench.methods import method_of, tokenize
    from workbench.methods.base import Stage, collate
    from workbench.rollout import forward
    from workbench.runs import Run, load_run, load_weights, read_config
    from workbench.tasks import TASKS
    from workbench.tasks.base import generate_split

    if a.checkpoint:
        from workbench.models import build_model
        from workbench.tokenizer import Tokenizer

        config = read_config(a.run)
        model = build_model(config["model"])
        load_weights(model, Path(a.checkpoint) / "model.safetensors")
        model.eval()
        run = Run(Path(a.run), model, Tokenizer.load(Path(a.run) / "tokenizer.json"), config)
    else:
        run = load_run(a.run, verify=False)
    task = run.config["task"]
    examples = list(generate_split(TASKS[task["name"]], task["preset"], a.split, a.n,
                                   seed=task.get("data_seed", 0)))
    method = method_of(run)
    if not method.written_steps:
        raise SystemExit("reach_lookups: a run of a method that writes its steps is needed (CoT)")
    lookup = defaultdict(lambda: [0, 0])  # (depth, k) → [right, n]
    whole = defaultdict(lambda: [0, 0])  # depth → [every lookup right, n]
    by_pos = defaultdict(lambda: [0, 0])  # bucket of the edge's position → [right, n]
    stage = Stage(0, "train", 0, 1)
    with torch.no_grad():
        for i in range(0, len(examples), 100):
            chunk = examples[i:i + 100]
            encs = [method.encode(tokenize(e, run.tokenizer), stage, 0, random.Random(0))
                    for e in chunk]
            batch = collate(encs, run.tokenizer.pad_id)
            logits, _ = forward(run.model, batch.layout)
            pred = logits[:, :-1].argmax(-1)
            target = batch.layout.tokens[:, 1:]
            weighted = batch.weights[:, 1:] > 0
            for j, e in enumerate(chunk):
                d = e["depth"]
                tokens = batch.layout.tokens[j].tolist()
                where = weighted[j].nonzero().flatten().tolist()
                ok = [bool(pred[j, q] == target[j, q]) for q in where]
                for k, right in enumerate(ok):
                    lookup[(d, k)][0] += right
                    lookup[(d, k)][1] += 1
                whole[d][0] += all(ok)
                whole[d][1] += 1
                if d < 7:
                    continue
                for q, right in zip(where, ok):
                    # the edge to find: the first occurrence of the target in the question
                    first = next((x for x in range(where[0]) if tokens[x] == tokens[q + 1]), None)
                    if first is not None:
                        by_pos[first // 6 * 6][0] += right
                        by_pos[first // 6 * 6][1] += 1

    def rate(rn: list[int]) -> float:
        return round(100 * rn[0] / rn[1], 1)

    out = {"run": str(a.run), "checkpoint": a.checkpoint, "split": a.split, "n": len(examples),
           "by_depth": {d: {"n": whole[d][1], "all_right_pct": rate(whole[d]),
                            "lookup_pct": [rate(lookup[(d, k)]) for k in range(40)
                                           if (d, k) in lookup]}
                        for d in sorted(whole)},
           "deep_by_edge_position": {str(pos): {"n": rn[1], "pct": rate(rn)}
                                     for pos, rn in sorted(by_pos.items())}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
