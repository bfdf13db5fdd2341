"""A hostile DHCP server for the lab: every request gets a burst of bad answers.

    python -m lab.hostile_dhcp --interface dhcp-hostile --address 10.250.31.1 \\
        --domain hostile.example

On a raw socket of the interface it answers each DHCP request (DISCOVER, INFORM, …) with:
a truncated answer, one whose IP length claims bytes that never came, one whose option 15
overruns the packet, one for another transaction (xid) and one for another client (chaddr),
a packet with a broken IP header, a BOOTREQUEST sent to the client port, one good OFFER,
and then a flood of copies of that OFFER. A probe must ignore what is not for it, decode what
it can, and neither crash nor wait longer than its window. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import socket
import struct
from collections.abc import Iterator

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
FLOOD = 200  # copies of the good OFFER after each burst: more than a probe keeps
MAGIC_COOKIE = b"\x63\x82\x53\x63"
OFFER, ACK = 2, 5


def checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(source_mac: bytes, source: str, bootp: bytes, *, ip_total_extra: int = 0,
          version_ihl: int = 0x45) -> bytes:
    """Ethernet broadcast, IPv4 from `source` to 255.255.255.255, UDP 67 -> 68."""
    udp = struct.pack("!HHHH", 67, 68, 8 + len(bootp), 0) + bootp
    total = 20 + len(udp) + ip_total_extra
    header = struct.pack("!BBHHHBBH4s4s", version_ihl, 0, total, 0, 0, 64, 17, 0,
                         socket.inet_aton(source), socket.inet_aton("255.255.255.255"))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return b"\xff" * 6 + source_mac + struct.pack("!H", ETH_P_IP) + header + udp


def bootp(op: int, xid: int, chaddr: bytes, options: bytes, yiaddr: str = "0.0.0.0") -> bytes:
    fixed = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, 1, 6, 0, xid, 0, 0x8000,
                        bytes(4), socket.inet_aton(yiaddr), bytes(4), bytes(4),
                        chaddr.ljust(16, b"\0"), b"", b"")
    return fixed + MAGIC_COOKIE + options


def option(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def answers(request: bytes, mac: bytes, address: str, domain: bytes) -> Iterator[bytes]:
    """The burst for one request (its BOOTP payload)."""
    xid, chaddr = struct.unpack("!I", request[4:8])[0], request[28:34]
    kind = OFFER if option_53(request) == 1 else ACK
    yiaddr = address.rsplit(".", 1)[0] + ".77" if kind == OFFER else "0.0.0.0"
    server = socket.inet_aton(address)
    good_options = (option(53, bytes([kind])) + option(54, server) + option(15, domain)
                    + option(6, server) + b"\xff")
    good = bootp(2, xid, chaddr, good_options, yiaddr)
    yield frame(mac, address, good[:120])  # truncated: no options, no magic cookie
    yield frame(mac, address, good, ip_total_extra=64)  # IP length claims 64 more bytes
    overrun = option(53, bytes([kind])) + option(54, server) + bytes([15, 200]) + b"hostile"
    yield frame(mac, address, bootp(2, xid, chaddr, overrun, yiaddr))
    yield frame(mac, address, bootp(2, xid ^ 0xFFFFFFFF, chaddr, good_options, yiaddr))
    yield frame(mac, address, bootp(2, xid, b"\x02\xba\xdb\xad\xba\xd0", good_options, yiaddr))
    yield frame(mac, address, good, version_ihl=0x43)  # header length 12 bytes: impossible
    yield frame(mac, address, bootp(1, xid, chaddr, good_options))  # a request, to port 68
    for _ in range(1 + FLOOD):
        yield frame(mac, address, good)


def option_53(bootp_payload: bytes) -> int | None:
    """The DHCP message type of a request, scanning its options with bounds checks."""
    data, i = bootp_payload[240:], 0
    while i + 1 < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        length = data[i + 1]
        if data[i] == 53 and length == 1 and i + 2 < len(data):
            return data[i + 2]
        i += 2 + length
    return None


def requests(sock: socket.socket) -> Iterator[bytes]:
    """BOOTP payloads of DHCP requests arriving on the socket (not our own frames)."""
    while True:
        data, (_, _, pkttype, _, _) = sock.recvfrom(65535)
        if pkttype == PACKET_OUTGOING or len(data) < 14 + 20 + 8 + 240:
            continue
        ip = data[14:]
        header = (ip[0] & 0x0F) * 4
        if ip[9] != 17 or header < 20:
            continue
        udp = ip[header:]
        if struct.unpack("!H", udp[2:4])[0] == 67 and udp[8] == 1:
            yield udp[8:]


def serve(interface: str, address: str, domain: bytes) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    sock.bind((interface, ETH_P_IP))
    mac = sock.getsockname()[4]
    print(f"hostile DHCP server on {interface} as {address}", flush=True)
    for request in requests(sock):
        for bad in answers(request, mac, address, domain):
            sock.send(bad)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.hostile_dhcp")
    parser.add_argument("--interface", required=True)
    parser.add_argument("--address", required=True, help="its server identifier")
    parser.add_argument("--domain", required=True, help="option 15 of its one good OFFER")
    args = parser.parse_args(argv)
    serve(args.interface, args.address, args.domain.encode("ascii"))


if __name__ == "__main__":
    main()
