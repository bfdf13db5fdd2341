"""Fakes for the lab's SNMP: an agent whose walks go wrong, and a process with a given name.

    python -m lab.fake_snmp agent --listen 10.250.0.43:161
    python -m lab.fake_snmp process --name AMTConfigSvc

The agent answers SNMPv2c, any community. A GET of the system group answers like a healthy
device. A walk (GETNEXT or GETBULK) of ifName, ifDescr or hrSWRunName gets rows named
"port-N" whose OIDs, with community "loop", go 1, 2, 3 and back to 1, and with "endless" never
end. Every request gets one datagram back and nothing is kept between requests: the agent
cannot hang or grow, whatever the client does. Both run until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import signal
from typing import Any, NoReturn, cast

SYSTEM = {
    (1, 3, 6, 1, 2, 1, 1, 1, 0): "sysDescr",
    (1, 3, 6, 1, 2, 1, 1, 3, 0): "sysUpTime",
    (1, 3, 6, 1, 2, 1, 1, 5, 0): "sysName",
}
COLUMNS = (
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1),  # ifName
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 2),  # ifDescr
    (1, 3, 6, 1, 2, 1, 25, 4, 2, 1, 2),  # hrSWRunName
)
LOOP_ROWS = 3  # community "loop": row 3 is followed by row 1
MAX_REPETITIONS = 100  # a GETBULK asking for more gets this many rows per variable
PR_SET_NAME = 15  # prctl(2)


def next_row(oid: tuple[int, ...], community: str) -> tuple[int, ...] | None:
    """The OID after `oid` in this agent's broken tables; None past them (endOfMibView)."""
    for column in COLUMNS:
        if oid == column:
            return (*column, 1)
        if len(oid) == len(column) + 1 and oid[:-1] == column:
            row = oid[-1]
            return (*column, row % LOOP_ROWS + 1 if community == "loop" else row + 1)
    return None


def respond(data: bytes) -> bytes | None:
    """The response to one SNMPv2c request; None for anything else (dropped, like agents do)."""
    from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
    from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
    from pysnmp.proto import api, rfc1905

    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    try:
        request, _ = decoder.decode(data, asn1Spec=v2c.Message())
    except PyAsn1Error:
        return None
    if int(v2c.apiMessage.get_version(request)) != api.SNMP_VERSION_2C:
        return None
    community = bytes(v2c.apiMessage.get_community(request)).decode("utf-8", "replace")
    pdu = v2c.apiMessage.get_pdu(request)
    response = v2c.apiMessage.get_response(request)
    asked = [tuple(oid) for oid, _ in v2c.apiPDU.get_varbinds(pdu)]

    def value(oid: tuple[int, ...]) -> Any:
        if oid in SYSTEM:
            name = SYSTEM[oid]
            if name == "sysUpTime":
                return v2c.TimeTicks(4242)
            return v2c.OctetString(f"amt-preflight lab: a {community} walk agent"
                                   if name == "sysDescr" else "bad-walk-agent")
        return v2c.OctetString(f"port-{oid[-1]}")

    varbinds: list[tuple[Any, Any]] = []
    if pdu.isSameTypeWith(v2c.GetRequestPDU()):
        varbinds = [(oid, value(oid) if oid in SYSTEM else rfc1905.noSuchObject)
                    for oid in asked]
    else:
        repetitions = 1
        if pdu.isSameTypeWith(v2c.GetBulkRequestPDU()):
            repetitions = max(1, min(int(v2c.apiBulkPDU.get_max_repetitions(pdu)),
                                     MAX_REPETITIONS))
        # GETBULK rows come interleaved: every variable's next, then every one's next again.
        cursors = list(asked)
        for _ in range(repetitions):
            for index, oid in enumerate(cursors):
                following = next_row(oid, community)
                if following is None:
                    varbinds.append((oid, rfc1905.endOfMibView))
                else:
                    varbinds.append((following, value(following)))
                    cursors[index] = following
    v2c.apiPDU.set_varbinds(v2c.apiMessage.get_pdu(response), varbinds)
    return cast(bytes, encoder.encode(response))


class _Agent(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's UDP transport does not subclass DatagramTransport: cast, not check.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = respond(data)
        if reply is not None:
            self.transport.sendto(reply, addr)


async def serve(host: str, port: int) -> None:
    await asyncio.get_running_loop().create_datagram_endpoint(_Agent, local_addr=(host, port))
    print(f"bad-walk SNMP agent on {host}:{port} (UDP)", flush=True)
    await asyncio.Event().wait()  # until SIGTERM


def run_as(name: str) -> NoReturn:
    """Carry `name` (what hrSWRunName shows: Linux's comm, 15 bytes at most) until SIGTERM."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME) failed")
    print(f"running as {name}", flush=True)
    while True:
        signal.pause()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.fake_snmp")
    kinds = parser.add_subparsers(dest="kind", required=True)
    agent = kinds.add_parser("agent", help="an SNMPv2c agent whose walks loop or never end")
    agent.add_argument("--listen", required=True, metavar="ADDR:PORT")
    process = kinds.add_parser("process", help="a process that carries a name")
    process.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    if args.kind == "process":
        run_as(args.name)
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(host, int(port)))


if __name__ == "__main__":
    main()
