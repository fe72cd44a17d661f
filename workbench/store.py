"""The trajectory store: captured latent-step states, the single input of every analysis.

A store is a directory::

    store/
      manifest.json   run path, checkpoint sha256, dataset sha256, method, hooks, dtype,
                      n_layers, d_model, label columns, row counts; written last
      steps/          datasets Arrow dataset (save_to_disk), one row per example × latent step:
                      example_id str, step int32, kind str, position int32,
                      resid float16 [n_layers+1, d_model], y_<label> …  (+ optional columns)
      examples/       one row per example: example_id, input_ids, answer, prediction, correct,
                      proof (JSON), task, question

Both parts open with plain ``datasets.load_from_disk``; :func:`open_store` memory-maps them
and hands out numpy arrays by layer and step without reading the whole store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench import artifacts
from workbench.errors import UserError

MANIFEST = "manifest.json"
FORMAT = "latent-workbench/trajectory-store"


@dataclass
class Store:
    """An opened store: the manifest and the two memory-mapped datasets."""

    path: Path
    manifest: dict[str, Any]
    steps: Any  # datasets.Dataset
    examples: Any  # datasets.Dataset

    @property
    def n_layers(self) -> int:
        return int(self.manifest["n_layers"])

    @property
    def label_columns(self) -> list[str]:
        return list(self.manifest["label_columns"])

    def column(self, name: str) -> np.ndarray:
        """One scalar column of ``steps`` as a numpy array."""
        return np.asarray(self.steps.data.table.column(name).to_numpy(zero_copy_only=False))

    def rows(self, *, step: int | None = None, kind: str | None = None) -> np.ndarray:
        """Indices of the rows of one latent step (and kind)."""
        keep = np.ones(len(self.steps), dtype=bool)
        if step is not None:
            keep &= self.column("step") == step
        if kind is not None:
            keep &= self.column("kind") == kind
        return np.flatnonzero(keep)

    def resid_all(self, rows: np.ndarray | None = None, chunk: int = 4096) -> np.ndarray:
        """Every layer's states ``[len(rows), n_layers+1, d_model]`` (float16)."""
        idx = np.arange(len(self.steps)) if rows is None else np.asarray(rows)
        out = np.empty((len(idx), self.n_layers + 1, int(self.manifest["d_model"])),
                       dtype=np.float16)
        table = self.steps.data.table
        for start in range(0, len(idx), chunk):
            part = idx[start:start + chunk]
            out[start:start + len(part)] = _fixed_array(table.take(part).column("resid"))
        return out

    def resid(self, layer: int, rows: np.ndarray | None = None, chunk: int = 4096
              ) -> np.ndarray:
        """States ``[len(rows), d_model]`` (float32) at one layer, read chunk by chunk."""
        if not 0 <= layer <= self.n_layers:
            raise UserError(f"layer {layer} outside 0..{self.n_layers}", field="layer")
        idx = np.arange(len(self.steps)) if rows is None else np.asarray(rows)
        out = np.empty((len(idx), int(self.manifest["d_model"])), dtype=np.float32)
        table = self.steps.data.table
        for start in range(0, len(idx), chunk):
            part = idx[start:start + chunk]
            col = table.take(part).column("resid")
            out[start:start + len(part)] = _fixed_array(col)[:, layer]
        return out


def _fixed_array(col: Any) -> np.ndarray:
    """A ``[n, layers, d]`` numpy array from an Arrow column of fixed-shape 2D arrays."""
    import pyarrow as pa

    chunks = []
    for chunk in col.chunks if isinstance(col, pa.ChunkedArray) else [col]:
        storage = chunk.storage if hasattr(chunk, "storage") else chunk
        # datasets' Array2D storage is a list (rows) of lists (layer) of values.
        outer = storage.flatten()
        values = outer.flatten().to_numpy(zero_copy_only=False)
        n = len(storage)
        layers = len(outer) // n if n else 0
        chunks.append(values.reshape(n, layers, -1))
    return np.concatenate(chunks) if chunks else np.empty((0, 0, 0))


def open_store(path: str | Path) -> Store:
    """Open a store; a missing, partial or corrupt store is a one-line :class:`UserError`."""
    import datasets

    path = Path(path)
    if not path.is_dir():
        raise UserError("not a trajectory store directory", file=path)
    manifest_file = path / MANIFEST
    if not manifest_file.exists():
        raise UserError("no manifest.json: not a store, or an unfinished capture", file=path)
    manifest = artifacts.read_dict(manifest_file, artifacts.StoreManifest)
    checked = artifacts.StoreManifest.model_validate(manifest)
    parts = {}
    for part in ("steps", "examples"):
        try:
            parts[part] = datasets.load_from_disk(str(path / part), keep_in_memory=False)
        except Exception as e:  # damaged Arrow files or metadata: name the part, no traceback
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"cannot read: {first}", file=path / part) from None
        expected = getattr(checked.rows, part)
        if expected is not None and len(parts[part]) != expected:
            raise UserError(f"has {len(parts[part])} rows, manifest.json says {expected}",
                            file=path / part)
    resid = parts["steps"].features.get("resid")
    artifacts.check_store_shape(checked, parts["steps"].column_names,
                                getattr(resid, "shape", None), manifest_file)
    return Store(path, manifest, parts["steps"], parts["examples"])


SHARD = "data-00000-of-00001.arrow"
"""The one shard of each part, named as ``Dataset.save_to_disk`` names it."""


def part_writer(part_dir: Path, features: Any, batch_size: int = 256) -> Any:
    """An ``ArrowWriter`` straight into ``part_dir``'s one shard; :func:`finish_part` then adds
    the two small JSON files of the ``save_to_disk`` layout. Unlike writing a cache file and
    calling ``save_to_disk`` (which reads the whole file back, so memory grows with the store),
    nothing is read back."""
    from datasets.arrow_writer import ArrowWriter

    part_dir.mkdir(parents=True, exist_ok=True)
    return ArrowWriter(features=features, path=str(part_dir / SHARD),
                       writer_batch_size=batch_size)


def finish_part(writer: Any, part_dir: Path) -> int:
    """Finalize ``writer`` and write ``state.json`` and ``dataset_info.json`` beside its shard,
    with the fields ``Dataset.save_to_disk`` writes; returns the number of rows."""
    import json
    from dataclasses import asdict

    import datasets

    rows, _ = writer.finalize()
    writer.close()
    ds = datasets.Dataset.from_file(str(part_dir / SHARD))  # memory-mapped, not read
    state = {k: ds.__dict__[k] for k in ("_fingerprint", "_format_columns", "_format_kwargs",
                                          "_format_type", "_output_all_columns")}
    state["_split"] = None
    state["_data_files"] = [{"filename": SHARD}]
    info = asdict(ds._info)
    (part_dir / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    (part_dir / "dataset_info.json").write_text(
        json.dumps({k: info[k] for k in sorted(info)}, indent=2))
    del ds
    return rows


def write_store(path: str | Path, steps: dict[str, Any], examples: dict[str, Any],
                **manifest: Any) -> Store:
    """Write a small store from in-memory columns (synthetic data, states made elsewhere).

    ``steps`` needs ``example_id``, ``step``, ``kind``, ``position`` and ``resid``
    (``[n, n_layers+1, d_model]``); every ``y_*`` column becomes a label. ``examples`` needs
    ``example_id``. Large captures use ``lwb capture``, which streams instead.
    """
    import datasets

    from workbench.io import atomic_write_json

    path = Path(path)
    resid = np.asarray(steps["resid"], dtype=np.float16)
    n, layers, d = resid.shape
    cols = {**steps, "resid": list(resid)}
    feats = {"resid": datasets.Array2D((layers, d), "float16")}
    datasets.disable_progress_bars()
    ds = datasets.Dataset.from_dict(cols)
    ds = ds.cast_column("resid", feats["resid"])
    ds.save_to_disk(str(path / "steps"))
    datasets.Dataset.from_dict(examples).save_to_disk(str(path / "examples"))
    atomic_write_json(path / MANIFEST, {
        "format": FORMAT, "version": 1, "dtype": "float16", "n_layers": layers - 1,
        "d_model": d, "label_columns": [c for c in steps if c.startswith("y_")],
        "kinds": sorted(set(steps["kind"])), "hooks": [], "per_token": False,
        "rows": {"steps": n, "examples": len(examples["example_id"])}, **manifest})
    return open_store(path)
