"""How long ``make demo`` takes: on a fresh clone (set-up included), a second time, and retrained.

Clones the repository's committed HEAD into a temporary directory and, side by side in one run:

* ``fresh_make_demo_seconds``: ``make demo`` on the fresh clone (virtual environment, installs,
  zoo check, capture, analyses, app start) until it prints "app ready at …" (target ≤ 600 s);
* ``second_make_demo_seconds``: ``make demo`` again in the same clone (target ≤ 60 s);
* ``retrain_seconds`` (with ``--retrain``): ``lwb demo --retrain --no-app`` in that clone
  (target ≤ 1800 s);
* ``artifacts``: the number of files the first demo left under ``runs/demo``.

Prints one JSON object (and writes it with ``--out``).

    python benchmarks/demo.py [--retrain] [--port 8765] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def until_ready(command: list[str], cwd: Path, env: dict[str, str], timeout: float,
                log: Path) -> float:
    """Seconds until ``command`` prints "app ready at"; the process group is stopped then."""
    t0 = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=sink, text=True, start_new_session=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                sink.flush()
                if line.startswith("app ready at"):
                    return time.perf_counter() - t0
                if time.perf_counter() - t0 > timeout:
                    break
            raise SystemExit(f"benchmarks/demo.py: {' '.join(command)} did not get ready "
                             f"(see {log})")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--retrain", action="store_true", help="also time lwb demo --retrain")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    p.add_argument("--out")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lwb-demo-bench-"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True,
                          text=True, check=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = ":".join(x for x in env.get("PATH", "").split(":") if ".venv" not in x)
    # the benchmark's own port keeps it off an app already serving on the default one
    make = ["make", "demo", f"DEMO_ARGS=--port {a.port}"]
    result: dict[str, object] = {"commit": head, "threads": os.cpu_count()}
    result["fresh_make_demo_seconds"] = until_ready(make, clone, env, 1200, work / "fresh.log")
    result["artifacts"] = sum(1 for f in (clone / "runs" / "demo").rglob("*") if f.is_file())
    result["second_make_demo_seconds"] = until_ready(make, clone, env, 600, work / "second.log")
    if a.retrain:
        t0 = time.perf_counter()
        with (work / "retrain.log").open("w") as log:
            subprocess.run([str(clone / ".venv" / "bin" / "lwb"), "demo", "--retrain", "--no-app",
                            "--quiet", "--out", "runs/retrain"], cwd=clone, env=env, check=True,
                           stdout=log, stderr=subprocess.STDOUT)
        result["retrain_seconds"] = time.perf_counter() - t0
    result["checks"] = {
        "fresh_within_600s": result["fresh_make_demo_seconds"] <= 600,
        "second_within_60s": result["second_make_demo_seconds"] <= 60,
        **({"retrain_within_1800s": result["retrain_seconds"] <= 1800} if a.retrain else {}),
    }
    if a.keep:
        result["clone"] = str(clone)
    else:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    from workbench.io import print_json

    print_json(result, a.out)


if __name__ == "__main__":
    main()
