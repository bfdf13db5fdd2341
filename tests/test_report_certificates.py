"""The HTML report's certificate section: the facts a PKI engineer needs, every value from a
certificate escaped."""

from __future__ import annotations

from typing import Any

from amt_preflight import engine
from amt_preflight.model import RunInfo, RunResult, Status
from amt_preflight.reports import render
from amt_preflight.reports.sections import certificates
from lab import pki

from .certs import NOW, ROOT, Seen, leaf_bundle
from .observed import config
from .test_reports import assert_no_markup_injected, result

HOSTILE = '<img src=x onerror=alert(1)>'


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
    assert_no_markup_injected(html)


# --- the view-model (reports/sections/certificates.py) on hand-made results ---------------

HIT = {"ca": "custom root", "entry": "amt.custom_root_hashes[0]", "algorithm": "sha256",
       "hash": "99"}


def test_build_reads_the_file_its_chain_and_the_verdicts_on_it() -> None:
    view = certificates.build([
        result("CERT-LOADABLE", "hq", "corp.example", Status.PASS, evidence={
            "file": "corp.pfx", "format": "PKCS#12", "keys": ["RSA 2048"], "leaf": 1,
            "certificates": [
                {"subject": "CN=Issuing", "ca": True},
                {"subject": "CN=ps.corp.example", "san_dns": ["ps.corp.example"],
                 "eku": ["1.3.6.1.5.5.7.3.1", "2.16.840.1.113741.1.2.3", "1.2.3"],
                 "sha256": "ab", "serial": "01"},
                {"subject": "CN=Root", "self_issued": True, "ca": True, "problem": "weak"}],
            "certificates_not_shown": 2}),
        result("CERT-LOADABLE", "hq", "-", Status.SKIPPED),
        result("CERT-ROOT-TRUSTED", "hq", "corp.example", Status.FAIL, evidence={"matches": {
            # the lists' shape, a hello's shape, and no match
            "AMT 16": {"list": "AMT 16 defaults", "match": HIT},
            "hello": HIT,
            "AMT 11": {"list": "AMT 11 defaults", "match": "no match among 23 hashes"}}}),
        result("CERT-DOMAIN-MATCH", "hq", "corp.example", Status.PASS, evidence={
            "names": ["ps.corp.example"], "domain_source": "option 15"}),
        result("CA-CRL-FRESH", "hq", "corp.example", Status.PASS),
        result("DNS-PROVSERVER-A", "hq", "corp.example", Status.PASS),
        result("CERT-VALIDITY", "branch", "corp.example", Status.PASS),
    ])
    [file] = view.files
    assert (file.site, file.domain, file.file, file.format, file.keys, file.leaf) == (
        "hq", "corp.example", "corp.pfx", "PKCS#12", ["RSA 2048"], 1)
    assert file.not_shown == 2 and file.password_source == ""
    issuing, leaf, root = file.chain
    assert issuing.ca and not issuing.self_issued and root.self_issued and root.problem == "weak"
    assert leaf.usages == ["serverAuth", "AMT setup", "1.2.3"]
    assert leaf.san_dns == ["ps.corp.example"] and leaf.issuer == ""
    assert [c.check for c in file.checks] == ["CERT-LOADABLE", "CERT-ROOT-TRUSTED",
                                              "CERT-DOMAIN-MATCH", "CA-CRL-FRESH"]
    trusted, matched = file.checks[1], file.checks[2]
    assert [(m.generation, m.listed, m.entry, m.detail) for m in trusted.matches] == [
        ("AMT 16", True, "amt.custom_root_hashes[0]", ""),
        ("hello", True, "amt.custom_root_hashes[0]", ""),
        ("AMT 11", False, "", "no match among 23 hashes")]
    assert matched.names == ["ps.corp.example"] and matched.domain_source == "option 15"


def test_build_takes_any_evidence_without_raising() -> None:
    odd: list[Any] = [None, 5, "x", ["x"], {"a": 1}, True, [None, 3, {"eku": [{"x": 1}]}]]
    results = []
    for i, value in enumerate(odd):
        target = f"d{i}.example"
        results += [
            result("CERT-LOADABLE", "hq", target, Status.ERROR, evidence={
                key: value for key in ("file", "format", "keys", "leaf", "certificates",
                                       "certificates_not_shown", "password_source")}),
            result("CERT-ROOT-TRUSTED", "hq", target, Status.ERROR,
                   evidence={"matches": value}),
            result("CERT-DOMAIN-MATCH", "hq", target, Status.ERROR,
                   evidence={"names": value, "domain_source": value})]
    view = certificates.build(results)
    assert len(view.files) == len(odd)
    assert [f.leaf for f in view.files] == [None, 5, None, None, None, None, None]
    assert view.files[6].chain[0].usages == ["{'x': 1}"]
    assert view.files[4].checks[1].matches == [certificates.RootMatch("a", False, detail="1")]
    assert certificates.build([]) == certificates.CertificatesView([])
