"""config.yaml: load, validate, and explain every mistake by file, line and key.

The keys are those of CHECKS.md ("the keys every version understands"). Secrets are never
written in the file: `*_env` names an environment variable, `*_file` a file holding it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import field, replace
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from amt_preflight.model import Severity
from amt_preflight.typed import (
    After,
    Invalid,
    Limits,
    field_validator,
    model_validator,
    record,
    validate,
)

try:  # the C loader is several times faster on big site lists
    from yaml import CSafeLoader as YamlLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as YamlLoader  # type: ignore[assignment]


class ConfigError(Exception):
    """A config file that cannot be used; the message names file, line and key."""

    def __init__(self, path: Path | str, line: int | None, key: str, problem: str) -> None:
        self.path, self.line, self.key, self.problem = str(path), line, key, problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


# Inline secrets get their own message: the key is not merely unknown, it is dangerous.
SECRET_KEYS = {
    "password", "bind_password", "community", "auth_key", "priv_key", "pid", "pps", "psk_key",
}

Seconds = Annotated[float, Limits(gt=0, le=86400)]
Port = Annotated[int, Limits(ge=1, le=65535)]
DomainName = Annotated[str, Limits(min_length=1, max_length=253)]


@lru_cache(maxsize=4096)  # a provisioning server or resolver is named once a domain or site
def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


IpAddress = Annotated[str, After(_ip)]


@record(kw_only=True)
class SecretRef:
    """Where a secret comes from: an environment variable or a file, never the YAML."""

    env: str | None = None
    file: Path | None = None


def _secret_pair(obj: object, stem: str) -> SecretRef | None:
    env, file = getattr(obj, f"{stem}_env"), getattr(obj, f"{stem}_file")
    if env is None and file is None:
        return None
    return SecretRef(env=env, file=file)


@record(kw_only=True)
class Defaults:
    """`defaults`: each probe's timeout and retries, the run's deadline and concurrency."""

    timeout: Seconds = 3.0
    retries: Annotated[int, Limits(ge=0, le=10)] = 1
    deadline: Seconds = 300.0
    concurrency: Annotated[int, Limits(ge=1, le=10000)] = 64
    allow_intrusive: bool = False


@record(kw_only=True)
class DhcpConfig:
    """A site's `dhcp`: the servers allowed to answer, and how long to listen."""

    allowed_servers: list[IpAddress] = field(default_factory=list)
    window: Seconds = 5.0
    register_wait: Seconds = 10.0


@record(kw_only=True)
class AdConfig:
    """A site's `ad`: the Active Directory domain, its KDCs and the account to bind as."""

    domain: DomainName
    realm: str | None = None
    kdcs: list[str] = field(default_factory=list)
    max_skew: Seconds = 300.0
    bind_user: str | None = None
    bind_password_env: str | None = None
    bind_password_file: Path | None = None
    amt_ou: str | None = None
    # PEM file of the CA(s) that issued the DCs' LDAP certificates, for StartTLS before the
    # bind; default: the system's trust store (which honours SSL_CERT_FILE)
    tls_ca_file: Path | None = None

    @field_validator("domain")
    @classmethod
    def _domain_name(cls, value: str) -> str:
        return _domain(value)

    @field_validator("kdcs")
    @classmethod
    def _kdcs(cls, values: list[str]) -> list[str]:
        """Each KDC (and DC) is an IP address or a host name."""
        out = []
        for value in values:
            try:
                out.append(str(ipaddress.ip_address(value)))
            except ValueError:
                out.append(_domain(value))
        return out

    @property
    def effective_realm(self) -> str:
        return self.realm or self.domain.upper()

    @property
    def bind_password(self) -> SecretRef | None:
        return _secret_pair(self, "bind_password")


HASH_LENGTHS = {40: "sha1", 64: "sha256", 96: "sha384"}


def _device_pattern(value: str) -> str:
    if not value.strip():
        raise ValueError("an empty path: give a file or a glob such as inventory/*.json")
    if "\x00" in value:
        raise ValueError("a path cannot hold a NUL character")
    return value


DevicePattern = Annotated[str, Limits(max_length=4096), After(_device_pattern)]


@record(kw_only=True)
class AmtConfig:
    """A site's `amt`: the devices' generations, root hashes, reports and flow."""

    # AMT major versions; remote configuration exists from AMT 2.2 on (AMT-FACTS.md)
    generations: list[Annotated[int, Limits(ge=2, le=99)]] = field(default_factory=list)
    custom_root_hashes: list[str] = field(default_factory=list)
    # Files or globs of `rpc amtinfo -cert -json` output (one device, or a JSON array of
    # them, per file), relative to the config file: the devices' own hash lists and suffixes
    devices: list[DevicePattern] = field(default_factory=list)
    # How devices are activated (AMT-FACTS.md, "Two activation flows"): remote-config (hello
    # to ProvisionServer, connect-back) or host-based (an agent on the OS: rpc-go, EMA)
    flow: Literal["remote-config", "host-based"] = "remote-config"
    # The PKI DNS suffix set in MEBx (or by USB setup): the firmware takes it instead of
    # option 15 for the certificate's domain
    pki_dns_suffix: str | None = None

    @field_validator("pki_dns_suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        return _domain(value) if value is not None else None

    @field_validator("custom_root_hashes")
    @classmethod
    def _hashes(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            h = value.replace(":", "").replace(" ", "").lower()
            if not re.fullmatch(r"[0-9a-f]+", h) or len(h) not in HASH_LENGTHS:
                raise ValueError(f"{value!r} is not a hex SHA-1, SHA-256 or SHA-384 hash")
            out.append(h)
        return out


@record(kw_only=True)
class EnterpriseCa:
    """`ca.enterprise`: the enterprise CA's host and the ports it must answer on."""

    host: str
    ports: list[Port] = field(default_factory=lambda: [135, 443])


@record(kw_only=True)
class CaConfig:
    """A site's `ca`."""

    enterprise: EnterpriseCa | None = None


@record(kw_only=True)
class PskConfig:
    """`handshake.psk`: where the TLS-PSK PID and PPS come from."""

    pid_env: str | None = None
    pid_file: Path | None = None
    pps_env: str | None = None
    pps_file: Path | None = None

    @model_validator(mode="after")
    def _both(self) -> PskConfig:
        if self.pid is None or self.pps is None:
            raise ValueError("TLS-PSK needs the PID (pid_env or pid_file) and the PPS "
                             "(pps_env or pps_file)")
        return self

    @property
    def pid(self) -> SecretRef | None:
        return _secret_pair(self, "pid")

    @property
    def pps(self) -> SecretRef | None:
        return _secret_pair(self, "pps")


@record(kw_only=True)
class HandshakeConfig:
    """A site's `handshake`: the hello port, the connect-back listener, spacing."""

    hello_port: Port = 9971
    listen: str = "0.0.0.0:16993"
    connect_back_timeout: Seconds = 60.0
    # seconds between two hellos to one provisioning server: after a connect-back it ignores
    # further hellos from the same address for a while (AMT-FACTS.md)
    hello_spacing: Annotated[float, Limits(ge=0, le=600)] = 8.0
    psk: PskConfig | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not ADDRESS:PORT")
        _ip(host.strip("[]"))
        return value


SnmpAuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
SnmpPrivProtocol = Literal["DES", "3DES", "AES", "AES128", "AES192", "AES256"]


@record(kw_only=True)
class SnmpCredentials:
    """SNMPv2c (a community) or SNMPv3 USM (a user with an auth key, and a privacy key for
    authPriv), each secret from an environment variable or a file."""

    community_env: str | None = None
    community_file: Path | None = None
    user: str | None = None
    auth_protocol: SnmpAuthProtocol | None = None
    auth_key_env: str | None = None
    auth_key_file: Path | None = None
    priv_protocol: SnmpPrivProtocol | None = None
    priv_key_env: str | None = None
    priv_key_file: Path | None = None

    @model_validator(mode="after")
    def _one_security_model(self) -> SnmpCredentials:
        v2c, v3 = self.community is not None, self.user is not None
        if v2c == v3:
            raise ValueError("give community_env or community_file (SNMPv2c), or user "
                             "with auth_protocol and auth_key_env or auth_key_file (SNMPv3)")
        if v2c and (self.auth_protocol or self.auth_key or self.priv_protocol or self.priv_key):
            raise ValueError("SNMPv2c (community) takes no auth_* or priv_* keys; "
                             "for SNMPv3 give user instead of the community")
        if v3 and (self.auth_protocol is None or self.auth_key is None):
            raise ValueError("SNMPv3 needs auth_protocol and auth_key_env or auth_key_file "
                             "(authNoPriv or authPriv)")
        if (self.priv_protocol is None) != (self.priv_key is None):
            raise ValueError("privacy needs both priv_protocol and priv_key_env or "
                             "priv_key_file")
        return self

    @property
    def community(self) -> SecretRef | None:
        return _secret_pair(self, "community")

    @property
    def auth_key(self) -> SecretRef | None:
        return _secret_pair(self, "auth_key")

    @property
    def priv_key(self) -> SecretRef | None:
        return _secret_pair(self, "priv_key")


@record(kw_only=True)
class SnmpDevice(SnmpCredentials):
    """One device of `snmp.devices`: its address, interfaces and processes."""

    host: str
    port: Port = 161
    # by ifName or ifDescr, or by ifIndex (a number)
    interfaces: list[str | int] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)  # hrSWRunName values that must run


@record(kw_only=True)
class SnmpConfig:
    """A site's `snmp`."""

    devices: list[SnmpDevice] = field(default_factory=list)

    @field_validator("devices")
    @classmethod
    def _hosts_once(cls, devices: list[SnmpDevice]) -> list[SnmpDevice]:
        hosts = [d.host for d in devices]
        for index, host in enumerate(hosts):
            if host in hosts[:index]:  # the host names the device's results
                raise ValueError(f"{host} is listed twice")
        return devices


@record(kw_only=True)
class CertificateRef:
    """A domain's provisioning certificate: its file, key and password."""

    file: Path
    key_file: Path | None = None
    password_env: str | None = None
    password_file: Path | None = None


@record(kw_only=True)
class DomainConfig:
    """One of a site's `domains`: its name, provisioning server and certificate."""

    name: DomainName
    provision_server: list[IpAddress] = field(default_factory=list)
    certificate: CertificateRef | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _domain(value)


_DOMAIN_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")


def _domain(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    if not _DOMAIN_NAME.fullmatch(name):
        raise ValueError(f"{value!r} is not a DNS domain name")
    return name


@record(kw_only=True)
class SiteConfig:
    """One of `sites`: a network segment surveyed as a whole."""

    name: Annotated[str, Limits(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$")]
    interface: str | None = None
    resolvers: list[IpAddress] = field(default_factory=list)
    dhcp: DhcpConfig = field(default_factory=DhcpConfig)
    ad: AdConfig | None = None
    amt: AmtConfig = field(default_factory=AmtConfig)
    ca: CaConfig = field(default_factory=CaConfig)
    handshake: HandshakeConfig = field(default_factory=HandshakeConfig)
    snmp: SnmpConfig = field(default_factory=SnmpConfig)
    domains: list[DomainConfig] = field(default_factory=list)

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.domains]


CheckPattern = Annotated[str, Limits(pattern=r"^[A-Za-z0-9*?\[\]-]+$")]


@record(kw_only=True)
class ChecksConfig:
    """`checks`: checks disabled, severities changed, the certificate warning."""

    disable: list[CheckPattern] = field(default_factory=list)
    # by check ID (upper case; config.yaml's in any case)
    severity: dict[str, Severity] = field(default_factory=dict)
    cert_warn_days: Annotated[int, Limits(ge=0, le=3650)] = 30

    @field_validator("severity")
    @classmethod
    def _ids_upper(cls, values: dict[str, Severity]) -> dict[str, Severity]:
        """Check IDs are matched case-insensitively everywhere in the config (disable,
        waivers): here too, so `cert-chain-length: info` is not ignored in silence."""
        return {key.upper(): value for key, value in values.items()}


@record(kw_only=True)
class WaiverConfig:
    """One of `waivers`: a failing check accepted, for a reason, maybe until a date."""

    check: CheckPattern
    reason: Annotated[str, Limits(min_length=1)]
    site: str | None = None
    target: str | None = None
    owner: str | None = None
    expires: date | None = None


@record(kw_only=True)
class SnmpTrapConfig(SnmpCredentials):
    """`notify.snmp_trap`: where a trap goes when a site's verdict worsens."""

    host: str
    port: Port = 162
    # SNMPv3: the engine ID the traps are sent from, which the receiver's user is bound to
    # (snmptrapd: createUser -e ENGINE_ID ...); default: amt_preflight.notify.ENGINE_ID
    engine_id: str | None = None

    @field_validator("engine_id")
    @classmethod
    def _engine_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.lower().removeprefix("0x").replace(":", "")
        if not re.fullmatch(r"[0-9a-f]{10,64}", digits) or len(digits) % 2:
            raise ValueError(f"{value!r} is not an engine ID: 5 to 32 bytes in hex")
        return digits


@record(kw_only=True)
class NotifyConfig:
    """`notify`."""

    snmp_trap: SnmpTrapConfig | None = None


@record(kw_only=True)
class Config:
    """A whole config.yaml."""

    defaults: Defaults = field(default_factory=Defaults)
    sites: Annotated[list[SiteConfig], Limits(min_length=1)]
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    waivers: list[WaiverConfig] = field(default_factory=list)
    history: Path | None = None
    # After each stored run, delete the runs finished more than this many days ago
    history_keep_days: Annotated[int, Limits(ge=1)] | None = None
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    # Where the file was read from: relative paths in it are relative to its folder. Not a
    # key of the file: parse sets it.
    source: Path = field(default=Path("config.yaml"), compare=False, repr=False,
                         metadata={"yaml": False})

    def resolve(self, path: Path) -> Path:
        """A path from the file, made relative to the file's folder."""
        return path if path.is_absolute() else self.source.parent / path


# --- loading with positions ----------------------------------------------------------

Loc = tuple[Any, ...]  # keys and indexes (a key YAML did not write as text: as it came)


def _positions(
    node: yaml.Node, path: Loc, out: dict[Loc, int], paths: dict[int, Loc], source: str
) -> None:
    """Record the line of every key and item, and the path of every node; refuse duplicate
    keys (PyYAML keeps the last one silently, which hides typos)."""
    out.setdefault(path, node.start_mark.line + 1)
    paths[id(node)] = path
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(source, line, _dotted((*path, key)), "key given twice")
            seen.add(key)
            out[(*path, key)] = line
            _positions(value_node, (*path, key), out, paths, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[(*path, index)] = item.start_mark.line + 1
            _positions(item, (*path, index), out, paths, source)


def _duplicate_key(node: yaml.Node) -> bool:
    """Whether some mapping gives a key twice; walked as _positions walks (a frame a level),
    so a document nested too deeply for one is too deep for the other."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen or _duplicate_key(value_node):
                return True
            seen.add(key)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if _duplicate_key(item):
                return True
    return False


class _Layout:
    """Where the document's keys and items are (lines) and each node's path, worked out only
    when a problem is named or a key's line is wanted: a config of 1,000 domains has some
    6,000 nodes, and most runs name no problem."""

    def __init__(self, root: yaml.Node, source: Path) -> None:
        self._root, self._source = root, source

    @cached_property
    def _walked(self) -> tuple[dict[Loc, int], dict[int, Loc]]:
        positions: dict[Loc, int] = {}
        paths: dict[int, Loc] = {}
        try:
            _positions(self._root, (), positions, paths, str(self._source))
        except RecursionError:
            raise ConfigError(self._source, None, "", "the YAML is nested too deeply") from None
        return positions, paths

    @property
    def positions(self) -> dict[Loc, int]:
        """Line of every key and item, by path."""
        return self._walked[0]

    @property
    def paths(self) -> dict[int, Loc]:
        """Path of every node, by id()."""
        return self._walked[1]


# An alias repeats its anchor's whole subtree wherever it is used, so nine lines of YAML can
# stand for billions of nodes (an alias bomb) that walking or validating the document would
# expand. Anchors and aliases stay usable (`<<: *defaults` in every site): the document as
# expanded may hold at most this many times the nodes written, plus an allowance.
EXPANSION_FACTOR = 10
EXPANSION_ALLOWANCE = 10_000


def _children(node: yaml.Node, path: Loc) -> list[tuple[Loc, yaml.Node, int]]:
    """(path, node, line where it is referred to): an alias is composed into the very node
    of its anchor, whose own line is the anchor's, so the key's line says where it is used."""
    if isinstance(node, yaml.MappingNode):
        found: list[tuple[Loc, yaml.Node, int]] = []
        for key_node, value_node in node.value:
            where = (*path, str(key_node.value) if isinstance(key_node, yaml.ScalarNode)
                     else "?")
            line = key_node.start_mark.line + 1
            found += [(where, key_node, line), (where, value_node, line)]
        return found
    if isinstance(node, yaml.SequenceNode):
        line = node.start_mark.line + 1
        return [((*path, index), item, line) for index, item in enumerate(node.value)]
    return []


def _refuse_alias_bombs(root: yaml.Node, source: str) -> None:
    """ConfigError, naming the line and key, when aliases make the document expand beyond
    EXPANSION_FACTOR times what is written (or refer to a node that holds them): checked on
    the composed graph, where every alias is the very node of its anchor, in time linear in
    the nodes written, before anything walks the document as a tree."""
    written: set[int] = set()
    shared = False  # a node referred to twice: only an alias makes one
    pending = [root]
    while pending:  # the nodes written, each once however often it is referred to
        node = pending.pop()
        if id(node) in written:
            shared = True
            continue
        written.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                pending += (key_node, value_node)
        elif isinstance(node, yaml.SequenceNode):
            pending += node.value
    if not shared:  # no alias: the document is as big as written, and holds no cycle
        return
    limit = EXPANSION_FACTOR * len(written) + EXPANSION_ALLOWANCE
    sizes: dict[int, int] = {}
    inside: set[int] = set()

    def expanded(node: yaml.Node, path: Loc, line: int) -> int:
        size = sizes.get(id(node))
        if size is not None:
            return size
        if id(node) in inside:
            raise ConfigError(source, line, _dotted(path),
                              "a YAML alias refers to a node that holds it (a recursive alias)")
        inside.add(id(node))
        size = 1
        for child_path, child, child_line in _children(node, path):
            size += expanded(child, child_path, child_line)
            if size > limit:
                raise ConfigError(
                    source, node.start_mark.line + 1, _dotted(path),
                    f"YAML anchors and aliases expand this to more than {limit:,} nodes (an "
                    "alias bomb?): write the values out, or refer to anchors less often")
        inside.discard(id(node))
        sizes[id(node)] = size
        return size

    expanded(root, (), root.start_mark.line + 1)


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_of(loc: Loc, positions: dict[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in positions:
            return positions[loc[:end]]
    return None


def _explain(error: Invalid) -> tuple[Loc, str]:
    """The walker's problem as (the key's path, a sentence a user can act on)."""
    loc: Loc = tuple(p for p in error.loc if not (isinstance(p, str) and "[" in p))
    kind, msg = error.kind, error.message
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        if key in SECRET_KEYS:
            return loc, (
                f"secrets are never written in the config: use {key}_env (an environment "
                f"variable) or {key}_file (a file that holds it)"
            )
        return loc, "unknown key"
    if kind == "missing":
        return loc, "required key is missing"
    if kind == "value_error":
        return loc, msg
    got = error.value
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    return loc, f"{msg[0].lower()}{msg[1:]}{shown}"


def _bad_scalar(node: yaml.Node) -> yaml.Node | None:
    """The first scalar that the safe constructor cannot turn into a value."""
    if isinstance(node, yaml.ScalarNode):
        try:
            YamlLoader("").construct_object(node, deep=True)
        except Exception:  # whatever the constructor raises, this is the value it chokes on
            return node
        return None
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [value for _, value in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        found = _bad_scalar(child)
        if found is not None:
            return found
    return None


def parse(text: str, source: Path) -> Config:
    """Validate a config document; ConfigError names the first problem's line and key."""
    loader = YamlLoader(text)
    try:
        node = loader.get_single_node()
    except RecursionError:
        raise ConfigError(source, None, "", "the YAML is nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            source, mark.line + 1 if mark else None, "", f"YAML syntax: {exc.problem}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, None, "", f"YAML syntax: {exc}") from None
    if node is None:
        raise ConfigError(source, None, "", "the file is empty")
    try:
        _refuse_alias_bombs(node, str(source))  # before anything walks it as a tree
        # PyYAML keeps the last of a key given twice silently, which hides typos
        if _duplicate_key(node):
            _positions(node, (), {}, {}, str(source))  # raises, naming the first
    except RecursionError:
        raise ConfigError(source, None, "", "the YAML is nested too deeply") from None
    layout = _Layout(node, source)
    try:  # values from the same parse, not a second one
        data = loader.construct_document(node)
    except RecursionError:
        raise ConfigError(source, None, "", "the YAML is nested too deeply") from None
    except Exception as exc:  # e.g. a date like 2027-13-01, or a !!timestamp tag on a
        # mapping (PyYAML's constructor raises AttributeError for it): a config error, 78
        bad = _bad_scalar(node)
        line = bad.start_mark.line + 1 if bad else None
        key = _dotted(layout.paths.get(id(bad), ())) if bad else ""
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(source, line, key, f"invalid value: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(source, 1, "", "the top level must be a mapping of keys")
    try:
        config = replace(validate(Config, data), source=source)
    except Invalid as exc:
        loc, problem = _explain(exc)
        raise ConfigError(source, _line_of(loc, layout.positions), _dotted(loc), problem
                          ) from None
    _refuse_duplicates(config, layout, source)
    _refuse_unknown_names(config, layout, source)
    return config


def _refuse_duplicates(config: Config, layout: _Layout, source: Path) -> None:
    """Site names and each site's domains identify results: each must be unique."""
    lists: list[tuple[Loc, list[str]]] = [(("sites",), [s.name for s in config.sites])]
    lists += [(("sites", i, "domains"), s.domain_names) for i, s in enumerate(config.sites)]
    for where, names in lists:
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                loc = (*where, index, "name")
                raise ConfigError(source, _line_of(loc, layout.positions), _dotted(loc),
                                  f"{name} is listed twice")
            seen.add(name)


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[")


def _check_problem(name: str, ids: Sequence[str], patterns: bool) -> str | None:
    """Why `name` selects no check ("" never); None when it names or matches one. Check IDs
    and patterns compare case-insensitively, as the engine matches them."""
    wanted = name.upper()
    if _is_pattern(wanted):
        if not patterns:
            return f"{name!r} is a pattern: this key takes one check ID"
        if any(fnmatch.fnmatchcase(i, wanted) for i in ids):
            return None
        return f"the pattern {name!r} matches no check ID (see `amt-preflight checks`)"
    if wanted in ids:
        return None
    import difflib  # only for this hint, when the config names an unknown check

    close = difflib.get_close_matches(wanted, ids, n=1, cutoff=0.75)
    hint = f": did you mean {close[0]}?" if close else " (see `amt-preflight checks`)"
    return f"{name!r} is not a check ID{hint}"


def _refuse_unknown_names(config: Config, layout: _Layout, source: Path) -> None:
    """Every check ID and pattern the config names selects a check, and every waiver's site
    exists (CHECKS.md): a typo must never waive or disable nothing in silence.

    The check IDs come from the catalogue's index (amt_preflight.checks.IDS): no check
    module is imported for them."""
    from amt_preflight.checks import IDS

    ids = sorted(IDS)
    named: list[tuple[Loc, str, bool]] = [
        (("checks", "disable", i), p, True) for i, p in enumerate(config.checks.disable)]
    # severity keys are upper-cased by the model: the line is the one of the key as written
    written = {str(loc[2]).upper(): loc for loc in layout.positions
               if len(loc) == 3 and loc[:2] == ("checks", "severity")
               } if config.checks.severity else {}
    named += [(written.get(k, ("checks", "severity", k)), str(written.get(k, (k,))[-1]), False)
              for k in config.checks.severity]
    named += [(("waivers", i, "check"), w.check, True) for i, w in enumerate(config.waivers)]
    for loc, name, patterns in named:
        problem = _check_problem(name, ids, patterns)
        if problem is not None:
            raise ConfigError(source, _line_of(loc, layout.positions), _dotted(loc), problem)
    sites = [s.name for s in config.sites]
    for index, waiver in enumerate(config.waivers):
        if waiver.site is not None and waiver.site not in sites:
            loc = ("waivers", index, "site")
            raise ConfigError(source, _line_of(loc, layout.positions), _dotted(loc),
                              f"no site is named {waiver.site!r} (sites: {', '.join(sites)})")


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, "", f"cannot read: {exc}") from None
    return parse(text, path)
