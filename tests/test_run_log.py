"""benchmarks/run_log.py --benchmarks: per-rule totals from hand-made Snakemake benchmark files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from run_log import benchmark_summary, job_durations, read_benchmark, startup_summary  # noqa: E402

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write(path: Path, *rows: tuple) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "\t".join(str(v) for v in (s, "0:00:00", rss, 1.0, 1.0, 1.0, 0.0, 0.0, 50.0, s)) for s, rss in rows
    ]
    path.write_text(HEADER + "\n".join(lines) + "\n")


def test_summary_per_rule(tmp_path):
    root = tmp_path / "benchmarks"
    write(root / "sample" / "m" / "base" / "rng" / "a.tsv", (10.0, 500.0))
    write(root / "sample" / "m" / "tuned" / "rng" / "a.tsv", (30.0, 800.5))
    write(root / "sample" / "m" / "base" / "names.tsv", (20.0, "NA"))  # too short for Snakemake to sample RSS
    write(root / "exact" / "m" / "base.tsv", (4.0, 300.0), (6.0, 350.0))  # repeat(): two rows of one job
    write(root / "materialise_model" / "m.tsv", (2.0, "NA"))
    rows = benchmark_summary(root)
    assert rows == [
        {"rule": "sample", "jobs": 3, "total_s": 60.0, "median_s": 20.0, "max_rss_mb": 800.5},
        {"rule": "exact", "jobs": 1, "total_s": 5.0, "median_s": 5.0, "max_rss_mb": 350.0},
        {"rule": "materialise_model", "jobs": 1, "total_s": 2.0, "median_s": 2.0, "max_rss_mb": None},
    ]


def test_a_warm_started_jobs_memory_comes_from_its_log(tmp_path):
    # Its benchmark file measured the process that waited for the forked job (diffuse.warm), not the job.
    write(tmp_path / "benchmarks" / "sample" / "m" / "base" / "rng.tsv", (10.0, 40.0))
    write(tmp_path / "benchmarks" / "exact" / "m" / "base" / "rng.tsv", (5.0, 300.0))  # a cold job: no line
    log = tmp_path / "logs" / "sample" / "m" / "base" / "rng.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "start-up: 1.20 s from process start to model loaded\npeak memory: 812.5 MB (warm-started job)\n"
    )
    rows = {row["rule"]: row for row in benchmark_summary(tmp_path / "benchmarks", tmp_path / "logs")}
    assert rows["sample"]["max_rss_mb"] == 812.5
    assert rows["exact"]["max_rss_mb"] == 300.0
    assert benchmark_summary(tmp_path / "benchmarks")[0]["max_rss_mb"] == 40.0  # without the logs


def test_median_of_even_count(tmp_path):
    for i, seconds in enumerate([1.0, 2.0, 10.0, 100.0]):
        write(tmp_path / "train_adapter" / f"{i}.tsv", (seconds, 100.0 + i))
    (row,) = benchmark_summary(tmp_path)
    assert (row["jobs"], row["total_s"], row["median_s"], row["max_rss_mb"]) == (4, 113.0, 6.0, 103.0)


def test_not_a_benchmark_file(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark file"):
        read_benchmark(path)


def _process_age_from_proc() -> float:
    """Seconds since this process started, from the kernel's own records (Linux)."""
    import os
    import time

    boot = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime"))
    # Field 22 (start time in clock ticks after boot); the command name before it may hold spaces.
    ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
    return time.time() - (boot + ticks / os.sysconf("SC_CLK_TCK"))


def test_startup_lines_the_jobs_write_are_summed_per_rule(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))
    from diffuse.job_log import report_startup

    before = _process_age_from_proc()
    report_startup("model loaded")
    after = _process_age_from_proc()
    written = capsys.readouterr().err
    seconds = float(written.split()[1])
    # This test process's own age, read independently (/proc's boot time is whole seconds).
    assert before - 1.5 <= seconds <= after + 1.5, (written, before, after)
    logs = tmp_path / "logs"
    for name, text in {
        "sample/m/base/rng.log": f"progress 10%\n{written}progress 100%\n",
        "sample/m/tuned/rng.log": "start-up: 4.00 s from process start to model loaded\n",
        # two loads (vLLM after merging an adapter): the last line is when the job could start computing
        "exact/m/base/rng.log": "start-up: 9.00 s from process start to model loaded\n"
        "start-up: 3.00 s from process start to model loaded\n",
        "figure1/log.log": "no model here\n",
    }.items():
        (logs / name).parent.mkdir(parents=True, exist_ok=True)
        (logs / name).write_text(text)
    rows = startup_summary(logs)
    assert [row["rule"] for row in rows] == ["sample", "exact"]
    assert rows[0]["jobs"] == 2 and rows[0]["startup_total_s"] == round(seconds + 4.0, 1)
    assert rows[1] == {"rule": "exact", "jobs": 1, "startup_total_s": 3.0, "startup_median_s": 3.0}


def test_jobs_side_by_side_are_timed_by_their_jobid():
    # Two model jobs start together; the second started finishes first (as Snakemake logs it).
    log = """
[Thu Dec  3 07:00:00 2026]
rule train_adapter:
    output: results/adapters/m/a
    jobid: 7
[Thu Dec  3 07:00:01 2026]
rule sample:
    output: results/samples/m/base/t.parquet
    jobid: 3
[Thu Dec  3 07:00:31 2026]
Finished jobid: 3 (Rule: sample)
[Thu Dec  3 07:01:40 2026]
Finished jobid: 7 (Rule: train_adapter)
"""
    jobs = {name: seconds for name, seconds, _, _ in job_durations(log.splitlines())}
    assert jobs == {"sample": 30.0, "train_adapter": 100.0}
