"""pysnmp raises TypeError or IndexError out of its receive path on some malformed datagrams
(review L8: the two bytes e83e). On loopback, an "agent" answers every request with such
bytes: the probe counts them as malformed datagrams, asyncio never prints "Exception in
callback", and the request ends as silence does."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from amt_preflight.observations.snmp import SnmpOutcome
from amt_preflight.probes.observer import ProbeObserver
from amt_preflight.probes.snmp import SnmpProbe

from .observed import config

HOST = "127.0.0.1"


class _Garbage(asyncio.DatagramProtocol):
    """Answers every datagram with `reply`, as a broken or hostile agent would."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests = 0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.requests += 1
        assert self.transport is not None
        self.transport.sendto(self.reply, addr)


@pytest.mark.parametrize(("reply", "counted"), [
    (bytes.fromhex("e83e"), True),  # pysnmp raises TypeError: the guard counts it
    (bytes.fromhex("30"), False),  # pysnmp drops it itself (snmpInASNParseErrs)
    (b"", False),
], ids=["e83e", "one-byte", "empty"])
def test_malformed_datagrams_are_counted_not_tracebacks(
        reply: bytes, counted: bool, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AMTP_TEST_COMMUNITY", "public")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_port:
        probe_port.bind((HOST, 0))
        port = probe_port.getsockname()[1]
    cfg = config(f"sites: [{{name: lab, snmp: {{devices: [{{host: 127.0.0.1, port: {port}, "
                 "community_env: AMTP_TEST_COMMUNITY}]}}]")
    device = cfg.sites[0].snmp.devices[0]
    handled: list[dict[str, Any]] = []

    async def scenario() -> tuple[Any, int]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: handled.append(context))
        transport, agent = await loop.create_datagram_endpoint(
            lambda: _Garbage(reply), local_addr=(HOST, port))
        try:
            snmp = SnmpProbe(asyncio.Semaphore(4), 0.3, 1, ProbeObserver())
            async with snmp.in_use():
                talker = await snmp.agent(device, cfg)
                exchange, _ = await talker.get(["1.3.6.1.2.1.1.1.0"], "GET sysDescr.0")
            return exchange, agent.requests
        finally:
            transport.close()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        exchange, requests = asyncio.run(scenario())
    assert handled == [] and not [r for r in caplog.records if "Exception in callback"
                                  in r.getMessage()]
    assert exchange.outcome is SnmpOutcome.NO_ANSWER and requests == 2  # sent, retried
    if counted:
        assert f"2 malformed datagrams from {HOST}:{port} dropped" in exchange.detail, (
            exchange.detail)
