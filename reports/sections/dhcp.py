"""The DHCP section: every server that answered the DHCP probe, per site and interface, with
each of its answers and their options (decoded and in hex), whether it is allowed or rogue,
and every DHCP- verdict on it.

Read from the evidence of DHCP-SERVER-ANSWERS (every answer of the survey) and, where that
check did not run, of the per-server DHCP results (their `dhcp_server`). Every value came
from the network: the template escapes all of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amt_preflight.model import NO_TARGET, Result, Status

from .common import (
    CheckLine,
    Count,
    amount,
    as_map,
    by_target,
    count,
    maps,
    text,
    texts,
    truthy_text,
)

AREA = "DHCP-"  # the checks whose verdicts a survey's or a server's table lists


class ServerAnswers:
    """Evidence of DHCP-SERVER-ANSWERS, written by checks/dhcp.py (server_answers): the
    survey of one interface, `DhcpSurvey.to_evidence()` of amt_preflight/observations/dhcp.py,
    and `servers`."""

    CHECK = "DHCP-SERVER-ANSWERS"
    SERVERS = "servers"  # server -> its answers (AnswerKeys)
    WINDOW = "window_s"
    CLIENT_MAC = "client_mac"
    SENT = "sent"  # what the probe sent, in words
    MALFORMED = "malformed"  # answers that could not be decoded
    IGNORED = "ignored"  # why -> how many DHCP packets not for the probe
    DROPPED = "dropped"  # answers beyond the number kept (a flood)


class PerServer:
    """Evidence of each per-server DHCP- check (DHCP-OPT15-MATCH and the others judged per
    server), written by checks/dhcp.py (_finding)."""

    KEY = "dhcp_server"  # an object of the three keys below
    INTERFACE = "interface"
    SERVER = "server"
    ANSWERS = "answers"  # its answers (AnswerKeys)


class ServerAllowed:
    """DHCP-SERVER-ALLOWED, checks/dhcp.py (server_allowed): only its status is read."""

    CHECK = "DHCP-SERVER-ALLOWED"


class AnswerKeys:
    """One answer of a server: `DhcpAnswer.to_evidence()` of
    amt_preflight/observations/dhcp.py, in the evidence of the DHCP- checks above."""

    MESSAGE = "message"  # "OFFER", "ACK"
    ANSWERING = "answering"  # "DISCOVER", "INFORM"
    AFTER_MS = "after_ms"
    SOURCE = "source"
    SOURCE_MAC = "source_mac"
    RELAY = "relay"
    OFFERED_ADDRESS = "offered_address"
    PROBLEMS = "problems"
    OPTIONS = "options"  # each an object of OptionKeys


class OptionKeys:
    """One option of an answer: `option_evidence()` of amt_preflight/observations/dhcp.py."""

    CODE = "code"
    NAME = "name"
    VALUE = "value"  # decoded: text, a list of addresses, a number; missing if not decoded
    HEX = "hex"


@dataclass(frozen=True)
class Option:
    code: str
    name: str
    value: str | None  # None: not decoded
    hex: str


@dataclass(frozen=True)
class Answer:
    message: str
    answering: str
    after_ms: str
    source: str
    source_mac: str
    relay: str  # "": not relayed
    offered_address: str  # "": none offered
    problems: Sequence[str]
    options: Sequence[Option]


@dataclass(frozen=True)
class Survey:
    """One interface surveyed (DHCP-SERVER-ANSWERS)."""

    site: str
    interface: str
    window_s: str
    client_mac: str
    checks: Sequence[CheckLine]  # the DHCP- verdicts on the interface
    sent: Sequence[str]
    malformed: Sequence[str]
    ignored: Sequence[tuple[str, Count]]  # why, how many
    dropped: Count | None


@dataclass(frozen=True)
class Server:
    """One server that answered at a site."""

    site: str
    interface: str  # "": not known
    server: str  # its server identifier (option 54), else the answer's source address
    allowed: Sequence[str]  # DHCP-SERVER-ALLOWED's word: "allowed", "rogue" or "not judged"
    checks: Sequence[CheckLine]  # the DHCP- verdicts on the server
    answers: Sequence[Answer]


@dataclass(frozen=True)
class DhcpView:
    surveys: Sequence[Survey]
    servers: Sequence[Server]  # each once per site: the surveys' first, in run order

    @property
    def shown(self) -> bool:
        return bool(self.surveys or self.servers)


def _option_value(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(text(item) for item in value)
    return text(value)


def option(doc: Mapping[str, Any]) -> Option:
    return Option(text(doc.get(OptionKeys.CODE)), text(doc.get(OptionKeys.NAME)),
                  _option_value(doc.get(OptionKeys.VALUE)), text(doc.get(OptionKeys.HEX)))


def answer(doc: Mapping[str, Any]) -> Answer:
    return Answer(
        message=text(doc.get(AnswerKeys.MESSAGE)),
        answering=text(doc.get(AnswerKeys.ANSWERING)),
        after_ms=text(doc.get(AnswerKeys.AFTER_MS)),
        source=text(doc.get(AnswerKeys.SOURCE)),
        source_mac=text(doc.get(AnswerKeys.SOURCE_MAC)),
        relay=truthy_text(doc.get(AnswerKeys.RELAY)),
        offered_address=truthy_text(doc.get(AnswerKeys.OFFERED_ADDRESS)),
        problems=texts(doc.get(AnswerKeys.PROBLEMS)),
        options=[option(o) for o in maps(doc.get(AnswerKeys.OPTIONS))],
    )


def _allowed(status: Status) -> str:
    if status is Status.PASS:
        return "allowed"
    return "rogue" if status in (Status.FAIL, Status.WAIVED) else "not judged"


def build(results: Sequence[Result]) -> DhcpView:
    """The surveys (DHCP-SERVER-ANSWERS with an interface), then every server: those of the
    surveys, then those only a per-server result names, each once per site."""
    index = by_target(results)

    def checks(site: str, target: str) -> list[CheckLine]:
        return [CheckLine.of(v) for v in index.get((site, target), [])
                if v.check.startswith(AREA)]

    surveys: list[Survey] = []
    found: list[tuple[str, str, str, list[Answer]]] = []  # site, interface, server, answers
    for r in results:
        if r.check != ServerAnswers.CHECK or r.target == NO_TARGET:
            continue
        ev = r.evidence
        surveys.append(Survey(
            site=r.site, interface=r.target, window_s=text(ev.get(ServerAnswers.WINDOW)),
            client_mac=text(ev.get(ServerAnswers.CLIENT_MAC)), checks=checks(r.site, r.target),
            sent=texts(ev.get(ServerAnswers.SENT)),
            malformed=texts(ev.get(ServerAnswers.MALFORMED)),
            ignored=[(text(why), amount(n))
                     for why, n in as_map(ev.get(ServerAnswers.IGNORED)).items()],
            dropped=count(ev.get(ServerAnswers.DROPPED)),
        ))
        for server, answers in as_map(ev.get(ServerAnswers.SERVERS)).items():
            found.append((r.site, r.target, text(server), [answer(a) for a in maps(answers)]))
    seen = {(site, server) for site, _, server, _ in found}
    for r in results:
        shown = as_map(r.evidence.get(PerServer.KEY)) if r.check.startswith(AREA) else {}
        named = shown.get(PerServer.SERVER)
        if isinstance(named, str) and (r.site, named) not in seen:
            seen.add((r.site, named))
            found.append((r.site, text(shown.get(PerServer.INTERFACE)), named,
                          [answer(a) for a in maps(shown.get(PerServer.ANSWERS))]))
    servers = [
        Server(site, interface, server,
               [_allowed(v.status) for v in index.get((site, server), [])
                if v.check == ServerAllowed.CHECK],
               checks(site, server), answers)
        for site, interface, server, answers in found
    ]
    return DhcpView(surveys, servers)
