"""What a check is: its metadata beside one pure function, and the observations it needs.

The list of all checks is `amt_preflight.checks.CATALOGUE`: explicit, greppable, in the
order reports show them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from amt_preflight.model import Finding, Severity

if TYPE_CHECKING:
    from amt_preflight.config import SiteConfig
    from amt_preflight.observations import SiteView


class Need(StrEnum):
    """A set of observations a check reads; the engine runs the gatherer behind each once
    per site, and only for the needs of the selected checks."""

    DNS_RESOLVERS = "dns.resolvers"  # each resolver asked over UDP and TCP
    DNS_PROVSERVER = "dns.provserver"  # ProvisionServer.<domain> A at each resolver
    DNS_PROVSERVER_PTR = "dns.provserver_ptr"  # PTR of every address found for it
    DNS_AD_SRV = "dns.ad_srv"  # the AD SRV records and their targets' A records
    DNS_DYNUPDATE = "dns.dynupdate"  # an unsigned RFC 2136 update of a throw-away name


CheckFunction = Callable[["SiteConfig", "SiteView"], Iterable[Finding]]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    severity: Severity
    needs: tuple[Need, ...]
    passes_when: str  # the rule, in the words of CHECKS.md
    remediation: str
    references: tuple[str, ...]
    function: CheckFunction
    # Checks whose failure for the same target (or, for a check about other targets,
    # for every target) makes this one `skipped`, naming the cause.
    requires: tuple[str, ...] = ()
    intrusive: bool = False

    @property
    def area(self) -> str:
        return self.id.split("-", 1)[0]


def check(
    *,
    id: str,
    title: str,
    severity: str,
    needs: Iterable[Need],
    passes_when: str,
    remediation: str,
    references: Iterable[str] = (),
    requires: Iterable[str] = (),
    intrusive: bool = False,
) -> Callable[[CheckFunction], CheckSpec]:
    """Attach metadata to a check function; the result goes into a module's CHECKS list."""

    def wrap(function: CheckFunction) -> CheckSpec:
        return CheckSpec(
            id=id,
            title=title,
            severity=Severity(severity),
            needs=tuple(needs),
            passes_when=passes_when,
            remediation=remediation,
            references=tuple(references),
            function=function,
            requires=tuple(requires),
            intrusive=intrusive,
        )

    return wrap
