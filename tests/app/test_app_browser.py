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
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
FOOTER = "nothing here trains"
#: A page is rendered when its title is up, the script has finished (no running indicator, no
#: stale element of the previous run), every chart has drawn and the footer is there.
RENDERED = """([title, footer]) => {
  const h1 = document.querySelector('h1');
  if (!h1 || !h1.innerText.includes(title)) return false;
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  if (!charts.every(c => c.querySelector('.main-svg'))) return false;
  return document.body.innerText.includes(footer);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(runs_root):
    """``lwb app --runs ROOT --port P`` until the module's tests are done; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "app", "--runs", str(runs_root), "--port",
         str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines = []
    deadline = time.monotonic() + 180
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("app ready at "):
                break
            if time.monotonic() > deadline:
                break
        assert lines and lines[-1].strip() == f"app ready at http://127.0.0.1:{port}", lines
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()  # lwb app stops its Streamlit server on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this test started
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (make test installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Pages:
    """One browser tab on the app: navigation, waiting, timing and screenshots."""

    def __init__(self, tab, shots: list[Path]):
        self.tab, self.shots, self.times = tab, shots, {}

    def rendered(self, title: str) -> None:
        self.tab.wait_for_function(RENDERED, arg=[title, FOOTER], polling=50,
                                   timeout=120_000)

    def open(self, url: str, title: str, key: str) -> None:
        """A direct visit (the whole app loads: scripts, session, page)."""
        t0 = time.perf_counter()
        self.tab.goto(url)
        self.rendered(title)
        self.times[key] = round(time.perf_counter() - t0, 3)

    def navigate(self, title: str, key: str) -> None:
        """A click on the page's link in the sidebar until the page has rendered."""
        t0 = time.perf_counter()
        self.tab.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        self.rendered(title)
        self.times[key] = round(time.perf_counter() - t0, 3)

    def select(self, label: str, option: str, title: str) -> None:
        self.tab.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
        self.tab.get_by_role("option", name=option, exact=True).click()
        self.rendered(title)

    def click(self, button: str, title: str) -> None:
        self.tab.get_by_role("button", name=button).click()
        self.rendered(title)

    def see(self, *fragments: str, title: str | None = None) -> None:
        """Wait (a click's rerun may still be on its way) until every fragment is visible."""
        try:
            self.tab.wait_for_function(
                "(frags) => frags.every(f => document.body.innerText.includes(f))",
                arg=list(fragments), polling=50, timeout=60_000)
        except Exception:
            body = self.tab.inner_text("body")
            missing = [f for f in fragments if f not in body]
            raise AssertionError(f"not on the page: {missing}\n{body[:3000]}") from None
        if title is not None:
            self.rendered(title)

    def shot(self, name: str) -> None:
        height = self.tab.evaluate(
            "() => (document.querySelector('[data-testid=\"stMain\"]') || document.body)"
            ".scrollHeight")
        self.tab.set_viewport_size({"width": 1280, "height": max(800, min(int(height), 1700))})
        self.tab.wait_for_timeout(400)  # charts re-layout to the new size
        for folder in self.shots:
            folder.mkdir(parents=True, exist_ok=True)
            self.tab.screenshot(path=str(folder / f"app-{name}.png"))
        self.tab.set_viewport_size({"width": 1280, "height": 900})


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
    for name, path in (("runs", "runs"), ("trajectory browser", "trajectories"),
                       ("probes", "probes"), ("projections", "projections"),
                       ("interventions", "interventions"), ("compare", "compare")):
        title = {"trajectories": "Trajectory browser"}.get(path, path.capitalize())
        app.open(f"{server}/{path}?run=chain-rim", title, f"{name} (direct visit)")

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
