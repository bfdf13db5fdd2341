"""The lab's reference provisioning server: takes hellos on port 9971 and connects back to the
device as a real one does, or misbehaves in one chosen way per address.

    python -m lab.provisioning_server --config FILE --folder DIR

FILE (JSON, written by `servers()`) lists its endpoints: an address, the domains whose
ProvisionServer resolves there, the lab PKI bundles it holds (lab/pki.py), and
its behaviour. For a version 3 hello it chooses the first bundle whose root hash is among the
announced hashes and whose leaf names one of its domains, and opens mutual TLS to the hello's
source address, port 16993, presenting that chain (from its own address, as MeshCentral
does); with no such bundle it stays silent, as real servers do. For a version 2 hello with its
PID it connects back with TLS-PSK. After a connect-back an address ignores further hellos from
the same device address for `quiet` seconds (MeshCentral's behaviour that makes clients space
their hellos); each address is a server of its own.

The chains it presents are written to DIR at start, from the lab PKI (made relative to now).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from amt_preflight import tlsio
from amt_preflight.hello import MAX_HELLO, PKI_VERSION, Hello, HelloError, normal_pid, normal_pps
from lab import pki
from lab.network import ADDRESSES, handshake_domain
from lab.servers import AllReady, Listening, Server, own_module_env

HELLO_PORT = 9971
DEVICE_PORT = 16993
READ_SECONDS = 10.0  # a hello connection is closed after this, finished or not
TLS_SECONDS = 10.0  # a connect-back's handshake is given up after this
HOLD_SECONDS = 120.0  # idle: how long a connect-back is held open without a byte
LONG_CHAIN = 50  # certificates the long-chain endpoint presents
GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"  # what is not TLS

# The lab's pre-shared pair (TLS-PSK), exported into the demo run's environment under the
# names config.yaml gives, like the other lab secrets.
PID = "LABP-1D01"
PPS = "LABP-PSK1-2345-6789-ABCD-EFGH-JKLM-NPQR"
WRONG_PPS = "WRNG-PSK1-2345-6789-ABCD-EFGH-JKLM-NPQR"
ENVIRONMENT = MappingProxyType({"AMT_PID": PID, "AMT_PPS": PPS})

RSA_KEY_EXCHANGE = ("AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256", "AES256-SHA256",
                    "AES128-SHA", "AES256-SHA")

MODES = {
    "normal": "connects back as it should",
    "silent": "never connects back",
    "slow": "connects back after `delay` seconds",
    "garbage": "connects back and sends bytes that are not TLS",
    "idle": "connects back and sends nothing, holding the connection open",
    "wrong-cert": "presents its bundle whatever the domain (one not marked for AMT)",
    "long-chain": f"presents its leaf followed by {LONG_CHAIN - 1} more certificates",
    "no-client-cert": "connects back with TLS but presents no client certificate",
    "reset": "resets the hello connection and never connects back",
    "wrong-psk": "answers a PSK hello with the wrong pre-shared key",
}


@dataclass(frozen=True)
class Endpoint:
    """One address the server takes hellos on, and how it answers them."""

    address: str
    domains: tuple[str, ...]  # whose ProvisionServer resolves here
    bundles: tuple[str, ...] = ("good",)  # lab PKI leaf names, in order of preference
    mode: str = "normal"
    delay: float = 0.0  # slow: seconds from the hello to the connect-back
    quiet: float = 2.0  # seconds a device's further hellos are ignored after a connect-back
    port: int = HELLO_PORT
    # The TLS its connect-back speaks (OpenSSL names): by default as MeshCentral's, TLS 1.0
    # to 1.2 with RSA key exchange, which every AMT generation can take.
    tls_versions: tuple[str, ...] = ("TLSv1", "TLSv1.1", "TLSv1.2")
    ciphers: tuple[str, ...] = RSA_KEY_EXCHANGE


# The lab's endpoints: the healthy server of corp.example (also the ProvisionServer of
# second.hs.corp.example: one address, two domains, one certificate), then one misbehaving
# server per address. A wildcard leaf (*.corp.example) names every hs.corp.example domain.
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(ADDRESSES["provision_server"], ("corp.example", handshake_domain("second"))),
    Endpoint(ADDRESSES["provision_silent"], (handshake_domain("silent"),), ("wildcard",),
             "silent"),
    Endpoint(ADDRESSES["provision_slow"], (handshake_domain("slow"),), ("wildcard",), "slow",
             delay=4.0),
    Endpoint(ADDRESSES["provision_garbage"], (handshake_domain("garbage"),), ("wildcard",),
             "garbage"),
    Endpoint(ADDRESSES["provision_idle"], (handshake_domain("idle"),), ("wildcard",), "idle"),
    Endpoint(ADDRESSES["provision_wrong_cert"], (handshake_domain("wrong-cert"),),
             ("no-usage",), "wrong-cert"),
    Endpoint(ADDRESSES["provision_long_chain"], (handshake_domain("long-chain"),),
             ("wildcard",), "long-chain"),
    Endpoint(ADDRESSES["provision_no_cert"], (handshake_domain("no-cert"),), ("wildcard",),
             "no-client-cert"),
    Endpoint(ADDRESSES["provision_reset"], (handshake_domain("reset"),), ("wildcard",),
             "reset"),
    Endpoint(ADDRESSES["provision_wrong_psk"], (handshake_domain("wrong-psk"),),
             ("wildcard",), "wrong-psk"),
    Endpoint(ADDRESSES["provision_tls13_only"], (handshake_domain("tls13-only"),),
             ("wildcard",), tls_versions=("TLSv1.3",), ciphers=("DEFAULT",)),
    Endpoint(ADDRESSES["provision_tls12_only"], (handshake_domain("tls12-only"),),
             ("wildcard",), tls_versions=("TLSv1.2",), ciphers=("DEFAULT",)),
)


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S.%f} {message}", flush=True)


# --- certificates ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A provisioning certificate chain with its key, and the root hashes it answers to."""

    name: str
    chain: tuple[x509.Certificate, ...]  # leaf first, root last
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def root_hashes(self) -> set[str]:
        root = self.chain[-1]
        return {root.fingerprint(algorithm).hex()
                for algorithm in (hashes.SHA1(), hashes.SHA256(), hashes.SHA384())}

    @property
    def names(self) -> list[str]:
        leaf = self.chain[0]
        names = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        with contextlib.suppress(x509.ExtensionNotFound):
            names += leaf.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        return names

    def serves(self, domain: str) -> bool:
        """Whether the leaf names `domain` as a device checks it (the suffix rule)."""
        for name in (n.lower().rstrip(".") for n in self.names):
            bare = name.removeprefix("*.")
            if domain == bare or bare.endswith("." + domain) or (
                    name.startswith("*.") and domain.endswith("." + bare)):
                return True
        return False


def _padding(count: int) -> list[x509.Certificate]:
    """Unrelated self-signed certificates, to make a chain far longer than any real one."""
    key = pki.keys()["other"]
    now = datetime.now(UTC)
    made = []
    for number in range(count):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                             f"amt-preflight lab padding {number}")])
        made.append(x509.CertificateBuilder().subject_name(name).issuer_name(name)
                    .public_key(key.public_key()).serial_number(0x5000 + number)
                    .not_valid_before(now - timedelta(days=1))
                    .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
    return made


def load_bundles(folder: Path, names: Iterable[str]) -> dict[str, Bundle]:
    """The lab PKI's bundles by leaf name, made now and written to `folder`."""
    made = pki.files(datetime.now(UTC))
    folder.mkdir(parents=True, exist_ok=True)
    bundles = {}
    for name in dict.fromkeys(names):
        pem = made[f"bundles/{name}.pem"]
        (folder / f"{name}.pem").write_bytes(pem)
        chain = tuple(x509.load_pem_x509_certificates(pem))
        key = serialization.load_pem_private_key(pem[pem.index(b"-----BEGIN PRIVATE KEY"):],
                                                 None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"lab bundle {name}: a {type(key).__name__}, not RSA or EC")
        bundles[name] = Bundle(name, chain, key)
    return bundles


def client_context(endpoint: Endpoint, bundle: Bundle | None,
                   extra: Iterable[x509.Certificate] = ()) -> SSL.Context:
    """The TLS client side of a connect-back, speaking the endpoint's TLS: the bundle's chain
    and key, or none at all."""
    context = SSL.Context(SSL.TLS_METHOD)
    tlsio.limit(context, endpoint.tls_versions, endpoint.ciphers)
    if bundle is not None:
        context.use_certificate(bundle.chain[0])
        context.use_privatekey(bundle.key)
        for certificate in (*bundle.chain[1:], *extra):
            context.add_extra_chain_cert(certificate)
    return context


# --- the server ------------------------------------------------------------------------


class ProvisioningServer:
    def __init__(self, endpoints: Iterable[Endpoint], bundles: dict[str, Bundle],
                 device_port: int = DEVICE_PORT) -> None:
        self.endpoints = {e.address: e for e in endpoints}
        self.bundles = bundles
        self.device_port = device_port
        # (endpoint address, device address) -> monotonic end of its quiet time
        self.busy_until: dict[tuple[str, str], float] = {}
        self.padding = _padding(LONG_CHAIN - 3) if any(
            e.mode == "long-chain" for e in self.endpoints.values()) else []
        self.tasks: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        servers = [await asyncio.start_server(self.take_hello, e.address, e.port,
                                              reuse_address=True)
                   for e in self.endpoints.values()]
        for endpoint in self.endpoints.values():
            log(f"listening on {endpoint.address}:{endpoint.port} for "
                f"{', '.join(endpoint.domains)}: {endpoint.mode} ({MODES[endpoint.mode]}), "
                f"connect-back over {'/'.join(endpoint.tls_versions)}")
        await asyncio.gather(*(s.serve_forever() for s in servers))

    async def take_hello(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        local = writer.get_extra_info("sockname")[0]
        device = writer.get_extra_info("peername")[0]
        endpoint = self.endpoints[local]
        data = b""
        try:
            async with asyncio.timeout(READ_SECONDS):
                while len(data) <= MAX_HELLO and (chunk := await reader.read(4096)):
                    data += chunk
        except (TimeoutError, OSError) as exc:
            log(f"{device} -> {local}: reading the hello ended: {type(exc).__name__}")
        if endpoint.mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            log(f"{device} -> {local}: {len(data)} bytes; connection reset (mode reset)")
        writer.close()
        if endpoint.mode == "reset" or not data:
            return
        try:
            hello = Hello.decode(data)
        except HelloError as exc:
            log(f"{device} -> {local}: not a hello ({exc})")
            return
        now = time.monotonic()
        if self.busy_until.get((local, device), 0.0) > now:
            log(f"{device} -> {local}: {hello.kind} hello ignored: a connect-back to it was "
                "made moments ago")
            return
        log(f"{device} -> {local}: {hello.kind} hello, device {hello.device_uuid}, "
            f"{len(hello.root_hashes)} root hashes")
        context = self.answer(endpoint, hello, device)
        if context is None:
            return
        self.busy_until[(local, device)] = now + endpoint.quiet + endpoint.delay
        task = asyncio.create_task(self.connect_back(endpoint, device, context))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def answer(self, endpoint: Endpoint, hello: Hello, device: str) -> SSL.Context | None:
        """The TLS context to connect back with, or None to stay silent."""
        if endpoint.mode == "silent":
            log(f"  silent: no connect-back to {device}")
            return None
        if hello.version != PKI_VERSION:
            if hello.pid != normal_pid(PID):
                log("  PSK hello with a PID this server does not know: no connect-back")
                return None
            key = WRONG_PPS if endpoint.mode == "wrong-psk" else PPS
            return tlsio.PskClient(hello.pid.encode(), normal_pps(key).encode()).context
        if endpoint.mode == "no-client-cert":
            return client_context(endpoint, None)
        announced = {h.hex for h in hello.root_hashes}
        for name in endpoint.bundles:
            bundle = self.bundles[name]
            if not bundle.root_hashes & announced:
                continue
            if endpoint.mode != "wrong-cert" and not any(bundle.serves(d)
                                                         for d in endpoint.domains):
                continue
            log(f"  chose certificate {name} ({bundle.chain[0].subject.rfc4514_string()})")
            padding = self.padding if endpoint.mode == "long-chain" else []
            return client_context(endpoint, bundle, padding)
        log("  no certificate of this domain has its root among the announced hashes: "
            "no connect-back")
        return None

    async def connect_back(self, endpoint: Endpoint, device: str, context: SSL.Context
                           ) -> None:
        await asyncio.sleep(endpoint.delay)
        where = f"{endpoint.address} -> {device}:{self.device_port}"
        try:
            async with asyncio.timeout(TLS_SECONDS if endpoint.mode != "idle" else HOLD_SECONDS):
                reader, writer = await asyncio.open_connection(
                    device, self.device_port, local_addr=(endpoint.address, 0))
                if endpoint.mode == "garbage":
                    writer.write(GARBAGE)
                    await writer.drain()
                    log(f"{where}: sent {len(GARBAGE)} bytes that are not TLS")
                elif endpoint.mode == "idle":
                    log(f"{where}: connected; sending nothing")
                    await reader.read()  # until the device gives up and closes
                else:
                    connection = SSL.Connection(context, None)
                    connection.set_connect_state()
                    await tlsio.handshake(connection, reader, writer)
                    log(f"{where}: {connection.get_protocol_version_name()} handshake "
                        f"complete ({connection.get_cipher_name()})")
                    await tlsio.close(connection, writer)
                writer.close()
        except (TimeoutError, OSError, SSL.Error) as exc:
            log(f"{where}: connect-back ended: {tlsio.error_text(exc)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.provisioning_server")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--folder", type=Path, required=True,
                        help="where the chains it presents are written")
    args = parser.parse_args(argv)
    document = json.loads(args.config.read_text())
    endpoints = [Endpoint(**{**item, "domains": tuple(item["domains"]),
                             "bundles": tuple(item["bundles"]),
                             "tls_versions": tuple(item["tls_versions"]),
                             "ciphers": tuple(item["ciphers"])})
                 for item in document["endpoints"]]
    unknown = {e.mode for e in endpoints} - MODES.keys()
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    bundles = load_bundles(args.folder, (n for e in endpoints for n in e.bundles))
    server = ProvisioningServer(endpoints, bundles, document.get("device_port", DEVICE_PORT))
    asyncio.run(server.serve())


# --- as a lab server -------------------------------------------------------------------


def server(workdir: Path, namespace: str, endpoints: Iterable[Endpoint] = ENDPOINTS,
           name: str = "provisioning-server") -> Server:
    """The reference provisioning server with `endpoints`, in the infra namespace."""
    chosen = tuple(endpoints)
    folder = workdir / name
    config = folder / "endpoints.json"
    return Server(
        name=name,
        namespace=namespace,
        argv=(sys.executable, "-m", "lab.provisioning_server",
              "--config", str(config), "--folder", str(folder / "chains")),
        files={config: json.dumps({"endpoints": [asdict(e) for e in chosen]}, indent=2)},
        env=own_module_env(),
        ready=AllReady(tuple(Listening(e.address, e.port, udp=False) for e in chosen)),
    )


def servers(workdir: Path, namespace: str) -> list[Server]:
    return [server(workdir, namespace)]


if __name__ == "__main__":
    main()
