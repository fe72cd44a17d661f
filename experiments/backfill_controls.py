"""Give run snapshots trained before the shortcut controls existed their ``controls.json``.

Every snapshot under ``docs/results/runs/`` whose config names a generated test split (no test
file) gets the controls of that split, regenerated from its task, preset, data seed and size (the
same examples the run was evaluated on, since generation is deterministic); existing files are
left alone. Run: ``.venv/bin/python experiments/backfill_controls.py [SNAPSHOTS_DIR]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from workbench.io import atomic_write_json
from workbench.tasks import get_task
from workbench.tasks.base import generate_split
from workbench.tasks.controls import shortcut_controls


def main(root: Path) -> None:
    measured: dict[tuple, dict] = {}
    for config_file in sorted(root.glob("*/config.json")):
        target = config_file.parent / "controls.json"
        task = json.loads(config_file.read_text())["task"]
        if target.exists() or (task.get("files") or {}).get("test"):
            continue
        key = (task["name"], task["preset"], task.get("data_seed", 0), task["sizes"]["test"])
        if key not in measured:
            examples = list(generate_split(get_task(key[0]), key[1], "test", key[3], key[2]))
            measured[key] = shortcut_controls(examples)
            print(f"{key}: " + ", ".join(f"{k} {v['accuracy']}" for k, v in
                                         measured[key].items()), flush=True)
        atomic_write_json(target, measured[key])


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results/runs"))
