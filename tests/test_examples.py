"""The example configs in examples/ are valid configs: every key spelt as the tool reads it,
every check ID real (a user copies them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from amt_preflight.config import load

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"real-site.yaml", "multi-site.yaml", "host-based.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_an_example_loads(path: Path) -> None:
    config = load(path)
    assert config.sites
    if path.name == "host-based.yaml":
        assert {s.amt.flow for s in config.sites} == {"host-based"}
