"""Time to first answer token, Coconut's batched rollout, and training throughput.

Everything is measured side by side in one process on the ``prosqa`` demo preset, with one
randomly initialised model of the ``micro`` preset (timing does not depend on the weights).
Reasoning tokens are *forced*: CoT decodes the reference steps and Coconut its thoughts, one
position per pass with the KV cache, exactly the work greedy decoding would do for an answer of
that length. Prints one JSON object (and writes it with ``--out``).

    python benchmarks/latency.py [--examples 32] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import training

from workbench.fused import fused_forward
from workbench.methods import METHODS, baseline_name, get_method, tokenize
from workbench.methods.base import Method, Tokenized, collate
from workbench.models import build_model, count_parameters, model_config
from workbench.rollout import Layout, Rollout, forward
from workbench.tasks import TASKS, task_tokenizer
from workbench.tasks.base import generate_split


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def feed(roll: Rollout, tokens: list[list[int]], start: torch.Tensor) -> torch.Tensor:
    """Feed equal-length token lists one position per pass (forced decoding); last logits."""
    pos, logits = start.clone(), None
    for col in range(len(tokens[0])):
        step = torch.tensor([[t[col]] for t in tokens])
        logits, _ = roll.run(Layout.plain(step, pos))
        pos = pos + 1
    return logits[:, -1]


def first_answer_token(method: Method, model, exs: list[Tokenized]) -> torch.Tensor:
    """Logits of the first answer token, doing exactly the work the method needs to get there."""
    batch = collate([method.prompt(e) for e in exs], method.tok.pad_id)
    roll, last = method.prefill(model, batch)
    prefix = [method.answer_prefix(e) for e in exs]  # CoT: its steps and <ans>; Coconut: <ans>
    if not any(prefix):
        return last
    return feed(roll, prefix, batch.layout.pos[:, -1] + 1)


def ttft(methods: dict[str, Method], model, exs: list[Tokenized], batch: int
         ) -> dict[str, list[float]]:
    """Seconds to the first answer token per method and batch, methods interleaved per batch
    (so each batch's times were taken back to back)."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    chunks = [exs[i:i + batch] for i in range(0, len(exs), batch)]
    with torch.no_grad():
        for m in methods.values():  # warm-up
            first_answer_token(m, model, chunks[0])
        for chunk in chunks:
            for name, m in methods.items():
                times[name].append(timed(lambda m=m, c=chunk: first_answer_token(m, model, c)))
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(ts) for name, ts in times.items()}


def paired_ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """The median over batches of ``a``'s time over ``b``'s on the same batch, taken back to
    back (a drift of the machine's speed cancels in each ratio)."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def continuous_reference(method: Method, model, ex: Tokenized, answer: list[int],
                         fused: bool = False) -> None:
    """The published implementation's inference: one example, no cache, the whole prefix
    recomputed for every thought and every answer token, each pass a full forward of the model
    with the thoughts spliced into its input embedding (Coconut's and CODI's code call their
    model's forward with ``inputs_embeds``). ``fused=False`` runs TransformerLens's forward with
    an embedding hook, as the workbench did before its fused path; ``fused=True`` the same fused
    kernels as the batched rollout, so that ratio measures batching and caching alone."""
    prompt = method.prompt(ex)
    tokens, pos = torch.tensor([prompt.tokens]), torch.tensor([prompt.pos])
    embeds = model.W_E[tokens].clone()
    mapped = method.thought_map(model)  # CODI's projection; Coconut feeds the state itself

    def run(n: int | None = None, hidden: bool = False) -> torch.Tensor | None:
        t, p, e = tokens[:, :n], pos[:, :n], embeds[:, :n]
        if fused:
            return fused_forward(model, t, p, embeds=e, want_hidden=hidden)[1]
        _, out = forward(model, Layout.plain(t), want_hidden=hidden,
                         extra_hooks=[("hook_embed", lambda x, hook: e)])
        return out

    for p in [i for i, f in enumerate(prompt.latent) if f]:
        state = run(p, hidden=True)[0, -1]
        embeds[0, p] = state if mapped is None else mapped(state)
    for t in answer:
        run()
        nxt = torch.tensor([[t]])
        tokens, pos = torch.cat([tokens, nxt], 1), torch.cat([pos, pos[:, -1:] + 1], 1)
        embeds = torch.cat([embeds, model.W_E[nxt]], 1)


def coconut_batched(method: Method, model, exs: list[Tokenized], answers: list[list[int]]
                    ) -> None:
    batch = collate([method.prompt(e) for e in exs], method.tok.pad_id)
    roll, _ = method.prefill(model, batch)
    feed(roll, answers, batch.layout.pos[:, -1] + 1)


def rollout_seconds(method: Method, model, exs: list[Tokenized], n: int) -> dict[str, float]:
    """Seconds of the batched rollout (batches of 64 by prompt length, as ``predict`` makes
    them; KV cache) and of the published implementation (one example at a time, no cache;
    TransformerLens's forward and the fused one) over the same ``n`` examples, and the ratio
    of the positions each computes (what bounds the speed-up at equal efficiency)."""
    exs = sorted(exs[:n], key=lambda e: len(method.prompt(e)))
    answers = [[*method.answer_prefix(e), *e.answer, method.eos] for e in exs]
    with torch.no_grad():
        coconut_batched(method, model, exs[:64], answers[:64])  # warm-up at full batch size
        batched = sum(timed(lambda i=i: coconut_batched(method, model, exs[i:i + 64],
                                                        answers[i:i + 64]))
                      for i in range(0, n, 64))
        reference = {kind: sum(timed(lambda i=i, f=fused: continuous_reference(
            method, model, exs[i], answers[i], fused=f)) for i in range(n))
            for kind, fused in (("reference", False), ("reference_fused", True))}
    positions_ref = positions_batched = 0
    for e, answer in zip(exs, answers):
        prompt = method.prompt(e)
        thoughts = [i for i, f in enumerate(prompt.latent) if f]
        positions_ref += sum(thoughts) + sum(len(prompt) + j for j in range(len(answer)))
        positions_batched += len(prompt) + len(answer)
    return {"batched": batched, **reference,
            "position_ratio": positions_ref / positions_batched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=64, help="examples timed at batch 1")
    parser.add_argument("--coconut-examples", type=int, default=256,
                        help="examples of the batched-rollout comparison (continuous methods)")
    parser.add_argument("--train-steps", type=int, default=60,
                        help="training steps per variant (they take turns step by step)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--size", default="micro")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tok = task_tokenizer("prosqa")
    raw = list(generate_split(TASKS["prosqa"], "demo", "test", max(256, args.coconut_examples), 0))
    exs = [tokenize(e, tok) for e in raw]
    methods = {name: get_method(name, {}, tok) for name in METHODS}
    for m in methods.values():
        if hasattr(m, "resolve"):
            m.resolve(exs)
    n_ctx = max(m.max_length(e) for m in methods.values() for e in exs) + 8
    model = build_model(model_config(args.size, len(tok), n_ctx, seed=0))
    model.eval()
    base = baseline_name()
    one_pass = {k: m for k, m in methods.items() if m.one_pass}
    t1 = ttft(methods, model, exs[: args.examples], batch=1)
    t64 = ttft(one_pass, model, exs[:256], batch=64)
    b1, b64 = medians(t1), medians(t64)
    # a one-pass latent method should cost what its longer prompt costs, no more
    prefill = {k: statistics.fmean(len(m.prompt(e)) / len(methods[base].prompt(e)) for e in exs)
               for k, m in one_pass.items() if m.latent}

    n = args.coconut_examples
    rollouts: dict[str, float] = {}
    for name, m in methods.items():
        if not m.continuous:
            continue
        t = rollout_seconds(m, model, exs, n)
        rollouts |= {f"{name}_batched_seconds": t["batched"],
                     f"{name}_reference_seconds": t["reference"],
                     f"{name}_reference_fused_seconds": t["reference_fused"],
                     f"{name}_batched_speedup": t["reference"] / t["batched"],
                     f"{name}_batched_speedup_same_kernels": t["reference_fused"] / t["batched"],
                     f"{name}_recomputed_position_ratio": t["position_ratio"]}

    train = training.headline(args.train_steps, size=args.size)
    checks = {f"{k}_ttft_within_1.1x_token_ratio": paired_ratio(t1, k, base) <= 1.1 * r
              for k, r in prefill.items()}
    checks |= {f"{k}_at_least_10x": v >= 10
               for k, v in rollouts.items() if k.endswith("_batched_speedup")}
    checks |= {"train_mfu_at_least_0.35": train["train_mfu"] >= 0.35,
               "train_over_reference_at_least_0.9": train["train_over_reference"] >= 0.9}
    result = {
        "device": "cpu", "threads": torch.get_num_threads(), "model": args.size,
        "parameters": count_parameters(model), "task": "prosqa/demo",
        "latent_steps": {k: m.latent_steps(exs[0]) for k, m in methods.items() if m.latent},
        "mean_question_tokens": statistics.fmean(len(e.question) for e in exs),
        "mean_cot_tokens": statistics.fmean(sum(len(s) + 1 for s in e.steps) + 1 for e in exs),
        "ttft_ms_b1": {k: 1000 * v for k, v in b1.items()},
        "ttft_ms_b64": {k: 1000 * v for k, v in b64.items()},
        # paired: the median over examples of the two times taken back to back
        **{f"{k}_ttft_over_{base}": paired_ratio(t1, k, base) for k in methods if k != base},
        **{f"{k}_ttft_over_{base}_b64": paired_ratio(t64, k, base)
           for k in one_pass if k != base},
        **{f"{k}_prefill_token_ratio": r for k, r in prefill.items()},
        **rollouts, "rollout_examples": n, "rollout_batch_size": 64,
        "train": train,  # benchmarks/training.py's headline, measured in this run
        "train_tokens_per_s": train["train_tokens_per_s"], "train_mfu": train["train_mfu"],
        "train_over_reference": train["train_over_reference"],
        "matmul_peak_flop_per_s": train["matmul_peak_flop_per_s"],
        "checks": checks,
    }
    from workbench.io import print_json

    print_json(result, args.out)


if __name__ == "__main__":
    main()
