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


#: Where parts of a page's figures overlap: per plotly chart, colour bars on a plot area or on
#: each other, subplot titles (annotations) on each other or on the figure title, the legend on
#: a plot area, point labels on each other or on another marker (charts of up to 100 points),
#: anything sticking out of its chart; and charts on each other. Returns one line
#: per overlap (chart number, the two parts, the overlap in px).
OVERLAPS = r"""() => {
  const box = e => e.getBoundingClientRect();
  const cut = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
                        Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const named = (sel, root, what) => [...root.querySelectorAll(sel)]
      .map((e, i) => [what + ' ' + i + (e.textContent ? ' "' + e.textContent.slice(0, 40) + '"'
                                                         : ''), box(e)])
      .filter(([_, r]) => r.width > 0 && r.height > 0);
  const out = [];
  const pairs = (xs, ys, same) => {
    xs.forEach(([n1, r1], i) => ys.forEach(([n2, r2], j) => {
      if (same && j <= i) return;
      const area = cut(r1, r2);
      if (area > 4) out.push(n1 + ' × ' + n2 + ': ' + Math.round(area) + ' px²');
    }));
  };
  const charts = [...document.querySelectorAll('.js-plotly-plot')];
  charts.forEach((c, k) => {
    const tag = 'chart ' + k + ' (' + ((c.querySelector('.gtitle') || {}).textContent || '')
                .slice(0, 50) + '): ';
    const at = out.length;
    const plots = named('.nsewdrag', c, 'plot area');
    const bars = named('g.colorbar', c, 'colour bar');
    const notes = named('g.annotation', c, 'subplot title')  // arrows (blank text) are edges
        .filter(([n, _]) => !n.endsWith('" "') && n.includes('"'));
    const title = named('.gtitle', c, 'title');
    const legend = named('g.legend', c, 'legend');
    // labels drawn beside markers (a graph's node names): on each other, and on another
    // marker in charts small enough to label every point (a dense scatter's labels may sit on
    // its points)
    const texts = named('.scatterlayer .textpoint text', c, 'label');
    const points = [...c.querySelectorAll('.scatterlayer path.point')];
    pairs(texts, texts, true);
    if (points.length <= 100) pairs(texts, named('.scatterlayer path.point', c, 'marker'), false);
    pairs(bars, plots, false); pairs(bars, bars, true); pairs(notes, notes, true);
    pairs(notes, title, false); pairs(legend, plots, false); pairs(bars, legend, false);
    const frame = box(c);
    [...bars, ...notes, ...title, ...legend].forEach(([n, r]) => {
      if (r.left < frame.left - 2 || r.right > frame.right + 2 || r.top < frame.top - 2 ||
          r.bottom > frame.bottom + 2) out.push(n + ' sticks out of its chart');
    });
    for (let i = at; i < out.length; i++) out[i] = tag + out[i];
  });
  pairs(charts.map((c, k) => ['chart ' + k, box(c)]), charts.map((c, k) => ['chart ' + k,
        box(c)]), true);
  return out;
}"""
#: What no page may show: Streamlit's exception box, its "Page not found" dialog, a literal
#: None where a value should be.
FAULTS = r"""() => {
  const out = [];
  if (document.querySelector('[data-testid="stException"]')) out.push('an exception');
  const text = document.body.innerText;
  if (text.includes('Page not found')) out.push('"Page not found"');
  const none = text.match(/.{0,40}\bNone\b.{0,40}/);
  if (none) out.push('None on the page: ' + none[0]);
  // table cells are drawn on a canvas; the grid's accessible cells hold their text (a null
  // cell is empty there, and drawn as "None")
  const cells = [...document.querySelectorAll('[role="gridcell"]')]
      .map(c => c.textContent.trim());
  const bad = cells.filter(t => ['', 'None', 'nan', 'NaN', '<NA>'].includes(t));
  if (bad.length) out.push(bad.length + ' table cell(s) read "' + bad[0] + '"');
  return out;
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

    def overlaps(self) -> list[str]:
        """Parts of the page's figures that overlap (:data:`OVERLAPS`); empty when none do."""
        return self.tab.evaluate(OVERLAPS)

    def faults(self) -> list[str]:
        """An exception, "Page not found" or a literal None on the page (:data:`FAULTS`)."""
        return self.tab.evaluate(FAULTS)

    def shot(self, name: str) -> None:
        """A screenshot of the whole page (up to 2,400 px high) at the tab's width."""
        width = self.tab.viewport_size["width"]
        height = self.tab.evaluate(
            "() => (document.querySelector('[data-testid=\"stMain\"]') || document.body)"
            ".scrollHeight")
        self.tab.set_viewport_size({"width": width, "height": max(800, min(int(height), 2400))})
        self.tab.wait_for_timeout(400)  # charts re-layout to the new size
        for folder in self.shots:
            folder.mkdir(parents=True, exist_ok=True)
            self.tab.screenshot(path=str(folder / f"app-{name}.png"))
        self.tab.set_viewport_size({"width": width, "height": 900})


#: (name, URL path, page title) of every page
PAGES = (("runs", "runs", "Runs"), ("trajectory browser", "trajectories", "Trajectory browser"),
         ("probes", "probes", "Probes"), ("projections", "projections", "Projections"),
         ("interventions", "interventions", "Interventions"), ("compare", "compare", "Compare"))


def direct_visits(app: Pages, url: str, run: str) -> None:
    """Load every page's URL with ``run`` selected, timing each as "NAME (direct visit)"."""
    for name, path, title in PAGES:
        app.open(f"{url}/{path}?run={run}", title, f"{name} (direct visit)")
