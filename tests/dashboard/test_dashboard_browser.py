"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by
Playwright; no browser is downloaded): the studies list, a study page with every chart,
sorting and filtering the trials table, the trial detail, a multi-objective study, and
following a live study while its trials finish. Screenshots go to a temporary folder, or
to ``docs/images/`` (the ones the README shows) with ``HYPERSWEEP_SCREENSHOTS=docs/images``,
so a test run leaves the tree as it was.

Skipped only when ``HYPERSWEEP_SKIP_BROWSER=1`` (and the skip says so); a missing
browser otherwise fails, with how to install it (``apt-get install -y chromium``, which
``.ci/run`` does). ``HYPERSWEEP_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

if os.environ.get("HYPERSWEEP_SKIP_BROWSER") == "1":
    pytest.skip("browser tests skipped because HYPERSWEEP_SKIP_BROWSER=1", allow_module_level=True)

pytest.importorskip("starlette", reason="needs the dashboard extra (pip install -e '.[dev]')")
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from hypersweep.dashboard import create_app
from hypersweep.storage import open_storage
from tests.dashboard.studies import add_trial, make_multi, make_quad

CHROMIUM = os.environ.get("HYPERSWEEP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
_ROOT = Path(__file__).resolve().parents[2]
IMAGES = (
    _ROOT / os.environ["HYPERSWEEP_SCREENSHOTS"]
    if os.environ.get("HYPERSWEEP_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "hypersweep-screenshots"
)
CHARTS = ["c-history", "c-curves", "c-parallel", "c-slice", "c-pair"]

expect.set_options(timeout=30_000)  # a loaded machine: charts may take seconds
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, str]]:
    """A dashboard on a fresh SQLite file with two studies; yields (base URL, storage URL)."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    make_quad(url)
    make_multi(url)
    storage = open_storage(url, read_only=True)
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(storage), host="127.0.0.1", port=port, log_level="warning")
    )
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline and th.is_alive(), "the dashboard did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", url
    srv.should_exit = True
    th.join(10)
    storage.close()


@pytest.fixture
def page() -> Iterator[Page]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: apt-get install -y chromium (as root), or set "
            "HYPERSWEEP_SKIP_BROWSER=1 to skip the browser tests"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        pg.on("request", lambda r: requests.append(r.url))
        pg.set_default_timeout(30_000)
        yield pg
        browser.close()
        assert not errors, errors
        # it works offline: every request goes to the dashboard itself (or the file)
        local = ("http://127.0.0.1:", "data:", "blob:", "file://", "about:")
        assert [u for u in requests if not u.startswith(local)] == []


def _rendered(page: Page, ids: list[str]) -> None:
    # plotly.js runs after the page's load event (the summary paints first): on a loaded
    # 2-core machine parsing it alone can take tens of seconds
    for i in ids:
        expect(page.locator(f"#{i}")).to_have_attribute("data-rendered", "1", timeout=120_000)


def _shot(page: Page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name), full_page=True)


def test_list_study_page_table_and_detail(server, page):
    base, _ = server
    page.goto(f"{base}/?poll=500")
    rows = page.locator("#studies tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#studies")).to_contain_text("quad")
    expect(page.locator("#studies")).to_contain_text("running")
    _shot(page, "dashboard-studies.png")

    page.locator("#studies a", has_text="quad").click()
    _rendered(page, [*CHARTS, "c-importance", "trials"])
    for i in CHARTS:  # a real plotly chart with drawn traces, not a note
        assert page.locator(f"#{i} .main-svg").count() >= 1, i
    expect(page.locator("#summary")).to_contain_text("41")
    expect(page.locator("#running")).to_contain_text("running now (1)")
    assert page.locator("#c-parallel .parcoords").count() == 1
    assert page.locator("#c-history .scatterlayer .trace").count() >= 1
    _shot(page, "dashboard-study.png")

    # sort by the objective: ascending, then descending (the API sorts, the page shows)
    table = page.locator("#trials")
    table.locator("th", has_text="value").first.click()
    expect(table.locator("th.sorted")).to_have_text("value")
    first = float(table.locator("tbody tr").first.locator("td").nth(2).inner_text())
    col = [c for c in table.locator("tbody tr td:nth-child(3)").all_inner_texts() if c]
    assert first == min(float(c) for c in col)
    table.locator("th", has_text="value").first.click()
    expect(table.locator("th.sorted.desc")).to_have_count(1)
    page.wait_for_function(
        "() => { const c = [...document.querySelectorAll('#trials tbody tr td:nth-child(3)')]"
        ".map(td => td.textContent).filter(Boolean).map(Number);"
        " return c.length > 1 && c[0] >= c[c.length - 1]; }"
    )
    # filter by state, then search the parameters
    page.select_option("#f-state", "FAILED")
    expect(table.locator("tbody tr")).to_have_count(4)
    assert set(table.locator("tbody tr td:nth-child(2)").all_inner_texts()) == {"FAILED"}
    page.select_option("#f-state", "")
    page.fill("#f-q", "act=tanh")
    page.wait_for_function(
        "() => { const r = [...document.querySelectorAll('#trials tbody tr')];"
        " return r.length > 0 && r.every(tr => tr.textContent.includes('tanh'))"
        " && !r.some(tr => tr.textContent.includes('relu')); }"
    )
    page.fill("#f-q", "")
    expect(page.locator("#pageinfo")).to_contain_text("41 trials")
    # a failed trial's detail: its error as text (never as markup), its reports
    page.select_option("#f-state", "FAILED")
    table.locator("tbody tr").first.click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    expect(detail.locator("#error")).to_contain_text("<script>alert(1)</script>")
    expect(detail).to_contain_text("reports")
    _shot(page, "dashboard-trial.png")
    page.click("#close")

    page.goto(f"{base}/#/study/multi")
    _rendered(page, ["c-pareto", "c-history"])
    assert page.locator("#c-pareto .main-svg").count() >= 1
    _shot(page, "dashboard-pareto.png")


def test_follows_a_live_study(server, page):
    base, url = server
    page.goto(f"{base}/?poll=300#/study/quad")
    _rendered(page, CHARTS)
    expect(page.locator("#summary")).to_contain_text("41")
    from hypersweep.study import Study

    writer = Study.load("quad", url)  # another process would do the same
    for i in range(40, 46):
        add_trial(writer, i)
    t = writer.ask()
    writer.report(t, step=0, value=4.0, loss=4.0)
    writer.report(t, step=1, value=3.0, loss=3.0)
    # the page picks it up from the watermark, without a reload
    expect(page.locator("#summary")).to_contain_text("48", timeout=20_000)
    expect(page.locator("#pageinfo")).to_contain_text("48 trials")
    expect(page.locator("#running")).to_contain_text("running now (2)")
    # the running trials' curves are drawn wide, the finished ones thin
    page.wait_for_function(
        "() => { const d = document.getElementById('c-curves').data || [];"
        " return d.some(t => t.name === '#47' && t.line.width === 3); }"
    )
    _shot(page, "dashboard-live.png")
    writer.tell(t, {"value": 0.0, "loss": 0.0})
    expect(page.locator("#running")).to_contain_text("running now (1)", timeout=20_000)
    expect(page.locator("#best-value")).to_contain_text("(#47)", timeout=20_000)


def test_report_file_opens_offline(server, page, tmp_path):
    from hypersweep.dashboard.static_report import write_report

    _, url = server
    st = open_storage(url, read_only=True)
    path = write_report(st, "quad", tmp_path / "quad.html")
    st.close()
    page.goto(path.as_uri())
    _rendered(page, [*CHARTS, "trials"])
    expect(page.locator("#pageinfo")).to_contain_text("41 trials")
    page.select_option("#f-state", "FAILED")
    expect(page.locator("#trials tbody tr")).to_have_count(4)
    page.select_option("#f-state", "")
    page.locator("#trials th", has_text="value").first.click()
    first = float(page.locator("#trials tbody tr").first.locator("td").nth(2).inner_text())
    assert first == pytest.approx(min(r for r in _values(page)))
    _shot(page, "dashboard-report.png")


def _values(page: Page) -> list[float]:
    cells = page.locator("#trials tbody tr td:nth-child(3)").all_inner_texts()
    return [float(c) for c in cells if c]
