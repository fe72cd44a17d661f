"""What ``--resume`` checks before it continues a run (the same run: same settings, data and
initial weights), and the log it truncates to the checkpoint it resumes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from train.config import PATH_FIELDS, RESUMABLE_FIELDS, recorded
from workbench.errors import UserError
from workbench.io import atomic_write_text
from workbench.runs import CONFIG, WEIGHTS
from workbench.tasks.base import SPLITS


def check_same_run(saved: dict[str, Any], new: dict[str, Any], path: Path) -> None:
    """A resumed run must be the same run: every setting but the harmless ones agrees; data
    files and the run started from are compared by content, not by how their path is spelled
    (see :data:`train.config.PATH_FIELDS`). The data is checked first: other data changes the
    sizes and the context length too, and the message should name the cause."""
    check_same_data(saved, new, path)
    check_same_init(saved.get("init"), new.get("init"), path)
    for section in ("model", "task", "method", "train"):
        a, b = saved.get(section) or {}, new.get(section) or {}
        if section == "train":
            a = recorded(a)
        for key in sorted(set(a) | set(b)):
            if section == "train" and key in RESUMABLE_FIELDS | PATH_FIELDS:
                continue
            if section == "task" and key == "files":
                continue
            if a.get(key) != b.get(key):
                raise UserError(
                    f"--resume with a different setting: {section}.{key} was {a.get(key)!r}, "
                    f"now {b.get(key)!r}", file=path / CONFIG)


def check_same_data(saved: dict[str, Any], new: dict[str, Any], path: Path) -> None:
    """Each split comes from the same place it came from: the generator, or a file with the
    same sha256. Runs recorded before data checksums (``files`` holding the path as given) are
    compared by resolved path: resumable from the same file however it is spelled, but their
    contents cannot be checked."""
    saved_files = (saved.get("task") or {}).get("files")
    for split in SPLITS:
        field = f"{split}_data"
        flag = "--" + field.replace("_", "-")
        if isinstance(saved_files, dict):
            was = saved_files.get(split)
        else:  # older still: no ``files`` at all, only the flag as given
            was = (saved.get("train") or {}).get(field)
        now = new["task"]["files"][split]
        if was is None and now is None:
            continue
        if now is None:
            was_path = was if isinstance(was, str) else was["path"]
            raise UserError(f"--resume without {flag}: the run was trained on {was_path}; pass "
                            "it again", file=path / CONFIG, field=field)
        if was is None:
            raise UserError(f"--resume with {flag}, but the run was trained on the task's "
                            f"generated {split} split; drop {flag}", file=now["path"],
                            field=field)
        if isinstance(was, str):
            if Path(was).resolve() != Path(now["path"]):
                raise UserError(f"--resume with a different {split} file: the run was trained "
                                f"on {was} (recorded by path only, before data checksums)",
                                file=now["path"], field=field)
        elif was["sha256"] != now["sha256"]:
            raise UserError(f"--resume with different {split} data: this file's sha256 is "
                            f"{now['sha256'][:12]}…, but the run was trained on {was['path']} "
                            f"with sha256 {was['sha256'][:12]}… (the file changed); pass the "
                            "data the run was trained on", file=now["path"], field=field)


def check_same_init(was: dict[str, Any] | None, now: dict[str, Any] | None, path: Path) -> None:
    """The run starts from the same weights (by their sha256), wherever ``--init-from`` finds
    them now."""
    if not was and not now:
        return
    if not now:
        raise UserError(f"--resume without --init-from: the run started from {was.get('run')}; "
                        "pass it again", file=path / CONFIG, field="init_from")
    if not was:
        raise UserError("--resume with --init-from, but the run started from a fresh "
                        "initialisation; drop --init-from", file=now["run"], field="init_from")
    if was.get("weights_sha256") != now.get("weights_sha256"):
        raise UserError(f"--resume from other weights: the run started from {was.get('run')} "
                        f"with sha256 {str(was.get('weights_sha256'))[:12]}…, these are "
                        f"{now['weights_sha256'][:12]}… (retrained since?)",
                        file=Path(now["run"]) / WEIGHTS, field="init_from")
    if was.get("method") != now.get("method"):
        raise UserError(f"--resume with a different setting: init.method was "
                        f"{was.get('method')!r}, now {now.get('method')!r}", file=path / CONFIG,
                        field="init_from")


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    keep = []
    from workbench.artifacts import LogRecord
    from workbench.schemas import loads, parse, read_text

    # every line must be a log record (else one line naming it, as read_log), except a last
    # line torn by the kill, which is dropped
    lines = read_text(path).splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = parse(LogRecord, loads(line, file=path, line=i, nan_as_none=True),
                           file=path, line=i)
        except UserError:
            if i == len(lines):
                break
            raise
        if record.step <= step:
            keep.append(line)
    atomic_write_text(path, "".join(f"{x}\n" for x in keep))
