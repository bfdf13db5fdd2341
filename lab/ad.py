"""The lab's Active Directory and Kerberos servers, added to a running lab by `start(lab)`:

- a Samba AD DC (dc01.corp.example on the "dc" address): directory, KDC and DNS of the AD
  domain corp.example, realm CORP.EXAMPLE, with the service account svc-amt and OU=AMT, and an
  LDAP certificate from a lab CA (StartTLS);
- an MIT krb5kdc for a second realm, OTHER.EXAMPLE, on "mit_kdc" (UDP and TCP) and
  "tcp_only_kdc" (TCP only), and the same KDC again under libfaketime, its clock
  CLOCK_AHEAD seconds ahead, on "skewed_kdc";
- slapd on "other_dc", whose anonymous rootDSE says it is a DC of other.example;
- the misbehaving KDCs of fake_kdc.py on "garbage_kdc", "truncated_kdc", "huge_kdc" and
  "picky_kdc";
- the misbehaving LDAP servers of fake_ldap.py: "huge_ldap" (a 1 GiB reply, dripped),
  "drip_ldap" (a short reply, dripped), and on "outside_dc" a DC of outside-srv.example named
  dc.attacker.example (its SRV target, outside that domain) with a lab-CA certificate for
  that name, which records what it receives (Directory.fake_dc_record).

Samba's provisioning takes about 4 s and its start about 2 s, so tests start this once per
session (conftest's `ad_lab`), and only the tests that need it.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lab import netns, programs
from lab.errors import LabError
from lab.network import ADDRESSES, OUTSIDE_DC_HOST, OUTSIDE_SRV_DOMAIN
from lab.servers import (
    AllReady,
    DnsAnswers,
    Listening,
    Server,
    log_tail,
    own_module_env,
)

if TYPE_CHECKING:
    from lab.control import Lab

AD_DOMAIN = "corp.example"
AD_REALM = "CORP.EXAMPLE"
NETBIOS_DOMAIN = "CORP"
DC_HOST = "dc01"
BIND_ACCOUNT = "svc-amt"
AMT_OU = "OU=AMT,DC=corp,DC=example"
MIT_REALM = "OTHER.EXAMPLE"
OTHER_DOMAIN = "other.example"  # what slapd's rootDSE claims
CLOCK_AHEAD = 600  # seconds the skewed KDC's clock is ahead of the host's
PROVISION_TIMEOUT = 180.0  # seconds; about 4 on an idle machine of this project's kind
SAMBA_START_TIMEOUT = 60.0  # seconds; about 2 on an idle machine
KDC_PORT = 88
OUTSIDE_DC_FILES = ("outside-dc.pem", "outside-dc-key.pem")  # in _tls_files' folder


@dataclass(frozen=True)
class Directory:
    """What a survey of the lab's AD needs to know (the addresses are in network.ADDRESSES)."""

    domain: str
    realm: str
    bind_user: str  # the service account's UPN
    bind_password: str = field(repr=False)
    amt_ou: str
    ca_file: Path  # the lab CA that issued the DC's LDAP certificate
    fake_dc_record: Path  # what the fake DC on "outside_dc" received, one JSON line a message

    def environment(self) -> dict[str, str]:
        """For a run of the repository's config.yaml: the bind password where it looks
        (AMT_BIND_PASSWORD), and the lab CA as the trust store that verifies the DC."""
        return {"AMT_BIND_PASSWORD": self.bind_password, "SSL_CERT_FILE": str(self.ca_file)}


def start(lab: Lab) -> Directory:
    """Provision and start every AD and Kerberos server in the running lab, and create the
    service account and the AMT OU; LabError says what failed."""
    top = lab.workdir / "ad"
    admin_password = _password()
    bind_password = _password()
    ca_file, certificate, key = _tls_files(top / "tls")
    fake_dc_record = top / "fake-ldap" / "received.jsonl"
    samba_dir = top / "samba"
    provisioning = _provision(lab.infra_ns, samba_dir, admin_password)
    try:
        mit = top / "mit"
        _create_kdc_database(mit)
        for server in (mit_kdc(mit, lab.infra_ns), skewed_kdc(mit, lab.infra_ns),
                       other_dc(top / "slapd", lab.infra_ns), fake_kdcs(lab.infra_ns),
                       fake_ldaps(lab.infra_ns, top / "tls", fake_dc_record)):
            lab.add(server)
        _wait(provisioning, samba_dir)
    except BaseException:
        provisioning.kill()
        provisioning.wait()
        raise
    lab.add(samba(samba_dir, lab.infra_ns, ca_file, certificate, key))
    with lab.in_client():
        _create_account_and_ou(ca_file, admin_password, bind_password)
    return Directory(AD_DOMAIN, AD_REALM, f"{BIND_ACCOUNT}@{AD_DOMAIN}", bind_password, AMT_OU,
                     ca_file, fake_dc_record)


def _password() -> str:
    # Samba's default policy wants upper case, lower case and a digit.
    return f"Lab-{secrets.token_urlsafe(12)}-Aa1"


# --- TLS: a lab CA and the DC's certificate --------------------------------------------------


def _tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, DC certificate, DC key) as PEM files; the key readable by root only,
    as Samba insists. The fake DC's pair (fake_ldap.py) goes beside them, as
    OUTSIDE_DC_FILES name them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("amt-preflight lab CA")
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    def leaf(host: str, address: str, cert_file: Path, key_file: Path) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            x509.CertificateBuilder().subject_name(name(host)).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(host), x509.IPAddress(ipaddress.ip_address(address))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.touch(mode=0o600)
        key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    directory.mkdir(parents=True)
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "dc.pem", directory / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaf(f"{DC_HOST}.{AD_DOMAIN}", ADDRESSES["dc"], cert_file, key_file)
    outside_cert, outside_key = (directory / f for f in OUTSIDE_DC_FILES)
    leaf(OUTSIDE_DC_HOST, ADDRESSES["outside_dc"], outside_cert, outside_key)
    return ca_file, cert_file, key_file


# --- Samba AD DC -----------------------------------------------------------------------------


def _provision(namespace: str, directory: Path, admin_password: str) -> subprocess.Popen[bytes]:
    """Start `samba-tool domain provision` into `directory`, inside the lab's infra namespace
    (it must reach nothing outside); `_wait` collects it."""
    directory.mkdir(parents=True)
    argv = [
        "samba-tool", "domain", "provision", f"--realm={AD_REALM}",
        f"--domain={NETBIOS_DOMAIN}", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
        f"--adminpass={admin_password}", f"--host-ip={ADDRESSES['dc']}",
        f"--host-name={DC_HOST}", f"--targetdir={directory}",
        f"--option=interfaces = {ADDRESSES['dc']}", "--option=bind interfaces only = yes",
    ]
    argv[0] = programs.path(argv[0])
    with (directory / "provision.log").open("wb") as log:
        return subprocess.Popen(netns.exec_argv(namespace, argv), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)


def _wait(provisioning: subprocess.Popen[bytes], directory: Path) -> None:
    try:
        code = provisioning.wait(PROVISION_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise LabError(f"samba-tool domain provision took over {PROVISION_TIMEOUT:.0f} s; "
                       f"last lines of its log:\n{log_tail(directory / 'provision.log')}"
                       ) from None
    if code != 0:
        raise LabError(f"samba-tool domain provision failed (exit code {code}); last lines of "
                       f"its log:\n{log_tail(directory / 'provision.log')}")


def smb_conf(directory: Path, ca_file: Path, certificate: Path, key: Path) -> str:
    """The DC's smb.conf, written anew after provisioning: only the services the checks use,
    no DNS forwarder (nothing outside the lab is ever asked), every file in the lab folder."""
    return f"""[global]
\tnetbios name = {DC_HOST.upper()}
\tworkgroup = {NETBIOS_DOMAIN}
\trealm = {AD_REALM}
\tserver role = active directory domain controller
\tserver services = ldap, cldap, kdc, dns
\tinterfaces = {ADDRESSES['dc']}
\tbind interfaces only = yes
\tprivate dir = {directory}/private
\tstate directory = {directory}/state
\tcache directory = {directory}/cache
\tlock directory = {directory}
\tbinddns dir = {directory}/bind-dns
\tpid directory = {directory}/run
\tncalrpc dir = {directory}/ncalrpc
\twinbindd socket directory = {directory}/winbindd
\tntp signd socket directory = {directory}/ntp_signd
\tlog file = {directory}/log.%m
\tlogging = file
\tload printers = no
\tprinting = bsd
\tprintcap name = /dev/null
\tdisable spoolss = yes
\ttls enabled = yes
\ttls cafile = {ca_file}
\ttls certfile = {certificate}
\ttls keyfile = {key}
"""


def samba(directory: Path, namespace: str, ca_file: Path, certificate: Path, key: Path) -> Server:
    conf = directory / "etc" / "smb.conf"
    dc = ADDRESSES["dc"]
    return Server(
        name="samba-ad-dc",
        namespace=namespace,
        # One process (--model=single): quicker to start on two cores, and stopped whole by
        # one SIGTERM.
        argv=("samba", "-s", str(conf), "-i", "--no-process-group", "--model=single"),
        files={conf: smb_conf(directory, ca_file, certificate, key)},
        ready=AllReady((
            Listening(dc, KDC_PORT), Listening(dc, 389),
            DnsAnswers(dc, ((f"_ldap._tcp.dc._msdcs.{AD_DOMAIN}", "SRV"),)),
        )),
        start_timeout=SAMBA_START_TIMEOUT,
        stop_grace=5.0,
    )


def _create_account_and_ou(ca_file: Path, admin_password: str, bind_password: str) -> None:
    """The provisioning service account and the OU for AMT computer objects, created over
    LDAP (StartTLS) as Administrator: quicker than two runs of samba-tool."""
    import ssl

    import ldap3

    base = ",".join(f"DC={label}" for label in AD_DOMAIN.split("."))
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file))
    server = ldap3.Server(ADDRESSES["dc"], get_info=ldap3.NONE, tls=tls, connect_timeout=10)
    connection = ldap3.Connection(
        server, user=f"Administrator@{AD_DOMAIN}", password=admin_password,
        auto_bind=ldap3.AUTO_BIND_TLS_BEFORE_BIND, receive_timeout=10,
    )
    try:
        connection.add(AMT_OU, "organizationalUnit")
        ok_ou = connection.result["description"]
        connection.add(
            f"CN={BIND_ACCOUNT},CN=Users,{base}", ["top", "person", "organizationalPerson", "user"],
            {
                "sAMAccountName": BIND_ACCOUNT,
                "userPrincipalName": f"{BIND_ACCOUNT}@{AD_DOMAIN}",
                "unicodePwd": f'"{bind_password}"'.encode("utf-16-le"),
                "userAccountControl": 512,  # a normal, enabled account
            },
        )
        ok_user = connection.result["description"]
    finally:
        connection.unbind()
    if (ok_ou, ok_user) != ("success", "success"):
        raise LabError(f"creating {AMT_OU} and {BIND_ACCOUNT} in the lab AD: {ok_ou}, {ok_user}")


# --- MIT Kerberos ----------------------------------------------------------------------------


def _kdc_environment(directory: Path, profile: str) -> dict[str, str]:
    return {"KRB5_CONFIG": str(directory / "krb5.conf"),
            "KRB5_KDC_PROFILE": str(directory / profile)}


def _kdc_conf(directory: Path, udp: list[str], tcp: list[str], log: str) -> str:
    listen = " ".join(f"{a}:{KDC_PORT}" for a in udp)
    tcp_listen = " ".join(f"{a}:{KDC_PORT}" for a in tcp)
    return f"""[kdcdefaults]
 kdc_listen = {listen}
 kdc_tcp_listen = {tcp_listen}
[realms]
 {MIT_REALM} = {{
  database_name = {directory}/principal
  key_stash_file = {directory}/stash
  acl_file = {directory}/kadm5.acl
  default_principal_flags = +preauth
 }}
[logging]
 kdc = FILE:{directory}/{log}
"""


def _create_kdc_database(directory: Path) -> None:
    """The OTHER.EXAMPLE database (about 15 ms); both MIT KDC processes read it."""
    directory.mkdir(parents=True)
    (directory / "krb5.conf").write_text(f"[libdefaults]\n default_realm = {MIT_REALM}\n")
    mit, tcp_only = ADDRESSES["mit_kdc"], ADDRESSES["tcp_only_kdc"]
    (directory / "kdc.conf").write_text(_kdc_conf(directory, [mit], [mit, tcp_only], "kdc.log"))
    skewed = ADDRESSES["skewed_kdc"]
    (directory / "kdc-skewed.conf").write_text(
        _kdc_conf(directory, [skewed], [skewed], "kdc-skewed.log"))
    argv = [programs.path("kdb5_util"), "create", "-s", "-r", MIT_REALM,
            "-P", secrets.token_urlsafe(16)]
    done = subprocess.run(argv, env={**os.environ, **_kdc_environment(directory, "kdc.conf")},
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise LabError(f"kdb5_util create for {MIT_REALM} failed: {done.stderr.strip()}")


def mit_kdc(directory: Path, namespace: str) -> Server:
    mit, tcp_only = ADDRESSES["mit_kdc"], ADDRESSES["tcp_only_kdc"]
    return Server(
        name="mit-kdc",
        namespace=namespace,
        argv=("krb5kdc", "-n", "-r", MIT_REALM),  # -n: in the foreground
        env=_kdc_environment(directory, "kdc.conf"),
        ready=AllReady((Listening(mit, KDC_PORT), Listening(tcp_only, KDC_PORT, udp=False))),
    )


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise LabError("libfaketime is not installed: apt-get install faketime")
    return found[0]


def skewed_kdc(directory: Path, namespace: str) -> Server:
    return Server(
        name="skewed-kdc",
        namespace=namespace,
        argv=("krb5kdc", "-n", "-r", MIT_REALM),
        env={
            **_kdc_environment(directory, "kdc-skewed.conf"),
            "LD_PRELOAD": libfaketime(),
            "FAKETIME": f"+{CLOCK_AHEAD}",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # its timeouts keep running at the real pace
        },
        ready=Listening(ADDRESSES["skewed_kdc"], KDC_PORT),
    )


# --- slapd posing as another domain's DC -----------------------------------------------------

# rootDSE attributes must be declared to slapd; OIDs from OpenLDAP's experimental arc.
_ROOT_DSE_SCHEMA = "\n".join(
    f"attributetype ( 1.3.6.1.4.1.4203.666.11.7.{n} NAME '{attribute}' "
    f"EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )"
    for n, attribute in enumerate(("defaultNamingContext", "dnsHostName", "ldapServiceName"), 1)
) + "\n"


def other_dc(directory: Path, namespace: str) -> Server:
    address = ADDRESSES["other_dc"]
    base = ",".join(f"DC={label}" for label in OTHER_DOMAIN.split("."))
    files = {
        directory / "rootdse.schema": _ROOT_DSE_SCHEMA,
        directory / "rootdse.ldif": (
            f"dn:\ndefaultNamingContext: {base}\ndnsHostName: {DC_HOST}.{OTHER_DOMAIN}\n"
            f"ldapServiceName: {OTHER_DOMAIN}:{DC_HOST}$@{OTHER_DOMAIN.upper()}\n"),
        directory / "db" / "README": "slapd's mdb database\n",
        directory / "slapd.conf": f"""include /etc/ldap/schema/core.schema
include {directory}/rootdse.schema
pidfile {directory}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
rootDSE {directory}/rootdse.ldif
database mdb
suffix "{base.lower()}"
directory {directory}/db
""",
    }
    return Server(
        name="other-dc-slapd",
        namespace=namespace,
        # -d 0: in the foreground, without debug output
        argv=("slapd", "-f", str(directory / "slapd.conf"), "-h", f"ldap://{address}:389/",
              "-d", "0"),
        files=files,
        ready=Listening(address, 389, udp=False),
    )


# --- misbehaving KDCs ------------------------------------------------------------------------


def fake_kdcs(namespace: str) -> Server:
    roles = {"garbage": "garbage_kdc", "truncated": "truncated_kdc", "huge": "huge_kdc"}
    argv = [sys.executable, "-m", "lab.fake_kdc"]
    for kind, role in roles.items():
        argv += [f"--{kind}", ADDRESSES[role]]
    argv += ["--picky", f"{ADDRESSES['picky_kdc']}={AD_REALM}"]
    return Server(
        name="fake-kdcs",
        namespace=namespace,
        argv=tuple(argv),
        env=own_module_env(),
        ready=AllReady(tuple(Listening(ADDRESSES[r], KDC_PORT)
                             for r in (*roles.values(), "picky_kdc"))),
    )


# --- misbehaving LDAP servers ----------------------------------------------------------------


def fake_ldaps(namespace: str, tls_dir: Path, record: Path) -> Server:
    """fake_ldap.py: the huge and dripping servers, and the DC outside its domain."""
    record.parent.mkdir(parents=True, exist_ok=True)
    record.touch()
    cert, key = (tls_dir / f for f in OUTSIDE_DC_FILES)
    argv = (sys.executable, "-m", "lab.fake_ldap",
            "--huge", ADDRESSES["huge_ldap"], "--drip", ADDRESSES["drip_ldap"],
            "--dc", ADDRESSES["outside_dc"], "--domain", OUTSIDE_SRV_DOMAIN,
            "--host", OUTSIDE_DC_HOST, "--cert", str(cert), "--key", str(key),
            "--record", str(record))
    return Server(
        name="fake-ldap",
        namespace=namespace,
        argv=argv,
        env=own_module_env(),
        ready=AllReady(tuple(Listening(ADDRESSES[r], 389, udp=False)
                             for r in ("huge_ldap", "drip_ldap", "outside_dc"))),
    )
