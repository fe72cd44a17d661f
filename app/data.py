"""Browsing a runs root: everything the app reads, without Streamlit.

A **runs root** is a directory laid out as follows (``lwb demo`` writes exactly this; every part
but a run's ``config.json`` is optional)::

    ROOT/
      <run>/                  any directory at depth ≤ 3 under ROOT holding config.json,
                              e.g. chain-rim-s0/ or chain/rim/s0/          (lwb train)
        config.json  model.safetensors  tokenizer.json  metrics.json  manifest.json
        store/                the run's trajectory store on the test split  (lwb capture)
        analyses/             the run's analysis outputs                    (lwb analyze …)
          probes.json  probes.html  alignment.json  correctness.json
          projections.json  projections.parquet  lens.json  lens.parquet  interventions.json
      compare/                cross-run comparison                          (lwb analyze compare)
        compare.json

Run names are paths relative to ROOT (``chain/rim/s0``). A name from a URL or a widget is
resolved inside ROOT only: no absolute paths, no ``..``, and nothing whose resolved path (symlinks
followed) leaves ROOT. A missing optional artifact raises :class:`Missing`, whose message names
the file and the command that makes it; a corrupt one raises :class:`UserError` naming the file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from workbench.errors import UserError
from workbench.tasks import TASKS
from workbench.tasks.problem import Problem, number

CONFIG = "config.json"
STORE, ANALYSES, COMPARE = "store", "analyses", "compare"
MAX_DEPTH = 3
#: Directories that belong to a run or the root and never hold runs themselves.
NOT_RUNS = {STORE, ANALYSES, COMPARE, "checkpoints", "data", "__pycache__"}
#: Largest store (rows of one kind) the app projects with PCA on a click.
MAX_ONLINE_PCA_ROWS = 20_000
#: Columns of the runs table, as the Runs page shows them.
RUN_COLUMNS = {"run": "run", "task": "task", "method": "method", "size": "size", "seed": "seed",
               "lr": "learning rate", "accuracy": "accuracy",
               "any_block_accuracy": "any-block accuracy",
               "mean_generated_tokens": "generated tokens", "ttft_ms": "time to first token (ms)",
               "parameters": "parameters", "mean_latent_steps": "latent steps",
               "n": "test examples", "store": "store", "analyses": "analyses",
               "note": "note"}


class Missing(UserError):
    """An optional artifact does not exist; the message says which command makes it."""


# -- the runs root -------------------------------------------------------------------------------
def find_runs(root: str | Path) -> list[str]:
    """Names (POSIX paths relative to ``root``) of every run directory at depth ≤ 3, sorted.
    Hidden directories, a run's own sub-directories and links leaving ``root`` are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise UserError("the runs root is not a directory", file=root)
    real_root = root.resolve()
    found: list[str] = []

    def walk(directory: Path, depth: int) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or entry.name in NOT_RUNS:
                continue
            path = Path(entry.path)
            try:
                if not entry.is_dir() or not path.resolve().is_relative_to(real_root):
                    continue
            except OSError:
                continue
            if (path / CONFIG).is_file():
                found.append(path.relative_to(root).as_posix())
            elif depth < MAX_DEPTH:
                walk(path, depth + 1)

    walk(root, 1)
    return found


def resolve_run(root: str | Path, name: str) -> Path:
    """The run directory ``name`` inside ``root``; anything else is a one-line UserError."""
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise UserError("empty run name", field="run")
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith("~") or "\\" in name or ".." in pure.parts:
        raise UserError(f"run name {name!r} must be a path inside the runs root (no '..', no "
                        "absolute paths)", field="run")
    if len(pure.parts) > MAX_DEPTH:
        raise UserError(f"run name {name!r} is deeper than {MAX_DEPTH} levels", field="run")
    real_root = Path(root).resolve()
    path = (real_root / pure).resolve()
    if not path.is_relative_to(real_root):
        raise UserError(f"run name {name!r} points outside the runs root", field="run")
    if not (path / CONFIG).is_file():
        raise UserError(f"no run {name!r} in the runs root (no {CONFIG})", field="run")
    run = Path(root) / pure
    _ROOTS[str(run)] = real_root
    return run


#: The resolved runs root of each run :func:`resolve_run` handed out (files are opened only
#: where their resolved path stays inside it).
_ROOTS: dict[str, Path] = {}


def confined(run: str | Path, file: str | Path) -> Path:
    """``file`` (of ``run``) if its resolved path, symlinks followed, stays inside the runs root
    (the run directory itself for a run not resolved through :func:`resolve_run`); else a
    UserError: a link out of the root is never opened."""
    run, file = Path(run), Path(file)
    root = _ROOTS.get(str(run))
    try:
        root = root or run.resolve()
        real = file.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise UserError("cannot resolve the path (a symlink loop?)", file=file) from None
    if not real.is_relative_to(root):
        raise UserError("is a link leading outside the runs root: not opened", file=file)
    return file


def confined_tree(run: Path, directory: Path) -> None:
    """Every entry under ``directory`` (a store) stays inside the runs root."""
    confined(run, directory)
    for parent, dirs, files in os.walk(directory, followlinks=False):
        for name in dirs + files:
            confined(run, Path(parent) / name)


def default_run(root: str | Path, runs: list[str]) -> str:
    """The run a page opens with: the first one with a store, else the first."""
    return next((r for r in runs if (Path(root) / r / STORE / "manifest.json").is_file()),
                runs[0])


def check_config(run: Path) -> dict[str, Any]:
    """The run's config.json (a UserError naming the file if it is unreadable)."""
    from workbench.runs import read_config

    confined(run, run / CONFIG)
    return read_config(run)


def mtime(path: str | Path) -> float:
    """Modification time (the caches' key), or -1 where the path does not exist."""
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return -1.0


# -- artifacts and the commands that make them ---------------------------------------------------
#: When an analysis applies to some methods only, the message says so.
REMARKS = {"correctness.json": "RiM runs only",
           "interventions.json": "RiM, Coconut and pause runs; CoT and no-CoT have no latent "
                                 "steps in the prompt"}


def _commands(run: Path) -> dict[str, str]:
    store, out = run / STORE, run / ANALYSES
    return {
        STORE: f"lwb capture {run} --data TEST.jsonl --out {store}",
        "probes.json": f"lwb analyze probes {store} --out {out}",
        "alignment.json": f"lwb analyze alignment {store} --out {out}",
        "correctness.json": f"lwb analyze correctness {store} --out {out}",
        "projections.parquet": f"lwb analyze projections {store} --out {out}",
        "projections.json": f"lwb analyze projections {store} --out {out}",
        "lens.parquet": f"lwb analyze lens {store} --run {run} --out {out}",
        "lens.json": f"lwb analyze lens {store} --run {run} --out {out}",
        "interventions.json": f"lwb analyze interventions {store} --out {out}",
    }


def analysis_path(run: Path, name: str) -> Path:
    """Where an analysis output of ``run`` lives."""
    return run / ANALYSES / name


def _missing(file: Path, what: str, command: str | None) -> Missing:
    how = f": run `{command}`" if command else ""
    if what in REMARKS:
        how += f" ({REMARKS[what]})"
    return Missing(f"no {what}{how}", file=file)


def read_json(file: str | Path, command: str | None = None) -> Any:
    """A JSON artifact checked by its schema (:data:`workbench.artifacts.ANALYSES`, by name);
    :class:`Missing` (with ``command``) if absent, a UserError naming the file and field if it
    is corrupt or wrongly shaped."""
    from workbench import artifacts

    file = Path(file)
    if not file.is_file():
        raise _missing(file, file.name, command)
    return artifacts.read_analysis(file)


def read_parquet(file: str | Path, command: str | None = None) -> Any:
    """A parquet artifact as a DataFrame; Missing if absent, UserError if unreadable."""
    import pandas as pd

    file = Path(file)
    if not file.is_file():
        raise _missing(file, file.name, command)
    try:
        return pd.read_parquet(file)
    except Exception as e:  # pyarrow raises several types for damaged files: name the file
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"not a readable parquet file: {first}", file=file) from None


def read_analysis(run: Path, name: str) -> Any:
    """``<run>/analyses/<name>`` (JSON or parquet) with the command that makes it if absent."""
    file = analysis_path(run, name)
    command = _commands(run).get(name)
    if file.is_file():
        confined(run, file)
    return read_parquet(file, command) if name.endswith(".parquet") else read_json(file, command)


def read_compare(root: str | Path) -> dict[str, Any]:
    """``<root>/compare/compare.json``."""
    root = Path(root)
    file = root / COMPARE / "compare.json"
    if file.is_file():
        confined(root, file)
    return read_json(file,
                     f"lwb analyze compare RUN… --out {root / COMPARE}")


def open_run_store(run: Path) -> Any:
    """The run's trajectory store ``<run>/store``; Missing with the capture command if absent."""
    from workbench.store import open_store

    path = run / STORE
    if not path.exists():
        raise _missing(path, "store", _commands(run)[STORE])
    confined_tree(run, path)
    return open_store(path)


def load_model(run: Path) -> Any:
    """The run's model and tokenizer (:func:`workbench.runs.load_run`)."""
    from workbench.runs import CONFIG, MANIFEST, METRICS, TOKENIZER, WEIGHTS, load_run

    for name in (CONFIG, MANIFEST, METRICS, TOKENIZER, WEIGHTS):
        if (run / name).exists():
            confined(run, run / name)
    return load_run(run)


# -- the runs table ------------------------------------------------------------------------------
def run_summary(root: str | Path, name: str) -> dict[str, Any]:
    """One row of the runs table: config, test metrics, which artifacts exist. A run without
    metrics (or with a broken config) still gets a row, with a note saying why."""
    from analyses.compare import run_row
    from workbench.artifacts import ConfigSummary
    from workbench.runs import read_config

    run = resolve_run(root, name)
    row: dict[str, Any] = {k: None for k in (*RUN_COLUMNS, "by_depth")}
    row["run"] = name
    try:
        for file in (CONFIG, "metrics.json"):
            if (run / file).exists():
                confined(run, run / file)
        row.update(run_row(run))
        row["run"] = name
    except UserError as e:
        row["note"] = str(e)
        try:
            confined(run, run / CONFIG)
            config = read_config(run, ConfigSummary)
            row.update(task=f"{config['task'].get('name')}/{config['task'].get('preset')}",
                       method=config["method"].get("name"), size=config["train"].get("size"),
                       seed=config["train"].get("seed"))
        except UserError as e2:
            row["note"] = str(e2)
    if row["note"] is None and row["accuracy"] is None:
        row["note"] = "no test metrics in metrics.json"
    row["store"] = (run / STORE / "manifest.json").is_file()
    outputs = sorted(p.stem for p in (run / ANALYSES).glob("*.json")
                     if not p.name.endswith(".meta.json")) if (run / ANALYSES).is_dir() else []
    row["analyses"] = ", ".join(outputs) or "none"
    return row


def runs_table(root: str | Path) -> Any:
    """Every run of the root as a DataFrame with :data:`RUN_COLUMNS` (raw keys)."""
    import pandas as pd

    rows = [run_summary(root, name) for name in find_runs(root)]
    # by_depth (per-depth accuracies, for the depth figure) rides along, not shown as a column
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, "by_depth"])


def compare_rows(table: Any) -> list[dict[str, Any]]:
    """Rows of the runs table in the shape :mod:`analyses.compare` reads (runs with metrics)."""
    rows = []
    for r in table.to_dict("records"):
        if r.get("accuracy") is None or _isnan(r.get("accuracy")):
            continue
        rows.append({k: (None if _isnan(v) else v) for k, v in r.items()})
    return rows


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


# -- a store's examples and steps ----------------------------------------------------------------
SCALAR_COLUMNS = ("example_id", "step", "kind", "position")


def examples_frame(store: Any) -> Any:
    """One row per example: example_id, question, answer, prediction, correct, task, proof."""
    cols = [c for c in ("example_id", "question", "answer", "prediction", "correct", "task",
                        "proof") if c in store.examples.column_names]
    return store.examples.select_columns(cols).to_pandas()


def steps_frame(store: Any) -> Any:
    """Every step row's scalar columns and labels (no states), with its row index ``row``."""
    import pandas as pd

    table = store.steps.data.table
    names = [c for c in (*SCALAR_COLUMNS, *store.label_columns) if c in table.column_names]
    df = pd.DataFrame({c: table.column(c).to_numpy(zero_copy_only=False) for c in names})
    df.insert(0, "row", np.arange(len(df)))
    return df


def example_steps(steps: Any, example_id: str, kind: str | None = None) -> Any:
    """The step rows of one example (one kind), in step order."""
    part = steps[steps["example_id"] == example_id]
    if kind is not None:
        part = part[part["kind"] == kind]
    return part.sort_values(["kind", "step"]).reset_index(drop=True)


def kinds_of(store: Any) -> list[str]:
    """The store's kinds, its main kind (the method's latent steps) first."""
    from workbench.methods import main_kinds

    order = main_kinds()

    kinds = list(store.manifest.get("kinds", []))
    return sorted(kinds, key=lambda k: (order.index(k) if k in order else 99, k))


def proof_label(row: dict[str, Any]) -> str:
    """What a row's proof step establishes, for a person, in its task's words (``c = a + 4 =
    7``, ``wumpus → zumpus``): the row's task (``y_task``) says, else the first task whose
    records look like it; else ``key=value`` pairs; "" where the row has none."""
    record = {c[8:]: v for c, v in row.items()
              if c.startswith("y_proof_") and c != "y_proof_length" and v is not None
              and not _isnan(v)}
    task = TASKS.get(str(row.get("y_task")))
    for t in ([task] if task is not None else []) + list(TASKS.values()):
        if t.proof_label is not None and (label := t.proof_label(record)) is not None:
            return label
    return ", ".join(f"{k}={number(v)}" for k, v in record.items())


def readouts(steps: Any) -> Any:
    """RiM: per memory block, what its readout decoded and whether that is the answer."""
    import pandas as pd

    if "y_readout_prediction" not in steps.columns:
        raise Missing("no readouts: only RiM stores record y_readout_prediction")
    blocks = steps[steps["kind"] == "block"].sort_values("step")
    return pd.DataFrame({
        "block": blocks["step"].astype(int),  # from 0, as stored and shown everywhere
        "readout prediction": blocks["y_readout_prediction"],
        "correct": blocks["y_readout_correct"],
        "proof step": [proof_label(r) or None for r in blocks.to_dict("records")],  # none: –
    })


def pca_frame(store: Any, layer: int, kind: str, n_components: int = 2) -> tuple[Any, Any]:
    """PCA of one kind's states at one layer for a small store, through the projections
    analysis's cache (the same fit ``lwb analyze projections --method pca`` makes); returns the
    projections.parquet-shaped frame and the explained variance ratios."""
    from analyses.projections import points_frame, projection

    rows = store.rows(kind=kind)
    if len(rows) > MAX_ONLINE_PCA_ROWS:
        raise Missing(f"{len(rows)} {kind} rows: too many to project on a click; run `lwb "
                      f"analyze projections {store.path} --out …` and open its parquet",
                      file=store.path)
    if len(rows) < n_components + 2:
        raise UserError(f"only {len(rows)} rows of kind {kind!r}: too few to project",
                        file=store.path)
    params = {"method": "pca", "layer": layer, "kind": kind, "n_components": n_components}
    coords, explained, _ = projection(store, rows, store.resid(layer, rows), params, True)
    return points_frame(store, rows, coords), explained


def cosine_matrix(states: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of ``states [steps, d_model]``."""
    x = np.asarray(states, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    return x @ x.T


# -- logit lens for one example ------------------------------------------------------------------
LENS_COLUMNS = ("step", "layer", "top_tokens", "top_probs", "proof_token", "proof_rank")


def lens_from_file(lens: Any, example_id: str, kind: str) -> Any:
    """The rows of ``lens.parquet`` for one example and kind (step, layer, top tokens …)."""
    part = lens[(lens["example_id"] == example_id) & (lens["kind"] == kind)]
    part = part.sort_values(["step", "layer"]).reset_index(drop=True)
    return part[[c for c in LENS_COLUMNS if c in part.columns]]


def lens_on_the_fly(model: Any, tokenizer: Any, states: np.ndarray, steps: Any, top_k: int = 3
                    ) -> Any:
    """The lens of one example's states ``[steps, n_layers+1, d_model]`` through the run's own
    ``ln_final`` and unembedding (:func:`analyses.lens.lens_logits`), as ``lens_from_file``."""
    import pandas as pd
    import torch

    from analyses.lens import lens_logits, proof_token_id, token_ranks

    x = torch.from_numpy(np.asarray(states, dtype=np.float32)).to(model.W_U.device)
    logits = lens_logits(model, x).float().cpu()  # [steps, layers+1, vocab]
    probs = torch.softmax(logits, dim=-1)
    n_steps, n_layers = logits.shape[:2]
    ranks = token_ranks(logits.reshape(n_steps * n_layers, -1)).reshape(n_steps, n_layers, -1)
    top_p, top_i = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    records = steps.to_dict("records")
    out = []
    for i, rec in enumerate(records):
        token = proof_token_id(rec, tokenizer)
        for layer in range(n_layers):
            out.append({
                "step": int(rec["step"]), "layer": layer,
                "top_tokens": [tokenizer.vocab[t] for t in top_i[i, layer].tolist()],
                "top_probs": top_p[i, layer].numpy(),
                "proof_token": None if token is None else tokenizer.vocab[token],
                "proof_rank": float("nan") if token is None else float(ranks[i, layer, token]),
            })
    return pd.DataFrame(out, columns=list(LENS_COLUMNS))


def lens_grid(lens: Any) -> Any:
    """Layer × step table of ``"token (p)"`` for the top token of each state."""
    import pandas as pd

    if not len(lens):
        return pd.DataFrame()
    cells = {(int(r["layer"]), int(r["step"])): f"{r['top_tokens'][0]} "
             f"({float(r['top_probs'][0]):.2f})" for r in lens.to_dict("records")}
    layers = sorted({la for la, _ in cells})
    steps = sorted({s for _, s in cells})
    return pd.DataFrame([[cells.get((la, s), "") for s in steps] for la in layers],
                        index=pd.Index(layers, name="layer"),
                        columns=[f"step {s}" for s in steps])


def check_checkpoint(store: Any, run: Path) -> None:
    """The store must come from the run's weights (the lens decodes through them)."""
    from workbench.io import sha256_file
    from workbench.runs import WEIGHTS

    want = store.manifest.get("checkpoint_sha256")
    if want is not None and (run / WEIGHTS).is_file() and sha256_file(run / WEIGHTS) != want:
        raise UserError("the store was captured from another checkpoint than the run's "
                        "model.safetensors: its states cannot be decoded through this model",
                        file=store.path / "manifest.json")


# -- the problem, drawn for a person -------------------------------------------------------------
def problem(task: str, question: str, proof: list[dict[str, Any]]) -> Problem | None:
    """The task's own drawing of the question (ProsQA: the concept graph and its proof path;
    reach: both components and the path root → steps → answer; chain: the dependency graph and
    the query's chain); None for a task that draws none."""
    found = TASKS.get(task)
    return found.problem(question, proof) if found is not None and found.problem else None


