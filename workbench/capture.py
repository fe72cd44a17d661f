"""``lwb capture``: run a method's inference with hooks and write a trajectory store.

The states are recorded *during* the real inference passes (a :class:`~workbench.rollout.Recorder`
on the rollout), so capture costs little more than inference and the states are exactly those the
model computed: Coconut's thoughts pass by pass, CoT's steps as they were generated.

Latent steps per method (``Method.latent_positions``): RiM memory blocks (summary: ``</b>``) and
readouts (``<r>``), Coconut thoughts (the placeholder whose input embedding is the thought), pause
tokens, CoT steps (summary: the step's last token), no-CoT's answer position (``<ans>``).

Labels joined to each row: ``y_proof_<key>`` (proof step ``step`` — ``step // c`` for Coconut —
where one exists), ``y_readout_prediction``/``y_readout_correct`` (RiM: readout ``step``'s answer),
``y_answer``, ``y_answer_correct``, ``y_proof_length``, ``y_task``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from workbench.config import Checked
from workbench.errors import UserError
from workbench.io import atomic_write_json, sha256_file
from workbench.lock import exclusive
from workbench.methods import Method, Tokenized, method_of, open_run_with_data, tokenized_examples
from workbench.methods.base import collate
from workbench.rollout import Recorder
from workbench.runs import WEIGHTS, Run, load_run
from workbench.safety import check_output, removable_partial, replaceable_store
from workbench.schemas import Count
from workbench.store import FORMAT, MANIFEST, finish_part, part_writer


@dataclass
class CaptureConfig(Checked):
    """What to capture and where."""

    run: str = ""
    """Run directory."""
    data: str = ""
    """Dataset file (any format the loaders read)."""
    out: str = ""
    """Store directory to create: a new path (inside the run only as <run>/store), never the
    run, the data file or a directory holding them."""
    limit: Count | None = None
    """Capture the first N examples only."""
    hooks: list[str] = field(default_factory=list)
    """Extra TransformerLens hook names recorded at each step's summary position (e.g.
    blocks.0.attn.hook_pattern, blocks.1.mlp.hook_post)."""
    per_token: bool = False
    """Also store every token's states of each step (column resid_tokens)."""
    batch_size: Count = 32
    """Examples per inference batch."""
    force: bool = False
    """Replace an existing store (only a trajectory store lwb wrote: never a run, a runs root or
    any other directory)."""
    device: str = "cpu"
    """cpu or cuda."""
    quiet: bool = False
    """No progress bar."""


def _label_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def update_schema(schema: dict[str, str], example: Tokenized) -> dict[str, str]:
    """Widen ``{proof key: arrow type}`` by one example's proof records."""
    for record in example.example.get("proof", []):
        for key, value in record.items():
            if value is None:
                continue
            kind = _label_type(value)
            if schema.get(key, kind) != kind:
                kind = "float64" if {kind, schema[key]} <= {"int64", "float64"} else "string"
            schema[key] = kind
    return schema


def proof_schema(examples: Iterable[Tokenized]) -> dict[str, str]:
    """``{proof key: arrow type}`` over every proof record of the dataset."""
    schema: dict[str, str] = {}
    for e in examples:
        update_schema(schema, e)
    return schema


def features(n_layers: int, d_model: int, proof: dict[str, str], method: Method,
             cfg: CaptureConfig) -> tuple[Any, Any]:
    import datasets

    v = datasets.Value
    steps = {
        "example_id": v("string"), "step": v("int32"), "kind": v("string"),
        "position": v("int32"), "resid": datasets.Array2D((n_layers + 1, d_model), "float16"),
        **{f"y_proof_{k}": v(t) for k, t in sorted(proof.items())},
        "y_answer": v("string"), "y_answer_correct": v("bool"), "y_proof_length": v("int32"),
        "y_task": v("string"),
    }
    if method.readouts:
        steps["y_readout_prediction"] = v("string")
        steps["y_readout_correct"] = v("bool")
    if cfg.per_token:
        steps["resid_tokens"] = datasets.Array3D((None, n_layers + 1, d_model), "float16")
    for name in cfg.hooks:  # flattened; the manifest gives each row's shape
        steps[hook_column(name)] = datasets.Sequence(v("float16"))
    examples = {
        "example_id": v("string"), "input_ids": datasets.Sequence(v("int32")),
        "answer": v("string"), "prediction": v("string"), "correct": v("bool"),
        "proof": v("string"), "task": v("string"), "question": v("string"),
    }
    return datasets.Features(steps), datasets.Features(examples)


def hook_column(name: str) -> str:
    return "hook_" + name.replace(".", "_")


def capture_batch(method: Method, model: Any, chunk: Sequence[Tokenized], cfg: CaptureConfig,
                  proof: dict[str, str], max_new: int) -> tuple[list[dict], list[dict]]:
    """Inference on one batch with a recorder; returns its step rows and example rows."""
    recorder = Recorder(model.cfg.n_layers, len(chunk), cfg.hooks)
    preds = method.generate(model, chunk, max_new=max_new, recorder=recorder,
                            all_readouts=True)
    states = recorder.states().to(torch.float16).cpu().numpy()
    prompts = [method.full_prompt(e) for e in chunk]
    layout = collate(prompts, method.tok.pad_id).layout
    width = layout.shape[1]
    step_rows, example_rows = [], []
    options = dataclasses.asdict(method.options)
    for b, (ex, prompt, pred) in enumerate(zip(chunk, prompts, preds)):
        offset = int(layout.real[b].nonzero()[0])

        def column(pos: int, prompt=prompt, offset=offset) -> int:
            return offset + pos if pos < len(prompt) else width + pos - len(prompt)

        example = ex.example
        answer = example["answer"]
        correct = pred.answer == answer
        proof_records = example.get("proof", [])
        readouts = pred.extra.get("readouts", [])
        for latent in method.latent_positions(prompt, pred.emitted):
            col = column(latent.position)
            if col >= states.shape[1]:
                continue  # never fed back (e.g. the last emitted token)
            row: dict[str, Any] = {
                "example_id": str(example.get("id")), "step": latent.step, "kind": latent.kind,
                "position": latent.position, "resid": states[b, col],
                "y_answer": answer, "y_answer_correct": correct,
                "y_proof_length": len(example["steps"]), "y_task": example.get("task"),
            }
            p = method.proof_step(options, latent.kind, latent.step)
            record = proof_records[p] if p < len(proof_records) else {}
            for key in proof:
                row[f"y_proof_{key}"] = record.get(key)
            if method.readouts:
                said = readouts[latent.step] if latent.step < len(readouts) else None
                row["y_readout_prediction"] = said
                row["y_readout_correct"] = said == answer if said is not None else None
            if cfg.per_token:
                cols = [column(t) for t in latent.tokens if column(t) < states.shape[1]]
                row["resid_tokens"] = states[b, cols]
            for name in cfg.hooks:
                act = recorder.extra_at(name, b, col)
                if name.endswith("hook_pattern"):  # keys of this example only (no padding)
                    act = act[offset:]
                row[hook_column(name)] = act.to(torch.float16).cpu().numpy().ravel()
            step_rows.append(row)
        example_rows.append({
            "example_id": str(example.get("id")),
            "input_ids": [*prompt.tokens, *pred.emitted],
            "answer": answer, "prediction": pred.answer, "correct": correct,
            "proof": json.dumps(proof_records), "task": example.get("task"),
            "question": example["question"],
        })
    return step_rows, example_rows


def load_for_capture(cfg: CaptureConfig) -> tuple[Run, Method, list[Tokenized]]:
    return open_run_with_data(cfg.run, cfg.data, limit=cfg.limit, device=cfg.device)


def batches(examples: Iterable[Tokenized], size: int) -> Iterator[list[Tokenized]]:
    chunk: list[Tokenized] = []
    for e in examples:
        chunk.append(e)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def scan(run: Run, method: Method, cfg: CaptureConfig) -> tuple[int, dict[str, str], int]:
    """One streaming pass over the dataset (every example checked, none kept): the number of
    examples, the proof schema and the decoding budget."""
    from workbench.inference import answer_budget

    schema: dict[str, str] = {}
    count = [0]

    def each() -> Iterator[Tokenized]:
        for e in tokenized_examples(run, method, cfg.data, limit=cfg.limit):
            count[0] += 1
            update_schema(schema, e)
            yield e

    max_new = answer_budget(method, each())
    return count[0], schema, max_new


def fix_mmap_threshold(threshold: int = 128 * 1024) -> bool:
    """Keep glibc's mmap threshold fixed (returns whether it could be set).

    glibc raises the threshold each time a large block is freed; torch's per-batch tensors
    (whose shapes vary with each batch's lengths) then come from the ``brk`` heap and fragment
    it, so a long capture's resident memory grows by hundreds of MB. With the threshold fixed at
    glibc's own initial value, large blocks stay ``mmap``-ed and go back to the system when
    freed (measured: a 4,000-example capture's peak fell from 1,016 to 726 MB).
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, threshold))  # -3 = M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def capture(cfg: CaptureConfig) -> dict[str, Any]:
    """Write the store ``cfg.out``; returns its manifest. A killed capture leaves only a
    ``.<name>.partial`` directory, never a store that looks complete. One writer per store."""
    import datasets

    datasets.disable_progress_bars()
    for name in ("run", "data", "out"):
        if not getattr(cfg, name):
            raise UserError(f"--{name} is required", field=name)
    check_destination(cfg)
    fix_mmap_threshold()
    with exclusive(cfg.out, "capturing"):
        return _capture(cfg)


def check_destination(cfg: CaptureConfig) -> None:
    """``--out`` aliases neither input (the run, the data file, a directory holding either; inside
    the run only ``<run>/store``), and exists only as a store lwb wrote when ``--force`` is
    given: a one-line UserError before anything is read, written or deleted."""
    check_output(cfg.out, inputs={"run": cfg.run, "data": cfg.data}, inside={"run": ["store"]})
    out = Path(cfg.out)
    if out.exists() or out.is_symlink():
        if not cfg.force:
            raise UserError("already exists; pass --force to replace it", file=out)
        replaceable_store(out)
    removable_partial(partial_path(out))


def partial_path(out: Path) -> Path:
    """Where a capture writes before its store is complete (renamed onto ``out`` at the end)."""
    return out.parent / f".{out.name}.partial"


def _capture(cfg: CaptureConfig) -> dict[str, Any]:
    out = Path(cfg.out)
    check_destination(cfg)  # again, under the lock
    # Two streaming passes: the data are checked and the store's schema fixed before anything
    # is written, and memory stays flat however many examples the file holds.
    run = load_run(cfg.run, device=cfg.device)
    method = method_of(run)
    n_examples, proof, max_new = scan(run, method, cfg)
    model = run.model
    tmp = partial_path(out)
    if removable_partial(tmp):  # a killed capture's leftovers
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    writers = None
    n_steps, kinds, hook_shapes = 0, set(), {}
    bar = tqdm(total=n_examples, desc="capture", unit="ex", disable=cfg.quiet)
    try:
        stream = tokenized_examples(run, method, cfg.data, limit=cfg.limit)
        for chunk in batches(stream, cfg.batch_size):
            steps, exs = capture_batch(method, model, chunk, cfg, proof, max_new)
            if writers is None:
                step_f, ex_f = features(model.cfg.n_layers, model.cfg.d_model, proof, method,
                                        cfg)
                writers = (part_writer(tmp / "steps", step_f),
                           part_writer(tmp / "examples", ex_f))
            for row in steps:
                writers[0].write(row)
            for row in exs:
                writers[1].write(row)
            n_steps += len(steps)
            kinds.update(r["kind"] for r in steps)
            bar.update(len(chunk))
        bar.close()
        if not n_steps:
            raise UserError("no latent steps found in any example (a CoT model that writes no "
                            "steps?); nothing written", file=cfg.run)
        finish_part(writers[0], tmp / "steps")
        finish_part(writers[1], tmp / "examples")
        seconds = time.perf_counter() - t0
        for name in cfg.hooks:
            shape = list(_recorded_shape(model, name))
            hook_shapes[name] = shape
        manifest = {
            "format": FORMAT, "version": 1,
            "run": str(Path(cfg.run).resolve()),
            "checkpoint_sha256": sha256_file(Path(cfg.run) / WEIGHTS),
            "dataset": str(Path(cfg.data).resolve()),
            "dataset_sha256": sha256_file(cfg.data),
            "method": method.name, "method_options": run.config["method"],
            "task": run.config["task"].get("name"),
            "hooks": list(cfg.hooks), "hook_shapes": hook_shapes, "per_token": cfg.per_token,
            "dtype": "float16", "n_layers": model.cfg.n_layers, "d_model": model.cfg.d_model,
            "label_columns": [c for c in step_f if c.startswith("y_")],
            "kinds": sorted(kinds),
            "rows": {"steps": n_steps, "examples": n_examples},
            "seconds": seconds, "examples_per_s": n_examples / max(seconds, 1e-9),
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        if out.exists() or out.is_symlink():
            shutil.rmtree(replaceable_store(out))  # checked once more, just before
        tmp.rename(out)
        return manifest
    except BaseException:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _recorded_shape(model: Any, name: str) -> tuple[int | None, ...]:
    """Per-row shape of an extra hook's column (None: the number of keys, for patterns)."""
    if name.endswith("hook_pattern"):
        return (None, model.cfg.n_heads)
    probe = torch.zeros((1, 2), dtype=torch.long)
    _, cache = model.run_with_cache(probe, names_filter=name)
    if name not in cache:
        raise UserError(f"no hook point named {name!r}", field="hooks")
    return tuple(cache[name].shape[2:])
