"""A node_exporter textfile: per site, check and target, the status and the severity, each as
one series whose value is a number; per site the verdict and the probe time; the run's
timestamp. Write it to the textfile collector's folder (`run -o DIR` replaces the file by a
rename, files.py: node_exporter never reads half a file).

Stable identity: a series' labels are what the thing *is* (site, check, target), never what it
currently *has* (status, severity). A changed status or an overridden severity changes a
value, so no series ends and no new one starts, and a dashboard or alert keeps its history.
One series per result and per fact keeps the file small: about 10 MB at 1,000 sites of 50
results each, where one series per status value and per result made it about 40 MB.
"""

from __future__ import annotations

from datetime import datetime

from amt_preflight.model import RunResult, Severity, Status, Verdict

PREFIX = "amt_preflight"

# The value of amt_preflight_check_status: worse is higher, so `>= 3` is "fail or error".
STATUS_VALUE: dict[Status, int] = {
    Status.PASS: 0, Status.WAIVED: 1, Status.SKIPPED: 2, Status.ERROR: 3, Status.FAIL: 4}


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


def _meaning(values: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(values.items(), key=lambda x: x[1]))


def render(run: RunResult) -> str:
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> str:
        full = f"{PREFIX}_{name}"
        out.extend([f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"])
        return full

    identities = [(r, _labels(site=r.site, check=r.check, target=r.target))
                  for r in run.results]
    name = family("check_status", "gauge",
                  "The status of a check for a site and target, one series whatever the status: "
                  f"{_meaning({s.value: v for s, v in STATUS_VALUE.items()})} "
                  "(>= 3: fail or error).")
    out += [f"{name}{labels} {STATUS_VALUE[r.status]}" for r, labels in identities]
    name = family("check_severity", "gauge",
                  "The severity of a check's result for a site and target as a rank: "
                  f"{_meaning({s.value: s.rank for s in Severity})}. A number in a series of "
                  "its own, not a label: an overridden severity changes a value, never a "
                  "series (alert: amt_preflight_check_status == 4 and on(site,check,target) "
                  "amt_preflight_check_severity >= 3).")
    out += [f"{name}{labels} {r.severity.rank}" for r, labels in identities]
    probe_ms: dict[str, int] = {s.name: 0 for s in run.sites}
    for r in run.results:
        probe_ms[r.site] = probe_ms.get(r.site, 0) + r.duration_ms
    name = family("site_probe_seconds", "gauge",
                  "How long the probes behind a site's results took, summed (each result's "
                  "own time is in the JSON report).")
    out += [f"{name}{_labels(site=site)} {ms / 1000:.3f}" for site, ms in probe_ms.items()]
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
