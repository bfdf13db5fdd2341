"""The Kerberos probe's messages without a network: the AS-REQ it builds, the replies it
accepts, the bytes it refuses, and a fresh nonce for every attempt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from minikerberos.protocol.asn1_structs import AS_REQ, KDC_REQ_BODY, TGS_REQ, PrincipalName

from amt_preflight.observations import Observations
from amt_preflight.observations.ad import AD_KDC_PRINCIPAL, KerberosQuestion, KerberosReply
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dns import ResolverSet
from amt_preflight.probes import OncePerRun, SiteProbes
from amt_preflight.probes import kerberos as probe_kerberos
from amt_preflight.probes.dns import DnsProbe
from lab.fake_kdc import JUNK, krb_error

from .observed import config

CORP = "CORP.EXAMPLE"


def test_as_request_asks_for_the_realms_krbtgt_without_preauthentication() -> None:
    request = AS_REQ.load(probe_kerberos.as_request(CORP, "krbtgt/CORP.EXAMPLE", 1234)).native
    body = request["req-body"]
    assert (request["pvno"], request["msg-type"], request.get("padata")) == (5, 10, None)
    assert body["cname"] == {"name-type": 2, "name-string": ["krbtgt", CORP]}
    assert body["sname"] == {"name-type": 2, "name-string": ["krbtgt", CORP]}
    assert (body["realm"], body["nonce"]) == (CORP, 1234)
    assert AS_REQ.load(probe_kerberos.as_request(CORP, AD_KDC_PRINCIPAL, 1)).native[
        "req-body"]["cname"] == {"name-type": 1, "name-string": ["krbtgt"]}


def test_krb_error_is_read_with_code_realm_and_server_time() -> None:
    before = datetime.now(UTC).timestamp()
    parsed = probe_kerberos.parse_reply(krb_error(CORP, 25, ["krbtgt"]))
    assert (parsed.message, parsed.error_code, parsed.realm) == ("KRB-ERROR", 25, CORP)
    assert parsed.error_name == "KDC_ERR_PREAUTH_REQUIRED"
    assert parsed.kdc_time is not None and abs(parsed.kdc_time - before) < 60


def _tgs_req() -> bytes:
    body = KDC_REQ_BODY({
        "kdc-options": set(), "realm": CORP, "nonce": 1, "etype": [18],
        "sname": PrincipalName({"name-type": 2, "name-string": ["krbtgt", CORP]})})
    return bytes(TGS_REQ({"pvno": 5, "msg-type": 12, "req-body": body}).dump())


@pytest.mark.parametrize("wire", [
    b"", JUNK, b"\xa5" * 65_000, krb_error(CORP, 6)[:40], krb_error(CORP, 6) + b"\x00",
    probe_kerberos.as_request(CORP, AD_KDC_PRINCIPAL, 7),  # a request is no reply
    _tgs_req(),
], ids=["empty", "junk", "huge", "truncated", "trailing", "as-req", "tgs-req"])
def test_anything_but_a_kdc_reply_is_refused(wire: bytes) -> None:
    with pytest.raises(ValueError):
        probe_kerberos.parse_reply(wire)


def test_every_attempt_carries_a_fresh_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KDC's replay cache answers a repeated request with its old reply: never repeat one."""
    sent: list[bytes] = []

    async def silent(request: bytes, kdc: str, timeout: float) -> probe_kerberos._Attempt:
        sent.append(request)
        return probe_kerberos._Attempt(Outcome.TIMEOUT, detail="no reply")

    monkeypatch.setattr(probe_kerberos, "_udp_attempt", silent)
    cfg = config("defaults: {retries: 3}\nsites: [{name: lab, ad: {domain: corp.example}}]\n")

    async def main() -> KerberosReply:
        observations = Observations()
        dns = DnsProbe(observations, asyncio.Semaphore(4), 1.0, 3)
        ctx = SiteProbes(cfg, cfg.sites[0], observations, dns, ResolverSet((), "config"),
                         intrusive=False, once=OncePerRun())
        question = KerberosQuestion("127.0.0.1", CORP, AD_KDC_PRINCIPAL, "udp")
        return await probe_kerberos.ask(ctx, question)

    answer = asyncio.run(main())
    assert answer.outcome is Outcome.TIMEOUT and answer.attempts == 4 and len(sent) == 4
    nonces = {AS_REQ.load(request).native["req-body"]["nonce"] for request in sent}
    assert len(nonces) == 4


def test_the_request_reads_as_minikerberos_reads_it_with_32_bit_options() -> None:
    """probes/krb5.py defines the messages itself (minikerberos is a test dependency only);
    KDC options go out as 32 bits, untrimmed, as RFC 4120 §5.2.8 asks."""
    wire = probe_kerberos.as_request(CORP, AD_KDC_PRINCIPAL, 99)
    theirs = AS_REQ.load(wire).native
    body = theirs["req-body"]
    assert (theirs["pvno"], theirs["msg-type"], body["nonce"], body["realm"]) == (5, 10, 99, CORP)
    assert body["etype"] == list(probe_kerberos.ENCTYPES)
    assert body["till"] == probe_kerberos.TILL
    assert {"forwardable", "renewable", "renewable-ok"} <= set(body["kdc-options"])
    options = wire[wire.index(b"\xa0\x07\x03\x05") + 4:][:5]  # [0] BIT STRING of 5 bytes
    assert options[0] == 0 and len(options) == 5  # no unused bits: all 32 are sent


@pytest.mark.parametrize("code", [6, 25, 68])
def test_error_names_are_those_of_rfc_4120(code: int) -> None:
    from minikerberos.protocol.errors import KerberosErrorCode

    assert probe_kerberos.parse_reply(krb_error(CORP, code)).error_name == \
        KerberosErrorCode(code).name
