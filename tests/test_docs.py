"""docs/checks.md is the catalogue as the tool knows it: regenerate it with
`amt-preflight checks --markdown > docs/checks.md` when a check changes."""

from __future__ import annotations

from pathlib import Path

from amt_preflight.catalogue import markdown, target_name
from amt_preflight.checks import catalogue

DOC = Path(__file__).resolve().parents[1] / "docs" / "checks.md"


def test_docs_checks_md_is_the_catalogue() -> None:
    assert DOC.read_text() == markdown(catalogue())


def test_target_names_follow_the_contract() -> None:
    assert target_name("DHCP-OPT15-MATCH").startswith("the answering server's address")
    assert target_name("DHCP-OPT81-ACCEPTED") == "the interface name"
    assert target_name("CERT-ROOT-TRUSTED") == "the domain"
    assert target_name("SNMP-IF-UP") == "host/interface"


def test_every_check_id_is_a_literal_where_it_is_defined() -> None:
    """`git grep 'HS-CONNECT-BACK'` finds its definition: the ID is a literal in @check."""
    sources = "".join(p.read_text() for p in (DOC.parents[1] / "checks").glob("*.py"))
    for spec in catalogue():
        assert f'    id="{spec.id}",' in sources, spec.id
