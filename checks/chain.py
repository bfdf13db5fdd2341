"""The one input of the CERT-* rules: a chain under test (ChainUnderTest), and everything
the rules read with it, built for each domain's certificate file (`configured_chains`) or for
a chain presented in a connect-back (`presented_chain_under_test`); and the chain's
verification by cryptography's path builder, which several rules share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from amt_preflight.catalogue import not_configured, unjudged
from amt_preflight.config import SiteConfig
from amt_preflight.model import Finding, Status
from amt_preflight.observations import SiteView
from amt_preflight.observations.base import clipped
from amt_preflight.observations.cert import CertificateBundle, CertificateFacts, LoadOutcome
from amt_preflight.observations.dns import normal_name
from amt_preflight.observations.handshake import (
    AnnouncedHash,
    ConnectBack,
    HandshakeAttempt,
    HandshakeKind,
)

# cryptography is imported where a rule needs it (verify_chain): a run whose checks read no
# certificate never imports it (DESIGN.md, "Performance").
if TYPE_CHECKING:
    from cryptography.x509.verification import ExtensionPolicy

LOADABLE = "CERT-LOADABLE"
WEAK_HASHES = frozenset({"sha1", "md5", "unknown"})  # refused by ME 15 H / ME 16 and later
MIN_RSA_BITS = 2048


def domain_to_match(site: SiteConfig, obs: SiteView, domain: str) -> tuple[str, str]:
    """The domain the firmware compares with the certificate, and where it came from: the
    PKI DNS suffix set in MEBx (amt.pki_dns_suffix), which the firmware takes instead of
    option 15; else the option 15 the site's DHCP hands out when the probe saw one (and it
    is meant for this domain: the site's only domain, or the same name); else the
    configured domain."""
    return _match_target(site, obs, domain, len(site.domains) == 1)


def _match_target(site: SiteConfig, obs: SiteView, domain: str, sole: bool) -> tuple[str, str]:
    """domain_to_match; `sole`: the option 15 seen is meant for this domain whatever its
    name."""
    if site.amt.pki_dns_suffix is not None:
        return site.amt.pki_dns_suffix, "amt.pki_dns_suffix (set in MEBx)"
    seen = obs.option15
    if seen is not None and (sole or normal_name(seen.value) == normal_name(domain)):
        return seen.value, f"DHCP option 15 from {seen.server} on {seen.interface}"
    return domain, "config"


# --- the chain under test ----------------------------------------------------------------

NOT_READ = "NOT_READ"  # every CERT-* and CA-* check gives it
NOT_READ_MEANS = "the certificate file was not read before the run ended"
# (devices whose active hashes hold the root, devices whose do not): amt.devices' verdict
FleetVerdict = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class ChainUnderTest:
    """One provisioning chain and everything the CERT-* rules read to judge it: each rule is
    a function of this alone, for a configured file and a chain presented in a connect-back
    alike. Built by `configured_chains` and `presented_chain_under_test`."""

    domain: str  # the configured domain it is for: the target of the findings
    bundle: CertificateBundle  # its certificates as read; bundle.source says where from
    presented: bool  # presented in a connect-back: no file, no private key to judge
    match_domain: str  # the domain the firmware compares the leaf's names with
    match_source: str  # where that came from: MEBx, DHCP option 15, config
    generations: tuple[int, ...]  # amt.generations as configured (empty: none)
    custom_root_hashes: tuple[str, ...]  # amt.custom_root_hashes
    # The hashes a hello announced: for a presented chain they, not the site's lists, decide
    # the root (what the firmware trusts in that exchange); None for the site's certificate
    announced: tuple[AnnouncedHash, ...] | None
    # The devices' own verdict on the root (amt.devices), where any device is judged
    # against this domain; None otherwise (and always in HS-PRESENTED-CHAIN)
    fleet: FleetVerdict | None
    now: datetime  # the run's clock
    warn_days: int  # checks.cert_warn_days

    @property
    def leaf(self) -> CertificateFacts:
        leaf = self.bundle.leaf_certificate
        assert leaf is not None  # judge_chain hands over loaded chains only
        return leaf

    @property
    def started(self) -> datetime:
        return datetime.fromtimestamp(self.bundle.read_at, UTC)


ChainRule = Callable[[ChainUnderTest], Finding]

PRESENTED = "TLS"  # the format of a bundle that is a chain presented in a handshake


def presented_bundle(attempt: HandshakeAttempt, answer: ConnectBack) -> CertificateBundle:
    """The chain presented in a connect-back, as the CERT-* rules read a certificate file."""
    return CertificateBundle(
        attempt.domain, f"chain presented by {answer.peer} in the connect-back"
        + (f" ({attempt.profile})" if attempt.profile else ""), LoadOutcome.LOADED,
        answer.chain_problem, PRESENTED, answer.chain, 0,
        read_at=attempt.started_at + attempt.elapsed_ms / 1000)


def _first_presented(obs: SiteView, domain: str) -> CertificateBundle | None:
    """The chain a provisioning server presented in a connect-back for this domain (the
    first profile's; HS-PRESENTED-CHAIN judges each)."""
    for attempt in obs.handshakes(domain, HandshakeKind.PKI) or ():
        answer = attempt.connect_back
        if answer is not None and answer.chain:
            return presented_bundle(attempt, answer)
    return None


def _under_test(site: SiteConfig, obs: SiteView, domain: str, bundle: CertificateBundle, *,
                sole: bool, announced: tuple[AnnouncedHash, ...] | None = None,
                fleet: FleetVerdict | None = None) -> ChainUnderTest:
    match_domain, match_source = _match_target(site, obs, domain, sole)
    return ChainUnderTest(domain, bundle, bundle.format == PRESENTED, match_domain,
                          match_source, tuple(site.amt.generations),
                          tuple(site.amt.custom_root_hashes), announced, fleet, obs.now,
                          obs.checks.cert_warn_days)


def configured_chains(
    site: SiteConfig, obs: SiteView, *, fleet: bool = False
) -> Iterator[tuple[str, ChainUnderTest | Finding]]:
    """(domain, its chain under test), in config order: its certificate file as read;
    without a file, the chain presented in a connect-back (the first profile's), judged as
    the site's certificate; or (domain, the finding that says why there is nothing to
    judge). With `fleet`, each chain carries the devices' verdict on its root (amt.devices:
    CERT-ROOT-TRUSTED reads it)."""
    verdicts = _fleet(site, obs) if fleet else {}
    sole = len(site.domains) == 1
    for domain_config in site.domains:
        domain = domain_config.name
        if domain_config.certificate is None:
            bundle = _first_presented(obs, domain)
            if bundle is None:
                yield domain, not_configured(f"no certificate configured for {domain}, and "
                                             "no chain presented in a handshake", domain)
                continue
        else:
            bundle = obs.certificate(domain)
            if bundle is None:
                yield domain, Finding(domain, Status.ERROR, "the certificate file was not "
                                      "read before the run ended", reason=NOT_READ)
                continue
        yield domain, _under_test(site, obs, domain, bundle, sole=sole,
                                  fleet=verdicts.get(domain))


def presented_chain_under_test(site: SiteConfig, obs: SiteView, attempt: HandshakeAttempt,
                               answer: ConnectBack) -> ChainUnderTest:
    """The chain presented in one connect-back, as HS-PRESENTED-CHAIN judges it: its root
    against the hashes that hello announced, its names against amt.pki_dns_suffix, else the
    option 15 seen (meant for the domain the hello went to), else the domain."""
    return _under_test(site, obs, attempt.domain, presented_bundle(attempt, answer),
                       sole=True, announced=attempt.announced)


def judge_chain(chain: ChainUnderTest, rule: ChainRule) -> Finding:
    """rule(chain) where the chain loaded; else why it is not judged (CERT-LOADABLE)."""
    bundle = chain.bundle
    if bundle.outcome is not LoadOutcome.LOADED or bundle.leaf_certificate is None:
        return unjudged(chain.domain, LOADABLE,
                        f"{bundle.source} did not load ({bundle.outcome.value})")
    return rule(chain)


def each_loaded(site: SiteConfig, obs: SiteView, rule: ChainRule, *, fleet: bool = False
                 ) -> Iterator[Finding]:
    """rule(chain) for every domain whose certificate loaded; the others say why they are
    not judged."""
    for _, chain in configured_chains(site, obs, fleet=fleet):
        yield chain if isinstance(chain, Finding) else judge_chain(chain, rule)


def chain_finding(chain: ChainUnderTest, status: Status, message: str,
             reason: str | None = None, /, **evidence: Any) -> Finding:
    return Finding(chain.domain, status, message, {"file": chain.bundle.source, **evidence},
                   started_at=chain.started, reason=reason)


def _fleet(site: SiteConfig, obs: SiteView) -> dict[str, FleetVerdict]:
    """The devices' own verdict on each domain's root, for the domains amt.devices reports
    any device of."""
    if obs.devices is None:
        return {}
    from .devices import devices_holding_roots  # devices builds on this module

    return devices_holding_roots(site, obs)



# --- the chain -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainVerdict:
    """What cryptography's X.509 verifier made of a bundle."""

    path: tuple[CertificateFacts, ...]  # leaf first, root last; empty when none was built
    verified_at: datetime
    problem: str = ""  # why no path was built
    # The check that reports why the verifier could not judge: CERT-CRYPTO (it refuses
    # SHA-1, MD5 and short RSA keys), CERT-VALIDITY (no moment when all are valid).
    judged_by: str = ""
    reason: str = ""  # CERT-CHAIN-COMPLETE's reason tag when it fails: NO_ROOT_IN_FILE...

    @property
    def root(self) -> CertificateFacts | None:
        return self.path[-1] if self.path else None


def _moment_all_valid(certs: Iterable[CertificateFacts], now: datetime) -> datetime | None:
    """`now` if every certificate is valid then; else a moment when all were (so validity,
    which CERT-VALIDITY judges, does not decide the chain); None when there is none."""
    certs = list(certs)
    start, end = max(c.not_before for c in certs), min(c.not_after for c in certs)
    if start > end:
        return None
    return now if start <= now <= end else start


def _refused_by_verifier(bundle: CertificateBundle) -> bool:
    """Whether the bundle holds what cryptography's verifier refuses to verify: SHA-1 or MD5
    signatures (a root's own signature is not verified) and RSA issuer keys under 2048 bits."""
    return any((c.signature_hash in WEAK_HASHES and not c.self_issued)
               or (c.is_ca and c.key_type == "RSA" and c.key_bits < MIN_RSA_BITS)
               for c in bundle.certificates)


@cache
def _ca_policy() -> ExtensionPolicy:
    """The firmware asks little of CA certificates; cryptography's Web PKI profile asks more
    (key identifiers, critical basicConstraints). Keep what makes a chain: a CA is marked CA."""
    from cryptography import x509
    from cryptography.x509.verification import Criticality, ExtensionPolicy

    return ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, Criticality.AGNOSTIC, None)


NO_ROOT_IN_FILE = "NO_ROOT_IN_FILE"
NO_VALID_PATH = "NO_VALID_PATH"


def verify_chain(bundle: CertificateBundle, now: datetime) -> ChainVerdict:
    """Order the bundle leaf → intermediates → self-signed root and verify every signature,
    with cryptography's path builder, the roots of the bundle as trust anchors."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.verification import (
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    leaf_facts = bundle.leaf_certificate
    assert leaf_facts is not None  # the rules hand over loaded bundles only
    at = _moment_all_valid(bundle.certificates, now)
    if at is None:
        return ChainVerdict((), now, "no moment when every certificate of the file is valid",
                            "CERT-VALIDITY")
    by_der = {c.der: c for c in bundle.certificates}
    certs = [x509.load_der_x509_certificate(c.der) for c in bundle.certificates]
    leaf = x509.load_der_x509_certificate(leaf_facts.der)
    roots = [c for c in certs if c.subject == c.issuer]
    if not roots:
        last = bundle.certificates[-1]
        return ChainVerdict((), at, f"no self-signed root in the file (the last certificate, "
                            f"{last.label}, is issued by {clipped(last.issuer)})",
                            reason=NO_ROOT_IN_FILE)
    verifier = (PolicyBuilder().store(Store(roots)).time(at)
                .extension_policies(ca_policy=_ca_policy(), ee_policy=ExtensionPolicy.permit_all())
                .build_client_verifier())
    try:
        chain = verifier.verify(leaf, [c for c in certs if c != leaf]).chain
    except (VerificationError, ValueError) as exc:
        return ChainVerdict((), at, f"cryptography's verifier: {exc}",
                            "CERT-CRYPTO" if _refused_by_verifier(bundle) else "",
                            NO_VALID_PATH)
    return ChainVerdict(tuple(by_der[c.public_bytes(serialization.Encoding.DER)]
                              for c in chain), at)


def root_of(bundle: CertificateBundle, now: datetime) -> CertificateFacts | None:
    """The root the leaf chains to; without a verified path, the file's only root."""
    verdict = verify_chain(bundle, now)
    if verdict.root is not None:
        return verdict.root
    roots = [c for c in bundle.certificates if c.self_issued]
    return roots[0] if len(roots) == 1 else None
