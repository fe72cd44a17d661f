"""A tiny runs root for the app's tests, laid out as :mod:`app.data` documents.

::

    root/
      chain-rim/      trained RiM (2 blocks); store/ and every analysis (lens.parquet included)
      chain-cot/      trained CoT; store/, probes and projections only (no lens, no
                      interventions: the pages say so)
      prosqa/rim/     random-weight RiM on ProsQA (no metrics); store/ and lens; a corrupt
                      analyses/probes.json
      broken/         config.json that is not JSON
      compare/        compare.json of the two trained runs
      escape -> ..    a symlink out of the root (must never be listed or opened)

Built once per session in well under a minute (two 100-step trainings of the nano model).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import pytest

from tests.capture.conftest import make_run
from tests.train.conftest import tiny_config
from workbench.tasks import TASKS
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import write_jsonl

TEST_EXAMPLES = 16


def build_root(root: Path, steps: int = 100) -> dict[str, float]:
    """Train, capture and analyse the fixture runs under ``root``; returns seconds per part."""
    import torch

    from analyses import alignment, compare, correctness, interventions, lens, probes, projections
    from train.loop import train
    from workbench.capture import CaptureConfig, capture

    torch.set_num_threads(1)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    train_file, test_file, prosqa_file = (data / "chain-train.jsonl", data / "chain-test.jsonl",
                                          data / "prosqa-test.jsonl")
    seen = list(generate_split(TASKS["chain"], "tiny", "train", 32, seed=0))
    write_jsonl(train_file, seen)
    # Half of the "test" examples were trained on, so the tiny runs are right on some, wrong on
    # others: every page has both right and wrong answers to show.
    unseen = list(generate_split(TASKS["chain"], "tiny", "test", TEST_EXAMPLES // 2, seed=1))
    write_jsonl(test_file, seen[: TEST_EXAMPLES // 2] + unseen)
    write_jsonl(prosqa_file, generate_split(TASKS["prosqa"], "tiny", "test", 8, seed=1))

    runs = {"chain-rim": ("rim", {"blocks": 2, "stage1_fraction": 0.3}),
            "chain-cot": ("cot", {})}
    for name, (method, options) in runs.items():
        train(tiny_config(train_file, root / name, method, steps=steps, test_data=str(test_file),
                          latency_examples=4),
              options)
    times["train"] = time.perf_counter() - t0
    prosqa_run = make_run(root / "prosqa", "prosqa", "rim", prosqa_file)
    (root / "prosqa" / "prosqa-rim").rename(root / "prosqa" / "rim")
    prosqa_run = root / "prosqa" / "rim"

    t0 = time.perf_counter()
    for run, file in ((root / "chain-rim", test_file), (root / "chain-cot", test_file),
                      (prosqa_run, prosqa_file)):
        capture(CaptureConfig(run=str(run), data=str(file), out=str(run / "store"), quiet=True))
    times["capture"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    fast = {"folds": 3, "n_boot": 20, "n_jobs": 1}
    for name in ("chain-rim", "chain-cot"):
        run = root / name
        store, out = str(run / "store"), str(run / "analyses")
        probes.run(probes.ProbeConfig(store=store, out=out, target="y_proof_value", **fast))
        projections.run(projections.ProjectionsConfig(store=store, out=out, method="pca"))
    rim = root / "chain-rim"
    store, out = str(rim / "store"), str(rim / "analyses")
    alignment.run(alignment.AlignmentConfig(store=store, out=out, **fast))
    correctness.run(correctness.CorrectnessConfig(store=store, out=out, **fast))
    lens.run(lens.LensConfig(run=str(rim), store=store, out=out, n_boot=20))
    interventions.run(interventions.InterventionConfig(
        run=str(rim), data=str(test_file), out=out, limit=8, kinds=["zero", "swap"], n_boot=50,
        quiet=True))
    lens.run(lens.LensConfig(run=str(prosqa_run), store=str(prosqa_run / "store"),
                             out=str(prosqa_run / "analyses"), n_boot=20))
    (prosqa_run / "analyses" / "probes.json").write_text("{not json")
    compare.run(compare.CompareConfig(runs=[str(root / n) for n in runs],
                                      out=str(root / "compare"), n_boot=50))
    times["analyses"] = time.perf_counter() - t0

    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{ this is not json")
    outside = root.parent / f"{root.name}-outside"
    (outside / "secret").mkdir(parents=True, exist_ok=True)
    (outside / "secret" / "config.json").write_text("{}")
    os.symlink(outside, root / "escape")
    return times


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("app") / "root"
    root.mkdir()
    t0 = time.perf_counter()
    times = build_root(root)
    print(f"\napp fixture root built in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    return root
