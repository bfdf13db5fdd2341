"""The handshake section: per site and domain, and per device profile (one hello each), the
timeline from the hello to the connect-back, the hello that was sent, the TLS the synthetic
device spoke, the chain the server presented and each CERT-* rule's verdict on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amt_preflight.model import Result, Status

from .certificates import Certificate, certificate
from .common import Count, as_list, as_map, by_target, count, maps, text, texts, truthy_text


class Exchanges:
    """Evidence of HS-CONNECT-BACK (a PKI hello, mutual TLS) and HS-TLS-PSK (a PSK hello),
    written by checks/handshake.py (connect_back, tls_psk, _per_profile): one attempt per
    device profile, each `HandshakeAttempt.to_evidence()` of
    amt_preflight/observations/handshake.py with its profile and likely causes."""

    PKI = "HS-CONNECT-BACK"
    PSK = "HS-TLS-PSK"
    ATTEMPTS = "attempts"  # each of AttemptKeys


# What each of the two hellos is, as a heading says it.
KINDS: Mapping[str, str] = {Exchanges.PKI: "PKI hello, mutual TLS",
                            Exchanges.PSK: "PSK hello, TLS-PSK"}


class AttemptKeys:
    """One hello and its connect-back: `HandshakeAttempt.to_evidence()`
    (amt_preflight/observations/handshake.py) and checks/handshake.py's keys."""

    PROFILE = "profile"  # "AMT 11", "AMT 15 and later"
    PROVISION_SERVER = "provision_server"
    ADDRESS = "address"
    HELLO_PORT = "hello_port"
    LISTEN = "listen"  # the synthetic AMT endpoint
    ENDPOINT_TLS = "endpoint_tls"  # {versions, cipher_suites}: what the endpoint spoke
    VERSIONS = "versions"
    CIPHER_SUITES = "cipher_suites"
    HELLO = "hello"  # the hello's fields: the four below
    DEVICE_UUID = "device_uuid"
    VERSION = "version"
    KIND = "kind"
    BYTES = "bytes"
    ANNOUNCED_HASHES = "announced_hashes"
    HELLO_DELIVERY = "hello_delivery"  # {server_close, ...}
    SERVER_CLOSE = "server_close"
    CONNECT_BACK = "connect_back"  # `ConnectBack.to_evidence()`: ConnectBackKeys
    TIMELINE = "timeline"  # each {at_ms, event}
    AT_MS = "at_ms"
    EVENT = "event"
    LIKELY_CAUSES = "likely_causes"  # checks/handshake.py: the likeliest first


class ConnectBackKeys:
    """What reached the synthetic endpoint: `ConnectBack.to_evidence()` of
    amt_preflight/observations/handshake.py."""

    OUTCOME = "outcome"
    PEER = "peer"
    HELLO_TO_HANDSHAKE_MS = "hello_to_handshake_ms"
    PROTOCOL = "protocol"
    CIPHER = "cipher"
    SERVER_OFFERED = "server_offered"
    PRESENTED_CHAIN = "presented_chain"  # each a certificate (certificates.CertificateKeys)
    NOT_SHOWN = "certificates_not_shown"


class PresentedChain:
    """Evidence of HS-PRESENTED-CHAIN, written by checks/handshake.py (presented_chain)."""

    CHECK = "HS-PRESENTED-CHAIN"
    PROFILES = "profiles"  # each {profile, rules}: the rules run on that profile's chain
    PROFILE = "profile"
    RULES = "rules"  # each {check, status, message}
    RULE_CHECK = "check"
    RULE_STATUS = "status"
    RULE_MESSAGE = "message"


@dataclass(frozen=True)
class Hello:
    version: str
    kind: str
    bytes: str
    announced_hashes: int  # root hashes the hello carried
    server_close: str  # how the server closed the hello connection; "": not known


@dataclass(frozen=True)
class ConnectBack:
    outcome: str
    peer: str  # "": no connection came
    hello_to_handshake_ms: str | None
    protocol: str  # "": no TLS
    cipher: str
    server_offered: str


@dataclass(frozen=True)
class TimelineEvent:
    at_ms: str
    event: str


@dataclass(frozen=True)
class Rule:
    """A CERT-* rule's verdict on the presented chain (a status as evidence says it)."""

    check: str
    status: str
    message: str


@dataclass(frozen=True)
class Attempt:
    """One hello (one device profile) and what came back."""

    title: str  # the profile, else "Hello"
    provision_server: str
    address: str
    hello_port: str
    device_uuid: str
    listen: str
    endpoint_versions: Sequence[str] | None  # None: not recorded
    endpoint_cipher_suites: Sequence[str]
    hello: Hello | None  # None: no hello was sent
    connect_back: ConnectBack | None  # None: nothing was awaited
    timeline: Sequence[TimelineEvent]
    presented: Sequence[Certificate]  # leaf first
    presented_not_shown: Count | None
    rules: Sequence[Sequence[Rule]]  # HS-PRESENTED-CHAIN's verdicts on this profile's chain
    likely_causes: Sequence[str]


@dataclass(frozen=True)
class Exchange:
    """An HS-CONNECT-BACK or HS-TLS-PSK result with its attempts."""

    site: str
    target: str
    check: str
    kind: str  # "PKI hello, mutual TLS" or "PSK hello, TLS-PSK"
    status: Status
    message: str
    attempts: Sequence[Attempt]


@dataclass(frozen=True)
class HandshakeView:
    exchanges: Sequence[Exchange]


def _text(doc: Mapping[str, Any], key: str) -> str:
    return text(doc.get(key))


def _hello(a: Mapping[str, Any]) -> Hello | None:
    hello = as_map(a.get(AttemptKeys.HELLO))
    if not hello:
        return None
    k = AttemptKeys
    return Hello(_text(hello, k.VERSION), _text(hello, k.KIND), _text(hello, k.BYTES),
                 len(as_list(a.get(k.ANNOUNCED_HASHES))),
                 truthy_text(as_map(a.get(k.HELLO_DELIVERY)).get(k.SERVER_CLOSE)))


def _connect_back(back: Mapping[str, Any]) -> ConnectBack | None:
    if not back:
        return None
    k = ConnectBackKeys
    ms = back.get(k.HELLO_TO_HANDSHAKE_MS)
    return ConnectBack(_text(back, k.OUTCOME), truthy_text(back.get(k.PEER)),
                       None if ms is None else text(ms), truthy_text(back.get(k.PROTOCOL)),
                       _text(back, k.CIPHER), truthy_text(back.get(k.SERVER_OFFERED)))


def _rules(verdicts: Sequence[Result], profile: object) -> list[list[Rule]]:
    """Each verdict's rules on the chain of this profile (that has any)."""
    k = PresentedChain
    tables = []
    for verdict in verdicts:
        for judged in maps(verdict.evidence.get(k.PROFILES)):
            rules = maps(judged.get(k.RULES))
            if judged.get(k.PROFILE) == profile and rules:
                tables.append([Rule(_text(rule, k.RULE_CHECK), _text(rule, k.RULE_STATUS),
                                    _text(rule, k.RULE_MESSAGE)) for rule in rules])
    return tables


def attempt(a: Mapping[str, Any], verdicts: Sequence[Result]) -> Attempt:
    k = AttemptKeys
    tls = as_map(a.get(k.ENDPOINT_TLS))
    back = as_map(a.get(k.CONNECT_BACK))
    return Attempt(
        title=truthy_text(a.get(k.PROFILE)) or "Hello",
        provision_server=_text(a, k.PROVISION_SERVER), address=_text(a, k.ADDRESS),
        hello_port=_text(a, k.HELLO_PORT),
        device_uuid=_text(as_map(a.get(k.HELLO)), k.DEVICE_UUID), listen=_text(a, k.LISTEN),
        endpoint_versions=texts(tls.get(k.VERSIONS)) if tls else None,
        endpoint_cipher_suites=texts(tls.get(k.CIPHER_SUITES)),
        hello=_hello(a), connect_back=_connect_back(back),
        timeline=[TimelineEvent(_text(e, k.AT_MS), _text(e, k.EVENT))
                  for e in maps(a.get(k.TIMELINE))],
        presented=[certificate(c) for c in maps(back.get(ConnectBackKeys.PRESENTED_CHAIN))],
        presented_not_shown=count(back.get(ConnectBackKeys.NOT_SHOWN)),
        rules=_rules(verdicts, a.get(k.PROFILE)),
        likely_causes=texts(a.get(k.LIKELY_CAUSES)),
    )


def build(results: Sequence[Result]) -> HandshakeView:
    """Every HS-CONNECT-BACK and HS-TLS-PSK result that recorded attempts, in run order;
    a connect-back with HS-PRESENTED-CHAIN's verdicts on its domain's chains."""
    index = by_target(results)
    exchanges = []
    for r in results:
        kind = KINDS.get(r.check)
        if kind is None or Exchanges.ATTEMPTS not in r.evidence:
            continue
        verdicts = [v for v in index.get((r.site, r.target), [])
                    if v.check == PresentedChain.CHECK] if r.check == Exchanges.PKI else []
        exchanges.append(Exchange(
            r.site, r.target, r.check, kind, r.status, r.message,
            [attempt(a, verdicts) for a in maps(r.evidence.get(Exchanges.ATTEMPTS))]))
    return HandshakeView(exchanges)
