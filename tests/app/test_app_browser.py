"""The app in a real browser: ``lwb app`` on a free local port, headless Debian Chromium through
Playwright (never a downloaded browser). Opens every page by its URL at two widths and checks
what it shows, that nothing failed, that no figure overlaps another's parts and that nothing was
fetched from another host; saves a screenshot of each; clicks through the sidebar and prints
how long each page took to render.

``LWB_SCREENSHOTS=DIR`` also writes the screenshots there. The render times are printed and
saved as ``render_times.json`` in the test's temporary directory; they are reported, not
asserted (``benchmarks/app.py`` measures them on the demo root).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from app.browser import CHROMIUM, CHROMIUM_ARGS, Pages, direct_visits, serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(runs_root):
    """``lwb app --runs ROOT --port P`` until the module's tests are done; yields its URL."""
    with serve(runs_root, free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (make test installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


#: Each page by its URL with a selection (run, example, step…), as a shared link opens it, and
#: what the page must then show.
EXAMPLE = "chain-tiny-train-s0-000001"
VIEWS = (
    ("runs", "runs", "Runs", ("4 runs", "Efficiency and scaling", "Saved comparison")),
    ("trajectories", f"trajectories?run=chain-rim&example={EXAMPLE}&kind=block&step=1",
     "Trajectory browser", (f"chain-rim · {EXAMPLE}", "Readouts per memory block")),
    ("trajectories-prosqa", "trajectories?run=prosqa/rim", "Trajectory browser",
     ("prosqa/rim · ", "the question's graph")),
    ("probes", "probes?run=chain-rim", "Probes", ("Best cell: layer", "Correctness probe")),
    ("probes-prosqa", "probes?run=prosqa/rim", "Probes", ("BFS frontier",)),
    ("projections", f"projections?run=chain-rim&example={EXAMPLE}", "Projections",
     (f"{EXAMPLE}: 2 states",)),
    ("interventions", "interventions?run=chain-rim", "Interventions", ("Clean accuracy",)),
    ("compare", f"compare?run=chain-rim&run_b=chain-cot&example={EXAMPLE}", "Compare",
     ("A: chain-rim", "B: chain-cot", "The same analyses")),
)
WIDTHS = (1280, 1920)  # a laptop, and a desktop browser at full width (the app is "wide")


def test_every_page_by_url_at_two_widths(server, browser, tmp_path):
    """Every page opened by its URL with a selection, at two widths: it renders what the URL
    asks for; no "Page not found", no exception, no None, no request to another host, no
    overlapping figure parts; a screenshot of each."""
    shots = [tmp_path]
    if os.environ.get("LWB_SCREENSHOTS"):
        shots.append(Path(os.environ["LWB_SCREENSHOTS"]))
    outside: list[str] = []
    problems: list[str] = []
    for width in WIDTHS:
        tab = browser.new_page(viewport={"width": width, "height": 900})
        tab.on("pageerror", lambda e, w=width, out=problems: out.append(f"{w}px: exception {e}"))
        tab.on("request", lambda r: None if r.url.startswith((server, "data:", "blob:"))
               else outside.append(r.url))
        app = Pages(tab, shots)
        for name, url, title, wanted in VIEWS:
            app.open(f"{server}/{url}", title, f"{name} at {width}px")
            app.see(*wanted, title=title)
            problems += [f"{name} at {width}px: {p}" for p in app.faults() + app.overlaps()]
            app.shot(f"{name}-{width}")
        tab.close()
    assert not outside, f"requests to other hosts: {sorted(set(outside))[:5]}"
    assert not problems, "\n".join(problems)
    assert (tmp_path / "app-compare-1280.png").stat().st_size > 10_000


def test_clicks_the_url_and_the_root(server, browser, runs_root, tmp_path):
    """The root URL is the Runs page; the sidebar links and a selection write the URL (a view
    can be shared); a bad run name in the URL is a warning; timings are reported."""
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    app = Pages(tab, [tmp_path])
    app.open(server + "/", "Runs", "runs (first visit)")
    app.see("4 runs", "Efficiency and scaling", "Saved comparison")
    assert not app.faults()

    app.navigate("Trajectory browser", "trajectory browser")
    app.select("Run", "chain-rim", "Trajectory browser")
    app.click("next ▶", "Trajectory browser")
    app.see(f"chain-rim · {EXAMPLE}", "Dependency chain:", "Readouts per memory block",
            "Logit lens analyses/lens.parquet.", title="Trajectory browser")
    assert f"example={EXAMPLE}" in tab.url and "run=chain-rim" in tab.url

    app.navigate("Runs", "runs")
    assert tab.url.split("?")[0].endswith("/runs")
    direct_visits(app, server, "chain-rim")

    app.open(f"{server}/probes?run=../../etc", "Probes", "bad run name")
    app.see("must be a path inside the runs root")
    assert not errors, errors

    report = {"url": server, "seconds": app.times,
              "note": "navigate = click on the sidebar link until rendered; direct visit = "
                      "load the URL (app scripts, session, page); reported, not asserted"}
    (tmp_path / "render_times.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\npage render times (s):")
    for key, seconds in app.times.items():
        print(f"  {key:36s} {seconds:6.2f}")
