"""Provisioning certificate checks, per domain: the rules the AMT firmware applies to the
chain a provisioning server presents (AMT-FACTS.md, "Provisioning certificate rules").

Each rule is a function of one ChainUnderTest (checks/chain.py): the chain and everything
the rule reads (where it came from, the site's generations and root hashes, the hashes a
hello announced, the devices' verdict, the run's clock). `configured_chains` builds it for
each domain's certificate file, `presented_chain_under_test` for a chain presented in a
connect-back, so HS-PRESENTED-CHAIN judges that chain by the same rules (CHAIN_RULES).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from amt_preflight import firmware, pki
from amt_preflight.catalogue import (
    CheckSpec,
    Need,
    check,
    same_target,
    unjudged,
    where_unjudged,
)
from amt_preflight.config import SiteConfig
from amt_preflight.model import Finding, Severity, Status
from amt_preflight.observations import SiteView
from amt_preflight.observations.base import clipped, utc_text
from amt_preflight.observations.cert import CertificateBundle, CertificateFacts, LoadOutcome
from amt_preflight.observations.handshake import (
    AnnouncedHash,
)

from .chain import (
    LOADABLE,
    MIN_RSA_BITS,
    NO_ROOT_IN_FILE,
    NO_VALID_PATH,
    NOT_READ,
    NOT_READ_MEANS,
    WEAK_HASHES,
    ChainRule,
    ChainUnderTest,
    chain_finding,
    configured_chains,
    each_loaded,
    root_of,
    verify_chain,
)

SDK_CERT = "Intel AMT SDK: Acquiring an Intel vPro certificate"
SDK_VERIFY = "Intel AMT SDK: PKI certificate verification methods"
CHAIN_COMPLETE = "CERT-CHAIN-COMPLETE"
HIGH_WITHIN_DAYS = 7  # CERT-EXPIRY-SOON is high, not medium, this close to the end
MAX_CHAIN = 4  # certificates a common provisioning server accepts (RPS)

# The SDK's extended TLD support (MeshCentral certoperations.js): for these TLDs only the
# last N labels of the domain and the certificate name must agree.
TLD_DEPTH = {
    "net": 2, "com": 2, "arpa": 3, "org": 2, "gov": 2, "edu": 2, "de": 2, "fr": 3, "cn": 3,
    "nl": 3, "br": 3, "mx": 3, "uk": 3, "pl": 3, "tw": 3, "ca": 3, "fi": 3, "be": 3, "ru": 3,
    "se": 3, "ch": 2, "dk": 2, "ar": 3, "es": 3, "no": 3, "at": 3, "in": 3, "tr": 3, "cz": 2,
    "ro": 3, "hu": 3, "nz": 3, "pt": 3, "il": 3, "gr": 3, "co": 3, "ie": 3, "za": 3, "th": 3,
    "sg": 3, "hk": 3, "cl": 2, "lt": 3, "id": 3, "hr": 3, "ee": 3, "bg": 3, "ua": 2,
}


# --- CERT-LOADABLE ---------------------------------------------------------------------

PRESENTED_CHAIN = "PRESENTED_CHAIN"
NO_LEAF = "NO_LEAF"
# A file that did not load: its outcome's name is the reason tag (evidence.outcome its value)
LOAD_FAILURES: dict[str, str] = {
    LoadOutcome.UNREADABLE.name: "the file is missing, not readable, a folder or too large",
    LoadOutcome.GARBAGE.name: "the file is neither PEM, DER nor PKCS#12",
    LoadOutcome.NO_PASSWORD.name: "the file is encrypted and no password is configured",
    LoadOutcome.WRONG_PASSWORD.name: "the configured password does not open the file",
    LoadOutcome.NO_CERTIFICATE.name: "the file holds no certificate",
    LoadOutcome.BAD_CERTIFICATE.name: "a certificate whose fields or extensions do not parse",
    LoadOutcome.NO_KEY.name: "the file (and key_file) hold no private key",
    LoadOutcome.SEVERAL_KEYS.name: "more than one private key",
    LoadOutcome.KEY_MISMATCH.name: "the private key belongs to no certificate of the file",
    NO_LEAF: "the file loaded, but no certificate is the private key's",
}


def _load_failure(outcome: LoadOutcome) -> str:
    """The reason tag of a file that did not load: its outcome (WRONG_PASSWORD, NO_KEY)."""
    return NO_LEAF if outcome is LoadOutcome.LOADED else outcome.name


@check(
    id="CERT-LOADABLE",
    title="Provisioning certificate file loads",
    severity="critical",
    needs=[Need.CERT_FILES],
    passes_when=(
        "the file parses, the PFX password opens it, it holds exactly one private key and "
        "that key matches the leaf"
    ),
    remediation=(
        "Export the provisioning certificate again as a PKCS#12 (PFX) with its private key "
        "and the whole chain up to the root, and point certificate.password_env or "
        "password_file at its password; a PEM chain needs its one matching key in key_file."
    ),
    references=[SDK_CERT, "RFC 7292: PKCS #12"],
    reasons={
        NOT_READ: NOT_READ_MEANS,
        PRESENTED_CHAIN: "no file configured: the other CERT-* rules judge the chain "
                         "presented in the connect-back, whose handshake proved the key",
        **LOAD_FAILURES,
    },
)
def loadable(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for domain, chain in configured_chains(site, obs):
        if isinstance(chain, Finding):
            yield chain
            continue
        bundle = chain.bundle
        leaf = bundle.leaf_certificate
        if chain.presented:
            yield chain_finding(chain, Status.SKIPPED, f"no certificate file configured "
                           f"for {domain}: the other CERT-* rules judge the {bundle.source}; "
                           "the handshake proved the server holds the leaf's key",
                           PRESENTED_CHAIN)
        elif bundle.outcome is LoadOutcome.LOADED and leaf is not None:
            yield chain_finding(chain, Status.PASS, f"{bundle.source}: "
                           f"{len(bundle.certificates)} certificates and the {bundle.keys[0]} "
                           f"key of {leaf.label}", **bundle.to_evidence())
        else:
            yield chain_finding(chain, Status.FAIL, f"{bundle.source}: "
                           f"{bundle.outcome.value}: {bundle.detail}",
                           _load_failure(bundle.outcome), **bundle.to_evidence())


# --- rules about the leaf --------------------------------------------------------------


@check(
    id="CERT-AMT-USAGE",
    title="Certificate is marked for AMT configuration",
    severity="critical",
    needs=[Need.CERT_FILES],
    requires=[LOADABLE],
    passes_when=(
        f"the leaf's EKU has OID {pki.AMT_SETUP_OID}, or its subject OU is exactly "
        f"'{pki.AMT_SETUP_OU}'"
    ),
    remediation=(
        "Order (or issue from the enterprise CA's template) a certificate whose Extended Key "
        f"Usage includes {pki.AMT_SETUP_OID}, or whose subject OU is exactly "
        f"'{pki.AMT_SETUP_OU}'. A web server certificate from a listed CA is not enough."
    ),
    references=[SDK_CERT],
    reasons={NOT_READ: NOT_READ_MEANS,
             "NO_AMT_USAGE": "the leaf has neither the AMT setup OID nor the AMT setup OU"},
)
def amt_usage(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _amt_usage)


def _amt_usage(chain: ChainUnderTest) -> Finding:
    leaf = chain.leaf
    seen = {"certificate": leaf.label, "eku": list(leaf.ekus),
            "ou": list(leaf.organizational_units)}
    if pki.AMT_SETUP_OID in leaf.ekus:
        return chain_finding(chain, Status.PASS, f"{leaf.label}: EKU has the AMT "
                        f"setup OID {pki.AMT_SETUP_OID}", matched="eku", **seen)
    if pki.AMT_SETUP_OU in leaf.organizational_units:
        return chain_finding(chain, Status.PASS, f"{leaf.label}: subject OU is "
                        f"'{pki.AMT_SETUP_OU}'", matched="ou", **seen)
    return chain_finding(chain, Status.FAIL, f"{leaf.label} has neither the AMT "
                    f"setup OID in its EKU nor the OU '{pki.AMT_SETUP_OU}'", "NO_AMT_USAGE",
                    **seen)


@check(
    id="CERT-SERVER-AUTH",
    title="Certificate is a TLS server certificate",
    severity="high",
    needs=[Need.CERT_FILES],
    requires=[LOADABLE],
    passes_when=f"the leaf's EKU has serverAuth ({pki.SERVER_AUTH_OID})",
    remediation="Issue the provisioning certificate with Extended Key Usage serverAuth.",
    references=[SDK_CERT],
    reasons={NOT_READ: NOT_READ_MEANS,
             "NO_SERVER_AUTH": "the leaf's EKU lacks serverAuth (or it has no EKU)"},
)
def server_auth(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _server_auth)


def _server_auth(chain: ChainUnderTest) -> Finding:
    leaf = chain.leaf
    if pki.SERVER_AUTH_OID in leaf.ekus:
        return chain_finding(chain, Status.PASS, f"{leaf.label}: EKU has serverAuth",
                        eku=list(leaf.ekus))
    said = "no EKU extension" if not leaf.ekus else f"EKU {', '.join(leaf.ekus)}"
    return chain_finding(chain, Status.FAIL, f"{leaf.label}: {said}, without serverAuth",
                    "NO_SERVER_AUTH", eku=list(leaf.ekus))


# --- validity --------------------------------------------------------------------------


def _validity(cert: CertificateFacts, now: datetime) -> str:
    """"" when valid at `now`, else what is wrong, in words."""
    if now < cert.not_before:
        return f"{cert.label} is not valid before {utc_text(cert.not_before)}"
    if now > cert.not_after:
        return f"{cert.label} expired on {utc_text(cert.not_after)}"
    return ""


@check(
    id="CERT-VALIDITY",
    title="Every certificate of the chain is valid now",
    severity="critical",
    needs=[Need.CERT_FILES],
    requires=[LOADABLE],
    passes_when="every certificate in the chain is inside notBefore..notAfter now",
    remediation=(
        "Renew the expired certificate (or wait for one not yet valid, and check the clocks "
        "of the CA and this host), then export the bundle again."
    ),
    references=[SDK_VERIFY, "RFC 5280 §4.1.2.5: validity"],
    reasons={NOT_READ: NOT_READ_MEANS,
             "EXPIRED": "a certificate of the chain has expired",
             "NOT_YET_VALID": "a certificate of the chain is not valid yet (and none has "
                              "expired)"},
)
def validity(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _validity_rule)


def _validity_rule(chain: ChainUnderTest) -> Finding:
    now, bundle = chain.now, chain.bundle
    periods = [{"certificate": c.label, "not_before": utc_text(c.not_before),
                "not_after": utc_text(c.not_after), "problem": _validity(c, now)}
               for c in bundle.certificates]
    problems = [p["problem"] for p in periods if p["problem"]]
    if problems:
        expired = any(now > c.not_after for c in bundle.certificates
                      if not now < c.not_before)
        return chain_finding(chain, Status.FAIL, "; ".join(problems),
                        "EXPIRED" if expired else "NOT_YET_VALID",
                        checked_at=utc_text(now), validity=periods)
    first = min(bundle.certificates, key=lambda c: c.not_after)
    return chain_finding(chain, Status.PASS, f"all {len(periods)} certificates are "
                    f"valid; the first to expire is {first.label} on "
                    f"{utc_text(first.not_after)}", checked_at=utc_text(now),
                    validity=periods)


@check(
    id="CERT-EXPIRY-SOON",
    title="No certificate of the chain expires soon",
    severity="medium",
    needs=[Need.CERT_FILES],
    requires=[LOADABLE, "CERT-VALIDITY"],
    passes_when=(
        "no certificate in the chain expires within checks.cert_warn_days (default 30; "
        f"within {HIGH_WITHIN_DAYS} it is high)"
    ),
    remediation=(
        "Renew the certificate before it expires and deploy the new bundle to the "
        "provisioning server; devices cannot be provisioned with an expired chain."
    ),
    references=[SDK_VERIFY],
    reasons={NOT_READ: NOT_READ_MEANS,
             "EXPIRES_SOON": "a certificate of the chain expires within cert_warn_days "
                             f"(within {HIGH_WITHIN_DAYS} days the result is high)"},
)
def expiry_soon(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _expiry_soon)


def _expiry_soon(chain: ChainUnderTest) -> Finding:
    warn_days = chain.warn_days
    left = {c.label: c.not_after - chain.now for c in chain.bundle.certificates}
    days = {label: round(delta / timedelta(days=1), 1) for label, delta in left.items()}
    soon = {label: delta for label, delta in left.items()
            if delta < timedelta(days=warn_days)}
    evidence = {"warn_days": warn_days, "days_left": days}
    if not soon:
        first = min(days, key=lambda label: days[label])
        return chain_finding(chain, Status.PASS, f"the first to expire, {first}, has "
                        f"{days[first]:g} days left (warning at {warn_days})", **evidence)
    urgent = any(delta < timedelta(days=HIGH_WITHIN_DAYS) for delta in soon.values())
    said = ", ".join(f"{label} in {days[label]:g} days" for label in soon)
    failed = chain_finding(chain, Status.FAIL, f"expires within {warn_days} days: {said}",
                      "EXPIRES_SOON", **evidence)
    return replace(failed, severity=Severity.HIGH) if urgent else failed


@check(
    id="CERT-CHAIN-COMPLETE",
    title="Chain is complete up to a self-signed root",
    severity="critical",
    needs=[Need.CERT_FILES],
    # where the verifier cannot judge, the check that says why: CERT-VALIDITY (no moment
    # when all are valid), CERT-CRYPTO (a signature or key the verifier refuses)
    requires={LOADABLE: same_target, "CERT-VALIDITY": where_unjudged("CERT-VALIDITY"),
              "CERT-CRYPTO": where_unjudged("CERT-CRYPTO")},
    passes_when=(
        "the chain orders leaf → intermediates → self-signed root and every signature verifies"
    ),
    remediation=(
        "Export the bundle with the whole chain: the leaf, every intermediate CA and the "
        "root (in Windows: 'Include all certificates in the certification path')."
    ),
    references=[SDK_VERIFY, "RFC 5280 §6: certification path validation"],
    reasons={NOT_READ: NOT_READ_MEANS,
             NO_ROOT_IN_FILE: "the file holds no self-signed root",
             NO_VALID_PATH: "no path from the leaf to a root of the file verifies"},
)
def chain_complete(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _chain_complete)


def _chain_complete(chain: ChainUnderTest) -> Finding:
    bundle = chain.bundle
    verdict = verify_chain(bundle, chain.now)
    evidence: dict[str, Any] = {"verified_at": utc_text(verdict.verified_at),
                                "file_order": [c.label for c in bundle.certificates]}
    if verdict.path:
        order = " → ".join(c.label for c in verdict.path)
        unused = [c.label for c in bundle.certificates if c not in verdict.path]
        evidence.update(path=[{"certificate": c.label, "sha256": c.sha256}
                              for c in verdict.path], unused=unused)
        reordered = list(verdict.path) != list(bundle.certificates)
        note = " (the file lists them in another order)" if reordered else ""
        return chain_finding(chain, Status.PASS, f"{order}: every signature "
                        f"verifies{note}", **evidence)
    evidence["problem"] = verdict.problem
    if verdict.judged_by:
        return unjudged(chain.domain, verdict.judged_by, f"not judged: {verdict.problem}",
                        {"file": bundle.source, **evidence}, started_at=chain.started)
    return chain_finding(chain, Status.FAIL, verdict.problem, verdict.reason, **evidence)


def _listed(entries: Iterable[pki.RootHash], root: CertificateFacts) -> pki.RootHash | None:
    return next((e for e in entries if e.value == pki.fingerprint_of(root, e.algorithm)), None)


def _hit(entry: pki.RootHash) -> dict[str, str]:
    return {"ca": entry.ca, "algorithm": entry.algorithm, "hash": entry.value,
            "entry": entry.source}


def _judge_announced(root: CertificateFacts, announced: tuple[AnnouncedHash, ...]
                     ) -> tuple[list[str], dict[str, Any], str]:
    """A chain presented in a handshake: the hashes the hello announced decide."""
    hit = _listed((pki.RootHash(a.label, a.algorithm, a.value, "announced in the hello")
                   for a in announced), root)
    matches = {"hello": _hit(hit) if hit else f"no match among {len(announced)} hashes"}
    return ([] if hit else ["hello"]), matches, "the hash list announced in the hello"


def _judge_lists(chain: ChainUnderTest, root: CertificateFacts
                 ) -> tuple[list[str], dict[str, Any], str]:
    """The built-in list of each of the site's generations (every list from AMT 11 on when
    none is configured), each with amt.custom_root_hashes: the generations whose list lacks
    the root, and per generation the matching entry or why none."""
    custom = pki.custom_root_hashes(list(chain.custom_root_hashes))
    missing, matches = [], {}
    for label, choice, note in firmware.root_lists(chain.generations):
        listed = choice.root_list
        hit = _listed((*listed.entries, *custom), root)
        if hit is None:
            missing.append(label)
        matches[label] = {"list": listed.label, "confidence": listed.confidence,
                          "source": listed.source, **({"note": note} if note else {}),
                          "match": _hit(hit) if hit else
                          f"no match among {len(listed.entries) + len(custom)} hashes"}
    chosen = ("amt.generations" if chain.generations else
              "no amt.generations configured: every built-in list from AMT 11 on")
    return missing, matches, chosen


@check(
    id="CERT-ROOT-TRUSTED",
    title="Root is in the firmware's trusted hash list",
    severity="critical",
    needs=[Need.CERT_FILES, Need.DEVICE_FILES],
    # where the file gives no root to match, CERT-CHAIN-COMPLETE says why
    requires={LOADABLE: same_target, CHAIN_COMPLETE: where_unjudged(CHAIN_COMPLETE)},
    passes_when=(
        "the root's fingerprint (SHA-1, SHA-256 or SHA-384 as the firmware stores it) is in "
        "the hash list of every AMT generation configured for the site (built-in list, plus "
        "amt.custom_root_hashes); the evidence names the matching entry and where that list "
        "comes from. Without amt.generations the root must be in every built-in list from "
        "AMT 11 on; a generation with no known list is judged against the nearest older "
        "known list and says so. With amt.devices, the devices' real lists decide: the root "
        "must be active on every device that reports (DEV-ROOT-ACTIVE names each)"
    ),
    remediation=(
        "Use a certificate that chains to a root in the default list of every AMT generation "
        "deployed (AMT 11 devices lack the DigiCert and GlobalSign roots of newer firmware: "
        "vendors sell 'hybrid' certificates chaining to an older root such as Go Daddy, "
        "Starfield or Entrust G2), or insert the root's hash into every device (MEBx, USB "
        "setup.bin or the management console) and list it in amt.custom_root_hashes; "
        "unprovisioning deletes inserted hashes. Best: read the devices' real lists "
        "(rpc amtinfo -cert -json) into amt.devices. `amt-preflight roots` shows the lists."
    ),
    references=[SDK_VERIFY, "rpc-go: amtinfo -cert lists a device's hashes",
                "Open AMT RPS issue #1108: new certificates fail on AMT 11",
                "Intel KB 000090051: provisioning AMT 14 and later"],
    reasons={NOT_READ: NOT_READ_MEANS,
             "ROOT_NOT_IN_LIST": "the root is not in the hash list of one of the site's "
                                 "generations (nor in amt.custom_root_hashes)",
             "ROOT_NOT_ANNOUNCED": "a presented chain's root is not among the hashes its hello "
                                   "announced (HS-PRESENTED-CHAIN)",
             "ROOT_INACTIVE_ON_DEVICES": "the root is not active on every device that reports "
                                         "its lists (amt.devices)"},
)
def root_trusted(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _root_trusted, fleet=True)


def _root_trusted(chain: ChainUnderTest) -> Finding:
    root = root_of(chain.bundle, chain.now)
    if root is None:
        return unjudged(chain.domain, CHAIN_COMPLETE, "no root to match",
                        {"file": chain.bundle.source}, started_at=chain.started)
    announced = chain.announced
    if announced is not None:
        missing, matches, chosen = _judge_announced(root, announced)
    else:
        missing, matches, chosen = _judge_lists(chain, root)
    evidence: dict[str, Any] = {"root": root.subject, "sha1": root.sha1,
                                "sha256": root.sha256, "sha384": root.sha384,
                                "lists": chosen, "matches": matches}
    fleet = chain.fleet if announced is None else None
    if fleet is not None:  # the devices' own lists decide; the hint lists are context
        holding, lacking = fleet
        evidence.update(lists="the devices' own lists (amt.devices)",
                        hint_lists=chosen, devices_holding=len(holding),
                        devices_lacking=list(lacking[:50]))
        if lacking:
            return chain_finding(chain, Status.FAIL, f"root {root.label} is not "
                            f"active on {len(lacking)} of {len(holding) + len(lacking)} "
                            f"devices that report their lists (amt.devices): "
                            f"{', '.join(lacking[:5])}{' …' if len(lacking) > 5 else ''};"
                            " DEV-ROOT-ACTIVE names each", "ROOT_INACTIVE_ON_DEVICES",
                            **evidence)
        return chain_finding(chain, Status.PASS, f"root {root.label} is active on "
                        f"all {len(holding)} devices that report their lists "
                        "(amt.devices)", **evidence)
    if missing and announced is not None:
        return chain_finding(chain, Status.FAIL, f"root {root.label} (SHA-256 "
                        f"{root.sha256}) is not among the {len(announced)} "
                        "hashes the hello announced", "ROOT_NOT_ANNOUNCED", **evidence)
    if missing:
        return chain_finding(chain, Status.FAIL, f"root {root.label} (SHA-256 "
                        f"{root.sha256}) is not in the list of {', '.join(missing)}: "
                        f"{' and '.join(missing)} devices do not carry it by default "
                        "(and it is not in amt.custom_root_hashes)", "ROOT_NOT_IN_LIST",
                        **evidence)
    named = sorted({f"{m['match']['ca']} ({m['match']['entry']})" if "match" in m
                    else f"{m['ca']} ({m['entry']})" for m in matches.values()})
    return chain_finding(chain, Status.PASS, f"root {root.label} is trusted as "
                    f"{'; '.join(named)}", **evidence)


# --- the domain suffix -----------------------------------------------------------------


def _normal(name: str) -> str:
    """Lower-cased, one trailing dot dropped: both sides of the firmware's comparison."""
    name = name.lower()
    return name[:-1] if name.endswith(".") else name


def domain_rule(domain: str, certificate_name: str) -> str | None:
    """Which rule of CERT-DOMAIN-MATCH lets `domain` (option 15) match one certificate name
    (CN or SAN dNSName), or None. (a) suffix, (b) wildcard, (c) TLD depth."""
    domain, name = _normal(domain), _normal(certificate_name)
    if "." not in domain:
        return None  # one label (com, local): a suffix of everything, so it matches nothing
    wildcard = name.startswith("*.")
    if wildcard:
        name = name[2:]
    if domain == name or name.endswith("." + domain):
        return "a: the domain is a suffix of the name"
    if wildcard and domain.endswith("." + name):
        return "b: the wildcard name is a suffix of the domain"
    domain_labels, name_labels = domain.split("."), name.split(".")
    depth = TLD_DEPTH.get(name_labels[-1])
    if (depth is not None and domain_labels[-1] in TLD_DEPTH and len(domain_labels) >= depth
            and len(name_labels) >= depth and domain_labels[-depth:] == name_labels[-depth:]):
        return f"c: the last {depth} labels agree (TLD .{name_labels[-1]})"
    return None


@check(
    id="CERT-DOMAIN-MATCH",
    title="Certificate name matches the domain (option 15)",
    severity="critical",
    needs=[Need.CERT_FILES, Need.DHCP_SURVEY],
    requires=[LOADABLE],
    passes_when=(
        "the domain (option 15 seen by the DHCP probe, else the configured one) matches the "
        "leaf's CN or a SAN DNS name: both lower-cased, one trailing dot dropped, a leading "
        "'*.' stripped from the certificate name (remembering it was a wildcard); it matches "
        "when (a) the domain equals the name or the name ends with '.' + domain, or (b) the "
        "name was a wildcard and the domain ends with '.' + name, or (c) the last label of "
        "both is in the TLD-depth table with depth N and their last N labels are equal. A "
        "domain of one label matches nothing. The domain comes from amt.pki_dns_suffix when "
        "set, else option 15 seen by the DHCP probe, else the configured one"
    ),
    remediation=(
        "Issue the certificate for a name inside the domain the devices get as DHCP option "
        "15 (e.g. provisionserver.<domain>), or hand out the certificate's domain as option "
        "15 on the AMT VLAN."
    ),
    references=[SDK_CERT, "MeshCentral certoperations.js: extended TLD support"],
    reasons={NOT_READ: NOT_READ_MEANS,
             "DOMAIN_MISMATCH": "the domain matches none of the leaf's CN and SAN DNS names"},
)
def domain_match(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _domain_match)


def _domain_match(chain: ChainUnderTest) -> Finding:
    leaf = chain.leaf
    target, source = chain.match_domain, chain.match_source
    names = list(dict.fromkeys((*leaf.common_names, *leaf.dns_names)))
    evidence = {"domain": target, "domain_source": source,
                "names": [clipped(n) for n in names[:50]]}
    for name in names:
        matched = domain_rule(target, name)
        if matched:
            return chain_finding(chain, Status.PASS, f"{target} ({source}) matches "
                            f"{clipped(name)} by rule {matched}",
                            matched=clipped(name), rule=matched, **evidence)
    shown = ", ".join(clipped(n) for n in names[:5]) or "no CN or SAN DNS name"
    return chain_finding(chain, Status.FAIL, f"{target} ({source}) matches none of "
                    f"the certificate's names: {shown}", "DOMAIN_MISMATCH", **evidence)


# --- cryptography and length -----------------------------------------------------------


def _ec_curves(generation: int) -> frozenset[str]:
    """Curves of the EC roots in the generation's list (DigiCert G3, GlobalSign ECC R5 are
    P-384): where the firmware lists an EC root, it verifies EC keys on that curve."""
    return frozenset(r.key.removeprefix("EC ") for r in pki.list_for(generation).root_list.roots
                     if r.key.startswith("EC "))


def crypto_problems(cert: CertificateFacts, role: str, generation: int) -> list[str]:
    """What a device of `generation` refuses in one certificate of the chain; role is
    "leaf", "intermediate" or "root" (AMT-FACTS.md, "Provisioning certificate rules")."""
    problems = []
    if cert.key_type == "RSA":
        if cert.key_bits < MIN_RSA_BITS:
            problems.append(f"RSA {cert.key_bits}-bit key (at least {MIN_RSA_BITS})")
    elif role == "leaf":
        problems.append(f"{cert.key_detail} leaf key (the provisioning servers sign with RSA)")
    elif cert.key_type != "EC" or cert.key_detail.removeprefix("EC ") not in _ec_curves(
            generation):
        problems.append(f"{cert.key_detail} key (no root of its kind in the "
                        f"{pki.list_for(generation).root_list.label} list)")
    weak = cert.signature_hash in WEAK_HASHES
    if weak and role != "root":
        problems.append(f"signed with {cert.signature_algorithm}")
    elif weak and generation >= firmware.WEAK_ROOT_SIGNATURE_FROM:
        problems.append(f"self-signature {cert.signature_algorithm} (ME 16 refuses SHA-1 and "
                        "MD5 even in the root)")
    return problems


def _role(bundle: CertificateBundle, index: int) -> str:
    if index == bundle.leaf:
        return "leaf"
    return "root" if bundle.certificates[index].self_issued else "intermediate"


@check(
    id="CERT-CRYPTO",
    title="Keys and signatures are strong enough for the site's firmware",
    severity="high",
    needs=[Need.CERT_FILES],
    requires=[LOADABLE],
    passes_when=(
        f"per the site's generations: the leaf key is RSA ≥ {MIN_RSA_BITS} bits; every other "
        f"key is RSA ≥ {MIN_RSA_BITS} or an EC key on a curve the firmware lists roots for; "
        "no signature below the root uses SHA-1 or MD5; and, when a generation ≥ 16 is "
        "configured (or none is), the root's self-signature is not SHA-1 or MD5 either"
    ),
    remediation=(
        "Re-issue the chain with RSA keys of 2048 bits or more and SHA-256 (or stronger) "
        "signatures; AMT 6 and later accept 4096-bit keys. For AMT 16 and later, choose a "
        "chain whose root is self-signed with SHA-256 or better (Go Daddy Root G2 instead of "
        "Go Daddy Class 2, Starfield G2 instead of Starfield Class 2; Sectigo chains ending "
        "at Comodo AAA need their newer root)."
    ),
    references=[SDK_CERT, "rpc-go #413: ME 16 refuses a chain with SHA-1 in it",
                "Intel: ME 16 refuses SHA-1 and RSA keys under 2048 bits"],
    reasons={NOT_READ: NOT_READ_MEANS,
             "WEAK_CRYPTO": "a key or signature of the chain that a device of one of the "
                            "site's generations refuses"},
)
def crypto(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _crypto)


def _crypto(chain: ChainUnderTest) -> Finding:
    generations, open_ended = firmware.site_generations(chain.generations)
    last = generations[-1]

    def label(gens: list[int]) -> str:
        return firmware.generation_label(gens, open_ended and last in gens)

    bundle = chain.bundle
    seen, bad = [], []
    for index, cert in enumerate(bundle.certificates):
        role = _role(bundle, index)
        refused: dict[str, list[int]] = {}
        for g in generations:
            for problem in crypto_problems(cert, role, g):
                refused.setdefault(problem, []).append(g)
        problems = [{"problem": p, "refused_by": label(gs)} for p, gs in refused.items()]
        seen.append({"certificate": cert.label, "role": role,
                     "key": cert.key_detail, "signature": cert.signature_algorithm,
                     "problems": problems})
        for problem, gs in refused.items():
            accepting = [g for g in generations if g not in gs]
            also = f"; {label(accepting)} accepts it" if accepting else ""
            bad.append(f"{cert.label}: {problem}, refused by {label(gs)}{also}")
    evidence = {"generations": label(list(generations)), "chain": seen}
    if bad:
        return chain_finding(chain, Status.FAIL, "; ".join(bad), "WEAK_CRYPTO", **evidence)
    return chain_finding(chain, Status.PASS, f"all {len(seen)} certificates are "
                    f"strong enough for {label(list(generations))}", **evidence)


@check(
    id="CERT-CHAIN-LENGTH",
    title="Chain is short enough for provisioning servers",
    severity="low",
    needs=[Need.CERT_FILES],
    requires=[LOADABLE],
    passes_when=f"the chain has at most {MAX_CHAIN} certificates (a limit of common "
                "provisioning servers)",
    remediation="Leave unrelated certificates out of the bundle; use a shorter CA hierarchy.",
    references=["Intel RPS (open AMT cloud toolkit): at most 4 certificates in the chain"],
    reasons={NOT_READ: NOT_READ_MEANS,
             "CHAIN_TOO_LONG": f"the chain has more than {MAX_CHAIN} certificates"},
)
def chain_length(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return each_loaded(site, obs, _chain_length)


def _chain_length(chain: ChainUnderTest) -> Finding:
    certificates = chain.bundle.certificates
    count = len(certificates)
    labels = [c.label for c in certificates[:20]]
    if count <= MAX_CHAIN:
        return chain_finding(chain, Status.PASS, f"{count} certificates (at most {MAX_CHAIN})",
                        certificates=labels)
    return chain_finding(chain, Status.FAIL, f"{count} certificates (at most {MAX_CHAIN})",
                    "CHAIN_TOO_LONG", certificates=labels)


# Every CERT-* rule that judges a chain, with its check: all but CERT-LOADABLE (a file's
# property). HS-PRESENTED-CHAIN runs them on the chain presented in a connect-back.
CHAIN_RULES: tuple[tuple[CheckSpec, ChainRule], ...] = (
    (amt_usage, _amt_usage),
    (server_auth, _server_auth),
    (validity, _validity_rule),
    (expiry_soon, _expiry_soon),
    (chain_complete, _chain_complete),
    (root_trusted, _root_trusted),
    (domain_match, _domain_match),
    (crypto, _crypto),
    (chain_length, _chain_length),
)

CHECKS: tuple[CheckSpec, ...] = (
    loadable,
    amt_usage,
    server_auth,
    validity,
    expiry_soon,
    chain_complete,
    root_trusted,
    domain_match,
    crypto,
    chain_length,
)
