"""Where a Snakemake run's wall time went: jobs and minutes per rule, from its benchmark files or its log.

The heavy rules write `benchmark:` files (results/benchmarks/<rule>/<wildcards>.tsv: wall seconds, max RSS,
CPU time of one job). `--benchmarks results/benchmarks` summarises them per rule: jobs, total and median
seconds, max RSS. This is the mode to use: it measures each job itself, whatever ran in parallel. A job
started warm (diffuse.warm) ran in a forked child its benchmark file does not see: the peak memory line of
its log (results/logs beside results/benchmarks) stands for its RSS.

    .venv/bin/python benchmarks/run_log.py --benchmarks results/benchmarks [--out benchmarks/results/benchmarks.csv]

The log mode covers every rule, the light ones too, from the log's timestamps:
Snakemake prints a timestamp before every job start ("rule X:" / "localrule X:" with its jobid) and every
"Finished jobid: N". A job's wall time is the gap between the two with its jobid, so jobs that ran side by
side (model jobs run two at a time, each on half the cores) are each timed. Usage:

    make reproduce 2>&1 | tee reproduce.log
    .venv/bin/python benchmarks/run_log.py reproduce.log [--out benchmarks/results/run_log.csv]

Prints a per-rule table (recorded in benchmarks/README.md) and the run's span from first to last job.

The start-up mode sums what the model jobs spend before computing: every job that loads a model logs one
line, "start-up: S s from process start to model loaded" (interpreter, imports, weights, adapter merge).
`--startup results/logs` tabulates them per rule; given the run's log as well, it prints their share of the
jobs' summed wall time (the share of the job slots the machine spent starting jobs) and of the run's span:

    .venv/bin/python benchmarks/run_log.py reproduce.log --startup results/logs
"""

from __future__ import annotations

import argparse
import re
import statistics
from datetime import datetime
from pathlib import Path

import pandas as pd
from results_table import write_results

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")
STARTUP = re.compile(r"start-up: ([0-9.]+) s from process start")
PEAK_MEMORY = re.compile(r"^peak memory: ([0-9.]+) MB", re.M)  # a warm-started job's own (diffuse.warm)


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


def read_benchmark(path: Path) -> dict:
    """One job's benchmark file: wall seconds and max RSS (MB; None where Snakemake wrote NA, a job too short
    to sample). With `repeat(...)` the file has one row per repeat: seconds is their mean, RSS their max."""
    table = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
    if table.empty or "s" not in table.columns:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no 's' column)")
    rss = table["max_rss"].dropna() if "max_rss" in table.columns else pd.Series(dtype=float)
    return {"seconds": float(table["s"].mean()), "max_rss_mb": float(rss.max()) if len(rss) else None}


def startup_seconds(log: Path) -> float | None:
    """The start-up a job's log records, or None: its last such line (vLLM after merging an adapter logs two)."""
    found = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if match := STARTUP.search(line):
            found = float(match.group(1))
    return found


def startup_summary(root: str | Path) -> list[dict]:
    """Per rule (the first folder under `root`): jobs that loaded a model, total and median start-up seconds."""
    root = Path(root)
    per_rule: dict[str, list[float]] = {}
    for path in sorted(root.rglob("*.log")):
        if (seconds := startup_seconds(path)) is not None:
            per_rule.setdefault(path.relative_to(root).parts[0], []).append(seconds)
    rows = [
        {"rule": rule, "jobs": len(times), "startup_total_s": round(sum(times), 1),
         "startup_median_s": round(statistics.median(times), 2)}
        for rule, times in per_rule.items()
    ]  # fmt: skip
    return sorted(rows, key=lambda row: -row["startup_total_s"])


def warm_peak_memory(log: Path) -> float | None:
    """A warm-started job's peak memory in MB from its log, or None (a cold job, or no log)."""
    if not log.is_file():
        return None
    found = PEAK_MEMORY.findall(log.read_text(encoding="utf-8", errors="replace"))
    return max(map(float, found)) if found else None


def benchmark_summary(root: str | Path, logs: str | Path | None = None) -> list[dict]:
    """Per rule (the first folder under `root`): jobs, total and median seconds, max RSS in MB; most time first.
    `logs` (e.g. results/logs): where a job was warm-started, its benchmark file measured only the process
    that waited for it, and the peak memory its log records (the same relative path, .log) counts instead."""
    root = Path(root)
    per_rule: dict[str, list[dict]] = {}
    for path in sorted(root.rglob("*.tsv")):
        rule = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else path.stem
        job = read_benchmark(path)
        if logs is not None and (
            peak := warm_peak_memory(Path(logs) / path.relative_to(root).with_suffix(".log"))
        ):
            job["max_rss_mb"] = max(peak, job["max_rss_mb"] or 0.0)
        per_rule.setdefault(rule, []).append(job)
    rows = []
    for rule, jobs in per_rule.items():
        seconds = [job["seconds"] for job in jobs]
        rss = [job["max_rss_mb"] for job in jobs if job["max_rss_mb"] is not None]
        rows.append(
            {"rule": rule, "jobs": len(jobs), "total_s": round(sum(seconds), 1),
             "median_s": round(statistics.median(seconds), 1), "max_rss_mb": round(max(rss), 1) if rss else None}
        )  # fmt: skip
    return sorted(rows, key=lambda row: -row["total_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", help="a Snakemake log (log mode)")
    parser.add_argument("--benchmarks", help="a folder of benchmark files, e.g. results/benchmarks")
    parser.add_argument(
        "--out", help="CSV to write (default benchmarks/results/run_log.csv or benchmarks.csv)"
    )
    parser.add_argument("--startup", help="a folder of job logs, e.g. results/logs: model jobs' start-up")
    args = parser.parse_args()
    if args.startup:
        rows = startup_summary(args.startup)
        if not rows:
            raise SystemExit(f"{args.startup}: no job log records a start-up line")
        write_results(rows, args.out or "benchmarks/results/startup.csv")
        total = sum(row["startup_total_s"] for row in rows)
        line = f"{sum(row['jobs'] for row in rows)} model jobs, start-up {total / 60:.1f} min"
        if args.log:
            with open(args.log, encoding="utf-8", errors="replace") as handle:
                jobs = job_durations(handle)
            span = (max(end for *_, end in jobs) - min(start for _, _, start, _ in jobs)).total_seconds()
            busy = sum(seconds for _, seconds, _, _ in jobs)
            line += (
                f": {100 * total / busy:.1f}% of the {len(jobs)} jobs' summed {busy / 60:.1f} min,"
                f" {100 * total / span:.1f}% of the run's {span / 60:.1f}-min span"
            )
        print(line)
        return
    if (args.log is None) == (args.benchmarks is None):
        parser.error("give a log or --benchmarks DIR, not both")
    if args.benchmarks:
        logs = Path(args.benchmarks).parent / "logs"
        rows = benchmark_summary(args.benchmarks, logs if logs.is_dir() else None)
        if not rows:
            raise SystemExit(f"{args.benchmarks}: no benchmark files (*.tsv) found")
        write_results(rows, args.out or "benchmarks/results/benchmarks.csv")
        print(
            f"{sum(row['jobs'] for row in rows)} benchmarked jobs, {sum(row['total_s'] for row in rows) / 60:.1f} min"
        )
        return
    args.out = args.out or "benchmarks/results/run_log.csv"
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
