"""What a device of an AMT generation holds and speaks: its default root hash list, the hash
algorithm it announces them in, its TLS versions and cipher suites, and whether it has
TLS-PSK. The one place the rest of the tool asks (AMT-FACTS.md, "Root hashes in firmware" and
"TLS the firmware speaks").

A site's generations (`amt.generations`) fall into device profiles: generations that share a
root list and a TLS profile are one profile, and one hello and one connect-back stand for it.
Without `amt.generations`, every profile from AMT 11 on is assumed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from amt_preflight import pki

# Without amt.generations: every generation from 11 on, 16 standing for all later ones.
DEFAULT_GENERATIONS = (11, 12, 13, 14, 15, 16)
OPEN_ENDED_FROM = 16  # the last default generation stands for every later one
WEAK_ROOT_SIGNATURE_FROM = 16  # ME 16 refuses SHA-1 even in the root's self-signature


@dataclass(frozen=True)
class TlsProfile:
    """The TLS a device speaks in the connect-back (OpenSSL names)."""

    name: str
    versions: tuple[str, ...]  # "TLSv1", "TLSv1.1", "TLSv1.2"; never TLS 1.3
    cipher_suites: tuple[str, ...]
    source: str


# Intel AMT SDK, TLS "Detailed Description": TLS 1.2 from AMT 12 (TLS 1.0 removed there);
# TLS 1.1 removed in CSME 15 desktops and every CSME 16. The suites are RSA key exchange
# only: the suites the open-source servers negotiate (MeshCentral), and the ones no source
# leaves in doubt. A server offering only other suites is judged not ready: conservative.
_CBC = ("AES128-SHA", "AES256-SHA")
_TLS12 = ("AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256", "AES256-SHA256")
_SDK_TLS = "Intel AMT SDK, TLS: Detailed Description"
TLS_UP_TO_11 = TlsProfile("TLS 1.0-1.1", ("TLSv1", "TLSv1.1"), _CBC,
                          f"{_SDK_TLS} (AMT 11 and earlier: TLS 1.0 and 1.1)")
TLS_12_TO_14 = TlsProfile("TLS 1.1-1.2", ("TLSv1.1", "TLSv1.2"), _CBC + _TLS12,
                          f"{_SDK_TLS} (AMT 12 adds TLS 1.2, removes TLS 1.0)")
TLS_FROM_15 = TlsProfile("TLS 1.2", ("TLSv1.2",), _TLS12,
                         f"{_SDK_TLS} (CSME 15 desktops and CSME 16 removed TLS 1.1)")


def tls_profile(generation: int) -> TlsProfile:
    if generation <= 11:
        return TLS_UP_TO_11
    return TLS_12_TO_14 if generation <= 14 else TLS_FROM_15


def generation_label(generations: Iterable[int], open_ended: bool = False) -> str:
    """"AMT 11", "AMT 12-13", "AMT 11, 16", "AMT 15 and later"."""
    ordered = sorted(set(generations))
    runs: list[list[int]] = []
    for g in ordered:
        if runs and runs[-1][-1] == g - 1:
            runs[-1].append(g)
        else:
            runs.append([g])
    parts = [str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs]
    if open_ended and ordered:
        last = runs[-1]
        parts[-1] = f"{last[0]} and later"
    return "AMT " + ", ".join(parts)


@dataclass(frozen=True)
class DeviceProfile:
    """Generations of a site whose devices hold the same root list and speak the same TLS."""

    generations: tuple[int, ...]
    open_ended: bool  # stands for every later generation too (no amt.generations set)
    roots: pki.ListChoice  # the list of the first generation; all share it
    tls: TlsProfile

    @property
    def label(self) -> str:
        return generation_label(self.generations, self.open_ended)

    @property
    def hash_algorithm(self) -> str:
        return self.roots.root_list.algorithm

    @property
    def psk(self) -> bool:
        """TLS-PSK (one-touch, hello version 2) exists up to AMT 10."""
        return min(self.generations) <= 10

    @property
    def refuses_weak_root_signature(self) -> bool:
        return self.open_ended or max(self.generations) >= WEAK_ROOT_SIGNATURE_FROM

    def announced(self, custom: Sequence[str]) -> tuple[pki.RootHash, ...]:
        """The hashes such a device announces in its hello: its default list, in the list's
        algorithm, then the custom ones (amt.custom_root_hashes), each once."""
        entries = (*self.roots.root_list.entries, *pki.custom_root_hashes(list(custom)))
        seen: dict[tuple[str, str], pki.RootHash] = {}
        for entry in entries:
            seen.setdefault((entry.algorithm, entry.value), entry)
        return tuple(seen.values())


def site_generations(configured: Sequence[int]) -> tuple[tuple[int, ...], bool]:
    """The generations to judge: those configured, else every one from 11 on (open-ended)."""
    if configured:
        return tuple(sorted(set(configured))), False
    return DEFAULT_GENERATIONS, True


def profiles(configured: Sequence[int]) -> tuple[DeviceProfile, ...]:
    """The distinct device profiles among a site's generations, oldest first."""
    generations, open_ended = site_generations(configured)
    grouped: dict[tuple[str, str], list[int]] = {}
    for g in generations:
        grouped.setdefault((pki.list_for(g).root_list.id, tls_profile(g).name), []).append(g)
    last = generations[-1]
    return tuple(DeviceProfile(tuple(gs), open_ended and last in gs, pki.list_for(gs[0]),
                               tls_profile(gs[0]))
                 for gs in grouped.values())


def root_lists(configured: Sequence[int]) -> tuple[tuple[str, pki.ListChoice, str], ...]:
    """(label of the generations, the list they are judged against, why that list) for each
    distinct list among a site's generations: what CERT-ROOT-TRUSTED matches the root in."""
    generations, open_ended = site_generations(configured)
    grouped: dict[str, list[pki.ListChoice]] = {}
    for g in generations:
        choice = pki.list_for(g)
        grouped.setdefault(choice.root_list.id, []).append(choice)
    last = generations[-1]
    out = []
    for choices in grouped.values():
        gens = [c.generation for c in choices]
        notes = "; ".join(c.note for c in choices if c.note)
        out.append((generation_label(gens, open_ended and last in gens), choices[0], notes))
    return tuple(out)
