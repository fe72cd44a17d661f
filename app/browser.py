"""Driving the app in headless Chromium through Playwright: what the browser test and
``benchmarks/app.py`` share. Debian's ``/usr/bin/chromium`` only, never a downloaded browser;
Playwright is a ``dev`` extra and is imported by the callers, not here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def serve(runs_root: Path, port: int, timeout: float = 180) -> Iterator[str]:
    """``lwb app --runs ROOT --port P`` until the block ends; yields its URL once ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lwb.cli", "app", "--runs", str(runs_root), "--port",
         str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines = []
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("app ready at ") or time.monotonic() > deadline:
                break
        url = f"http://127.0.0.1:{port}"
        if not lines or lines[-1].strip() != f"app ready at {url}":
            raise RuntimeError("lwb app did not get ready:\n" + "".join(lines[-30:]))
        yield url
    finally:
        proc.terminate()  # lwb app stops its Streamlit server on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this call started
            proc.wait()


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


#: (name, URL path, page title) of every page
PAGES = (("runs", "runs", "Runs"), ("trajectory browser", "trajectories", "Trajectory browser"),
         ("probes", "probes", "Probes"), ("projections", "projections", "Projections"),
         ("interventions", "interventions", "Interventions"), ("compare", "compare", "Compare"))


def direct_visits(app: Pages, url: str, run: str) -> None:
    """Load every page's URL with ``run`` selected, timing each as "NAME (direct visit)"."""
    for name, path, title in PAGES:
        app.open(f"{url}/{path}?run={run}", title, f"{name} (direct visit)")
