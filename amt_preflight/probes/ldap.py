"""LDAP probe (ldap3, imported on first use; it blocks, so it runs in worker threads): each
DC's rootDSE read anonymously, and a bind as the provisioning service account over StartTLS
followed by a look at the AMT OU.

The password goes only to a DC whose rootDSE shows the AD domain, and only inside a TLS
session whose certificate verified (ad.tls_ca_file, else the system's trust store) for the
DC's name; it is never kept in an observation, a message or a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from amt_preflight.observations import (
    LDAP_PORT,
    AdRole,
    AdServers,
    BindStage,
    LdapBind,
    Outcome,
    RootDse,
    in_domain,
    naming_context,
    normal_name,
    same_dn,
)
from amt_preflight.probes.adservers import discover
from amt_preflight.secrets import Secret, SecretError, read_secret

if TYPE_CHECKING:
    import ldap3

    from amt_preflight.config import AdConfig
    from amt_preflight.probes import SiteProbes

T = TypeVar("T")
ROOT_DSE_ATTRIBUTES = (
    "defaultNamingContext", "dnsHostName", "ldapServiceName", "namingContexts", "currentTime",
)
MAX_VALUES = 20  # values kept of one rootDSE attribute


def _failure(exc: BaseException) -> tuple[Outcome, str]:
    """What an exception from ldap3 (or the decoder under it) says about the server."""
    from ldap3.core.exceptions import LDAPSocketOpenError

    text = str(exc) or type(exc).__name__
    if "timed out" in text:
        return Outcome.TIMEOUT, text
    if isinstance(exc, LDAPSocketOpenError):
        return Outcome.UNREACHABLE, text
    return Outcome.MALFORMED, f"{type(exc).__name__}: {text}"


def _values(raw: Mapping[str, Sequence[bytes]], name: str) -> tuple[str, ...]:
    """An attribute's values as text, whatever bytes the server sent."""
    found = next((v for k, v in raw.items() if k.lower() == name.lower()), [])
    return tuple(bytes(v).decode("utf-8", "replace") for v in list(found)[:MAX_VALUES])


def _generalized_time(text: str) -> float | None:
    """AD's currentTime ("20261128172832.0Z") as epoch seconds; None when it is not one."""
    try:
        moment = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp()


def _connection(address: str, timeout: float, **kwargs: Any) -> ldap3.Connection:
    import ldap3

    tls = kwargs.pop("tls", None)
    server = ldap3.Server(address, port=LDAP_PORT, get_info=ldap3.NONE, tls=tls,
                          connect_timeout=timeout)
    # ldap3 packs receive_timeout into SO_RCVTIMEO as whole seconds: an int, rounded up.
    return ldap3.Connection(server, auto_bind=ldap3.AUTO_BIND_NONE,
                            receive_timeout=math.ceil(timeout), read_only=True,
                            raise_exceptions=False, **kwargs)


def _close(connection: ldap3.Connection) -> None:
    """Unbind and close; a connection the server already broke may fail to, harmlessly."""
    with contextlib.suppress(Exception):
        connection.unbind()


def read_root_dse(address: str, timeout: float) -> RootDse:
    """One anonymous read of the rootDSE (blocking)."""
    import ldap3

    connection = _connection(address, timeout)
    sent_at, clock = time.time(), time.monotonic()
    try:
        connection.open()
        sent_at, clock = time.time(), time.monotonic()
        connection.search("", "(objectClass=*)", ldap3.BASE, attributes=ROOT_DSE_ATTRIBUTES)
        rtt_ms = (time.monotonic() - clock) * 1000
        result = str(connection.result.get("description", ""))
        entries = [r for r in connection.response or [] if r.get("type") == "searchResEntry"]
    except Exception as exc:  # ldap3 and its decoder raise many types on hostile input
        outcome, detail = _failure(exc)
        return RootDse(address, outcome, detail=detail)
    finally:
        _close(connection)
    raw: Mapping[str, Sequence[bytes]] = entries[0].get("raw_attributes", {}) if entries else {}
    first = {name: next(iter(_values(raw, name)), "") for name in ROOT_DSE_ATTRIBUTES}
    return RootDse(
        address, Outcome.ANSWER, result=result,
        default_naming_context=first["defaultNamingContext"],
        dns_host_name=first["dnsHostName"], ldap_service_name=first["ldapServiceName"],
        naming_contexts=_values(raw, "namingContexts"),
        dc_time=_generalized_time(first["currentTime"]), sent_at=sent_at, rtt_ms=rtt_ms,
        detail="" if entries or result != "success" else "the search returned no entry",
    )


def _redacted(text: str, secret: Secret) -> str:
    """Whatever a library puts in a message, the password never reaches an observation."""
    return text.replace(secret.value, "********") if secret.value else text


def bind(address: str, names: Sequence[str], user: str, secret: Secret, amt_ou: str | None,
         ca_file: Path | None, timeout: float) -> LdapBind:
    """StartTLS, verify the certificate for one of `names` (or the address), bind, and read
    the AMT OU (blocking). The password is sent only once TLS is up and verified."""
    import ldap3

    trust = f"ad.tls_ca_file {ca_file}" if ca_file else "the system trust store"
    result = LdapBind(address, user, BindStage.CONNECT, password_source=secret.source,
                      trust=trust, ou=amt_ou or "")
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file) if ca_file else None,
                    valid_names=list(names), sni=names[0] if names else None)
    connection = _connection(address, timeout, tls=tls, user=user, password=secret.value,
                             authentication=ldap3.SIMPLE)
    try:
        connection.open()
        result = replace(result, stage=BindStage.STARTTLS)
        if not connection.start_tls():  # it raises when the DC refuses or fails to verify
            return replace(result, outcome=Outcome.MALFORMED, detail="TLS was not started")
        cipher = connection.socket.cipher()
        subject = dict(x[0] for x in connection.socket.getpeercert().get("subject", ()))
        result = replace(result, stage=BindStage.BIND, tls=(
            f"{cipher[1]} {cipher[0]}, certificate CN={subject.get('commonName', '?')}"))
        bound = connection.bind()
        result = replace(result, outcome=Outcome.ANSWER,
                         result=str(connection.result.get("description", "")),
                         diagnostic=_redacted(str(connection.result.get("message", "")), secret))
        if not bound:
            return result
        result = replace(result, stage=BindStage.BOUND)
        if amt_ou:
            connection.search(amt_ou, "(objectClass=*)", ldap3.BASE, attributes=["objectClass"])
            entries = [r for r in connection.response or [] if r.get("type") == "searchResEntry"]
            raw = entries[0].get("raw_attributes", {}) if entries else {}
            result = replace(result, ou_result=str(connection.result.get("description", "")),
                             ou_classes=_values(raw, "objectClass"),
                             ou_matched=str(connection.result.get("dn", "")))
    except Exception as exc:  # ldap3 and its decoder raise many types on hostile input
        outcome, detail = _failure(exc)
        return replace(result, outcome=outcome, detail=_redacted(detail, secret))
    finally:
        _close(connection)
    return result


async def _blocking(ctx: SiteProbes, what: str, work: Callable[[], T]) -> T:
    """Run blocking LDAP work in a thread, under the run's limit on probes in flight."""
    async with ctx.dns.limiter:
        ctx.dns.observer.probe_started(what)
        try:
            return await asyncio.to_thread(work)
        finally:
            ctx.dns.observer.probe_finished(what)


async def _root_dse(ctx: SiteProbes, address: str) -> RootDse:
    defaults = ctx.config.defaults
    started, clock = time.time(), time.monotonic()
    attempts = 0
    dse = RootDse(address, Outcome.TIMEOUT)
    for attempts in range(1, defaults.retries + 2):  # noqa: B007 (the count is reported)
        dse = await _blocking(ctx, f"LDAP rootDSE @{address}",
                              lambda: read_root_dse(address, defaults.timeout))
        if dse.outcome is not Outcome.TIMEOUT:
            break  # only silence is worth another try
    dse = replace(dse, attempts=attempts, started_at=started,
                  elapsed_ms=(time.monotonic() - clock) * 1000)
    ctx.observations.root_dse[address] = dse
    return dse


def root_dse(ctx: SiteProbes, address: str) -> asyncio.Task[RootDse]:
    """A DC's rootDSE, read at most once per run."""
    return ctx.once.run(("rootdse", address), lambda: _root_dse(ctx, address))


async def gather_root_dse(ctx: SiteProbes) -> None:
    """Every DC of the site's AD domain, read as soon as its address is known."""
    if ctx.site.ad is None:
        return
    reads: list[asyncio.Task[RootDse]] = []
    servers = await discover(ctx, AdRole.DC, lambda address: reads.append(root_dse(ctx, address)))
    ctx.observations.ad_servers[(ctx.site.name, AdRole.DC)] = servers
    await asyncio.gather(*reads)


def _tls_names(servers: AdServers, address: str, dse: RootDse, domain: str) -> list[str]:
    """The names the DC's certificate may carry: the SRV targets or configured name for the
    address, and the dnsHostName it claims when that lies in the AD domain."""
    names = [n for s in servers.servers if address in s.addresses for n in s.host_names]
    if dse.dns_host_name and in_domain(dse.dns_host_name, domain):
        names.append(normal_name(dse.dns_host_name))
    return list(dict.fromkeys(names))


async def _bind_at(ctx: SiteProbes, ad: AdConfig, user: str, address: str,
                   servers: AdServers, secret: Secret) -> LdapBind:
    """The bind at one DC, once its rootDSE shows the AD domain; else the password stays."""
    expected = naming_context(ad.domain)
    dse = await root_dse(ctx, address)
    if not dse.outcome.answered or not same_dn(dse.default_naming_context, expected):
        named = dse.default_naming_context or "no naming context"
        said = (f"its rootDSE names {named}, not {expected}" if dse.outcome.answered
                else f"its rootDSE could not be read ({dse.outcome.value})")
        return LdapBind(address, user, BindStage.WITHHELD, password_source=secret.source,
                        detail=f"{said}: the password was not sent")
    names = _tls_names(servers, address, dse, ad.domain)
    ca_file = ctx.config.resolve(ad.tls_ca_file) if ad.tls_ca_file else None
    started, clock = time.time(), time.monotonic()
    bound = await _blocking(
        ctx, f"LDAP bind @{address}",
        lambda: bind(address, names, user, secret, ad.amt_ou, ca_file,
                     ctx.config.defaults.timeout))
    return replace(bound, started_at=started, elapsed_ms=(time.monotonic() - clock) * 1000)


async def gather_binds(ctx: SiteProbes) -> None:
    """With credentials configured: at every DC whose rootDSE shows the AD domain, a bind
    as ad.bind_user, and the AMT OU read."""
    ad = ctx.site.ad
    if ad is None or ad.bind_user is None or ad.bind_password is None:
        return
    user = ad.bind_user
    try:
        secret: Secret | None = read_secret(ad.bind_password, ctx.config, "bind_password")
        problem = ""
    except SecretError as exc:
        secret, problem = None, str(exc)

    def found(address: str) -> None:
        if secret is not None:
            root_dse(ctx, address)  # each bind's gate, read as soon as the DC is known

    servers = await discover(ctx, AdRole.DC, found)
    ctx.observations.ad_servers[(ctx.site.name, AdRole.DC)] = servers
    addresses = list(dict.fromkeys(a for s in servers.servers for a in s.addresses))

    async def one(address: str) -> LdapBind:
        if secret is None:
            return LdapBind(address, user, BindStage.SECRET, detail=problem)
        return await _bind_at(ctx, ad, user, address, servers, secret)

    binds = await asyncio.gather(*(one(address) for address in addresses))
    for address, outcome in zip(addresses, binds, strict=True):
        ctx.observations.ldap_binds[(ctx.site.name, address)] = outcome
