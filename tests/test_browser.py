"""The HTML report as a real browser shows it: headless Chromium over the DevTools protocol.

It must render with no console error and no request but its own file, show hostile strings
as text without running them, filter and print as meant, and leave a screenshot for people
to look at (in the test's folder; also test-artifacts/report.png when AMT_ARTIFACTS is set).
Without Chromium the tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from amt_preflight.reports import render

from .chromium import Chromium, executable
from .test_reports import ATTRIBUTE_BREAKOUT, SCRIPT_TAG, hostile_run, previous_run

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_SETTLE_MS = 400  # the text filter acts 150 ms after the last keystroke
# What a page may not do: console messages and log entries at these levels.
CONSOLE_PROBLEMS = frozenset({"error", "warning", "assert"})
LOG_PROBLEMS = frozenset({"error", "warning"})


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "amt-preflight.html"
    path.write_text(render("html", hostile_run(), previous_run()), encoding="utf-8")
    return path


def require_chromium() -> None:
    """Skip without Chromium; under CI, fail."""
    if executable() is None:
        reason = ("Chromium is not installed (Debian package chromium: "
                  "scripts/install-debian-packages)")
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must run the browser tests", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, report: Path) -> Iterator[Chromium]:
    """Chromium with the report open; tests that change the page open it again first."""
    require_chromium()
    with Chromium(tmp_path_factory.mktemp("chromium-profile")) as chromium:
        chromium.open(report.as_uri())
        yield chromium


def problems(chromium: Chromium) -> list[Mapping[str, Any]]:
    """Console errors and warnings, uncaught exceptions and browser log errors (a CSP
    violation is one) the page caused so far."""
    return [
        *chromium.events_named("Runtime.exceptionThrown"),
        *(e for e in chromium.events_named("Runtime.consoleAPICalled")
          if e["type"] in CONSOLE_PROBLEMS),
        *(e["entry"] for e in chromium.events_named("Log.entryAdded")
          if e["entry"]["level"] in LOG_PROBLEMS),
    ]


def requested(chromium: Chromium) -> list[str]:
    return [e["request"]["url"] for e in chromium.events_named("Network.requestWillBeSent")]


def test_the_harness_sees_errors_requests_and_dialogs(tmp_path: Path) -> None:
    """The checks below are only as good as the harness: pages that break their CSP, log an
    error, throw, load an image and open a dialog must show in what it records."""
    require_chromium()
    strict = tmp_path / "strict.html"
    strict.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        '<title>strict</title><img src="missing.png"><script>document.title = "ran";</script>',
        encoding="utf-8",
    )
    loose = tmp_path / "loose.html"
    loose.write_text(
        '<!DOCTYPE html><title>loose</title><script>console.error("logged");'
        ' setTimeout(function () { alert(1); }); throw new Error("thrown");</script>',
        encoding="utf-8",
    )
    with Chromium(tmp_path / "profile") as chromium:
        chromium.open(strict.as_uri())
        assert chromium.evaluate("document.title") == "strict"
        violations = [e for e in problems(chromium) if e.get("source") == "security"]
        assert len(violations) == 2  # the image and the script
        assert (tmp_path / "missing.png").as_uri() in requested(chromium)
        chromium.call("Page.navigate", {"url": loose.as_uri()})
        chromium.wait_for("Page.javascriptDialogOpening")
        chromium.call("Page.handleJavaScriptDialog", {"accept": True})
        assert [e["type"] for e in chromium.events_named("Runtime.consoleAPICalled")] == ["error"]
        assert len(chromium.events_named("Runtime.exceptionThrown")) == 1


def test_report_renders_with_no_console_error(browser: Chromium, report: Path) -> None:
    assert problems(browser) == []
    # The script ran and the stylesheet applied: both allowed by their CSP hashes.
    assert browser.evaluate("document.documentElement.classList.contains('js')")
    assert browser.evaluate(
        "getComputedStyle(document.querySelector('.overall')).borderTopLeftRadius") == "8px"
    assert "not-ready" in browser.evaluate("document.title")


def test_report_makes_no_request_but_its_own_file(browser: Chromium, report: Path) -> None:
    assert requested(browser) == [report.as_uri()]


def test_hostile_strings_show_as_text_and_never_run(browser: Chromium) -> None:
    text = browser.evaluate("document.body.innerText")
    assert SCRIPT_TAG in text and ATTRIBUTE_BREAKOUT in text
    assert browser.evaluate("document.scripts.length") == 1
    assert browser.evaluate("document.images.length") == 0
    assert not browser.evaluate(
        "[...document.querySelectorAll('*')].some("
        "e => [...e.attributes].some(a => a.name.startsWith('on')))")
    assert browser.events_named("Page.javascriptDialogOpening") == []


def test_filters_hide_rows_by_status_and_by_text(browser: Chromium, report: Path) -> None:
    browser.open(report.as_uri())
    shown = ("[...document.querySelectorAll('#all-results tbody tr')]"
             ".filter(r => r.offsetParent !== null)")
    run = hostile_run()
    browser.evaluate("document.querySelector('#status-filter input[value=pass]').click()")
    assert browser.evaluate(f"{shown}.length") == sum(r.status != "pass" for r in run.results)
    browser.evaluate(f"""new Promise(done => {{
        const search = document.getElementById('text-filter');
        search.value = 'BRANCH-ü';
        search.dispatchEvent(new Event('input'));
        setTimeout(done, {FILTER_SETTLE_MS}); }})""")
    assert browser.evaluate(f"{shown}.map(r => r.cells[3].textContent)") == [
        r.site for r in run.results if r.site == "branch-ü" and r.status != "pass"]
    assert problems(browser) == []


def test_print_expands_details_hides_filters_and_stays_light(
    browser: Chromium, report: Path
) -> None:
    browser.open(report.as_uri())
    assert browser.evaluate("document.querySelectorAll('details:not([open])').length") > 0
    # Printing for real: the report's own handler has opened every details element by the
    # time a handler added after it runs.
    browser.evaluate("""window.closedWhenPrinting = -1;
        window.addEventListener('beforeprint', () => {
            window.closedWhenPrinting = document.querySelectorAll('details:not([open])').length;
        }); true""")
    pdf = browser.call("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})
    assert browser.evaluate("window.closedWhenPrinting") == 0
    assert pdf["data"]
    # The print stylesheet, looked at in the page.
    browser.call("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert browser.evaluate(
            "getComputedStyle(document.getElementById('status-filter')).display") == "none"
        darkest = browser.evaluate("""Math.min(255, ...[...document.querySelectorAll('*')]
            .map(e => getComputedStyle(e).backgroundColor.match(/[\\d.]+/g).map(Number))
            .filter(c => c.length === 3 || c[3] > 0)
            .map(c => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]))""")
        assert darkest >= 200, "a dark background in print"
    finally:
        browser.call("Emulation.setEmulatedMedia", {"media": ""})
    assert problems(browser) == []


def test_screenshot(browser: Chromium, report: Path, tmp_path: Path) -> None:
    browser.open(report.as_uri())
    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    if os.environ.get("AMT_ARTIFACTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copyfile(shot, ARTIFACTS / "report.png")


def test_change_plan_and_trend_render_and_copy_as_written(tmp_path: Path) -> None:
    """The change plan's <pre> blocks give back exactly the commands (what an administrator
    copies), and the inline SVG trend draws under the unchanged CSP."""
    from amt_preflight.reports.change_plan import plan

    from .test_change_plan import hq_run

    require_chromium()
    run = hq_run()
    path = tmp_path / "plan.html"
    path.write_text(render("html", run, None, {"hq": ["ready", "at-risk", "not-ready"]}),
                    encoding="utf-8")
    with Chromium(tmp_path / "profile") as chromium:
        chromium.open(path.as_uri())
        assert problems(chromium) == []
        assert requested(chromium) == [path.as_uri()]
        shown = chromium.evaluate(
            "[...document.querySelectorAll('#h-plan ~ article pre')].map(p => p.innerText)")
        assert shown == [s.text for step in plan(run) for s in step.snippets]
        bars = chromium.evaluate(
            "[...document.querySelectorAll('svg.trend rect')].map(r => "
            "[r.getBBox().height, getComputedStyle(r).fill])")
        assert [h for h, _ in bars] == [4, 8, 16, 16]
        assert bars[0][1] != bars[-1][1]  # coloured by verdict: the stylesheet applied
        assert chromium.evaluate("document.scripts.length") == 1
