"""Export the reach specimens (issue 16, 19) from ``runs/recipe/`` into ``zoo/``.

The zoo's reach models are not one grid: each descends from the CoT lineage through
``--init-from`` (docs/methods.md, "A recipe for reach"), so they are trained by the queue scripts
in ``zoo/`` and exported here; ``zoo/MANIFEST.json`` then records, for each, the commands that
retrain it from scratch (its ancestors' first). Runs not finished yet are listed and skipped.
Run: ``.venv/bin/python experiments/export_reach.py [--dry-run]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lwb.zoo import export

RECIPE = Path("runs/recipe")
#: zoo name → run: the padded chains (reach's zoo preset) and the trees
RUNS = {
    "reach-nocot": "nocot-padded", "reach-cot": "cot-padded-ft", "reach-pause": "pause-padded",
    "reach-icot": "icot-padded", "reach-coconut": "coconut-padded", "reach-codi": "codi-padded",
    "reach-rim": "rim-padded",
    "reach-trees-nocot": "nocot-trees", "reach-trees-cot": "cot-trees",
    "reach-trees-pause": "pause-trees", "reach-trees-coconut": "coconut-trees",
    "reach-trees-rim": "rim-trees",
}


def main(argv: list[str]) -> int:
    done = {name: RECIPE / run for name, run in RUNS.items()
            if (RECIPE / run / "manifest.json").exists()}
    for name in sorted(set(RUNS) - set(done)):
        print(f"not finished, skipped: {name} ({RECIPE / RUNS[name]})")
    if "--dry-run" in argv or not done:
        print("would export: " + ", ".join(sorted(done)))
        return 0
    manifest = export(list(done.values()), Path("zoo"))
    print(f"exported {len(done)} reach runs; the zoo holds {len(manifest['runs'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
