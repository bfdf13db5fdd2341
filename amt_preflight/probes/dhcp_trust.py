"""Which DHCP answers a site trusts, and what the rest of the survey takes from them: the
option 15 its checks judge, and the option 6 resolvers it asks. A rogue server should not
decide either when an allowed one answered."""

from __future__ import annotations

from collections.abc import Iterable

from amt_preflight.observations.dhcp import DhcpAnswer, DhcpSurvey, Option15, option_text
from amt_preflight.observations.dns import ResolverTrust


def trusted_answers(survey: DhcpSurvey, allowed: Iterable[str]) -> list[DhcpAnswer]:
    """The answers of the site's allowed servers when any answered, else every answer: a
    rogue server should not decide what the rest of the survey judges against."""
    allowed = set(allowed)
    trusted = [a for a in survey.answers if a.server in allowed]
    return trusted or list(survey.answers)


def option15_of(survey: DhcpSurvey, allowed: Iterable[str]) -> Option15 | None:
    for answer in trusted_answers(survey, allowed):
        if answer.domain_name is not None:
            return Option15(option_text(answer.domain_name), answer.server, survey.interface)
    return None


def option6_of(survey: DhcpSurvey, allowed: Iterable[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for answer in trusted_answers(survey, allowed):
        found.update(dict.fromkeys(answer.dns_servers))
    return tuple(found)


def option6_trust(survey: DhcpSurvey, allowed: Iterable[str]) -> ResolverTrust:
    """Whom option6_of's resolvers come from: trusted_answers() falls back to every answer
    when no allowed server answered, so the fallback must be told apart here."""
    allowed = set(allowed)
    if not allowed:
        return ResolverTrust.UNCHECKED
    if any(a.server in allowed for a in survey.answers):
        return ResolverTrust.TRUSTED
    return ResolverTrust.ROGUE
