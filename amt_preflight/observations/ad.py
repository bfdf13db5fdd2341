"""AD and Kerberos observations: the site's KDCs and DCs, AS-REQ replies, rootDSEs and the
service account's bind; with the Kerberos and LDAP constants probes and checks share."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from amt_preflight.observations.base import Outcome, Transport, clipped
from amt_preflight.observations.dns import normal_name
from amt_preflight.typed import record

KDC_PORT = 88
LDAP_PORT = 389

# The AS-REQ asks for the realm's own KDC principal, never for a user (no user enumeration).
# AD keeps it as the account `krbtgt`; MIT and Heimdal realms outside AD as `krbtgt/REALM`.
AD_KDC_PRINCIPAL = "krbtgt"
# KRB-ERROR codes (RFC 4120, 7.5.9) the AD checks tell apart.
KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
# The KDC found the client principal in the asked realm's database, so it serves that realm:
# PREAUTH_REQUIRED, CLIENT_REVOKED (AD's disabled krbtgt account), KEY_EXPIRED, ETYPE_NOSUPP.
PRINCIPAL_FOUND = frozenset({25, 18, 23, 14})
# A principal lookup took place: the KDC speaks Kerberos for the asked realm's name.
LOOKUP_ANSWERS = PRINCIPAL_FOUND | {KDC_ERR_C_PRINCIPAL_UNKNOWN}


def tgs_principal(realm: str) -> str:
    """The ticket-granting service principal of a realm, as MIT and Heimdal name it."""
    return f"krbtgt/{realm}"


def naming_context(domain: str) -> str:
    """The LDAP naming context of an AD domain: corp.example -> DC=corp,DC=example."""
    return ",".join(f"DC={label}" for label in normal_name(domain).split("."))


def same_dn(a: str, b: str) -> bool:
    """Distinguished names compare case-insensitively, spaces around separators ignored.
    Split and strip, no regex: linear in the length of a DC's untrusted text."""
    def canonical(dn: str) -> str:
        return ",".join("=".join(part.strip() for part in rdn.split("="))
                        for rdn in dn.split(",")).lower()

    return canonical(a) == canonical(b)


def _epoch_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _offset(remote: float | None, sent_at: float, rtt_ms: float) -> float | None:
    """A server's clock minus this host's, taken halfway through the round trip."""
    return None if remote is None else remote - (sent_at + rtt_ms / 2000)


class AdRole(StrEnum):
    KDC = "KDC"  # asked AS-REQs: ad.kdcs, else the _kerberos SRV targets
    DC = "DC"  # asked over LDAP: ad.kdcs (in AD every KDC is a DC), else the _ldap SRV targets


# Where each is kept (Observations): KDCs and DCs by site and role, binds by site and DC
# address (each site binds with its own account); AS-REQ replies and rootDSEs are shared by
# the sites, kept by what was asked (KerberosQuestion, the DC's address)
AdServersKey = tuple[str, AdRole]  # site, role
LdapBindKey = tuple[str, str]  # site, address


def ad_servers_key(site: str, role: AdRole) -> AdServersKey:
    return site, role


def ldap_bind_key(site: str, address: str) -> LdapBindKey:
    return site, address


@record
class AdServer:
    """One KDC or domain controller: one target of the AD checks' results."""

    target: str  # as configured in ad.kdcs, else the address an SRV target resolves to
    addresses: tuple[str, ...]  # where it is asked (a configured name may resolve to several)
    host_names: tuple[str, ...] = ()  # the SRV targets, or the configured name, naming it
    detail: str = ""  # why it has no address

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"target": self.target, "addresses": list(self.addresses)}
        if self.host_names:
            doc["host_names"] = list(self.host_names)
        if self.detail:
            doc["detail"] = self.detail
        return doc


@record
class AdServers:
    """The KDCs or DCs of a site's AD domain, and where the list came from."""

    role: AdRole
    servers: tuple[AdServer, ...]
    source: str  # "ad.kdcs", or the SRV records asked and the resolvers asked

    STORE: ClassVar[str] = "ad_servers"  # kept in Observations.ad_servers
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> AdServersKey:
        return ad_servers_key(site, self.role)


@record
class KerberosQuestion:
    kdc: str  # address
    realm: str
    principal: str  # the client principal: AD_KDC_PRINCIPAL or tgs_principal(realm)
    transport: Transport


@record
class KerberosReply:
    """What one AS-REQ without pre-authentication got, after every attempt."""

    question: KerberosQuestion
    outcome: Outcome
    message: str = ""  # "KRB-ERROR" or "AS-REP" when answered
    error_code: int | None = None
    error_name: str = ""  # "KDC_ERR_PREAUTH_REQUIRED"
    realm: str = ""  # the realm the reply carries
    e_text: str = ""
    kdc_time: float | None = None  # the KDC's clock (stime + susec), epoch seconds
    sent_at: float = 0.0  # this host's clock when the answered request left, epoch seconds
    rtt_ms: float = 0.0  # round trip of the answered attempt
    attempts: int = 0
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""  # why it is not an answer; for MALFORMED, a hex excerpt of what came

    @classmethod
    def not_observed(cls, question: KerberosQuestion) -> KerberosReply:
        return cls(question, Outcome.NOT_OBSERVED, detail="never asked")

    STORE: ClassVar[str] = "kerberos"  # kept in Observations.kerberos
    SHARED: ClassVar[Literal[True]] = True  # by the sites

    def key(self) -> KerberosQuestion:
        return self.question

    @property
    def krb_error(self) -> bool:
        return self.outcome.answered and self.message == "KRB-ERROR"

    @property
    def clock_offset(self) -> float | None:
        """The KDC's clock minus this host's, in seconds."""
        return _offset(self.kdc_time, self.sent_at, self.rtt_ms)

    def proves(self, realm: str) -> bool:
        """The reply shows the KDC holds `realm`: it found the asked principal there."""
        return self.krb_error and self.error_code in PRINCIPAL_FOUND and self.realm == realm

    def said(self) -> str:
        """What came back, in a few words: "KDC_ERR_PREAUTH_REQUIRED (25) in CORP.EXAMPLE"."""
        if self.krb_error:
            return f"{self.error_name or 'error'} ({self.error_code}) in {clipped(self.realm, 80)}"
        if self.outcome.answered:
            return f"{self.message} in {clipped(self.realm, 80)}"
        return self.outcome.value + (f" ({clipped(self.detail, 200)})" if self.detail else "")

    def describe(self) -> str:
        q = self.question
        return f"{q.principal}@{q.realm} over {q.transport.upper()} to {q.kdc}: {self.said()}"

    def to_evidence(self) -> dict[str, Any]:
        q = self.question
        doc: dict[str, Any] = {
            "kdc": q.kdc, "transport": q.transport, "realm": q.realm,
            "principal": q.principal, "outcome": self.outcome.value,
        }
        if self.outcome.answered:
            doc["message"] = self.message
            doc["reply_realm"] = clipped(self.realm)
            if self.error_code is not None:
                doc.update(error_code=self.error_code, error=self.error_name)
            if self.e_text:
                doc["e_text"] = clipped(self.e_text)
            if self.kdc_time is not None:
                doc["kdc_time"] = _epoch_iso(self.kdc_time)
                doc["local_time"] = _epoch_iso(self.sent_at)
                offset = self.clock_offset
                doc["clock_offset_s"] = None if offset is None else round(offset, 3)
            doc["rtt_ms"] = round(self.rtt_ms, 1)
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        doc["attempts"] = self.attempts
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc


# Characters kept of one value a DC sends (rootDSE attributes, the OU's objectClass): they
# are untrusted, and a real one is far shorter.
LDAP_VALUE_LIMIT = 1024


@record
class RootDse:
    """A DC's rootDSE, read anonymously over LDAP (each value at most LDAP_VALUE_LIMIT
    characters)."""

    address: str
    outcome: Outcome = Outcome.NOT_OBSERVED  # ANSWER: the server answered the search
    result: str = ""  # LDAP result of the search: "success", "insufficientAccessRights"
    default_naming_context: str = ""
    dns_host_name: str = ""
    ldap_service_name: str = ""
    naming_contexts: tuple[str, ...] = ()
    dc_time: float | None = None  # currentTime (AD's, whole seconds), epoch seconds
    sent_at: float = 0.0
    rtt_ms: float = 0.0
    attempts: int = 0
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""

    @classmethod
    def not_observed(cls, address: str) -> RootDse:
        return cls(address, detail="never read")

    STORE: ClassVar[str] = "root_dse"  # kept in Observations.root_dse
    SHARED: ClassVar[Literal[True]] = True  # by the sites

    def key(self) -> str:
        return self.address

    @property
    def clock_offset(self) -> float | None:
        """The DC's clock minus this host's, in seconds (to about one second)."""
        return _offset(self.dc_time, self.sent_at, self.rtt_ms)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"address": self.address, "outcome": self.outcome.value}
        if self.outcome.answered:
            doc.update(
                result=self.result,
                defaultNamingContext=clipped(self.default_naming_context),
                dnsHostName=clipped(self.dns_host_name),
                ldapServiceName=clipped(self.ldap_service_name),
                namingContexts=[clipped(n) for n in self.naming_contexts[:10]],
            )
            if self.dc_time is not None:
                doc["currentTime"] = _epoch_iso(self.dc_time)
                offset = self.clock_offset
                doc["clock_offset_s"] = None if offset is None else round(offset, 1)
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        doc["attempts"] = self.attempts
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc


class BindStage(StrEnum):
    """How far a bind as the service account got."""

    SECRET = "secret"  # the password could not be read: nothing was sent
    WITHHELD = "withheld"  # not sent: the DC's rootDSE did not show the AD domain
    # not sent: nothing vouches for the DC (found through resolvers from a DHCP server
    # outside dhcp.allowed_servers, or no name of it configured or inside the AD domain)
    UNSAFE = "unsafe"
    CONNECT = "connect"
    STARTTLS = "starttls"  # refused, or a certificate not trusted: the password was not sent
    BIND = "bind"  # the server refused the bind
    BOUND = "bound"


@record
class LdapBind:
    """A bind as the provisioning service account over StartTLS, then a look at the AMT OU."""

    address: str
    user: str
    stage: BindStage
    outcome: Outcome = Outcome.NOT_OBSERVED  # of the last step: ANSWER when the server answered
    password_source: str = ""  # where the password came from, never the password
    trust: str = ""  # what the DC's certificate was verified against
    tls: str = ""  # protocol, cipher and certificate subject of the StartTLS session
    result: str = ""  # LDAP result of the bind: "success", "invalidCredentials"
    diagnostic: str = ""  # the server's message with that result
    ou: str = ""
    ou_result: str = ""  # LDAP result of reading the OU: "success", "noSuchObject", ...
    ou_classes: tuple[str, ...] = ()
    ou_matched: str = ""  # with noSuchObject: the deepest entry that exists
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""

    STORE: ClassVar[str] = "ldap_binds"  # kept in Observations.ldap_binds
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> LdapBindKey:
        return ldap_bind_key(site, self.address)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "address": self.address, "user": self.user, "stage": self.stage.value,
            "outcome": self.outcome.value, "password_source": self.password_source,
        }
        for key in ("trust", "tls", "result", "diagnostic", "detail"):
            if value := getattr(self, key):
                doc[key] = clipped(value, 500)
        if self.ou:
            doc["ou"] = {"dn": self.ou, "result": self.ou_result,
                         "objectClass": [clipped(c, 80) for c in self.ou_classes[:10]],
                         "matched": clipped(self.ou_matched)}
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc
