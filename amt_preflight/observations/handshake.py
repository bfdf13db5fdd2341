"""Handshake observations: a hello to the provisioning server and the connect-back it
brought to the synthetic AMT endpoint."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from amt_preflight.observations.base import Outcome, clipped
from amt_preflight.observations.cert import CertificateFacts
from amt_preflight.observations.dns import normal_name
from amt_preflight.typed import record


class HandshakeKind(StrEnum):
    PKI = "pki"  # a version 3 hello; the server answers with mutual TLS and its chain
    PSK = "psk"  # a version 2 hello with the PID; the server answers with TLS-PSK


class HelloClose(StrEnum):
    """How the provisioning server ended the hello connection after our half-close."""

    CLEAN = "clean"  # it closed its side and sent nothing, as a device expects
    RESET = "reset"  # it reset the connection
    ANSWERED = "answered"  # it sent bytes back: a hello gets no answer
    HELD_OPEN = "held-open"  # it did not close within the probe timeout


class ConnectBackOutcome(StrEnum):
    HANDSHAKE = "handshake"  # TLS completed: a client chain (PKI) or the pre-shared key (PSK)
    NO_CONNECTION = "no-connection"  # nothing connected within connect_back_timeout
    NOT_TLS = "not-tls"  # a connection whose first bytes are not a TLS handshake
    TLS_FAILED = "tls-failed"  # TLS began and failed: no client certificate, wrong key, ...
    STALLED = "stalled"  # a connection whose handshake did not finish within the timeout


@record
class AnnouncedHash:
    """One root hash a hello announced, and the hash list entry it came from."""

    algorithm: str  # "sha1", "sha256", "sha384"
    value: str  # lower-case hex
    label: str  # "Go Daddy Class 2 CA (built-in list for AMT 11 and later ...)"

    def to_evidence(self) -> dict[str, str]:
        return {"type": self.algorithm, "hash": self.value, "entry": self.label}


@record
class HandshakeEvent:
    at_ms: float  # since the attempt started
    event: str

    def to_evidence(self) -> dict[str, Any]:
        return {"at_ms": round(self.at_ms, 1), "event": self.event}


@record
class ConnectBack:
    """What reached the synthetic AMT endpoint in answer to one hello."""

    outcome: ConnectBackOutcome
    peer: str = ""  # address:port the connection came from
    after_ms: float | None = None  # from the hello leaving to the handshake's end (or failure)
    protocol: str = ""  # "TLSv1.3"
    cipher: str = ""
    chain: tuple[CertificateFacts, ...] = ()  # as presented, leaf first; at most MAX_PRESENTED
    chain_length: int = 0  # certificates presented, described or not
    chain_problem: str = ""  # why a presented certificate could not be read
    psk_identity_matched: bool | None = None  # PSK: the server's identity was the PID
    received: str = ""  # NOT_TLS: a hex excerpt of what came instead
    offered: str = ""  # a failed handshake: the versions and suites the server offered
    detail: str = ""

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"outcome": self.outcome.value}
        if self.peer:
            doc["peer"] = self.peer
        if self.after_ms is not None:
            doc["hello_to_handshake_ms"] = round(self.after_ms, 1)
        if self.protocol:
            doc.update(protocol=self.protocol, cipher=self.cipher)
        if self.chain_length:
            doc["presented_chain"] = [c.to_evidence() for c in self.chain]
            doc["chain_length"] = self.chain_length
            if self.chain_length > len(self.chain):
                doc["certificates_not_shown"] = self.chain_length - len(self.chain)
        if self.chain_problem:
            doc["chain_problem"] = clipped(self.chain_problem, 500)
        if self.psk_identity_matched is not None:
            doc["psk_identity_was_the_pid"] = self.psk_identity_matched
        if self.received:
            doc["received"] = self.received
        if self.offered:
            doc["server_offered"] = clipped(self.offered, 1000)
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        return doc


@record
class HandshakeAttempt:
    """A hello to ProvisionServer.<domain> and the connect-back to the synthetic endpoint."""

    domain: str
    kind: HandshakeKind
    provision_server: str  # the name resolved (PSK: the configured address)
    hello_port: int
    listen: str  # the synthetic AMT endpoint, ADDRESS:PORT
    profile: str = ""  # the device profile the hello stands for: "AMT 11", "AMT 15 and later"
    tls_versions: tuple[str, ...] = ()  # what the endpoint accepted in the connect-back
    cipher_suites: tuple[str, ...] = ()
    address: str = ""  # where the hello went
    hello: tuple[tuple[str, Any], ...] = ()  # the hello's fields as evidence (never the PID)
    announced: tuple[AnnouncedHash, ...] = ()  # PKI: the root hashes the hello carried
    delivered: Outcome = Outcome.NOT_OBSERVED  # ANSWER: the hello was written in one piece
    close: HelloClose | None = None
    reply: str = ""  # a hex excerpt of what the server sent back, if anything
    connect_back: ConnectBack | None = None  # None: no hello went out, nothing was awaited
    waited_s: float = 0.0  # connect_back_timeout as configured
    timeline: tuple[HandshakeEvent, ...] = ()
    error: str = ""  # why no hello was sent (no address, no endpoint, no PID/PPS)
    detail: str = ""  # how the hello connection went, in words
    started_at: float = 0.0
    elapsed_ms: float = 0.0

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "provision_server": self.provision_server,
            "address": self.address,
            "hello_port": self.hello_port,
            "listen": self.listen,
        }
        if self.profile:
            doc["profile"] = self.profile
            doc["endpoint_tls"] = {"versions": list(self.tls_versions),
                                   "cipher_suites": list(self.cipher_suites)}
        if self.hello:
            doc["hello"] = dict(self.hello)
        if self.announced:
            doc["announced_hashes"] = [h.to_evidence() for h in self.announced]
        doc["hello_delivery"] = {"outcome": self.delivered.value,
                                 "server_close": self.close.value if self.close else None}
        if self.reply:
            doc["hello_delivery"]["reply"] = self.reply
        if self.detail:
            doc["hello_delivery"]["detail"] = clipped(self.detail, 500)
        if self.connect_back is not None:
            doc["connect_back"] = self.connect_back.to_evidence()
            doc["connect_back_timeout_s"] = self.waited_s
        if self.error:
            doc["error"] = clipped(self.error, 500)
        doc["timeline"] = [e.to_evidence() for e in self.timeline]
        return doc


# Where a domain's attempts are kept (Observations.handshakes)
HandshakesKey = tuple[str, str, HandshakeKind]  # site, domain, kind


def handshakes_key(site: str, domain: str, kind: HandshakeKind) -> HandshakesKey:
    return site, normal_name(domain), kind


@record
class Handshakes:
    """The attempts of one domain and kind, kept once they all finished: one per device
    profile (PKI) or per configured provision_server address (PSK)."""

    domain: str
    kind: HandshakeKind
    attempts: tuple[HandshakeAttempt, ...]

    STORE: ClassVar[str] = "handshakes"  # kept in Observations.handshakes
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> HandshakesKey:
        return handshakes_key(site, self.domain, self.kind)
