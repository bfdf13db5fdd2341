"""The engine on hand-made observations: prerequisites, crashes, waivers, severities,
verdicts and exit codes exactly as CHECKS.md says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from amt_preflight import engine
from amt_preflight.catalogue import (
    CheckSpec,
    Need,
    any_target,
    check,
    evidence_target,
    host_of,
    unjudged,
)
from amt_preflight.checks import catalogue, spec
from amt_preflight.config import Config, SiteConfig
from amt_preflight.model import (
    Finding,
    Result,
    RunResult,
    Severity,
    Status,
    Verdict,
    site_verdict,
)
from amt_preflight.observations import SiteView

from .observed import R1, R2, Observed, config

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PS = "ProvisionServer.corp.example"
BASE = """
sites:
  - name: hq
    resolvers: [10.250.0.1, 10.250.0.2]
    domains:
      - {name: corp.example, provision_server: [10.250.0.10]}
"""


def evaluate(cfg: Config, observed: Observed, specs: list[CheckSpec] | None = None,
             intrusive: bool = False) -> list[Result]:
    selected = specs if specs is not None else engine.select_checks(cfg, [])
    gathered = engine.Gathered(observed.obs)
    _, results = engine.evaluate(cfg, cfg.sites, selected, gathered, intrusive, NOW)
    return results


def by_check(results: list[Result]) -> dict[str, list[Status]]:
    out: dict[str, list[Status]] = {}
    for r in results:
        out.setdefault(r.check, []).append(r.status)
    return out


def wrong_address() -> Observed:
    o = Observed()
    for r in (R1, R2):
        o.answer(r, PS, "A", ["10.250.0.99"]).answer(r, PS, "A", ["10.250.0.99"], transport="tcp")
        o.answer(r, "99.0.250.10.in-addr.arpa", "PTR", rcode="NXDOMAIN")
    return o


def test_every_selected_check_yields_a_result_even_without_targets() -> None:
    cfg = config("sites: [{name: empty, resolvers: [10.250.0.1]}]")
    results = evaluate(cfg, Observed("empty", [R1]))
    assert {r.check for r in results} == {s.id for s in catalogue()}


def test_prerequisite_failure_skips_dependents_naming_it() -> None:
    o = Observed()
    for r in (R1, R2):
        o.answer(r, PS, "A", rcode="NXDOMAIN").answer(r, PS, "A", rcode="NXDOMAIN",
                                                        transport="tcp")
    results = evaluate(config(BASE), o)
    assert by_check(results)["DNS-PROVSERVER-A"] == [Status.FAIL]
    match = next(r for r in results if r.check == "DNS-PROVSERVER-MATCH")
    assert match.status is Status.SKIPPED and match.reason == "PREREQUISITE"
    assert match.evidence["prerequisite"] == "DNS-PROVSERVER-A"
    assert match.evidence["prerequisite_targets"] == ["corp.example"]


def test_no_resolver_answering_skips_the_domain_checks() -> None:
    o = Observed()
    for r in (R1, R2):
        o.silent(r, PS, "A").silent(r, PS, "A", transport="tcp")
    results = by_check(evaluate(config(BASE), o))
    assert results["DNS-RESOLVER-ANSWERS"] == [Status.FAIL, Status.FAIL]
    assert results["DNS-PROVSERVER-A"] == [Status.SKIPPED]


def test_one_silent_resolver_does_not_skip_the_domain_checks() -> None:
    o = wrong_address().silent(R2, PS, "A").silent(R2, PS, "A", transport="tcp")
    results = by_check(evaluate(config(BASE), o))
    assert results["DNS-RESOLVER-ANSWERS"] == [Status.PASS, Status.FAIL]
    assert results["DNS-PROVSERVER-MATCH"] == [Status.FAIL]


def test_a_crashing_check_is_an_error_result() -> None:
    @check(id="TEST-CRASH", title="crashes", severity="high", needs=[],
           passes_when="never", remediation="none")
    def crash(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
        raise ZeroDivisionError("boom")
        yield  # pragma: no cover

    [result] = evaluate(config(BASE), Observed(), [crash])
    assert result.status is Status.ERROR and result.reason == "CHECK_CRASHED"
    assert "ZeroDivisionError" in result.message


# --- the check contract: requires by target, reason tags ---------------------------------


def _rules(prerequisite: dict[str, Status], dependent: list[str],
           requires: object) -> tuple[CheckSpec, CheckSpec]:
    """A prerequisite with the given status per target, and a dependent that fails every
    target it is given: what the engine makes of the pair is the contract."""

    @check(id="TEST-BASE", title="base", severity="high", needs=[], passes_when="-",
           remediation="-", reasons={"BASE_FAILS": "it fails"})
    def base(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
        for target, status in prerequisite.items():
            yield Finding(target, status, "base", reason=None if status is Status.PASS
                          else "BASE_FAILS")

    @check(id="TEST-DEPENDENT", title="dependent", severity="high", needs=[],
           passes_when="-", remediation="-", requires=requires,  # type: ignore[arg-type]
           reasons={"DEPENDENT_FAILS": "it fails"})
    def dependent_rule(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
        for target in dependent:
            yield Finding(target, Status.FAIL, "dependent", {"domain": "corp.example"},
                          reason="DEPENDENT_FAILS")

    return base, dependent_rule


def _dependent(results: list[Result]) -> dict[str, str | None]:
    return {r.target: r.reason for r in results if r.check == "TEST-DEPENDENT"}


def test_requires_maps_a_target_to_its_prerequisites_target() -> None:
    specs = _rules({"switch1": Status.FAIL, "switch2": Status.PASS},
                   ["switch1/eth0", "switch2/eth0"], {"TEST-BASE": host_of})
    results = evaluate(config(BASE), Observed(), list(specs))
    assert _dependent(results) == {"switch1/eth0": "PREREQUISITE",
                                   "switch2/eth0": "DEPENDENT_FAILS"}
    [skipped] = [r for r in results if r.target == "switch1/eth0"]
    assert skipped.status is Status.SKIPPED
    assert skipped.evidence == {"domain": "corp.example", "prerequisite": "TEST-BASE",
                                "prerequisite_targets": ["switch1"]}


def test_a_list_of_requires_means_the_same_target() -> None:
    specs = _rules({"a.example": Status.FAIL}, ["a.example", "b.example"], ["TEST-BASE"])
    assert _dependent(evaluate(config(BASE), Observed(), list(specs))) == {
        "a.example": "PREREQUISITE", "b.example": "DEPENDENT_FAILS"}


def test_any_target_blocks_only_when_the_prerequisite_passed_nowhere() -> None:
    some = _rules({R1: Status.FAIL, R2: Status.PASS}, ["corp.example"],
                  {"TEST-BASE": any_target})
    none = _rules({R1: Status.FAIL, R2: Status.ERROR}, ["corp.example"],
                  {"TEST-BASE": any_target})
    assert _dependent(evaluate(config(BASE), Observed(), list(some))) == {
        "corp.example": "DEPENDENT_FAILS"}
    assert _dependent(evaluate(config(BASE), Observed(), list(none))) == {
        "corp.example": "PREREQUISITE"}


def test_a_target_named_in_the_evidence() -> None:
    specs = _rules({"corp.example": Status.FAIL}, ["device-1"],
                   {"TEST-BASE": evidence_target("domain")})
    assert _dependent(evaluate(config(BASE), Observed(), list(specs))) == {
        "device-1": "PREREQUISITE"}


def test_a_prerequisite_not_selected_leaves_the_check_to_judge_alone() -> None:
    _, dependent_rule = _rules({"a.example": Status.FAIL}, ["a.example"], ["TEST-BASE"])
    assert _dependent(evaluate(config(BASE), Observed(), [dependent_rule])) == {
        "a.example": "DEPENDENT_FAILS"}


def test_an_undeclared_reason_tag_is_the_checks_error() -> None:
    @check(id="TEST-UNDECLARED", title="-", severity="high", needs=[], passes_when="-",
           remediation="-")
    def undeclared(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
        yield Finding("corp.example", Status.FAIL, "-", reason="NOT_DECLARED_ANYWHERE")

    @check(id="TEST-UNREQUIRED", title="-", severity="high", needs=[], passes_when="-",
           remediation="-")
    def unrequired(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
        yield unjudged("corp.example", "DNS-PROVSERVER-A", "no address")

    results = evaluate(config(BASE), Observed(), [undeclared, unrequired])
    assert [(r.status, r.reason) for r in results] == [(Status.ERROR, "CHECK_CRASHED")] * 2
    assert "NOT_DECLARED_ANYWHERE" in results[0].message
    with pytest.raises(ValueError, match="UPPER_SNAKE"):
        check(id="TEST-BAD", title="-", severity="high", needs=[], passes_when="-",
              remediation="-", reasons={"lower-case": "no"})


def test_every_check_declares_well_formed_reasons_and_known_prerequisites() -> None:
    ids = {spec.id for spec in catalogue()}
    for one in catalogue():
        assert set(one.requires) <= ids, one.id
        assert all(meaning for meaning in one.reasons.values()), one.id


def test_a_crashed_probe_is_an_error_for_its_checks() -> None:
    cfg = config(BASE)
    gathered = engine.Gathered(Observed().obs, {("hq", Need.DNS_PROVSERVER): "OSError: x"})
    _, results = engine.evaluate(cfg, cfg.sites, [spec("DNS-PROVSERVER-A")], gathered,
                                 False, NOW)
    assert [r.status for r in results] == [Status.ERROR]


def test_intrusive_check_is_skipped_unless_allowed() -> None:
    o = Observed().update("corp.example", "NOERROR")
    update = [spec("DNS-DYNUPDATE-OPEN")]
    assert [r.status for r in evaluate(config(BASE), o, update)] == [Status.SKIPPED]
    assert [r.status for r in evaluate(config(BASE), o, update, intrusive=True)] == [Status.FAIL]


def test_waiver_applies_to_fail_until_it_expires() -> None:
    live = BASE + """
waivers:
  - {check: DNS-PROVSERVER-MATCH, site: hq, target: corp.example, reason: "CHG-1", owner: dns,
     expires: 2027-01-31}
"""
    results = evaluate(config(live), wrong_address())
    match = next(r for r in results if r.check == "DNS-PROVSERVER-MATCH")
    assert match.status is Status.WAIVED and match.waiver and match.waiver.owner == "dns"

    expired = live.replace("2027-01-31", "2026-11-27")
    match = next(r for r in evaluate(config(expired), wrong_address())
                 if r.check == "DNS-PROVSERVER-MATCH")
    assert match.status is Status.FAIL and "expired_waiver" in match.evidence


def test_waiver_for_another_target_does_not_apply() -> None:
    other = BASE + "waivers: [{check: 'DNS-*', target: other.example, reason: r}]\n"
    statuses = by_check(evaluate(config(other), wrong_address()))
    assert statuses["DNS-PROVSERVER-MATCH"] == [Status.FAIL]


def test_severity_override_and_disable() -> None:
    text = BASE + "checks: {disable: [DNS-PROVSERVER-PTR], severity: {DNS-PROVSERVER-MATCH: low}}\n"
    results = evaluate(config(text), wrong_address())
    assert "DNS-PROVSERVER-PTR" not in by_check(results)
    match = next(r for r in results if r.check == "DNS-PROVSERVER-MATCH")
    assert match.severity is Severity.LOW


def test_select_checks_globs_and_unknown() -> None:
    cfg = config(BASE)
    assert [s.id for s in engine.select_checks(cfg, ["dns-provserver-*"])] == [
        "DNS-PROVSERVER-A", "DNS-PROVSERVER-MATCH", "DNS-PROVSERVER-CONSISTENT",
        "DNS-PROVSERVER-PTR"]
    with pytest.raises(engine.UsageError):
        engine.select_checks(cfg, ["NOPE-*"])
    with pytest.raises(engine.UsageError):
        engine.select_sites(cfg, ["nowhere"])


def _result(status: Status, severity: Severity) -> Result:
    return Result("X-Y", "s", "t", status, severity, "", "", {}, "", [], "", 0, "f")


@pytest.mark.parametrize(("results", "verdict"), [
    ([], Verdict.READY),
    ([_result(Status.PASS, Severity.CRITICAL)], Verdict.READY),
    ([_result(Status.FAIL, Severity.INFO)], Verdict.READY),
    ([_result(Status.FAIL, Severity.LOW)], Verdict.AT_RISK),
    ([_result(Status.FAIL, Severity.MEDIUM), _result(Status.ERROR, Severity.LOW)],
     Verdict.UNKNOWN),
    ([_result(Status.FAIL, Severity.HIGH), _result(Status.ERROR, Severity.LOW)],
     Verdict.NOT_READY),
    ([_result(Status.WAIVED, Severity.CRITICAL)], Verdict.READY),
    ([_result(Status.SKIPPED, Severity.CRITICAL)], Verdict.READY),
])
def test_site_verdict(results: list[Result], verdict: Verdict) -> None:
    assert site_verdict(results) is verdict


@pytest.mark.parametrize(("verdicts", "code"), [
    (["ready"], 0), (["ready", "at-risk"], 1), (["unknown", "at-risk"], 3),
    (["not-ready", "unknown"], 2), (["ready", "not-ready"], 2),
])
def test_exit_code_worst_site_wins(verdicts: list[str], code: int) -> None:
    from amt_preflight.model import RunInfo, SiteSummary

    sites = [SiteSummary(f"s{i}", [], Verdict(v), {}) for i, v in enumerate(verdicts)]
    assert RunResult(RunInfo("i", "", "", "", ""), sites, []).exit_code == code


def test_fingerprint_is_stable_and_target_specific() -> None:
    a = evaluate(config(BASE), wrong_address())
    b = evaluate(config(BASE), wrong_address())
    assert [r.fingerprint for r in a] == [r.fingerprint for r in b]
    assert len({r.fingerprint for r in a}) == len(a)  # one result per check and target
