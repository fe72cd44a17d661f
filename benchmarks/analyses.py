"""Analysis speed: the probe grid and a cached UMAP reload.

A synthetic store the size of a demo capture (5,000 examples × 8 latent steps, 5 residual
layers, d_model 128, a 10-class label) is written to a temporary directory; then

* ``probe_grid_seconds``: ``lwb analyze probes`` over all 5 layers × 8 steps (target ≤ 60 s here);
* ``umap_first_seconds`` / ``umap_cached_reload_seconds``: a UMAP projection of one layer, then
  the same fit again, served from the on-disk cache (target ≤ 1 s); ``projections_cached_run_
  seconds`` is the whole second ``lwb analyze projections`` (silhouettes, parquet, figure).

Prints one JSON object (and writes it with ``--out``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# this script's own name would shadow the package of the same name: look from the repo root
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [x for x in sys.path if Path(x or ".").resolve() != HERE]


def synthetic_store(path: Path, n: int, steps: int, layers: int, d: int, seed: int = 0):
    from workbench.store import write_store

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, (n, steps))
    resid = rng.normal(size=(n, steps, layers, d)).astype(np.float16)
    directions = rng.normal(size=(10, d)).astype(np.float16)
    resid[:, :, layers // 2] += directions[labels]
    eids = [f"e{i}" for i in range(n)]
    return write_store(path, {
        "example_id": np.repeat(eids, steps).tolist(),
        "step": np.tile(np.arange(steps), n).tolist(), "kind": ["block"] * (n * steps),
        "position": np.tile(np.arange(steps), n).tolist(),
        "resid": resid.reshape(n * steps, layers, d), "y_label": labels.reshape(-1).tolist(),
    }, {"example_id": eids, "input_ids": [[0]] * n})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from analyses.probes import ProbeConfig
    from analyses.probes import run as probes
    from analyses.projections import ProjectionsConfig
    from analyses.projections import run as projections

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        synthetic_store(root / "store", args.examples, args.steps, args.layers, args.d_model)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        records = probes(ProbeConfig(store=str(root / "store"), out=str(root / "p"),
                                     target="y_label"))
        grid_s = time.perf_counter() - t0
        pcfg = ProjectionsConfig(store=str(root / "store"), out=str(root / "u"), method="umap",
                                 layer=args.layers // 2)
        t0 = time.perf_counter()
        projections(pcfg)
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = projections(pcfg)
        cached_run_s = time.perf_counter() - t0
        # The reload itself: the cache layer's call with the same fit, timed alone.
        from analyses.projections import projection
        from workbench.store import open_store

        store = open_store(root / "store")
        rows = store.rows(kind="block")
        states = store.resid(pcfg.layer, rows)
        t0 = time.perf_counter()
        _, _, hit = projection(store, rows, states, again["params"], True)
        cached_s = time.perf_counter() - t0
    result = {
        "examples": args.examples, "steps": args.steps, "layers": args.layers,
        "d_model": args.d_model, "cells": len(records), "store_write_seconds": write_s,
        "probe_grid_seconds": grid_s, "umap_first_seconds": first_s,
        "umap_cached_reload_seconds": cached_s, "umap_cache": hit,
        "projections_cached_run_seconds": cached_run_s,
        "checks": {"probe_grid_at_most_60s": grid_s <= 60,
                   "umap_cached_reload_at_most_1s": cached_s <= 1},
    }
    from workbench.io import print_json

    print_json(result, args.out)


if __name__ == "__main__":
    main()
