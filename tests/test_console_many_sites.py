"""The console report at 50 sites: a summary line a site, the worst first; only the sites that
are not ready are detailed (-v details all); --no-color gives plain text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from amt_preflight.cli import main
from amt_preflight.model import RunInfo, RunResult, SiteSummary, Verdict
from amt_preflight.reports import console

NOW = datetime(2026, 12, 6, tzinfo=UTC).isoformat()


def fifty() -> RunResult:
    sites = [SiteSummary(f"site-{i:02d}", [f"s{i}.example"],
                         Verdict.NOT_READY if i % 10 == 0 else Verdict.READY,
                         {"pass": 40, "fail": int(i % 10 == 0), "error": 0, "skipped": 0,
                          "waived": 0}) for i in range(50)]
    return RunResult(RunInfo("run-50", NOW, NOW, "host", "fleet.yaml"), sites, [])


def test_fifty_sites_get_one_summary_line_each_worst_first() -> None:
    text = console.render(fifty())
    rows = [line for line in text.splitlines() if line.startswith("site-")]
    assert len(rows) == 50
    assert all("not-ready" in row for row in rows[:5]) and "ready" in rows[5]
    detailed = [line for line in text.splitlines() if "  site site-" in line]
    assert len(detailed) == 5  # only the sites that are not ready
    assert "45 ready sites are not detailed above" in text


def test_no_color_is_plain_text(tmp_path: pytest.TempPathFactory,
                                capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["--no-color", "roots", "--generation", "16"]) == 0
    assert "\x1b[" not in capsys.readouterr().out
