"""Renderers of a RunResult, one module per format.

Importing this package stays cheap: a renderer (and jinja2 or rich behind it) is imported
only when its format is asked for.
"""

from __future__ import annotations

# One import name: from the repository root or under pytest the folder is importable
# as `reports` too, which would make a second copy of every module beside this one.
if __name__ != "amt_preflight.reports":
    raise ImportError("import amt_preflight.reports; reports/ is installed under that one name")

import re
from collections.abc import Mapping, Sequence
from functools import cache

from amt_preflight.model import NotRunReason, RunResult, SiteSummary, Verdict

FORMATS: tuple[str, ...] = (
    "console", "json", "html", "junit", "markdown", "nagios", "prometheus")

# File written for each format when the output is a folder (`run -o DIR`).
FILE_NAMES: dict[str, str] = {
    "json": "amt-preflight.json",
    "html": "amt-preflight.html",
    "console": "amt-preflight.txt",
    "junit": "amt-preflight.junit.xml",
    "markdown": "amt-preflight.md",
    "nagios": "amt-preflight.nagios.txt",
    "prometheus": "amt_preflight.prom",
}

# What each verdict, and so the exit code of `run`, means: one wording for every renderer.
VERDICT_MEANINGS: dict[Verdict, str] = {
    Verdict.READY: "ready to provision",
    Verdict.AT_RISK: "only medium or low findings",
    Verdict.NOT_READY: "a critical or high check failed",
    Verdict.UNKNOWN: "some checks could not decide",
}

# What a coverage gap means (CHECKS.md, "Coverage gap"): one wording for every renderer.
COVERAGE_GAP = ("required for activation, but nothing was configured for it here, so it was "
                "not looked at: the site cannot be called ready")


def not_run_summary(site: SiteSummary) -> str:
    """"2 not configured, 1 disabled": how many checks did not run here, by reason."""
    counts = {reason: sum(n.reason is reason for n in site.not_run) for reason in NotRunReason}
    return ", ".join(f"{n} {reason.value}" for reason, n in counts.items() if n)


# Control characters, bidi overrides and lone surrogates can arrive from the network (a DHCP
# option, a certificate subject). Shown raw they corrupt a terminal or reorder text; shown
# as escapes they are evidence. U+FFFE and U+FFFF are no characters at all (XML 1.0 refuses
# them, as it refuses the C0 controls and surrogates): after visible() a text is XML-safe.
_INVISIBLE = (
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
    "\ufffe\uffff]"
)


@cache  # compiled when a format for people first shows text (half a millisecond): not for JSON
def _invisible() -> re.Pattern[str]:
    return re.compile(_INVISIBLE)


def _escape_code(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """The text with every invisible or control character written as a \\x.. or \\u.... escape."""
    return _invisible().sub(_escape_code, text)


def render(fmt: str, run: RunResult, previous: RunResult | None = None,
           trend: Mapping[str, Sequence[str]] | None = None) -> str:
    """The run rendered in one of FORMATS; `previous` (the last stored run of the same sites)
    lets the formats for people say what changed, `trend` (each site's verdicts in its
    earlier runs of the same selection, the oldest first) lets the HTML show a trend."""
    match fmt:
        case "console":
            from .console import render as render_console

            return render_console(run)
        case "json":
            from .json_report import render as render_json

            return render_json(run)
        case "html":
            from .html import render as render_html

            return render_html(run, previous, trend)
        case "junit":
            from .junit import render as render_junit

            return render_junit(run)
        case "markdown":
            from .markdown import render as render_markdown

            return render_markdown(run, previous)
        case "nagios":
            from .nagios import render as render_nagios

            return render_nagios(run)
        case "prometheus":
            from .prometheus import render as render_prometheus

            return render_prometheus(run)
    raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
