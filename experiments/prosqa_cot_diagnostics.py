"""Where a CoT model fails on ProsQA: is each written step a fact of the question, is the first
step the gold one, does the answer name one of the two options?

    python experiments/prosqa_cot_diagnostics.py RUN [--checkpoint DIR] [--n 200] [--split valid]

Generates ``n`` examples of the run's task preset and split with the run's data seed (the same
examples the run was evaluated on), decodes greedily and prints one JSON object of counts and
rates. Used for the ProsQA discussion in docs/results/notes.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def diagnose(examples: list[dict], texts: list[str], answers: list[str]) -> dict[str, float]:
    n = len(examples)
    counts = {"n": n, "steps": 0, "steps_in_question": 0, "first_step_gold": 0,
              "answer_is_an_option": 0, "correct": 0}
    for e, text, answer in zip(examples, texts, answers):
        facts = {s.strip() + "." for s in e["question"].split(".") if s.strip()}
        options = e["question"].rsplit("Is ", 1)[-1].rstrip("?").split(" or ")
        names = [options[0].split()[-1], options[-1].strip()]
        steps = [s.strip() for s in text.replace("<eos>", "").split("<sep>")
                 if s.strip() and "<ans>" not in s]
        counts["steps"] += len(steps)
        counts["steps_in_question"] += sum(s in facts for s in steps)
        counts["first_step_gold"] += bool(steps) and steps[0] == e["steps"][0]
        counts["answer_is_an_option"] += any(answer.strip().endswith(f" {x}.") for x in names)
        counts["correct"] += answer.strip() == e["answer"].strip()
    rates = {f"{k}_rate": counts[k] / n for k in ("first_step_gold", "answer_is_an_option",
                                                   "correct")}
    rates["steps_in_question_rate"] = counts["steps_in_question"] / max(counts["steps"], 1)
    return {**counts, **rates}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--checkpoint", help="a checkpoint directory instead of the final weights")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--split", default="valid")
    a = p.parse_args()

    from workbench.methods import method_of, tokenize
    from workbench.runs import load_run, load_weights
    from workbench.tasks import TASKS
    from workbench.tasks.base import generate_split

    if a.checkpoint:  # an unfinished run: its config and tokenizer, a checkpoint's weights
        from workbench.models import build_model
        from workbench.runs import Run, read_config
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
    preds = []
    for i in range(0, len(examples), 64):
        chunk = [tokenize(e, run.tokenizer) for e in examples[i:i + 64]]
        preds += method.generate(run.model, chunk, max_new=96)
    result = diagnose(examples, [p.text for p in preds], [p.answer for p in preds])
    result.update(run=str(a.run), checkpoint=a.checkpoint, split=a.split)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
