"""`--profile slurm` against a real single-node Slurm started on this machine (tests/local_slurm.py).

The smoke configuration's Figure 1 / Table 1 branch goes through sbatch end to end and must give the same
numbers as the local run. The node advertises one generic `gpu` (backed by /dev/null), so GPU rules are
submitted with their real `--gpus=1` request and scheduled; torch still computes on the CPU. The faults a
cluster brings are made real here: a job over its --mem (Slurm kills it), one cancelled midway, one whose
state reads UNKNOWN, one that fails every attempt; each is retried with more, or fails the run. Skipped where
Slurm cannot run (not root, packages missing) unless DIFFUSE_REQUIRE_SLURM is set, as `.ci/run` does.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import local_slurm
import pandas as pd
import pytest
from conftest import copy_repo, run_snakemake

pytestmark = pytest.mark.integration

TARGETS = ("results/tables/table1.csv", "results/figures/figure1.png")
GPU_RULES = {"train_adapter", "sample_and_exact", "rng_generalization"}


def slurm_args(root: Path) -> tuple[str, ...]:
    # Targets go before these: the options take several values.
    # The profile's account and partition are a cluster's; this one has no accounting and a partition 'cpu'.
    # squeue, not sacct, reports job states without slurmdbd (sacct would hang: shared/notes/slurm-local.md).
    # --cores 4: a model job's threads (half the cores) become --cpus-per-task=2, other jobs' 1.
    return (
        "--cores", "4", "--profile", "slurm", "--configfile", "config/smoke.yaml", "--verbose",
        "--slurm-status-command", "squeue", "--slurm-logdir", str(root / "jobs"),
        "--default-resources", "slurm_partition=cpu", "mem_mb=2000", "runtime=30",
        # The first status check after 5 s, not 40; outputs are on a local disk.
        "--slurm-init-seconds-before-status-checks", "5", "--latency-wait", "5",
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    problem = local_slurm.missing_requirements()
    if problem:
        if os.environ.get("DIFFUSE_REQUIRE_SLURM"):
            pytest.fail(f"DIFFUSE_REQUIRE_SLURM is set but {problem}")
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("slurm")
    env = local_slurm.start(root)
    yield root, env
    local_slurm.stop(root)
    assert local_slurm.running(root) == [], "Slurm daemons still running after stop"


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    root, env = cluster
    tree = copy_repo(tmp_path_factory.mktemp("slurm-tree"))
    started = time.monotonic()
    result = run_snakemake(tree, *TARGETS, *slurm_args(root), timeout=1500, env=env)
    seconds = time.monotonic() - started
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    (root / "snakemake.log").write_text(log)
    print(f"slurm run: {seconds:.0f} s")
    return tree, log


def sbatch_calls(log: str) -> dict[str, list[str]]:
    """Rule name -> the sbatch command lines the plugin ran for it (from its --verbose log)."""
    calls: dict[str, list[str]] = {}
    for line in log.splitlines():
        if "sbatch call: sbatch" in line:
            rule = re.search(r"--comment '?rule_([A-Za-z0-9_]+?)(?:_wildcards_|'|\s)", line).group(1)
            calls.setdefault(rule, []).append(line.split("sbatch call: ", 1)[1])
    return calls


def test_heavy_rules_are_submitted_with_their_resources(slurm_run):
    _, log = slurm_run
    calls = sbatch_calls(log)
    assert set(calls) == {"materialise_model", "ssa_names", "train_adapter", "sample_and_exact"}, calls
    assert len(calls["sample_and_exact"]) == 4 and len(calls["train_adapter"]) == 2
    for rule, lines in calls.items():
        memory = 4000 if rule == "ssa_names" else 8000  # the rule's own mem_mb (models.<name>.mem_mb)
        for line in lines:
            assert "-p cpu" in line and f"--mem {memory}" in line and " -t " in line, line
            if rule in GPU_RULES:
                assert "--gpus=1" in line and "--cpus-per-task=2" in line, line
            else:
                assert "--gpus" not in line and "--cpus-per-task=1" in line, line
    print("\n".join(f"{rule}: {lines[0].split(' --wrap')[0]}" for rule, lines in sorted(calls.items())))


def test_jobs_really_ran_under_slurm(slurm_run, cluster):
    _, env = cluster
    import subprocess

    jobs = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--Format=JobID:12,State:14,tres-per-job:16,Comment:300"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=20, check=True,
    ).stdout.splitlines()  # fmt: skip
    rows = [line.split() for line in jobs]
    # materialise_model, ssa_names, 2 train_adapter, 4 sample_and_exact (test_heavy_rules_... counts them).
    assert len(rows) == 8 and {state for _, state, _, _ in rows} == {"COMPLETED"}, jobs
    for _, _, tres, comment in rows:
        rule = re.match(r"rule_([a-z0-9_]+?)(_wildcards_|$)", comment).group(1)
        # Slurm granted the node's generic gpu to exactly the GPU rules' jobs.
        assert (tres == "gres:gpu:1") == (rule in GPU_RULES), (rule, tres)


def test_outputs_match_a_local_run(slurm_run, smoke_run):
    tree, _ = slurm_run
    pd.testing.assert_frame_equal(
        pd.read_csv(smoke_run / "results/tables/table1.csv"), pd.read_csv(tree / "results/tables/table1.csv")
    )
    for adapter, task in [
        ("base", "numbers/rng"),
        ("rng", "numbers/rng"),
        ("babynames", "babynames/random-name"),
    ]:
        for kind in ("samples", "exact"):
            path = f"results/{kind}/smollm2-135m/{adapter}/{task}.parquet"
            pd.testing.assert_frame_equal(pd.read_parquet(smoke_run / path), pd.read_parquet(tree / path))


SAMPLE = "results/samples/smollm2-135m/base/days-dates/day-0.parquet"


def assert_same_as_local(tree: Path, local: Path, path: str) -> None:
    pd.testing.assert_frame_equal(pd.read_parquet(local / path), pd.read_parquet(tree / path))


def sample_memory_limits(log: str) -> list[int]:
    return [
        int(re.search(r"--mem (\d+)", line).group(1))
        for line in sbatch_calls(log).get("sample_and_exact", [])
    ]


def cancel_when_running(env: dict, rule: str, after_s: int, timeout: float = 300) -> str:
    """scancel the first job of `rule` once it has run `after_s` seconds (its script started); its id."""
    import subprocess

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = subprocess.run(
            [SQUEUE, "--noheader", "--states=RUNNING", "--Format=JobID:12,TimeUsed:12,Comment:300"],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=20, check=True,
        ).stdout.split("\n")  # fmt: skip
        for job_id, used, comment in (row.split() for row in rows if row.strip()):
            seconds = sum(int(part) * 60**i for i, part in enumerate(reversed(used.split(":"))))
            if comment.startswith(f"rule_{rule}") and seconds >= after_s:
                subprocess.run(["scancel", job_id], env={**os.environ, **env}, check=True, timeout=20)
                return job_id
        time.sleep(1)
    raise AssertionError(f"no {rule} job ran for {after_s} s within {timeout:.0f} s")


SQUEUE = shutil.which("squeue") or "/usr/bin/squeue"


def run_cancelling_the_sample_job(tree: Path, root: Path, run_env: dict, env: dict) -> tuple[int, str]:
    """Snakemake on SAMPLE (in `run_env`), its sample job scancelled 4 s into its run; (exit code, log)."""
    import subprocess
    import sys

    run = subprocess.Popen(
        [sys.executable, "-m", "snakemake", SAMPLE, *slurm_args(root)], cwd=tree, env={**os.environ, **run_env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        cancel_when_running(env, "sample_and_exact", after_s=4)
        log, _ = run.communicate(timeout=900)
    finally:
        run.kill()
    return run.returncode, log


def test_a_job_over_its_memory_limit_is_retried_with_more(slurm_run, cluster, smoke_run, tmp_path):
    root, env = cluster
    tree, _ = slurm_run
    (tree / SAMPLE).unlink(missing_ok=True)  # whatever an earlier test left
    # 800 MB is below what loading the model takes (1.2-2 GB with the job's own Snakemake, depending on
    # the machine); each retry asks for 800 MB more. Three retries here, so a heavier machine still ends.
    overlay = tmp_path / "low-memory.yaml"
    overlay.write_text("models:\n  smollm2-135m:\n    mem_mb: 800\n")
    args = slurm_args(root)
    at = args.index("config/smoke.yaml") + 1
    command = (SAMPLE, *args[:at], str(overlay), *args[at:], "--retries", "3")
    result = run_snakemake(tree, *command, timeout=1200, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    limits = sample_memory_limits(log)
    assert len(limits) >= 2 and limits == [800 * attempt for attempt in range(1, len(limits) + 1)], limits
    assert "SLURM status is: 'FAILED'" in log, log[-6000:]
    # Without cgroups Slurm reports FAILED; the job's own log says why (OUT_OF_MEMORY where sacct reads it).
    # The plugin removes a successful job's log, so the logs left are the killed attempts'.
    killed = sorted((root / "jobs/rule_sample_and_exact/smollm2-135m_base_days-dates_day-0").glob("*.log"))
    assert len(killed) == len(limits) - 1, killed
    assert all("exceeded memory limit" in path.read_text() for path in killed), killed
    assert_same_as_local(tree, smoke_run, SAMPLE)
    (tree / SAMPLE).unlink()


def test_a_job_cancelled_midway_is_retried(slurm_run, cluster, smoke_run):
    root, env = cluster
    tree, _ = slurm_run
    (tree / SAMPLE).unlink(missing_ok=True)  # whatever an earlier test left
    returncode, log = run_cancelling_the_sample_job(tree, root, env, env)
    assert returncode == 0, log[-6000:]
    assert "SLURM status is: 'CANCELLED'" in log, log[-6000:]
    assert len(sbatch_calls(log)["sample_and_exact"]) == 2, sbatch_calls(log)
    assert_same_as_local(tree, smoke_run, SAMPLE)
    (tree / SAMPLE).unlink()


def test_an_unknown_state_is_not_taken_for_success(slurm_run, cluster, smoke_run, tmp_path):
    root, env = cluster
    tree, _ = slurm_run
    (tree / SAMPLE).unlink(missing_ok=True)  # whatever an earlier test left
    # The plugin takes UNKNOWN for success. Report the cancelled job so: its output is missing (written
    # only whole), so Snakemake's output check fails the job and the retry makes the output.
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "squeue").write_text(f"#!/bin/sh\n{SQUEUE} \"$@\" | sed 's/|CANCELLED$/|UNKNOWN/'\n")
    (shim / "squeue").chmod(0o755)
    shimmed = {**env, "PATH": f"{shim}:{os.environ['PATH']}"}
    returncode, log = run_cancelling_the_sample_job(tree, root, shimmed, env)
    assert returncode == 0, log[-6000:]
    assert "CANCELLED" not in log and "MissingOutputException" in log, log[-6000:]
    assert len(sbatch_calls(log)["sample_and_exact"]) == 2, sbatch_calls(log)
    assert_same_as_local(tree, smoke_run, SAMPLE)
    (tree / SAMPLE).unlink()


def test_a_failing_job_fails_the_run(slurm_run, cluster):
    root, env = cluster
    tree, _ = slurm_run
    # Corrupt the weights in place: the next job that loads the model fails inside Slurm.
    weights = tree / "results/models/smollm2-135m/model.safetensors"
    weights.write_bytes(b"not a safetensors file")
    (tree / SAMPLE).unlink(missing_ok=True)
    result = run_snakemake(tree, SAMPLE, *slurm_args(root), timeout=600, env=env)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-4000:]
    # The first attempt and the profile's two retries, then the run stops naming the state.
    assert len(sbatch_calls(log)["sample_and_exact"]) == 3, sbatch_calls(log)
    assert "SLURM status is: 'FAILED'" in log and "sample_and_exact" in log, log[-4000:]
    assert not (tree / SAMPLE).exists(), "a failed job left its output behind"
    shutil.rmtree(tree / "results/models")
