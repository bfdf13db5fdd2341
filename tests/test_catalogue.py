"""The catalogue's index (amt_preflight.checks.INDEX) against the check modules, and what a
run imports of it."""

from __future__ import annotations

import importlib
import subprocess
import sys

from amt_preflight import checks


def test_index_names_every_check_of_every_area_in_order() -> None:
    for area, ids in checks.INDEX.items():
        module = importlib.import_module(f"amt_preflight.checks.{area}")
        assert tuple(spec.id for spec in module.CHECKS) == ids, area
    assert len(set(checks.IDS)) == len(checks.IDS)
    assert [spec.id for spec in checks.catalogue()] == list(checks.IDS)


def test_every_area_has_one_prefix_of_its_own() -> None:
    prefixes = {area: {i.split("-", 1)[0] for i in ids} for area, ids in checks.INDEX.items()}
    assert all(len(p) == 1 for p in prefixes.values()), prefixes
    assert len({p for ps in prefixes.values() for p in ps}) == len(checks.INDEX)
    assert all(checks.area_of(i) == area for area, ids in checks.INDEX.items() for i in ids)


def test_a_check_is_found_by_its_id_only() -> None:
    assert checks.spec("HS-CONNECT-BACK").id == "HS-CONNECT-BACK"
    for unknown in ("HS-NOPE", "NOPE", ""):
        try:
            checks.spec(unknown)
        except KeyError:
            continue
        raise AssertionError(f"{unknown!r} found")


def test_a_dns_survey_imports_no_other_area() -> None:
    code = (
        "import sys\n"
        "from amt_preflight import checks, engine, config\n"
        "cfg = config.parse('sites: [{name: a, resolvers: [10.0.0.1],'"
        " ' domains: [{name: x.example}]}]', __import__('pathlib').Path('c.yaml'))\n"
        "engine.select_checks(cfg, ['DNS-PROVSERVER-*', 'dns-resolver-answers'])\n"
        "import amt_preflight.probes.dns\n"
        "for area in ('checks', 'observations'):\n"
        "    print(sorted(m.rsplit('.', 1)[1] for m in sys.modules"
        " if m.startswith(f'amt_preflight.{area}.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    checks_seen, observations_seen = done.stdout.splitlines()
    assert checks_seen == "['dns']"
    # the DNS probe reads a DHCP survey's option 6 at a site without resolvers
    assert observations_seen == "['base', 'dhcp', 'dns']"
