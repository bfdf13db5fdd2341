"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from amt_preflight.lab import Lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The lab network, started once per test session. Needs root; CI must have it."""
    if os.geteuid() != 0:
        reason = "the lab network needs root (network namespaces, DNS servers on port 53)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must run the lab tests", pytrace=False)
        pytest.skip(reason)
    with Lab.start() as started:
        yield started
