"""The HTML report's certificate section: the facts a PKI engineer needs, every value from a
certificate escaped."""

from __future__ import annotations

from html.parser import HTMLParser

from amt_preflight import engine
from amt_preflight.model import RunInfo, RunResult
from amt_preflight.reports import render
from lab import pki

from .certs import NOW, ROOT, Seen, leaf_bundle
from .observed import config

HOSTILE = '<img src=x onerror=alert(1)>'


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def report(seen: Seen) -> str:
    cfg = config(f"""
sites:
  - name: hq
    amt: {{generations: [16], custom_root_hashes: [{ROOT}]}}
    domains: [{{name: corp.example, certificate: {{file: corp.pem}}}}]
""")
    selected = engine.select_checks(cfg, ["CERT-*", "CA-*"])
    sites, results = engine.evaluate(cfg, cfg.sites, selected, engine.Gathered(seen.obs), False,
                                     NOW)
    return render("html", RunResult(RunInfo("r", "", "", "h", "c"), sites, results))


def test_certificate_facts_are_shown() -> None:
    html = report(Seen().certificate(leaf_bundle(pki.BY_NAME["good"])))
    assert 'id="h-certificates"' in html
    for fact in ("CN=provisionserver.corp.example", "provisionserver.corp.example",
                 "CN=amt-preflight Lab Issuing CA", ROOT, "2.16.840.1.113741.1.2.3",
                 "RSA 2048", "amt.custom_root_hashes[0]", "CERT-CHAIN-COMPLETE"):
        assert fact in html, fact


def test_hostile_certificate_values_are_escaped() -> None:
    hostile = pki.Leaf("hostile", cn=f"{HOSTILE}.corp.example", san=("ps.corp.example",),
                       ou='"><script>alert(2)</script>')
    html = report(Seen().certificate(leaf_bundle(hostile)))
    assert HOSTILE not in html and "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    parser = Tags()
    parser.feed(html)
    assert not [t for t, _ in parser.tags if t == "img"]
    assert not [a for _, attrs in parser.tags for a, _ in attrs if a.startswith("on")]
