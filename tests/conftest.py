"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from amt_preflight.catalogue import CheckSpec
from amt_preflight.config import SiteConfig
from amt_preflight.model import Finding, Status
from amt_preflight.observations import SiteView
from lab import Lab, ad, dhcp

_judge = CheckSpec.judge


def _tagged_judge(spec: CheckSpec, site: SiteConfig, view: SiteView) -> list[Finding]:
    """The contract, held wherever a test judges (unit tests call `judge`, and so does the
    engine in the lab and CLI tests): every finding that is not a plain pass carries a
    reason tag, declared (judge itself checks that)."""
    findings = _judge(spec, site, view)
    untagged = [f for f in findings if f.status is not Status.PASS and f.reason is None]
    assert not untagged, (f"{spec.id} gave {untagged[0].status.value} without a reason tag: "
                          f"{untagged[0].message}")
    return findings


@pytest.fixture(autouse=True)
def every_finding_is_tagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CheckSpec, "judge", _tagged_judge)


def _need_root() -> None:
    if os.geteuid() != 0:
        reason = "the lab network needs root (network namespaces, DNS servers on port 53)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must run the lab tests", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The lab network, started once per test session. Needs root; CI must have it."""
    _need_root()
    with Lab.start() as started:
        yield started


@pytest.fixture(scope="session")
def dhcp_lab(lab: Lab) -> Lab:
    """The session's lab with the DHCP scenarios added (a segment each; dnsmasq, Kea, a
    ping-checking dnsmasq, a hostile server), once, only for the tests that ask for it."""
    dhcp.start(lab)
    return lab


@pytest.fixture(scope="session")
def ad_lab(lab: Lab) -> ad.Directory:
    """The lab's AD domain (Samba), MIT KDCs, the rootDSE impostor and the hostile KDCs,
    added to the session's lab once: provisioning Samba costs about 4 s, so only the tests
    that ask for this fixture pay it, and only once. They stop with the lab."""
    return ad.start(lab)


@pytest.fixture
def folder() -> Iterator[Path]:
    """A test folder a service user (nobody) can reach: pytest's tmp_path is root's alone."""
    made = Path(tempfile.mkdtemp(prefix="amt-preflight-test-"))
    made.chmod(0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)
