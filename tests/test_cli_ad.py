"""The AD and Kerberos checks end to end, as a user runs them: the command line against the
lab's Samba AD DC, MIT KDCs, rootDSE impostor, hostile KDCs and LDAP servers, and a DC whose
SRV target lies outside its domain, one site per case."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, ad
from lab.network import ADDRESSES, OUTSIDE_DC_HOST, OUTSIDE_SRV_DOMAIN

from .test_cli import run_cli, statuses, survey, write

pytestmark = pytest.mark.lab
SAMBA = ADDRESSES["dc"]
AD_CHECKS = ("AD-KDC-ANSWERS", "AD-REALM-MATCH", "AD-CLOCK-SKEW", "AD-LDAP-ROOTDSE",
             "AD-LDAP-BIND", "AD-AMT-OU")
WRONG_PASSWORD = "Not-The-Password-1"


def sites(directory: ad.Directory) -> str:
    """One site per case. Resolvers: Samba's own DNS, or dnsmasq whose corp.example mirrors it."""
    account = (f"bind_user: {directory.bind_user}, amt_ou: '{directory.amt_ou}', "
               f"tls_ca_file: {directory.ca_file}")
    a = ADDRESSES
    return f"""
defaults: {{timeout: 1, retries: 1, deadline: 60}}
sites:
  - name: healthy
    resolvers: [{a['dc']}]
    ad: {{domain: corp.example, bind_password_env: AMT_BIND_PASSWORD, {account}}}
  - name: wrong-realm
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: corp.example, realm: WRONG.EXAMPLE}}
  - name: mit
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: other.example, kdcs: [{a['mit_kdc']}, {a['tcp_only_kdc']}, {a['skewed_kdc']}]}}
  - name: mit-wrong-realm
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: other.example, realm: CORP.EXAMPLE, kdcs: [{a['mit_kdc']}]}}
  - name: silent-realm
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: corp.example, realm: OTHER.EXAMPLE, kdcs: [{a['picky_kdc']}]}}
  - name: no-srv
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: branch.example}}
  - name: impostor
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: corp.example, kdcs: [{a['other_dc']}],
         bind_password_env: AMT_BIND_PASSWORD, {account}}}
  - name: wrong-password
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: corp.example, bind_password_env: WRONG_BIND_PASSWORD, {account}}}
  - name: password-unset
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: corp.example, bind_password_env: AMT_PREFLIGHT_UNSET, {account}}}
  - name: hostile
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: corp.example, kdcs: [{a['garbage_kdc']}, {a['truncated_kdc']},
         {a['huge_kdc']}]}}
  - name: outside-srv
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: {OUTSIDE_SRV_DOMAIN}, bind_password_env: AMT_BIND_PASSWORD, {account}}}
"""


@pytest.fixture(scope="module")
def ad_run(lab: Lab, ad_lab: ad.Directory, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[int, dict[str, Any], Path]:
    """One run of every case (JSON, HTML and console into a folder): the run, not each case,
    pays the timeouts of the silent KDCs."""
    folder = tmp_path_factory.mktemp("ad-run")
    config = write(folder, sites(ad_lab))
    env = {**os.environ, "AMT_BIND_PASSWORD": ad_lab.bind_password,
           "WRONG_BIND_PASSWORD": WRONG_PASSWORD}
    env.pop("AMT_PREFLIGHT_UNSET", None)
    env.pop("SSL_CERT_FILE", None)
    code, document = survey(lab, config, "--check", "AD-*", "--check", "DNS-AD-SRV", env=env)
    out = folder / "out"
    done = run_cli(["run", "-c", str(config), "--check", "AD-*", "--format",
                    "console,json,html", "-o", str(out)], lab, env=env)
    assert done.returncode == code, done.stderr
    (folder / "stdout.txt").write_text(done.stdout + done.stderr)
    return code, document, out


def test_every_ad_check_passes_against_samba(ad_run: tuple[int, dict[str, Any], Path]) -> None:
    code, document, _ = ad_run
    got = statuses(document, "healthy")
    assert got[("DNS-AD-SRV", "corp.example")] == "pass"  # Samba's own DNS
    assert {c: got[(c, SAMBA)] for c in AD_CHECKS} == dict.fromkeys(AD_CHECKS, "pass")
    verdict = {s["name"]: s["verdict"] for s in document["sites"]}["healthy"]
    assert verdict == "ready" and code == 2  # other cases fail


def test_wrong_realm_fails_naming_both_realms(ad_run: tuple[int, dict[str, Any], Path]) -> None:
    _, document, _ = ad_run
    got = statuses(document, "wrong-realm")
    assert got[("AD-KDC-ANSWERS", SAMBA)] == "pass"  # it answers: the realm is the problem
    assert got[("AD-REALM-MATCH", SAMBA)] == "fail"
    [result] = [r for r in document["results"]
                if (r["site"], r["check"]) == ("wrong-realm", "AD-REALM-MATCH")]
    assert result["reason"] == "REALM_MISMATCH"
    assert "WRONG.EXAMPLE" in result["message"] and "CORP.EXAMPLE" in result["message"]


def test_mit_realm_udp_blocked_and_clock_ahead(ad_run: tuple[int, dict[str, Any], Path]) -> None:
    _, document, _ = ad_run
    got = statuses(document, "mit")
    mit, tcp_only, skewed = (ADDRESSES[r] for r in ("mit_kdc", "tcp_only_kdc", "skewed_kdc"))
    assert [got[("AD-KDC-ANSWERS", k)] for k in (mit, tcp_only, skewed)] == [
        "pass", "fail", "pass"]
    assert [got[("AD-REALM-MATCH", k)] for k in (mit, tcp_only, skewed)] == ["pass"] * 3
    assert [got[("AD-CLOCK-SKEW", k)] for k in (mit, tcp_only, skewed)] == [
        "pass", "pass", "fail"]
    [skew] = [r for r in document["results"] if (r["site"], r["check"], r["target"]) == (
        "mit", "AD-CLOCK-SKEW", skewed)]
    assert skew["severity"] == "high"
    assert abs(skew["evidence"]["offset_s"] - ad.CLOCK_AHEAD) < 60


def test_realm_mismatch_at_mit_and_at_a_kdc_silent_for_it(
    ad_run: tuple[int, dict[str, Any], Path]
) -> None:
    _, document, _ = ad_run
    assert statuses(document, "mit-wrong-realm")[("AD-REALM-MATCH", ADDRESSES["mit_kdc"])] == (
        "fail")
    picky = ADDRESSES["picky_kdc"]
    silent = statuses(document, "silent-realm")
    assert silent[("AD-KDC-ANSWERS", picky)] == "fail"
    assert silent[("AD-REALM-MATCH", picky)] == "fail"
    [result] = [r for r in document["results"]
                if (r["site"], r["check"]) == ("silent-realm", "AD-REALM-MATCH")]
    assert result["reason"] == "REALM_MISMATCH"
    assert "OTHER.EXAMPLE" in result["message"] and "CORP.EXAMPLE" in result["message"]


def test_missing_srv_records_skip_the_ad_checks(ad_run: tuple[int, dict[str, Any], Path]) -> None:
    _, document, _ = ad_run
    got = statuses(document, "no-srv")
    assert got[("DNS-AD-SRV", "branch.example")] == "fail"
    assert {c: got[(c, "-")] for c in AD_CHECKS} == dict.fromkeys(AD_CHECKS, "skipped")


def test_dc_of_another_domain_fails_and_gets_no_password(
    ad_run: tuple[int, dict[str, Any], Path]
) -> None:
    _, document, _ = ad_run
    impostor = ADDRESSES["other_dc"]
    got = statuses(document, "impostor")
    assert got[("AD-LDAP-ROOTDSE", impostor)] == "fail"
    assert got[("AD-LDAP-BIND", impostor)] == "skipped"
    assert got[("AD-AMT-OU", impostor)] == "skipped"


def test_wrong_and_missing_bind_password(ad_run: tuple[int, dict[str, Any], Path]) -> None:
    _, document, _ = ad_run
    wrong = statuses(document, "wrong-password")
    assert (wrong[("AD-LDAP-BIND", SAMBA)], wrong[("AD-AMT-OU", SAMBA)]) == ("fail", "skipped")
    unset = statuses(document, "password-unset")
    assert unset[("AD-LDAP-BIND", SAMBA)] == "error"
    [result] = [r for r in document["results"]
                if (r["site"], r["check"]) == ("password-unset", "AD-LDAP-BIND")]
    assert result["reason"] == "NO_PASSWORD" and "AMT_PREFLIGHT_UNSET" in result["message"]


def test_hostile_kdcs_are_errors_with_evidence(ad_run: tuple[int, dict[str, Any], Path]) -> None:
    _, document, _ = ad_run
    got = statuses(document, "hostile")
    for role in ("garbage_kdc", "truncated_kdc", "huge_kdc"):
        assert got[("AD-KDC-ANSWERS", ADDRESSES[role])] == "error", role
    evidence = [r["evidence"] for r in document["results"]
                if (r["site"], r["check"]) == ("hostile", "AD-KDC-ANSWERS")]
    assert all(reply["outcome"] == "malformed" and reply["detail"]
               for e in evidence for reply in e["replies"])


def test_a_dc_named_outside_the_domain_gets_no_password(
    ad_run: tuple[int, dict[str, Any], Path], ad_lab: ad.Directory
) -> None:
    """Its rootDSE shows the domain and its certificate verifies for its name: the bind is an
    error naming ad.kdcs, and the fake DC received no StartTLS, no bind, no password."""
    _, document, _ = ad_run
    outside = ADDRESSES["outside_dc"]
    got = statuses(document, "outside-srv")
    assert got[("AD-LDAP-ROOTDSE", outside)] == "pass"
    assert (got[("AD-LDAP-BIND", outside)], got[("AD-AMT-OU", outside)]) == ("error", "skipped")
    [result] = [r for r in document["results"]
                if (r["site"], r["check"]) == ("outside-srv", "AD-LDAP-BIND")]
    assert result["reason"] == "UNSAFE_TO_SEND"
    assert OUTSIDE_DC_HOST in result["message"] and "ad.kdcs" in result["message"]
    # (other tests of the session bind there on purpose, as another user)
    received = [json.loads(line) for line in ad_lab.fake_dc_record.read_text().splitlines()]
    user = ad_lab.bind_user.encode().hex()
    assert received and not any(r["op"] == "0x60" and user in r["message"] for r in received)
    assert not any(ad_lab.bind_password.encode().hex() in r["message"] for r in received)


def test_hostile_ldap_servers_cannot_outlast_the_deadline(
    lab: Lab, ad_lab: ad.Directory, tmp_path: Path
) -> None:
    """One announces a 1 GiB reply and drips it, one drips a short reply for a minute: the
    run ends at its deadline (here shorter than the probe timeout), with the announced size
    in the result, and writes its report."""
    a = ADDRESSES
    deadline = 3
    config = write(tmp_path, f"""
defaults: {{timeout: 10, retries: 1, deadline: {deadline}}}
sites:
  - name: hostile-ldap
    resolvers: [{a['dnsmasq']}]
    ad: {{domain: corp.example, kdcs: [{a['huge_ldap']}, {a['drip_ldap']}]}}
""")
    clock = time.monotonic()
    code, document = survey(lab, config, "--check", "AD-LDAP-ROOTDSE")
    assert time.monotonic() - clock < deadline + 5  # start-up included; it held 60 s before
    results = {r["target"]: r for r in document["results"]}
    assert {t: r["status"] for t, r in results.items()} == {
        a["huge_ldap"]: "error", a["drip_ldap"]: "error"}
    assert "1073741824 bytes" in results[a["huge_ldap"]]["message"]
    assert "deadline" in results[a["drip_ldap"]]["message"]
    assert code == 3


def test_the_password_appears_in_no_output(
    ad_run: tuple[int, dict[str, Any], Path], ad_lab: ad.Directory
) -> None:
    _, _, out = ad_run
    written = {p.name: p.read_text() for p in (*out.iterdir(), out.parent / "stdout.txt")}
    assert {"amt-preflight.json", "amt-preflight.html", "stdout.txt"} <= set(written)
    for name, text in written.items():
        assert ad_lab.bind_password not in text, name
        assert WRONG_PASSWORD not in text, name
    assert "$AMT_BIND_PASSWORD" in written["amt-preflight.json"]  # where it came from


def test_html_shows_each_kdc_and_dc_with_its_clock_offset(
    ad_run: tuple[int, dict[str, Any], Path]
) -> None:
    _, _, out = ad_run
    html = (out / "amt-preflight.html").read_text()
    section = html[html.index('<section class="ad"'):]
    section = section[:section.index("</section>")]
    assert ADDRESSES["skewed_kdc"] in section and "+600." in section
    assert "dc01.corp.example" in section and "DC=corp,DC=example" in section
