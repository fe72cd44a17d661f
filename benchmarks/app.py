"""How long each page of the app takes to load, cold and warm, on a runs root (by default the
demo's).

Serves ``lwb app`` on the runs root and drives Debian's headless Chromium through Playwright.
Every page is opened by its URL with a run selected (as a shared link opens it), and timed until
it has rendered: title up, script finished, every chart drawn (``app/browser.py``).

* **cold**: a fresh ``lwb app`` server for every visit (nothing read yet: no run, store or
  analysis cached; ``lwb app`` has imported its libraries before it says "ready"), opened from a
  browser that has had the app open before (Streamlit's scripts in its HTTP cache, as for anyone
  who opens a second link). This is the 2-second target.
* **new browser**: the same, from a browser profile that never saw the app: it also downloads
  and compiles Streamlit's scripts and plotly.js. Reported with the same cost for a blank
  Streamlit page and for one with a single chart, the floor no page of this app can go under.
* **warm**: the page opened again on the same server (what was read is cached).

Each is repeated ``--repeats`` times; the JSON object gives every time and the median per page.

    python benchmarks/app.py [--runs runs/demo] [--run reach-rim] [--run-b reach-coconut]
                             [--repeats 3] [--screenshots docs/img] [--out FILE]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

# this script's own name would shadow the package of the same name: look from the repo root
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [x for x in sys.path if Path(x or ".").resolve() != HERE]

from app.browser import CHROMIUM, CHROMIUM_ARGS, FOOTER, PAGES, Pages, serve  # noqa: E402

TARGET_S = 2.0
#: The floor: a bare Streamlit page, and one with one plotly chart, in the same browser.
FLOOR_APP = f'''
import streamlit as st
st.set_page_config(layout="wide")
def blank():
    st.title("Blank")
    st.caption("{FOOTER}")
def chart():
    import plotly.graph_objects as go
    st.title("Chart")
    st.plotly_chart(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])))
    st.caption("{FOOTER}")
st.navigation([st.Page(blank, title="Blank", url_path="blank"),
               st.Page(chart, title="Chart", url_path="chart")]).run()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def bare_streamlit(script: Path, port: int):
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        import urllib.request

        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/demo", help="runs root to serve")
    p.add_argument("--run", default="reach-rim", help="run selected on every page")
    p.add_argument("--run-b", default="reach-coconut", help="run B of the Compare page")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--screenshots", help="after timing, save a screenshot of each page here")
    p.add_argument("--out")
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    runs = Path(a.runs)
    links = [(name, f"{path}?run={a.run}" + (f"&run_b={a.run_b}" if path == "compare" else ""),
              title) for name, path, title in PAGES]
    port = free_port()  # one port throughout: the browser's cache is per host and port
    times: dict[str, dict[str, list[float]]] = {"cold": {}, "new browser": {}, "warm": {},
                                                "floor (new browser)": {}}

    def note(kind: str, name: str, seconds: float) -> None:
        times[kind].setdefault(name, []).append(seconds)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        seen = browser.new_context(viewport={"width": 1280, "height": 900})
        with serve(runs, port) as url:  # the browser has had the app open once
            tab = seen.new_page()
            Pages(tab, []).open(f"{url}/{links[0][1]}", links[0][2], "-")
            tab.close()
        for _ in range(a.repeats):
            for name, link, title in links:
                with serve(runs, port) as url:
                    tab = seen.new_page()
                    app = Pages(tab, [])
                    app.open(f"{url}/{link}", title, "cold")
                    note("cold", name, app.times["cold"])
                    app.open(f"{url}/{link}", title, "warm")
                    note("warm", name, app.times["warm"])
                    tab.close()
                    fresh = browser.new_context(viewport={"width": 1280, "height": 900})
                    app = Pages(fresh.new_page(), [])
                    app.open(f"{url}/{link}", title, "new")
                    note("new browser", name, app.times["new"])
                    fresh.close()
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "floor.py"
            script.write_text(FLOOR_APP)
            with bare_streamlit(script, free_port()) as url:
                for _ in range(a.repeats):
                    for path, title in (("blank", "Blank"), ("chart", "Chart")):
                        fresh = browser.new_context(viewport={"width": 1280, "height": 900})
                        app = Pages(fresh.new_page(), [])
                        app.open(f"{url}/{path}", title, path)
                        note("floor (new browser)", f"{path} page", app.times[path])
                        fresh.close()
        if a.screenshots:  # untimed: each page with the run selected, full height
            with serve(runs, port) as url:
                app = Pages(seen.new_page(), [Path(a.screenshots)])
                for (_name, link, title), (_, path, _) in zip(links, PAGES):
                    app.open(f"{url}/{link}", title, "screenshot")
                    app.shot(path)
        browser.close()
    median = {kind: {k: statistics.median(v) for k, v in pages.items()}
              for kind, pages in times.items()}
    result = {
        "runs": str(runs.resolve()), "run": a.run, "run_b": a.run_b, "repeats": a.repeats,
        "note": "cold = a fresh lwb app server per visit (nothing read yet), the browser's HTTP "
                "cache holding Streamlit's scripts; new browser = the same from an empty "
                "profile; warm = the page again on the same server; floor = a bare Streamlit "
                "page (blank, one chart) from an empty profile",
        "seconds": times, "median_seconds": median,
        "slowest_cold_page": max(median["cold"], key=median["cold"].get),
        "checks": {"every_page_cold_within_2s": all(v <= TARGET_S
                                                    for v in median["cold"].values()),
                   "every_page_warm_within_2s": all(v <= TARGET_S
                                                    for v in median["warm"].values())},
    }
    from workbench.io import print_json

    print_json(result, a.out)


if __name__ == "__main__":
    main()
