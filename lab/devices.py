"""The lab's fleet: the reports its devices would give, as `rpc amtinfo -cert -json` (Open
AMT rpc-go) prints them, for the DEV-* checks of `make demo` (config.yaml's hq site reads
them through amt.devices).

Forty devices of site hq (domain corp.example, certificate chaining to the lab root): most
hold the lab root's hash active and are ready; two lost it (an unprovisioning wiped the
inserted hash), two hold it inactive, two have no PKI DNS suffix but the right OS suffix
(they still activate), two carry a suffix the certificate does not cover, one is in client
control mode, one already in admin control mode, and one file is cut short.

    files(root_sha256) -> {file name: bytes}   the reports, in memory (tests use this)
    publish(folder)                            the reports, into the folder config.yaml names
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import pki

DOMAIN = "corp.example"
FOLDER = pki.PUBLISHED / "devices"  # config.yaml: amt.devices: [lab-pki/devices/*.json]
LAB_ROOT_NAME = "amt-preflight Lab Root CA"  # as the hash was named when inserted
PRE_PROVISIONING = "pre-provisioning state"
CLIENT = "activated in client control mode"
ADMIN = "activated in admin control mode"

# Factory default hashes (SHA-256) as real devices list them (AMT-FACTS.md, "Root hashes in
# firmware"): an AMT 11.8 device's 19, and the 23 of a newer device.
_OLDER = (
    ("VeriSign Class 3 Primary CA-G1",
     "e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70"),
    ("VeriSign Class 3 Primary CA-G1.5",
     "a4b6b3996fc2f306b3fd8681bd63413d8c5009cc4fa329c2ccf0e2fa1b140305"),
    ("VeriSign Class 3 Primary CA-G2",
     "83ce3c1229688a593d485f81973c0f9195431eda37cc5e36430e79c7a888638b"),
    ("VeriSign Class 3 Primary CA-G3",
     "eb04cf5eb1f39afa762f2bb120f296cba520c1b97db1589565b81cb9a17b7244"),
    ("GTE CyberTrust Global Root",
     "a53125188d2110aa964b02c7b7c6da3203170894e5fb71fffb6667d5e6810a36"),
)
_BOTH = (
    ("VeriSign Class 3 Primary CA-G5",
     "9acfab7e43c8d880d06b262a94deeee4b4659989c3d0caf19baf6405e41ab7df"),
    ("VeriSign Universal Root CA",
     "2399561127a57125de8cefea610ddf2fa078b5c8067f4e828290bfb860e84b3c"),
    ("Baltimore CyberTrust Root",
     "16af57a9f676b0ab126095aa5ebadef22ab31119d644ac95cd4b93dbf3f26aeb"),
    ("Cybertrust Global Root", "960adf0063e96356750c2965dd0a0867da0b9cbd6e77714aeafb2349ab393da3"),
    ("Verizon Global Root CA", "68ad50909b04363c605ef13581a939ff2c96372e3f12325b0a6861e1d59f6603"),
    ("Entrust.net CA (2048)", "6dc47172e01cbcb0bf62580d895fe2b8ac9ad4f873801e0c10b9c837d21eb177"),
    ("Entrust Root CA", "73c176434f1bc6d5adf45b0e76e727287c8de57616c1e6e6141a2b2cbc7d8e4c"),
    ("Entrust Root CA-G2", "43df5774b03e7fef5fe40d931a7bedf1bb2e6b42738c4e6d3841103d3aa7f339"),
    ("AffirmTrust Premium CA", "70a73f7f376b60074248904534b11482d5bf0e698ecc498df52577ebf2e93b9a"),
    ("Go Daddy Class 2 CA", "c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4"),
    ("Go Daddy Root CA-G2", "45140b3247eb9cc8c5b4f0d7b53091f73292089e6e5a63e2749dd3aca9198eda"),
    ("Comodo AAA CA", "d7a7a0fb5d7e2731d771e9484ebcdef71d5f0c3e0a2948782bc83ee0ea699ef4"),
    ("Starfield Class 2 CA", "1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658"),
    ("Starfield Root CA-G2", "2ce1cb0bf9d2f9e102993fbe215152c3b2dd0cabde1c68e5319b839154dbb7f5"),
)
_NEWER = (
    ("DigiCert Global Root CA",
     "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161"),
    ("DigiCert Global Root G2",
     "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f"),
    ("DigiCert Global Root G3",
     "31ad6648f8104138c738f39ea4320133393e3a18cc02296ef97c2ac9ef6731d0"),
    ("DigiCert Trusted Root G4",
     "552f7bdcf1a7af9e6ce672017f4f12abf77240c78e761ac203d1d9d20ac89988"),
    ("GlobalSign Root CA-R3", "cbb522d7b7f127ad6a0113865bdf1cd4102e7d0759af635a7cf4720dc963c53b"),
    ("GlobalSign ECC Root CA-R5",
     "179fbc148a3dd00fd24ea13458cc43bfa7f59c8182d783a513f6ebec100c8924"),
    ("GlobalSign Root CA-R6", "2cabeafe37d06ca22aba7391c0033d25982952c453647349763a3ab5ad6ccf69"),
    ("Default Root 27", "67540a47aa5b9f34570a99723cfefa96a96ee3f0d9b8bf4def9440b8065d665d"),
    ("Default Root 28", "7224395222cd588c4f2683716922addb41e39b581ac34fa87b39efa896fbb39e"),
)
DEFAULT_HASHES = {11: _OLDER + _BOTH, 16: _BOTH + _NEWER}
# Firmware version, build, SKU (AMT Pro Corporate) per generation, as rpc-go prints them
FIRMWARE = {11: ("11.8.94", "3425", "16392"), 16: ("16.1.27", "2225", "16392")}


@dataclass(frozen=True)
class LabDevice:
    """One device of the lab's fleet and what is wrong with it, if anything."""

    number: int
    generation: int = 16
    dns_suffix: str = DOMAIN  # the PKI DNS suffix set in MEBx
    dns_suffix_os: str = DOMAIN
    control_mode: str = PRE_PROVISIONING
    lab_root: str = "active"  # "active", "inactive", "missing"
    corrupt: bool = False  # the file is cut short (a copy interrupted)

    @property
    def hostname(self) -> str:
        return f"hq-ws{self.number:03d}"


def _fleet() -> tuple[LabDevice, ...]:
    ready = [LabDevice(n, generation=11 if n % 4 == 0 else 16) for n in range(1, 30)]
    # Hidden differences the tool must forgive: a trailing dot, upper case (rpc-go trims
    # the first; names compare case-insensitively)
    ready[6] = LabDevice(7, dns_suffix=f"{DOMAIN}.")
    ready[12] = LabDevice(13, dns_suffix=DOMAIN.upper())
    return (*ready,
            LabDevice(30, dns_suffix=""), LabDevice(31, generation=11, dns_suffix=""),
            LabDevice(32, lab_root="missing"), LabDevice(33, generation=11, lab_root="missing"),
            LabDevice(34, lab_root="inactive"), LabDevice(35, lab_root="inactive"),
            LabDevice(36, dns_suffix="corp.local", dns_suffix_os="corp.local"),
            LabDevice(37, dns_suffix="branch.example"),
            LabDevice(38, control_mode=CLIENT),
            LabDevice(39, control_mode=ADMIN),
            LabDevice(40, corrupt=True))


FLEET = _fleet()


def _uuid(hostname: str) -> str:
    """A fixed UUID per device, formatted as rpc-go prints it."""
    h = hashlib.sha256(hostname.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _adapter(enabled: bool, address: str, mac: str) -> dict[str, Any]:
    return {"isEnable": enabled, "linkStatus": "up" if enabled else "down",
            "dhcpEnabled": True, "dhcpMode": "passive", "ipAddress": address,
            "osIpAddress": address, "macAddress": mac}


def report(device: LabDevice, root_sha256: str) -> dict[str, Any]:
    """The device's `rpc amtinfo -cert -json` output, as a JSON object."""
    version, build, sku = FIRMWARE[device.generation]
    hashes = {name: {"Hash": value, "Name": name, "Algorithm": "SHA256", "IsActive": True,
                     "IsDefault": True} for name, value in DEFAULT_HASHES[device.generation]}
    if device.lab_root != "missing":
        hashes[LAB_ROOT_NAME] = {"Hash": root_sha256, "Name": LAB_ROOT_NAME,
                                 "Algorithm": "SHA256",
                                 "IsActive": device.lab_root == "active", "IsDefault": False}
    mac = f"a4:bb:6d:00:{device.number // 256:02x}:{device.number % 256:02x}"
    address = f"10.250.0.{100 + device.number}"
    return {
        "amt": version,
        "buildNumber": build,
        "certificateHashes": dict(sorted(hashes.items())),  # Go prints a map sorted by key
        "controlMode": device.control_mode,
        "dnsSuffix": device.dns_suffix,
        "dnsSuffixOS": device.dns_suffix_os,
        "features": "AMT Pro Corporate",
        "hostnameOS": device.hostname,
        "ras": {"networkStatus": "direct", "remoteStatus": "not connected",
                "remoteTrigger": "user initiated", "mpsHostname": ""},
        "sku": sku,
        "uuid": _uuid(device.hostname),
        "wiredAdapter": _adapter(True, address, mac),
        "wirelessAdapter": _adapter(False, "0.0.0.0", "00:00:00:00:00:00"),
    }


def encode(doc: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    """JSON as rpc-go writes it (json.MarshalIndent with two spaces, then a new line)."""
    return json.dumps(doc, indent=2).encode() + b"\n"


def files(root_sha256: str | None = None) -> dict[str, bytes]:
    """Every device's file by name; the lab root's hash by default."""
    root = root_sha256 or pki.root_sha256()
    out = {}
    for device in FLEET:
        data = encode(report(device, root))
        out[f"{device.hostname}.json"] = data[: len(data) // 2] if device.corrupt else data
    return out


def publish(folder: Path = FOLDER) -> dict[str, bytes]:
    """The fleet's files, into `folder` (each written whole: a survey never reads half a
    file), and no other device file."""
    made = files()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):  # from an older fleet: it would be surveyed too
        if stale.name not in made:
            stale.unlink()
    for name, data in made.items():
        partial = folder / f".{name}.{os.getpid()}.tmp"  # hidden: a glob never matches it
        partial.write_bytes(data)
        partial.replace(folder / name)
    return made
