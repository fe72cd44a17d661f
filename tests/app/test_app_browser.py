"""The app in a real browser: ``lwb app`` on a free local port, headless Debian Chromium through
Playwright (never a downloaded browser). Opens each page, selects a run and an example, checks
the visible text, saves a screenshot of each page and prints how long each page took to render.

``LWB_SCREENSHOTS=docs/img`` also writes the screenshots there (the README shows them). The
render times are printed and saved as ``render_times.json`` in the test's temporary directory;
they are reported, not asserted.
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


def test_every_page_in_a_browser(server, browser, runs_root, tmp_path):
    shots = [tmp_path]
    if os.environ.get("LWB_SCREENSHOTS"):
        shots.append(Path(os.environ["LWB_SCREENSHOTS"]))
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    app = Pages(tab, shots)
    app.open(server + "/", "Runs", "runs (first visit)")
    app.see("4 runs", "Efficiency and scaling", "Saved comparison")
    app.shot("runs")

    app.navigate("Trajectory browser", "trajectory browser")
    app.select("Run", "chain-rim", "Trajectory browser")
    app.click("next ▶", "Trajectory browser")
    app.see("chain-rim · chain-tiny-train-s0-000001", "Dependency chain:",
            "Readouts per memory block", "Logit lens analyses/lens.parquet.",
            title="Trajectory browser")
    assert "example=chain-tiny-train-s0-000001" in tab.url
    app.shot("trajectories")

    app.navigate("Probes", "probes")
    app.see("Best cell: layer", "Diagonality at the best layer", "Best layer")
    app.shot("probes")

    app.navigate("Projections", "projections")
    app.see("chain-tiny-train-s0-000001: 2 states")
    app.shot("projections")

    app.navigate("Interventions", "interventions")
    app.see("Clean accuracy", "interventions at layer 0")
    app.shot("interventions")

    app.navigate("Compare", "compare")
    app.select("Run B", "chain-cot", "Compare")
    app.see("A: chain-rim", "B: chain-cot", "The same analyses", title="Compare")
    app.shot("compare")

    app.navigate("Runs", "runs")
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
    print(f"saved {tmp_path / 'render_times.json'}")
