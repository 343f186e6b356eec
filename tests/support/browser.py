"""A real Datasette server and Debian's headless Chromium, for the browsing tests.

Run as a script to retake the README's screenshots from the demo database:

    python tests/support/browser.py demo/outages.db docs/screenshots
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .servers import ServerError, free_port, running

ROOT = Path(__file__).resolve().parents[2]
METADATA = ROOT / "metadata.yml"
# The settings the README's serve command passes: a time limit that protects the
# server, and no facet suggestions, which cost seconds on tables of real size.
SERVE_SETTINGS = {"sql_time_limit_ms": 3000, "suggest_facets": False}
INSTALL_CHROMIUM = "install Debian's Chromium with: sudo apt-get install -y chromium"
CHART_FRAGMENT = (
    "#g.mark=line&g.x_column=time&g.x_type=temporal"
    "&g.y_column=customers_affected&g.y_type=quantitative"
)
MARKERS = ".leaflet-marker-icon, .marker-cluster"
# datasette-geojson-map draws each area as one SVG path in Leaflet's overlay pane.
AREAS = ".leaflet-overlay-pane path"
# datasette-vega draws on a canvas; the project's own chart of customers_over_time is
# the SVG in #customers-chart (pge_outages/datasette_plugin/static/customers-chart.js).
CHART = ".vega-embed canvas"
CUSTOMERS_CHART = "#customers-chart svg"
# A cell that is nothing but a Unix time in seconds, as 1572139440: not for people.
BARE_TIMESTAMP = r"^\s*\d{9,10}\s*$"
# Everything but the server under test is refused: no test depends on the internet.
_LOCAL = ("http://127.0.0.1:", "http://127.0.0.1/", "https://127.0.0.1:", "https://127.0.0.1/")
_NOT_LOCAL = re.compile(r"^(?!https?://127\.0\.0\.1[:/])")


def find_chromium() -> str | None:
    """The path of Debian's Chromium, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def serve_command(db: Path, port: int) -> list[str]:
    settings = []
    for name, value in SERVE_SETTINGS.items():
        text = ("on" if value else "off") if isinstance(value, bool) else str(value)
        settings += ["--setting", name, text]
    # No --metadata: the plugin gives metadata.yml's to every database this tool built (databases.py).
    return [sys.executable, "-m", "datasette", "serve", str(db),
            *settings, "-h", "127.0.0.1", "-p", str(port)]


@contextmanager
def running_datasette(db: Path, timeout: float = 30) -> Iterator[str]:
    """Serve `db` with the project's metadata on a free port; yield its base URL."""
    port = free_port()
    with running(serve_command(db, port), f"http://127.0.0.1:{port}", timeout=timeout) as url:
        yield url


@contextmanager
def chromium_page(executable: str, width: int = 1200, height: int = 800):
    """A Playwright page in headless Chromium that may only reach 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route(_NOT_LOCAL, lambda route: route.abort())
            yield page
        finally:
            browser.close()


def watch_errors(page) -> list[str]:
    """The page's JavaScript errors and console errors, as they come: a page may log none.

    Resources from the internet (map tiles) are refused here (chromium_page), and Chromium
    logs each refusal as an error of the console: those are left out, nothing else.
    """
    errors: list[str] = []

    def on_console(message) -> None:
        if message.type != "error":
            return
        source = (message.location or {}).get("url") or ""
        if message.text.startswith("Failed to load resource") and source and not source.startswith(_LOCAL):
            return
        errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", on_console)
    return errors


def open_map(page, url: str, timeout: float = 20_000) -> int:
    """Open a page with a cluster map; return how many rows its markers and clusters stand for."""
    page.goto(url)
    page.wait_for_selector(MARKERS, timeout=timeout)
    page.wait_for_load_state("networkidle")
    # A cluster is a marker icon too, labelled with how many markers it holds.
    return page.eval_on_selector_all(
        ".leaflet-marker-icon",
        """icons => icons.reduce((total, icon) => total +
            (icon.classList.contains("marker-cluster") ? parseInt(icon.textContent, 10) : 1), 0)""",
    )


def open_area_map(page, url: str, timeout: float = 20_000) -> int:
    """Open a page with a map of areas (a geometry column); return how many areas it drew."""
    page.goto(url)
    page.wait_for_selector(AREAS, timeout=timeout)
    page.wait_for_load_state("networkidle")
    # A drawn polygon has an outline: a path whose `d` is more than a move.
    return page.eval_on_selector_all(AREAS, "paths => paths.filter(p => /L/.test(p.getAttribute('d') || '')).length")


def open_chart(page, url: str, timeout: float = 20_000) -> int:
    """Open a page whose fragment asks datasette-vega for a chart; return how many of
    its pixels are coloured: axes, grid and labels are grey, only marks have colour."""
    page.goto(url)
    page.wait_for_selector(CHART, timeout=timeout)
    page.wait_for_load_state("networkidle")
    return page.eval_on_selector(
        ".vega-embed canvas",
        """canvas => {
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let coloured = 0;
            for (let i = 0; i < data.length; i += 4) {
                const rgb = [data[i], data[i + 1], data[i + 2]];
                if (data[i + 3] > 0 && Math.max(...rgb) - Math.min(...rgb) > 40) coloured++;
            }
            return coloured;
        }""",
    )


def open_customers_chart(page, url: str, timeout: float = 20_000) -> dict:
    """Open a customers_over_time page and wait for its own chart, drawn without a click;
    return its width in pixels and the labels of its time axis."""
    page.goto(url)
    page.wait_for_selector(CUSTOMERS_CHART, timeout=timeout)
    page.wait_for_load_state("networkidle")
    return page.eval_on_selector(
        CUSTOMERS_CHART,
        """svg => ({
            width: svg.getBoundingClientRect().width,
            labels: [...svg.querySelectorAll(".role-axis-label text")].map(t => t.textContent),
        })""",
    )


def bare_timestamps(page) -> list[str]:
    """The table cells of the page that show a bare Unix time."""
    return page.eval_on_selector_all(
        "table.rows-and-columns td",
        f"cells => cells.map(c => c.textContent).filter(t => new RegExp({BARE_TIMESTAMP!r}).test(t))",
    )


def _scroll_into_frame(page, selector: str, margin: int = 24) -> None:
    """Scroll so that the bottom of `selector` sits just above the bottom of the window."""
    page.eval_on_selector(
        selector,
        f"el => window.scrollTo(0, el.getBoundingClientRect().bottom + window.scrollY"
        f" - window.innerHeight + {margin})",
    )


def take_screenshots(db: Path, out: Path) -> list[Path]:
    """Screenshot the map of the outages out now, the customers chart, the areas, the replay, the
    database page and the largest event's page of `db` into `out`."""
    executable = find_chromium()
    if executable is None:
        raise ServerError(f"Chromium is not installed: {INSTALL_CHROMIUM}")
    out.mkdir(parents=True, exist_ok=True)
    with running_datasette(db) as url, chromium_page(executable) as page:
        open_map(page, f"{url}/outages/outages_at")
        page.wait_for_timeout(1000)  # let the clusters finish animating
        _scroll_into_frame(page, ".leaflet-container")
        map_png = out / "map.png"
        page.screenshot(path=map_png)
        open_customers_chart(page, f"{url}/outages/customers_over_time")
        _scroll_into_frame(page, "#customers-chart")
        chart_png = out / "chart.png"
        page.screenshot(path=chart_png)
        page.goto(f"{url}/outages/most_recent_areas")
        page.wait_for_selector(AREAS, timeout=20_000)
        page.wait_for_timeout(1000)
        _scroll_into_frame(page, ".leaflet-container")
        areas_png = out / "areas.png"
        page.screenshot(path=areas_png)
        page.goto(f"{url}/-/replay")
        page.wait_for_selector(MARKERS + ", .leaflet-overlay-pane path", timeout=20_000)
        page.wait_for_timeout(3000)  # let it play a few frames
        replay_png = out / "replay.png"
        page.screenshot(path=replay_png)
        page.goto(f"{url}/outages")
        database_png = out / "database.png"
        page.screenshot(path=database_png)
        page.goto(f"{url}/-/events")
        page.click("table.events-table a >> nth=0")  # the largest event
        page.wait_for_selector("svg.outage-chart path.line")
        event_png = out / "event.png"
        page.screenshot(path=event_png)
    return [map_png, chart_png, areas_png, replay_png, database_png, event_png]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage (in tests/): python -m support.browser DATABASE OUTPUT_DIRECTORY")
    for path in take_screenshots(Path(sys.argv[1]), Path(sys.argv[2])):
        print(path)
