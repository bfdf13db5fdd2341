"""python -m lab {up,down,demo}: run the lab by hand, clean up, or demo the tool."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from lab import Lab, LabError, ad, dhcp, provisioning_server, snmp
from lab.state import clean_up_left_behind

DEMO_TIMEOUT = 900.0  # seconds; the run's own deadline (300 s by default) ends it well before
VERDICT_CODES = range(4)  # `run` exit codes that are verdicts: ready, at-risk, not-ready, unknown


def up() -> int:
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # stop cleanly on SIGTERM as on Ctrl-C
    with Lab.start() as lab:
        print(f"client namespace: {lab.client_ns}")
        print(f"infra namespace:  {lab.infra_ns}")
        print(f"lab folder:       {lab.workdir}")
        for role, address in lab.addresses.items():
            print(f"  {role:24} {address}")
        print("lab is up; Ctrl-C or SIGTERM stops it", flush=True)
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            print("stopping the lab", flush=True)
    return 0


def down() -> int:
    report, ok = clean_up_left_behind()
    print("\n".join(report) if report else "no lab left behind")
    return 0 if ok else 1


def demo(config: Path, out: Path) -> int:
    argv = [
        sys.executable,
        "-m",
        "amt_preflight.cli",
        "run",
        "-c",
        str(config.resolve()),
        "--allow-intrusive",
        "--format",
        "console,json,html",
        "-o",
        str(out.resolve()),
    ]
    lab = Lab.start()
    try:
        directory = ad.start(lab)  # the AD domain of site hq: Samba, about 6 s
        dhcp.start(lab)  # the DHCP segments: site branch's, with its rogue server
        # stdout and stderr are inherited, so a terminal sees the run's progress.
        # The lab's SNMP community and keys, the AD bind password and the PID/PPS, under the names
        # config.yaml gives them; the lab CA that issued the DC's LDAP certificate as the trust
        # store (SSL_CERT_FILE), as a site would set ad.tls_ca_file to its own CA.
        env = {**os.environ, **snmp.ENVIRONMENT, **directory.environment(),
               **provisioning_server.ENVIRONMENT}
        code = lab.run_in_client(argv, timeout=DEMO_TIMEOUT, check=False, env=env).returncode
    except subprocess.TimeoutExpired:
        print(f"lab: the demo run took longer than {DEMO_TIMEOUT:.0f} s", file=sys.stderr)
        return 1
    finally:
        lab.stop()
    report = out / "amt-preflight.html"
    print(f"HTML report: {report}" if report.exists() else f"no HTML report (exit code {code})")
    if code < 0:  # killed by a signal: report it the way a shell does
        return 128 - code
    return 0 if code in VERDICT_CODES else code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the lab and keep it running until Ctrl-C or SIGTERM")
    commands.add_parser("down", help="clean up labs left behind by crashed runs")
    demo_parser = commands.add_parser("demo", help="run amt-preflight against the lab")
    demo_parser.add_argument("--config", type=Path, default=Path("config.yaml"))
    demo_parser.add_argument("--out", type=Path, default=Path("demo-report"))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return up()
        if args.command == "down":
            return down()
        return demo(args.config, args.out)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # the lab was stopped on the way out


if __name__ == "__main__":
    sys.exit(main())
