"""Training throughput against the machine's matmul peak and a minimal GPT of the same shape.

Measured side by side in one process, the variants taking turns three steps at a time, so a
drift of the machine's speed hurts every variant alike:

* ``ours``: the training loop's own step (:meth:`train.loop.Trainer.prepare` on the prefetching
  worker, then :meth:`~train.loop.Trainer.train_step`: the method's loss through the fused
  forward, backward, clipping, AdamW) on the ``prosqa`` demo train split with CoT, length
  buckets as ``lwb train`` uses them by default;
* ``ours_unbucketed``: the same, batches straight from the shuffled order;
* ``transformer_lens``: the same unbucketed step through TransformerLens's own forward (what
  every step ran before the fused path);
* ``reference``: a minimal GPT written for speed alone (``nn.Linear`` with Q, K and V in one
  product, ``scaled_dot_product_attention`` with ``is_causal``, ``nn.LayerNorm``, AdamW) of the
  same shape, on dense batches of as many tokens per row as our batches hold on average (no
  padding at all: the speed of light for this model and token count on this machine).

Model FLOPs count what the model needs for the real tokens, padding never: per example of
``n`` tokens, ``6·N·n`` for the matrix products (``N``: the parameters multiplied per token,
attention, MLP and unembedding, not the embedding lookups) plus ``12·L·d·n²`` for attention
scores and mixing (forward and backward, the full square as PaLM's MFU counts it). MFU is that
over the matmul peak: the fastest float32 product among square ones of three sizes and the
small preset's MLP shapes, measured before and after the variants.

``--fresh`` adds what drawing a fresh batch at every step costs a step (the zoo's reach
recipe, with and without the prefetching worker, against a fixed train set);
``--compile`` adds ours through ``torch.compile`` (and the compilation's seconds);
``--scaling`` adds how a step's cost grows with sequence length (dense rows of 64, 128, 256 and
512 tokens, micro) and with model size (nano, micro, mini, small at 128 tokens), and
``--profile`` the share of each operator in a step of the micro and mini presets.

    python benchmarks/training.py [--steps 60] [--scaling] [--profile] [--fresh] [--compile]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from train.config import TrainConfig
from train.loop import Trainer, make_optimizer
from train.prefetch import Prefetch
from workbench.methods import METHODS
from workbench.models import PRESETS


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


#: (m, k, n) of the products the peak is the best of: square ones, and the shapes of the small
#: preset's MLP at 4,096 tokens (the largest products a preset's training step makes).
PEAK_SHAPES = ((512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (4096, 384, 1536),
               (4096, 1536, 384))


def matmul_peak(shapes: tuple[tuple[int, int, int], ...] = PEAK_SHAPES, repeats: int = 8
                ) -> float:
    """FLOP/s of the fastest float32 matrix product among ``shapes`` (best of ``repeats``)."""
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        a @ b
        t = min(timed(lambda a=a, b=b: a @ b) for _ in range(repeats))
        best = max(best, 2 * m * k * n / t)
    return best


def matmul_parameters(cfg: Any) -> int:
    """Parameters multiplied per token: attention and MLP weights of every layer, unembedding."""
    per_layer = 4 * cfg.d_model * cfg.n_heads * cfg.d_head + 2 * cfg.d_model * cfg.d_mlp
    return cfg.n_layers * per_layer + cfg.d_model * cfg.d_vocab


def model_flops(cfg: Any, lengths: list[int]) -> float:
    """Training FLOPs (forward and backward) for sequences of these lengths, padding never."""
    n_mm = matmul_parameters(cfg)
    attn = 12 * cfg.n_layers * cfg.n_heads * cfg.d_head
    return float(sum(6 * n_mm * n + attn * n * n for n in lengths))


class MinimalGPT(nn.Module):
    """The reference: a GPT written for speed alone, in the shape of a TransformerLens config."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        d, f = cfg.d_model, cfg.d_mlp
        self.n_heads = cfg.n_heads
        self.embed, self.pos = nn.Embedding(cfg.d_vocab, d), nn.Embedding(cfg.n_ctx, d)
        self.blocks = nn.ModuleList(nn.ModuleDict({
            "ln1": nn.LayerNorm(d), "qkv": nn.Linear(d, 3 * d), "out": nn.Linear(d, d),
            "ln2": nn.LayerNorm(d), "up": nn.Linear(d, f), "down": nn.Linear(f, d),
        }) for _ in range(cfg.n_layers))
        self.ln_final, self.unembed = nn.LayerNorm(d), nn.Linear(d, cfg.d_vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n = tokens.shape
        x = self.embed(tokens) + self.pos(torch.arange(n))
        for blk in self.blocks:
            q, k, v = blk["qkv"](blk["ln1"](x)).view(b, n, 3, self.n_heads, -1).permute(
                2, 0, 3, 1, 4)
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + blk["out"](z.transpose(1, 2).reshape(b, n, -1))
            x = x + blk["down"](F.gelu(blk["up"](blk["ln2"](x))))
        return self.unembed(self.ln_final(x))


class Reference:
    """Training steps of :class:`MinimalGPT` on dense random rows ``[batch, width]``."""

    def __init__(self, cfg: Any, batch: int, width: int) -> None:
        torch.manual_seed(0)
        self.model = MinimalGPT(cfg)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, betas=(0.9, 0.98),
                                     weight_decay=0.01)
        self.tokens = torch.randint(0, cfg.d_vocab, (batch, width))
        self.lengths = [width] * batch

    def step(self) -> list[int]:
        logits = self.model(self.tokens)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), self.tokens[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return self.lengths


class Ours:
    """The training loop's own steps (prefetched batches, the method's loss, AdamW)."""

    def __init__(self, trainer: Trainer, fused: bool = True) -> None:
        self.trainer, self.fused = trainer, fused
        self.opt = make_optimizer(trainer.trainable, trainer.cfg)
        self.step_index = 0
        self.batches = Prefetch(trainer.prepare, 0, trainer.total)

    def step(self) -> list[int]:
        import workbench.methods.base as base
        import workbench.rollout as rollout

        batch = self.batches.get(self.step_index)
        self.step_index = (self.step_index + 1) % self.trainer.total
        if self.step_index == 0:
            self.batches.close()
            self.batches = Prefetch(self.trainer.prepare, 0, self.trainer.total)
        if self.fused:
            self.trainer.train_step(batch, self.opt)
        else:
            real = rollout.forward
            base.forward = lambda *a, **k: real(*a, **k, fused=False)
            try:
                self.trainer.train_step(batch, self.opt)
            finally:
                base.forward = real
        return batch.layout.real.sum(1).tolist()


def writer() -> str:
    """The method that writes its reasoning steps (CoT): the longest sequences to train on."""
    return next(name for name, cls in METHODS.items() if cls.written_steps)


def trainer_for(out: str, size: str = "micro", batch: int = 32, bucket: int = 16,
                task: str = "prosqa", preset: str = "demo", method: str | None = None,
                **kw: Any) -> Trainer:
    method = method or writer()
    cfg = TrainConfig(task=task, preset=preset, method=method, size=size, out=out,
                      batch_size=batch, bucket=bucket, steps=10_000, quiet=True, **kw)
    return Trainer(cfg)


def measure(variants: dict[str, Callable[[], list[int]]], cfg: Any, steps: int, block: int = 3
            ) -> dict[str, dict[str, Any]]:
    """Tokens/s and model FLOP/s per variant over ``steps`` steps each, the variants taking
    turns ``block`` steps at a time (AAA BBB CCC AAA …), so a drift of the machine's speed,
    which on this shared machine moves a 3-second stretch by ±20 %, falls on every variant
    alike. (Blocks rather than single steps: a prefetching variant builds its next two
    batches on a worker thread, and at most that spills into the next variant's block.)"""
    for step in variants.values():  # warm-up
        step()
    totals = {name: [0, 0.0, 0.0] for name in variants}  # tokens, FLOPs, seconds
    for _ in range(0, steps, block):
        for name, step in variants.items():
            for _ in range(block):
                t0 = time.perf_counter()
                lengths = step()
                seconds = time.perf_counter() - t0
                totals[name][0] += sum(lengths)
                totals[name][1] += model_flops(cfg, lengths)
                totals[name][2] += seconds
    return {name: {"tokens_per_s": tok / sec, "model_flop_per_s": flop / sec, "seconds": sec}
            for name, (tok, flop, sec) in totals.items()}


def headline(steps: int, batch: int = 32, size: str = "micro", compiled: bool = False
             ) -> dict[str, Any]:
    """Ours (bucketed and not, fused and TransformerLens) and the reference, one run; with
    ``compiled`` also ours through ``torch.compile`` (``lwb train --compile``)."""
    peak = matmul_peak()
    with tempfile.TemporaryDirectory() as tmp:
        bucketed = trainer_for(f"{tmp}/a", size=size, batch=batch)
        plain = trainer_for(f"{tmp}/b", size=size, batch=batch, bucket=0)
        cfg = bucketed.model.cfg
        sample = [bucketed.prepare(s) for s in range(16)]
        real = [int(n) for b in sample for n in b.layout.real.sum(1)]
        padded = sum(b.layout.tokens.numel() for b in sample)
        width = round(statistics.fmean(real))
        reference = Reference(cfg, batch, width)
        variants = {"ours": Ours(bucketed).step, "ours_unbucketed": Ours(plain).step,
                    "transformer_lens": Ours(plain, fused=False).step,
                    "reference": reference.step}
        if compiled:
            from workbench.fused import compile_for

            twin = trainer_for(f"{tmp}/c", size=size, batch=batch)
            compile_for(twin.model)
            t0 = time.perf_counter()
            variants["ours_compiled"] = Ours(twin).step
            variants["ours_compiled"]()  # the compilation, timed apart
            compile_seconds = time.perf_counter() - t0
        results = measure(variants, cfg, steps)
    peak = max(peak, matmul_peak())  # measured before and after: the machine's best
    for r in results.values():
        r["mfu"] = r["model_flop_per_s"] / peak
    ours, ref = results["ours"], results["reference"]
    extra = {}
    if compiled:
        extra = {"compile_seconds": compile_seconds,
                 "compiled_over_eager": results["ours_compiled"]["tokens_per_s"]
                 / ours["tokens_per_s"]}
    return {**extra,
        "model": size, "parameters": sum(p.numel() for p in bucketed.model.parameters()),
        "matmul_parameters": matmul_parameters(cfg), "task": "prosqa/demo", "method": writer(),
        "batch_size": batch, "bucket": bucketed.cfg.bucket,
        "mean_tokens_per_example": statistics.fmean(real),
        "real_token_fraction_bucketed": sum(real) / padded,
        "reference_width": width, "matmul_peak_flop_per_s": peak,
        "threads": torch.get_num_threads(), "steps_per_variant": steps,
        "variants": results,
        "train_tokens_per_s": ours["tokens_per_s"], "train_mfu": ours["mfu"],
        "reference_mfu": ref["mfu"],
        "train_over_reference": ours["tokens_per_s"] / ref["tokens_per_s"],
        "fused_over_transformer_lens": (results["ours_unbucketed"]["tokens_per_s"]
                                        / results["transformer_lens"]["tokens_per_s"]),
        "bucketed_over_unbucketed": (ours["tokens_per_s"]
                                     / results["ours_unbucketed"]["tokens_per_s"]),
    }


class Synchronous(Ours):
    """Ours, with each batch built on the training thread just before its step (no worker)."""

    def step(self) -> list[int]:
        batch = self.trainer.prepare(self.step_index)
        self.step_index = (self.step_index + 1) % self.trainer.total
        self.trainer.train_step(batch, self.opt)
        return batch.layout.real.sum(1).tolist()


def fresh_cost(steps: int) -> dict[str, Any]:
    """What drawing a fresh batch every step costs the step: the zoo's reach recipe (padded
    chains, micro-h1, batch 32, CoT) on fresh batches, with the prefetching worker and without,
    against the same recipe cycling a fixed train set (unbucketed, as fresh batches are)."""
    with tempfile.TemporaryDirectory() as tmp:
        common = {"task": "reach", "preset": "padded", "size": "micro-h1", "batch": 32,
                  "bucket": 0, "n_train": 2048}
        fresh = trainer_for(f"{tmp}/f", fresh=True, **common)
        fixed = trainer_for(f"{tmp}/x", **common)
        build = [timed(lambda s=s: fresh.prepare(s)) for s in range(20)]
        cfg = fresh.model.cfg
        variants = {"fixed": Ours(fixed).step, "fresh": Ours(fresh).step,
                    "fresh_without_worker": Synchronous(fresh).step}
        results = measure(variants, cfg, steps)
    return {"recipe": "reach/padded, micro-h1, batch 32, " + writer(), **results,
            "fresh_batch_build_ms": 1000 * statistics.median(build),
            "fresh_over_fixed": results["fresh"]["tokens_per_s"]
            / results["fixed"]["tokens_per_s"],
            "fresh_without_worker_over_fixed": results["fresh_without_worker"]["tokens_per_s"]
            / results["fixed"]["tokens_per_s"]}


def dense_step(size: str, width: int, batch: int, vocab: int = 64) -> tuple[Any, Callable]:
    """Our fused forward and the method-free loss on dense random rows: the model's cost alone."""
    from workbench.models import build_model, model_config
    from workbench.rollout import Layout, forward

    model = build_model(model_config(size, vocab, max(width, 64) + 8))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = torch.randint(0, vocab, (batch, width))
    layout = Layout.plain(tokens)

    def step() -> list[int]:
        logits, _ = forward(model, layout)
        F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return [width] * batch

    return model.cfg, step


def scaling(steps: int, peak: float) -> dict[str, list[dict[str, Any]]]:
    """Our fused step on dense rows of 4,096 tokens per batch: micro at 64–512 tokens per row,
    and nano to small at 128, all measured together taking turns (the machine's drift falls
    on every point alike)."""
    tokens_per_batch = 4096
    points = [("micro", w) for w in (64, 128, 256, 512)]
    points += [(size, 128) for size in ("nano", "mini", "small")]
    steps_of, cfgs = {}, {}
    for size, width in points:
        cfgs[size, width], steps_of[size, width] = dense_step(size, width,
                                                             tokens_per_batch // width)
    # tokens/s from one interleaved measurement; FLOPs per token from each point's own model
    timed_ = measure({f"{s}/{w}": f for (s, w), f in steps_of.items()}, cfgs["micro", 128],
                     steps, block=2)
    results = {}
    for (size, width), cfg in cfgs.items():
        r = timed_[f"{size}/{width}"]
        flop = r["tokens_per_s"] * model_flops(cfg, [width]) / width
        results[size, width] = {"model": size, "width": width,
                                "tokens_per_s": r["tokens_per_s"], "model_flop_per_s": flop,
                                "mfu": flop / peak, "matmul_parameters": matmul_parameters(cfg),
                                "d_model": PRESETS[size].d_model,
                                "n_layers": PRESETS[size].n_layers}
    return {"sequence_length": [results["micro", w] for w in (64, 128, 256, 512)],
            "model_size": [results[s, 128] for s in ("nano", "micro", "mini", "small")]}


def profile(size: str, batch: int = 32, rows: int = 12, before: bool = False
            ) -> list[dict[str, Any]]:
    """Self CPU time per operator over 8 training steps of ``size``: ours, bucketed, or with
    ``before`` the step as the first build ran it (TransformerLens's forward, unbucketed)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with tempfile.TemporaryDirectory() as tmp:
        ours = Ours(trainer_for(f"{tmp}/p", size=size, batch=batch, bucket=0 if before else 16),
                    fused=not before)
        ours.step()
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(8):
                ours.step()
        ours.batches.close()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "share": e.self_cpu_time_total / total,
             "ms_per_step": e.self_cpu_time_total / 1000 / 8, "calls_per_step": e.count / 8}
            for e in events[:rows]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="steps per variant")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--fresh", action="store_true",
                        help="also what drawing a fresh batch every step costs the step")
    parser.add_argument("--compile", action="store_true",
                        help="also ours through torch.compile (set TORCHINDUCTOR_CACHE_DIR to "
                        "keep the compiled kernels between runs)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = headline(args.steps, compiled=args.compile)
    if args.fresh:
        result["fresh"] = fresh_cost(args.steps)
    if args.scaling:
        result["matmul_peak_flop_per_s"] = peak = max(result["matmul_peak_flop_per_s"],
                                                      matmul_peak())
        result["scaling"] = scaling(max(4, args.steps // 3), peak)
    if args.profile:
        result["profile"] = {size: profile(size) for size in ("micro", "mini")}
        result["profile_before"] = {"micro": profile("micro", before=True)}
    from workbench.io import print_json

    print_json(result, args.out)


if __name__ == "__main__":
    main()
