"""A node_exporter textfile: per site, check and target, the status and the duration, plus
each site's verdict and the run's timestamp. Write it to the textfile collector's folder."""

from __future__ import annotations

from datetime import datetime

from amt_preflight.model import RunResult, Status, Verdict

PREFIX = "amt_preflight"


def _value(text: str) -> str:
    """A label value as the exposition format escapes it."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_value(v)}"' for k, v in labels.items()) + "}"


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0


def render(run: RunResult) -> str:
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> str:
        full = f"{PREFIX}_{name}"
        out.extend([f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"])
        return full

    name = family("check_status", "gauge",
                  "1 for the status a check has for a site and target, 0 for the others.")
    for r in run.results:
        for status in Status:
            labels = _labels(site=r.site, check=r.check, target=r.target, status=status.value,
                             severity=r.severity.value)
            out.append(f"{name}{labels} {int(r.status is status)}")
    name = family("check_duration_seconds", "gauge", "How long the probes behind a result took.")
    out += [f"{name}{_labels(site=r.site, check=r.check, target=r.target)} "
            f"{r.duration_ms / 1000:.3f}" for r in run.results]
    name = family("site_verdict", "gauge", "1 for the verdict a site has, 0 for the others.")
    out += [f"{name}{_labels(site=s.name, verdict=v.value)} {int(s.verdict is v)}"
            for s in run.sites for v in Verdict]
    name = family("site_exit_code", "gauge",
                  "The site's verdict as a Nagios code: 0 ready, 1 at-risk, 2 not-ready, "
                  "3 unknown.")
    out += [f"{name}{_labels(site=s.name)} {s.verdict.exit_code}" for s in run.sites]
    name = family("site_coverage_gap", "gauge",
                  "1 for a required check that nothing was configured for at a site.")
    out += [f"{name}{_labels(site=s.name, check=c)} 1" for s in run.sites
            for c in s.coverage_gaps]
    name = family("check_not_run", "gauge",
                  "1 for a check that judged nothing at a site; reason says why.")
    out += [f"{name}{_labels(site=s.name, check=n.check, reason=n.reason.value)} 1"
            for s in run.sites for n in s.not_run]
    name = family("leftover", "gauge",
                  "1 for a change an intrusive probe made that the run could not undo.")
    out += [f"{name}{_labels(kind=x.kind.value, what=x.what, server=x.server)} 1"
            for x in run.leftovers]
    name = family("run_interrupted", "gauge",
                  "1 when SIGTERM or SIGINT cut the run short (its unfinished checks are errors).")
    out.append(f"{name} {int(bool(run.run.interrupted))}")
    name = family("run_timestamp_seconds", "gauge", "When the run finished, Unix time.")
    out.append(f"{name} {_epoch(run.run.finished_at):.3f}")
    name = family("run_duration_seconds", "gauge", "How long the run took.")
    out.append(f"{name} {max(0.0, _epoch(run.run.finished_at) - _epoch(run.run.started_at)):.3f}")
    return "\n".join(out) + "\n"
