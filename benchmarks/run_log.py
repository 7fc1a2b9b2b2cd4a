"""Where a Snakemake run's wall time went: jobs and minutes per rule, from its log.

Snakemake prints a timestamp before every job start ("rule X:" / "localrule X:" with its jobid) and every
"Finished jobid: N". With one job at a time (the default run uses every core per job) a job's wall time is
the gap between the two. Usage:

    make reproduce 2>&1 | tee reproduce.log
    .venv/bin/python benchmarks/run_log.py reproduce.log [--out benchmarks/results/run_log.csv]

Prints a per-rule table (recorded in benchmarks/README.md) and the run's span from first to last job.
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime

from results_table import write_results

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


def job_durations(lines) -> list[tuple[str, float, datetime, datetime]]:
    """(rule, seconds, start, end) of every finished job in a Snakemake log."""
    stamp = rule = None
    started: dict[str, tuple[str, datetime]] = {}
    jobs = []
    for line in lines:
        line = line.rstrip("\n")
        if match := STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := RULE.match(line):
            rule = (match.group(1), stamp)
        elif (match := JOBID.match(line)) and rule is not None:
            started[match.group(1)] = rule
            rule = None
        elif (match := FINISHED.match(line)) and match.group(1) in started:
            name, start = started.pop(match.group(1))
            jobs.append((name, (stamp - start).total_seconds(), start, stamp))
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--out", default="benchmarks/results/run_log.csv")
    args = parser.parse_args()
    with open(args.log, encoding="utf-8", errors="replace") as handle:
        jobs = job_durations(handle)
    if not jobs:
        raise SystemExit(f"{args.log}: no finished Snakemake jobs found")
    per_rule: dict[str, list[float]] = {}
    for name, seconds, _, _ in jobs:
        per_rule.setdefault(name, []).append(seconds)
    rows = [
        {"rule": name, "jobs": len(times), "minutes": round(sum(times) / 60, 1),
         "mean_s": round(sum(times) / len(times)), "max_s": round(max(times))}
        for name, times in sorted(per_rule.items(), key=lambda item: -sum(item[1]))
    ]  # fmt: skip
    write_results(rows, args.out)
    span = (max(end for *_, end in jobs) - min(start for _, _, start, _ in jobs)).total_seconds()
    print(f"{len(jobs)} jobs, first start to last finish: {span / 60:.1f} min")


if __name__ == "__main__":
    main()
