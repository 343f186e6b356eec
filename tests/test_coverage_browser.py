"""Coverage where a reader sees it, in Debian's headless Chromium against a real Datasette on
127.0.0.1: the home page states the last 30 days' coverage, and the chart of customers over time
shades the night the scraper was down, so its flat line is not read as calm. No page may log a
JavaScript error.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from pge_outages.build import build_database
from support.browser import CUSTOMERS_CHART, chromium_page, running_datasette, watch_errors
from support.scraped_history import TICKS, scrape, truth

pytestmark = pytest.mark.browser

DOWN = range(150, 190)  # the scraper was down for 400 minutes


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    base = tmp_path_factory.mktemp("coverage")
    scraped = scrape(base / "history", truth(), [t for t in range(TICKS) if t not in DOWN])
    db = base / "outages.db"
    build_database(scraped.repo, db)
    return db


@pytest.fixture(scope="module")
def server(chromium, database):
    with running_datasette(database) as url:
        yield url


def test_the_home_page_states_the_coverage_of_the_last_30_days(chromium, server, database):
    conn = sqlite3.connect(database)
    blind = conn.execute("""select total(s.[when] - (select p.[when] from snapshots p where p.id < s.id
        order by p.id desc limit 1)) / 3600.0 from snapshots s where gap_class = 'blind'""").fetchone()[0]
    conn.close()
    assert blind > 6
    with chromium_page(chromium) as page:
        errors = watch_errors(page)
        page.goto(server)
        text = page.inner_text("p.coverage")
        gaps = page.get_attribute("p.coverage a", "href")
    assert errors == []
    # Three days of history: covered whole.
    assert text.startswith("Coverage of the whole history to ")
    shares = dict((name, int(share)) for share, name in re.findall(r"(\d+)% (watched|quiet|blind|unknown)", text))
    assert set(shares) == {"watched", "quiet", "blind", "unknown"}
    assert 98 <= sum(shares.values()) <= 102
    assert f"{blind:,.1f} h" in text and shares["blind"] >= 8
    assert gaps == "/outages/scraper_gaps"


def test_the_chart_shades_the_stretch_the_scraper_did_not_see(chromium, server, tmp_path):
    with chromium_page(chromium) as page:
        errors = watch_errors(page)
        page.goto(f"{server}/outages/customers_over_time")
        page.wait_for_selector(CUSTOMERS_CHART, timeout=20_000)
        page.wait_for_load_state("networkidle")
        bands = page.eval_on_selector(CUSTOMERS_CHART, "svg => svg.querySelectorAll('.mark-rect path').length")
        legend = page.eval_on_selector(CUSTOMERS_CHART, "svg => svg.textContent")
        page.screenshot(path=tmp_path / "customers_over_time.png", full_page=True)
    assert errors == []
    assert bands == 1
    assert "Marked" in legend and "blind: the scraper missed changes" in legend
