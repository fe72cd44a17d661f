"""Destructive operations, safe by design: output never aliases input, and nothing is deleted or
overwritten unless lwb recognises it as something it wrote there itself.

Every command that writes asks here first (docs/reliability.md, "Destructive operations", lists
each delete and overwrite in the code with the rule it follows):

* :func:`check_output` — the output is not one of the command's inputs, does not hold one
  (``--out`` naming the data file's directory or a runs root) and does not lie inside one (except
  where the workbench's layout puts it: ``<run>/store``, ``<run>/analyses``). Paths are compared
  resolved, so ``./run``, ``run/../run`` and a symlink to the run are the run.
* :func:`replaceable_store` — ``capture --force`` replaces a directory only if it is a trajectory
  store lwb wrote: a ``manifest.json`` of the store format and nothing but the store's own
  entries (``steps/``, ``examples/``, ``.cache/``), no run or store below it. A run directory, a
  runs root, a data directory or any other directory is refused and left untouched.
* :func:`removable_partial` — a leftover ``.<name>.partial`` of a killed capture is removed only
  if it holds nothing but a store's entries.
* :func:`replaceable_entry` — zoo export and the demo's copy overwrite a run directory only if
  it holds nothing but the files a zoo run consists of.
* :func:`check_output_file` — a file output (a dataset, a JSON result) never replaces a
  directory, an input, or a file of a run directory or a store.

Every refusal is a one-line :class:`~workbench.errors.UserError` (exit status 2) raised before
anything is written or deleted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from workbench.errors import UserError

STORE_FORMAT = "latent-workbench/trajectory-store"  # workbench.store.FORMAT
RUN_FORMAT = "latent-workbench/run"  # workbench.runs.FORMAT
#: What a trajectory store directory holds (manifest, the two Arrow parts, the projections
#: cache); anything else in it means it is not only a store.
STORE_ENTRIES = frozenset({"manifest.json", "steps", "examples", ".cache"})
#: What a zoo run directory holds (lwb.zoo.FILES + OPTIONAL_FILES).
ZOO_ENTRIES = frozenset({"config.json", "model.safetensors", "tokenizer.json", "metrics.json",
                         "log.jsonl", "manifest.json", "controls.json", "lineage.json",
                         "method.safetensors"})
#: The names of a run's own artifacts.
RUN_ENTRIES = ZOO_ENTRIES | {"checkpoints"}

PathLike = str | os.PathLike


def resolved(path: PathLike) -> Path:
    """``path`` made absolute with every symlink, ``.`` and ``..`` resolved (a missing tail is
    kept as written). A symlink loop is a one-line error."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        raise UserError("cannot resolve the path (a symlink loop?)", file=path) from None


def _manifest_format(directory: Path) -> str | None:
    try:
        with open(directory / "manifest.json", encoding="utf-8") as f:
            data = json.loads(f.read(1 << 20))
    except (OSError, ValueError, RecursionError):
        return None
    fmt = data.get("format") if isinstance(data, dict) else None
    return fmt if isinstance(fmt, str) else None


def is_run(path: PathLike) -> bool:
    """A run directory (finished or not): a ``config.json``, a ``checkpoints/`` directory or a
    run manifest. Broad on purpose: whatever might be a run is never deleted."""
    p = Path(path)
    return p.is_dir() and ((p / "config.json").exists() or (p / "checkpoints").is_dir()
                           or _manifest_format(p) == RUN_FORMAT)


def is_store(path: PathLike) -> bool:
    """A trajectory store lwb wrote: its ``manifest.json`` names the store format."""
    p = Path(path)
    return p.is_dir() and _manifest_format(p) == STORE_FORMAT


def _as_list(value: PathLike | Sequence[PathLike] | None) -> list[PathLike]:
    if value is None or value == "":
        return []
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return [v for v in value if v]


def _flag(name: str) -> str:
    positional = ("run", "runs", "store", "zoo", "file")
    return name if name in positional else "--" + name.replace("_", "-")


def check_output(out: PathLike, *, inputs: Mapping[str, PathLike | Sequence[PathLike] | None],
                 inside: Mapping[str, Iterable[str]] | None = None,
                 field: str = "out") -> Path:
    """Refuse an output that aliases an input; returns ``out`` resolved.

    ``inputs`` maps an input's name (``run``, ``data``, ``store``, ``runs``, ``zoo``) to its
    path (or paths). ``out`` may not be an input, may not hold one (be an ancestor of it), and
    may not lie inside one, except at ``<input>/<place>`` for a place in ``inside[input name]``
    (a place ending in ``/**`` also admits anything below it): capture's ``<run>/store``,
    analyses' ``<run>/analyses/**``.
    """
    target = resolved(out)
    for name, value in inputs.items():
        places = list((inside or {}).get(name, ()))
        for path in _as_list(value):
            real = resolved(path)
            what = f"the input {_flag(name)} {path}"
            if target == real:
                raise UserError(f"is {what}: the output must be a different path; nothing "
                                "written", file=out, field=field)
            if real.is_relative_to(target):
                raise UserError(f"holds {what}: the output must not contain an input; nothing "
                                "written", file=out, field=field)
            if target.is_relative_to(real) and not _admitted(target.relative_to(real), places):
                where = " or ".join(f"{Path(path) / p.removesuffix('/**')}" for p in places)
                hint = f" (the layout's place for it is {where})" if where else ""
                raise UserError(f"lies inside {what}{hint}: the output must not be written "
                                "into an input; nothing written", file=out, field=field)
    return target


def _admitted(rel: Path, places: Iterable[str]) -> bool:
    for place in places:
        if place.endswith("/**"):
            if rel.is_relative_to(place.removesuffix("/**")):
                return True
        elif rel == Path(place):
            return True
    return False


def _found_below(path: Path, test, limit: int = 10_000) -> Path | None:
    """The first directory strictly below ``path`` for which ``test`` holds (links not
    followed); a tree too large to walk counts as found (``path`` itself)."""
    seen = 0
    for parent, dirs, _ in os.walk(path, followlinks=False):
        for d in dirs:
            seen += 1
            if seen > limit:
                return path
            if test(Path(parent) / d):
                return Path(parent) / d
    return None


def _holds_run_or_store(p: Path) -> bool:
    return is_run(p) or (p / "manifest.json").exists()


def replaceable_store(path: PathLike, *, field: str = "out") -> Path:
    """``path`` if ``capture --force`` may delete it: a real directory holding a trajectory
    store's manifest and nothing but a store's entries, with no run or store below it. Anything
    else is refused with a one-line UserError saying what it is; nothing is deleted."""
    p = Path(path)
    refuse = "--force replaces only a trajectory store lwb wrote; nothing deleted"
    if p.is_symlink():
        raise UserError(f"is a symbolic link: {refuse} (name the store itself)", file=p,
                        field=field)
    if not p.is_dir():
        raise UserError(f"is a file, not a store: {refuse}", file=p, field=field)
    if is_run(p):
        raise UserError(f"is a run directory: {refuse}", file=p, field=field)
    below = _found_below(p, _holds_run_or_store)
    if below is not None:
        raise UserError(f"holds runs or stores ({below}): {refuse}", file=p, field=field)
    if not is_store(p):
        raise UserError(f"is not a trajectory store (no manifest.json of format "
                        f"{STORE_FORMAT}): {refuse}", file=p, field=field)
    extra = sorted(e for e in os.listdir(p) if e not in STORE_ENTRIES)
    if extra:
        raise UserError(f"holds {extra[0]!r}, which is not part of a store: {refuse}", file=p,
                        field=field)
    return p


def removable_partial(path: PathLike) -> bool:
    """Whether a leftover ``.<name>.partial`` (a killed capture's) may be removed: absent
    (nothing to do: False), or a real directory holding only a store's entries and no run or
    store below it (True). Anything else there is a one-line UserError; nothing deleted."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return False
    if (p.is_symlink() or not p.is_dir() or is_run(p)
            or any(e not in STORE_ENTRIES for e in os.listdir(p))
            or _found_below(p, _holds_run_or_store) is not None):
        raise UserError("is in the place of a capture's temporary directory but is not one "
                        "lwb left; move it away (nothing deleted)", file=p)
    return True


def replaceable_entry(path: PathLike, *, what: str = "zoo run") -> Path:
    """``path`` if zoo export (or the demo's copy from the zoo) may overwrite files in it:
    absent, or a real directory holding nothing but regular files a zoo run consists of
    (config.json, model.safetensors, tokenizer.json, metrics.json, log.jsonl, manifest.json,
    controls.json, lineage.json). A run with checkpoints, a store or anything else is
    refused; nothing is overwritten."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return p
    if p.is_symlink() or not p.is_dir():
        raise UserError(f"is not a directory lwb wrote as a {what} (a link or a file); "
                        "nothing overwritten", file=p)
    for entry in sorted(os.listdir(p)):
        e = p / entry
        if entry not in ZOO_ENTRIES or e.is_symlink() or not e.is_file():
            raise UserError(f"holds {entry!r}, which a {what} does not: it is not one lwb "
                            "wrote; nothing overwritten", file=p)
    return p


def check_output_file(out: PathLike,
                      inputs: Mapping[str, PathLike | Sequence[PathLike] | None] | None = None,
                      *, field: str = "out") -> Path:
    """Refuse a file output that would replace a directory, alias an input (see
    :func:`check_output`) or land among a run's or a store's own files (those are written only
    by ``lwb train`` and ``lwb capture``); returns ``out`` resolved."""
    target = check_output(out, inputs=inputs or {}, field=field)
    if target.is_dir():
        raise UserError("is a directory: name the file to write; nothing written", file=out,
                        field=field)
    parent = target.parent
    if is_run(parent) or is_store(parent):
        kind = "a run directory" if is_run(parent) else "a trajectory store"
        raise UserError(f"lies in {kind} ({parent}), whose files only lwb train and lwb "
                        "capture write; nothing written", file=out, field=field)
    return target
