"""`amt-preflight validate`: everything about a config short of network traffic.

The config itself (parse and validation: file, line and key), then every secret it names (set?
readable? never shown), every file (certificates, keys, CA files, device reports), each site's
interface, and the privileges the selected checks need. Every problem is listed, not only the
first.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

from amt_preflight.config import Config, SecretRef, SiteConfig
from amt_preflight.secrets import SecretError, read_secret

CAP_NET_BIND_SERVICE = 10  # capability bits (linux/capability.h)
CAP_NET_RAW = 13


def _capabilities() -> int:
    """This process's effective capabilities (all of them for root)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return ~0 if os.geteuid() == 0 else 0


def _secrets(config: Config) -> Iterator[tuple[str, SecretRef | None, str]]:
    """(config key, where the secret comes from, its stem) for every secret the config names."""
    for i, site in enumerate(config.sites):
        at = f"sites[{i}]"
        if site.ad is not None:
            yield f"{at}.ad.bind_password", site.ad.bind_password, "bind_password"
        psk = site.handshake.psk
        if psk is not None:
            yield f"{at}.handshake.psk.pid", psk.pid, "pid"
            yield f"{at}.handshake.psk.pps", psk.pps, "pps"
        for j, device in enumerate(site.snmp.devices):
            for key in ("community", "auth_key", "priv_key"):
                yield f"{at}.snmp.devices[{j}].{key}", getattr(device, key), key
        for j, domain in enumerate(site.domains):
            ref = domain.certificate
            if ref is not None and (ref.password_env or ref.password_file):
                yield (f"{at}.domains[{j}].certificate.password",
                       SecretRef(env=ref.password_env, file=ref.password_file), "password")
    trap = config.notify.snmp_trap
    if trap is not None:
        for key in ("community", "auth_key", "priv_key"):
            yield f"notify.snmp_trap.{key}", getattr(trap, key), key


def _file(config: Config, key: str, path: Path) -> str:
    resolved = config.resolve(path)
    if not resolved.exists():
        return f"{key}: {resolved} does not exist"
    if not resolved.is_file():
        return f"{key}: {resolved} is not a regular file"
    if not os.access(resolved, os.R_OK):
        return f"{key}: {resolved} is not readable by this user"
    return ""


def _files(config: Config, i: int, site: SiteConfig) -> Iterator[str]:
    at = f"sites[{i}]"
    if site.ad is not None and site.ad.tls_ca_file is not None:
        yield _file(config, f"{at}.ad.tls_ca_file", site.ad.tls_ca_file)
    for j, domain in enumerate(site.domains):
        ref = domain.certificate
        if ref is not None:
            yield _file(config, f"{at}.domains[{j}].certificate.file", ref.file)
            if ref.key_file is not None:
                yield _file(config, f"{at}.domains[{j}].certificate.key_file", ref.key_file)
    for j, pattern in enumerate(site.amt.devices):
        matched = glob.glob(str(config.resolve(Path(pattern))))
        if not matched:
            yield f"{at}.amt.devices[{j}]: {pattern!r} matches no file"


def _privileges(config: Config, i: int, site: SiteConfig, selected: set[str]) -> Iterator[str]:
    at = f"sites[{i}]"
    capabilities = _capabilities()
    if site.interface is not None:
        if not Path("/sys/class/net", site.interface).exists():
            yield f"{at}.interface: {site.interface} is not a network interface of this host"
        if any(c.startswith("DHCP-") for c in selected) and not capabilities >> CAP_NET_RAW & 1:
            yield (f"{at}.interface: the DHCP checks send raw packets: run as root or with "
                   "CAP_NET_RAW (e.g. AmbientCapabilities=CAP_NET_RAW)")
    port = int(site.handshake.listen.rpartition(":")[2])
    if (port < 1024 and any(c.startswith("HS-") for c in selected)
            and not capabilities >> CAP_NET_BIND_SERVICE & 1):
        yield (f"{at}.handshake.listen: port {port} needs root or CAP_NET_BIND_SERVICE")


def problems(config: Config, selected: set[str]) -> list[str]:
    """Every problem of a config that loaded, in the order of the file; [] when none."""
    found: list[str] = []
    for key, ref, stem in _secrets(config):
        if ref is None:
            continue
        try:
            read_secret(ref, config, stem)
        except SecretError as exc:
            found.append(f"{key}: {exc}")
    for i, site in enumerate(config.sites):
        found += [p for p in _files(config, i, site) if p]
        found += list(_privileges(config, i, site, selected))
    return found
