"""Capture cost against plain inference, and capture's peak memory against dataset size.

On the ``prosqa`` demo preset with a ``micro`` model (random weights: timing and memory do not
depend on them):

* ``capture_over_inference``: seconds to capture a store over seconds of plain inference of the
  same examples at the same batch size, measured side by side in one process (target ≤ 1.3),
  for RiM (blocks and every readout decoded);
* ``peak_rss_mb_2k`` / ``peak_rss_mb_20k``: peak resident memory of a whole ``lwb capture`` of
  2,000 and 20,000 examples, each in a fresh process (target: within 15 % of each other), for
  the pause method (6 latent steps an example: 12k and 120k rows; its decoding is 4× cheaper
  than RiM's every-readout decoding, and the store streams the same way for every method).

Prints one JSON object (and writes it with ``--out``).

    python benchmarks/capture.py [--small 2000] [--large 20000] [--out FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import resource, sys
from workbench.capture import CaptureConfig, capture
m = capture(CaptureConfig(run=sys.argv[1], data=sys.argv[2], out=sys.argv[3], quiet=True,
                          batch_size=int(sys.argv[4])))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, m["rows"]["steps"])
"""


def make_run(root: Path, data: Path, method_name: str) -> Path:
    from dataclasses import asdict

    from workbench.methods import get_method, tokenize
    from workbench.models import build_model, model_config
    from workbench.runs import save_run
    from workbench.tasks import task_tokenizer
    from workbench.tasks.loaders import load_examples

    tok = task_tokenizer("prosqa")
    method = get_method(method_name, {}, tok)
    exs = [tokenize(e, tok) for e in load_examples(data)[:500]]
    if hasattr(method, "resolve"):
        method.resolve(exs)
    n_ctx = max(method.max_length(e) for e in exs) + 64
    cfg = {"model": model_config("micro", len(tok), n_ctx, seed=0),
           "task": {"name": "prosqa", "preset": "demo"},
           "method": {"name": method_name, **asdict(method.options)}, "train": {"seed": 0}}
    return save_run(root / f"run-{method_name}", build_model(cfg["model"]), tok, cfg)


def side_by_side(run: Path, data: Path, n: int, batch: int) -> dict[str, float]:
    from workbench.capture import CaptureConfig, capture_batch, load_for_capture, proof_schema
    from workbench.inference import answer_budget

    cfg = CaptureConfig(run=str(run), data=str(data), out="", limit=n, batch_size=batch)
    loaded_run, method, examples = load_for_capture(cfg)
    model, proof = loaded_run.model, proof_schema(examples)
    max_new = answer_budget(method, examples)
    chunks = [examples[i:i + batch] for i in range(0, len(examples), batch)]
    method.generate(model, chunks[0], max_new=max_new)  # warm-up
    t_inf = t_cap = 0.0
    for chunk in chunks:  # interleaved, so drift hits both alike
        t0 = time.perf_counter()
        method.generate(model, chunk, max_new=max_new, all_readouts=True)
        t_inf += time.perf_counter() - t0
        t0 = time.perf_counter()
        capture_batch(method, model, chunk, cfg, proof, max_new)
        t_cap += time.perf_counter() - t0
    return {"inference_examples_per_s": n / t_inf, "capture_examples_per_s": n / t_cap,
            "capture_over_inference": t_cap / t_inf}


def peak_rss(run: Path, data: Path, out: Path, batch: int) -> tuple[float, int]:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(run), str(data), str(out),
                           str(batch)], capture_output=True, text=True, check=True)
    mb, rows = proc.stdout.split()[-2:]
    return float(mb), int(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--timed", type=int, default=256, help="examples timed side by side")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=None)
    # defaults from the registry: timing on the method whose capture stores the most per step
    # (a readout per latent step), memory on a one-pass latent method without readouts
    from workbench.methods import METHODS

    parser.add_argument("--timing-method", choices=list(METHODS),
                        default=next(k for k, m in METHODS.items() if m.readouts))
    parser.add_argument("--rss-method", choices=list(METHODS),
                        default=next(k for k, m in METHODS.items()
                                     if m.latent and m.one_pass and not m.readouts))
    args = parser.parse_args()

    from workbench.tasks import TASKS
    from workbench.tasks.base import generate_split
    from workbench.tasks.loaders import write_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = {n: root / f"prosqa-{n}.jsonl" for n in (args.small, args.large)}
        examples = list(generate_split(TASKS["prosqa"], "demo", "train", args.large, seed=0))
        for n, path in data.items():
            write_jsonl(path, examples[:n])
        del examples
        run = make_run(root, data[args.small], args.timing_method)
        timing = side_by_side(run, data[args.small], args.timed, args.batch_size)
        pause = make_run(root, data[args.small], args.rss_method)
        small = peak_rss(pause, data[args.small], root / "s-small", args.batch_size)
        large = peak_rss(pause, data[args.large], root / "s-large", args.batch_size)
    result = {
        "task": "prosqa/demo", "timing_method": args.timing_method,
        "rss_method": args.rss_method, "model": "micro",
        "batch_size": args.batch_size,
        "timed_examples": args.timed, **timing,
        "peak_rss_mb_2k": small[0], "peak_rss_mb_20k": large[0],
        "examples_small": args.small, "examples_large": args.large,
        "rows_small": small[1], "rows_large": large[1],
        "rss_ratio_large_over_small": large[0] / small[0],
        "checks": {"capture_over_inference_at_most_1.3": timing["capture_over_inference"] <= 1.3,
                   "peak_rss_within_15_percent": abs(large[0] / small[0] - 1) <= 0.15},
    }
    from workbench.io import print_json

    print_json(result, args.out)


if __name__ == "__main__":
    main()
