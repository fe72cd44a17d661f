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
import random
import statistics
import time
from collections.abc import Callable

import torch

from workbench.methods import METHODS, baseline_name, get_method, tokenize
from workbench.methods.base import Method, Tokenized, collate
from workbench.models import build_model, count_parameters, model_config
from workbench.rollout import Layout, Rollout
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


def ttft(methods: dict[str, Method], model, exs: list[Tokenized], batch: int) -> dict[str, float]:
    """Median seconds to the first answer token per method, methods interleaved per batch."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    chunks = [exs[i:i + batch] for i in range(0, len(exs), batch)]
    with torch.no_grad():
        for m in methods.values():  # warm-up
            first_answer_token(m, model, chunks[0])
        for chunk in chunks:
            for name, m in methods.items():
                times[name].append(timed(lambda m=m, c=chunk: first_answer_token(m, model, c)))
    return {name: statistics.median(ts) for name, ts in times.items()}


def coconut_reference(method: Method, model, ex: Tokenized, answer: list[int]) -> None:
    """The published implementation: one example, no cache, the whole prefix recomputed for
    every thought and every answer token."""
    prompt = method.prompt(ex)
    tokens = torch.tensor([prompt.tokens])
    thoughts: dict[int, torch.Tensor] = {}
    last_layer = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"

    def splice(embed, hook):
        for p, v in thoughts.items():
            embed[0, p] = v
        return embed

    mapped = method.thought_map(model)  # CODI's projection; Coconut feeds the state itself
    for p in [i for i, f in enumerate(prompt.latent) if f]:
        with model.hooks(fwd_hooks=[("hook_embed", splice)]):
            _, cache = model.run_with_cache(tokens[:, :p], names_filter=last_layer)
        state = model.ln_final(cache[last_layer][:, -1:])[0, 0]
        thoughts[p] = state if mapped is None else mapped(state)
    for t in answer:
        with model.hooks(fwd_hooks=[("hook_embed", splice)]):
            model(tokens)
        tokens = torch.cat([tokens, torch.tensor([[t]])], dim=1)


def coconut_batched(method: Method, model, exs: list[Tokenized], answers: list[list[int]]
                    ) -> None:
    batch = collate([method.prompt(e) for e in exs], method.tok.pad_id)
    roll, _ = method.prefill(model, batch)
    feed(roll, answers, batch.layout.pos[:, -1] + 1)


def rollout_seconds(method: Method, model, exs: list[Tokenized], n: int) -> tuple[float, float]:
    """Seconds of the batched rollout (batches of 64, KV cache) and of the published
    implementation (one example at a time, no cache) over the same ``n`` examples."""
    answers = [[*method.answer_prefix(e), *e.answer, method.eos] for e in exs[:n]]
    with torch.no_grad():
        coconut_batched(method, model, exs[:64], answers[:64])  # warm-up at full batch size
        batched = sum(timed(lambda i=i: coconut_batched(method, model, exs[i:i + 64],
                                                        answers[i:i + 64]))
                      for i in range(0, n, 64))
        reference = sum(timed(lambda i=i: coconut_reference(method, model, exs[i], answers[i]))
                        for i in range(n))
    return batched, reference


def matmul_peak(n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def train_throughput(method: Method, model, exs: list[Tokenized], steps: int, batch: int
                     ) -> tuple[float, float]:
    """Real (non-padding) tokens per second and model FLOP/s of training steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    stage = method.stages(steps, 1)[0]
    def step(i: int) -> tuple[int, int]:
        chunk = exs[i * batch % len(exs):][:batch]
        items = [method.encode(e, stage, i, random.Random(i)) for e in chunk]
        b = collate(items, method.tok.pad_id)
        loss = method.loss_sum(model, b) / len(items)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return int(b.layout.real.sum()), b.layout.shape[1]

    step(0)  # warm-up
    t0, tokens, flops = time.perf_counter(), 0, 0.0
    n_params = count_parameters(model)
    cfg = model.cfg
    for i in range(1, steps + 1):
        n_tok, width = step(i)
        tokens += n_tok
        # 6N per token, plus attention scores and mixing (fwd + bwd) over the padded width.
        flops += n_tok * (6 * n_params + 6 * cfg.n_layers * cfg.d_model * width)
    seconds = time.perf_counter() - t0
    return tokens / seconds, flops / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=32, help="examples timed at batch 1")
    parser.add_argument("--coconut-examples", type=int, default=256,
                        help="examples of the batched-rollout comparison (continuous methods)")
    parser.add_argument("--train-steps", type=int, default=20)
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
    b1 = ttft(methods, model, exs[: args.examples], batch=1)
    b64 = ttft(one_pass, model, exs[:256], batch=64)
    # a one-pass latent method should cost what its longer prompt costs, no more
    prefill = {k: statistics.fmean(len(m.prompt(e)) / len(methods[base].prompt(e)) for e in exs)
               for k, m in one_pass.items() if m.latent}

    n = args.coconut_examples
    rollouts: dict[str, float] = {}
    for name, m in methods.items():
        if not m.continuous:
            continue
        t_batched, t_reference = rollout_seconds(m, model, exs, n)
        rollouts |= {f"{name}_batched_seconds": t_batched,
                     f"{name}_reference_seconds": t_reference,
                     f"{name}_batched_speedup": t_reference / t_batched}

    peak = matmul_peak()
    train_model = build_model(model_config(args.size, len(tok), n_ctx, seed=0))
    writer = next(m for m in methods.values() if m.written_steps)
    tok_s, flop_s = train_throughput(writer, train_model, exs, args.train_steps, 32)

    checks = {f"{k}_ttft_within_1.1x_token_ratio": b1[k] / b1[base] <= 1.1 * r
              for k, r in prefill.items()}
    checks |= {f"{k.removesuffix('_speedup')}_speedup_at_least_5x": v >= 5
               for k, v in rollouts.items() if k.endswith("_speedup")}
    result = {
        "device": "cpu", "threads": torch.get_num_threads(), "model": args.size,
        "parameters": count_parameters(model), "task": "prosqa/demo",
        "latent_steps": {k: m.latent_steps(exs[0]) for k, m in methods.items() if m.latent},
        "mean_question_tokens": statistics.fmean(len(e.question) for e in exs),
        "mean_cot_tokens": statistics.fmean(sum(len(s) + 1 for s in e.steps) + 1 for e in exs),
        "ttft_ms_b1": {k: 1000 * v for k, v in b1.items()},
        "ttft_ms_b64": {k: 1000 * v for k, v in b64.items()},
        **{f"{k}_ttft_over_{base}": b1[k] / b1[base] for k in methods if k != base},
        **{f"{k}_ttft_over_{base}_b64": b64[k] / b64[base] for k in one_pass if k != base},
        **{f"{k}_prefill_token_ratio": r for k, r in prefill.items()},
        **rollouts, "rollout_examples": n, "rollout_batch_size": 64,
        "train_method": writer.name,
        "train_tokens_per_s": tok_s, "train_model_flop_per_s": flop_s,
        "matmul_peak_flop_per_s": peak, "train_mfu": flop_s / peak,
        "checks": checks,
    }
    from workbench.io import print_json

    print_json(result, args.out)


if __name__ == "__main__":
    main()
