"""How long each page of the app takes to render on a runs root (by default the demo's).

Serves ``lwb app`` on the runs root and drives Debian's headless Chromium through Playwright:
a first visit of the landing page (scripts, session, page), a click on each page's sidebar link
until the page has rendered (title up, script finished, every chart drawn), and a direct visit
of each page's URL with a run selected (a whole page load: the browser fetches the app's
scripts and opens a session before the page runs). Each is repeated ``--repeats`` times; the
JSON object gives every time and the median per page, and checks the page renders (sidebar
navigation) and the direct visits separately against the 2-second target.

    python benchmarks/app.py [--runs runs/demo] [--run chain-rim] [--repeats 3]
                             [--screenshots docs/img] [--out FILE]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
from pathlib import Path

# this script's own name would shadow the package of the same name: look from the repo root
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [x for x in sys.path if Path(x or ".").resolve() != HERE]

from app.browser import CHROMIUM, CHROMIUM_ARGS, PAGES, Pages, direct_visits, serve  # noqa: E402

TARGET_S = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/demo", help="runs root to serve")
    p.add_argument("--run", default="chain-rim", help="run selected on the direct visits")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--screenshots", help="after timing, save a screenshot of each page here")
    p.add_argument("--out")
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {}
    with serve(Path(a.runs), free_port()) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for _ in range(a.repeats):
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            app = Pages(tab, [])
            app.open(url + "/", "Runs", "runs (first visit)")
            for name, _path, title in PAGES[1:] + PAGES[:1]:
                app.navigate(title, f"{name} (navigate)")
            direct_visits(app, url, a.run)
            for key, seconds in app.times.items():
                times.setdefault(key, []).append(seconds)
            tab.close()
        if a.screenshots:  # untimed: each page with the run selected, full height
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            app = Pages(tab, [Path(a.screenshots)])
            for _name, path, title in PAGES:
                app.open(f"{url}/{path}?run={a.run}", title, "screenshot")
                app.shot({"trajectories": "trajectories"}.get(path, path))
            tab.close()
        browser.close()
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {"runs": str(Path(a.runs).resolve()), "run": a.run, "repeats": a.repeats,
              "seconds": times, "median_seconds": median,
              "slowest_page": max(median, key=median.get),
              "checks": {
                  "every_page_render_within_2s": all(
                      v <= TARGET_S for k, v in median.items() if k.endswith("(navigate)")),
                  "every_direct_visit_within_2s": all(
                      v <= TARGET_S for k, v in median.items() if k.endswith("(direct visit)")),
              }}
    from workbench.io import print_json

    print_json(result, a.out)


if __name__ == "__main__":
    main()
