"""The floor that bench/dns_survey.py compares amt-preflight with: plain asyncio and
dnspython's own `dns.asyncquery`, sending exactly the queries the tool sends for
`--check DNS-RESOLVER-ANSWERS --check 'DNS-PROVSERVER-*'` at one site:

- per resolver, `ProvisionServer.<first domain> A` over UDP and over TCP (the UDP one is also
  that domain's own query, so it is sent once);
- per domain and resolver, `ProvisionServer.<domain> A` over UDP;
- per distinct address found, `PTR` over UDP at every resolver, started as soon as the address
  is known, never twice.

At most --concurrency queries are in flight; an attempt waits --timeout seconds and only
silence is retried, --retries times. Answers are parsed (addresses and PTR names extracted),
and one summary line is printed.

    python bench/minimal_dns_client.py --resolver 10.250.0.5 --domains domains.txt
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import dns.rdatatype


async def survey(
    resolvers: list[str], domains: list[str], concurrency: int, timeout: float, retries: int
) -> str:
    limiter = asyncio.Semaphore(concurrency)

    async def ask(resolver: str, name: str, rdtype: str, tcp: bool = False) -> list[str]:
        """The values of the answer's records of that type; [] for no answer."""
        query = dns.message.make_query(name, rdtype)
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        for _ in range(retries + 1):
            async with limiter:
                try:
                    reply = await send(query, resolver, timeout=timeout)
                except dns.exception.Timeout:
                    continue  # only silence is worth another try
                except (OSError, dns.exception.DNSException):
                    return []
            wanted = dns.rdatatype.from_text(rdtype)
            return [rd.to_text() for rr in reply.answer if rr.rdtype == wanted for rd in rr]
        return []

    ptrs: dict[tuple[str, str], asyncio.Task[list[str]]] = {}  # (resolver, address) -> PTR

    async def one(resolver: str, domain: str) -> list[str]:
        addresses = await ask(resolver, f"ProvisionServer.{domain}", "A")
        for address in addresses:
            for r in resolvers:
                if (r, address) not in ptrs:
                    reverse = ipaddress.ip_address(address).reverse_pointer
                    ptrs[(r, address)] = asyncio.ensure_future(ask(r, reverse, "PTR"))
        return addresses

    first = f"ProvisionServer.{domains[0]}"
    tcp_probes = [ask(r, first, "A", tcp=True) for r in resolvers]
    answers = await asyncio.gather(*(one(r, d) for r in resolvers for d in domains), *tcp_probes)
    names = await asyncio.gather(*ptrs.values())
    per_domain = answers[: len(answers) - len(tcp_probes)]
    found = sorted({a for addresses in per_domain for a in addresses})
    return (
        f"answered {sum(1 for a in per_domain if a)}/{len(per_domain)} "
        f"tcp {sum(1 for a in answers[len(per_domain):] if a)}/{len(tcp_probes)} "
        f"addresses {','.join(found) or '-'} "
        f"ptr {','.join(sorted({n for ns in names for n in ns})) or '-'}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--resolver", action="append", required=True)
    parser.add_argument("--domains", type=Path, required=True, help="one domain a line")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--retries", type=int, default=1)
    args = parser.parse_args(argv)
    domains = [d.strip().rstrip(".").lower() for d in args.domains.read_text().split()]
    print(asyncio.run(survey(args.resolver, domains, args.concurrency, args.timeout, args.retries)))


if __name__ == "__main__":
    main()
