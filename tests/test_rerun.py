"""Snakemake's cache on a finished smoke tree: an edit reruns exactly the jobs whose output it changes.

Every check is a dry run (`snakemake -n`, default --rerun-triggers) on the tree as the smoke DAG left it; edits
come as an extra config file or a copied tasks folder in a temp path, or in a copy of the tree, never by editing
the tree itself. The expected plans are Snakemake's own `--forcerun` of the jobs an edit should reach, so "and
everything downstream" means the DAG's downstream, not a list kept by hand.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import run_snakemake

MODEL = "smollm2-135m"
CONFIG = ("--cores", "2", "--configfile", "config/smoke.yaml")
JOB_HEADER = re.compile(r"^(?:local)?rule (\S+):$")
STATS_ROW = re.compile(r"^(\S+)\s+(\d+)$")
# Jobs that load or prepare the model or its inputs; a figure-only edit must plan none of them.
MODEL_RULES = {
    "materialise_model",
    "ssa_names",
    "biography_targets",
    "encode_targets",
    "train_adapter",
    "sample",
    "exact",
    "sample_and_exact",
    "rng_generalization",
    "utility",
}


@dataclass(frozen=True)
class Plan:
    rules: Counter  # rule name -> planned jobs
    outputs: frozenset  # every output file of every planned job
    seconds: float  # wall time of the dry run


def parse_dry_run(text: str) -> Plan:
    """The jobs a `snakemake -n` log plans: one per `rule X:` block, checked against the Job stats table."""
    rules: Counter = Counter()
    outputs: set[str] = set()
    in_job = False
    for line in text.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            rules[header.group(1)] += 1
            in_job = True
        elif in_job and line.startswith("    output: "):
            outputs.update(line.removeprefix("    output: ").split(", "))
        elif not line.startswith("    "):
            in_job = False
    stats: Counter = Counter()
    lines = text.splitlines()
    if "Job stats:" in lines:
        for line in lines[lines.index("Job stats:") + 3 :]:
            row = STATS_ROW.match(line)
            if not row or row.group(1) == "total":
                break
            stats[row.group(1)] = int(row.group(2))
    else:
        assert "Nothing to be done" in text, text[-3000:]
    assert stats == rules, f"job blocks {dict(rules)} disagree with the job stats table {dict(stats)}"
    return Plan(rules, frozenset(outputs), 0.0)


def planned(tree: Path, *args: str, configfiles: tuple[str, ...] = ()) -> Plan:
    """The multiset of jobs (by rule) and their outputs that `snakemake -n` plans in `tree`."""
    start = time.perf_counter()
    result = run_snakemake(tree, "-n", *CONFIG, *configfiles, *args, timeout=600)
    seconds = time.perf_counter() - start
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-4000:]
    plan = parse_dry_run(text)
    print(
        f"dry run {' '.join(args) or '(no flags)'} {' '.join(configfiles)}: {seconds:.1f} s, {dict(plan.rules)}"
    )
    return Plan(plan.rules, plan.outputs, seconds)


def override(tmp_path: Path, settings: dict) -> tuple[str]:
    """An extra config file with `settings` (Snakemake merges it into the smoke config key by key)."""
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(settings))
    return (str(path),)


def is_base(path: str) -> bool:
    """An output of the untuned model (adapter `base`)."""
    return bool(re.search(r"/base/|/base\.csv$|_base\.(png|pdf)$", path))


def test_parse_dry_run_counts_jobs():
    text = """Job stats:
job          count
---------  -------
sample           2
all              1
total            3

rule sample:
    input: a
    output: results/samples/m/base/t.parquet
    jobid: 1
localrule all:
    input: x, y
    jobid: 0
rule sample:
    output: results/samples/m/rng/t.parquet, results/samples/m/rng/u.parquet
"""
    plan = parse_dry_run(text)
    assert plan.rules == Counter({"sample": 2, "all": 1})
    assert plan.outputs == {
        "results/samples/m/base/t.parquet",
        "results/samples/m/rng/t.parquet",
        "results/samples/m/rng/u.parquet",
    }
    assert (
        parse_dry_run("Building DAG of jobs...\nNothing to be done (all requested files are present).").rules
        == {}
    )
    with pytest.raises(AssertionError):
        parse_dry_run(text.replace("sample           2", "sample           3"))


@pytest.mark.integration
def test_editing_nothing_reruns_nothing(smoke_built):
    assert planned(smoke_built).rules == Counter()


@pytest.mark.integration
def test_moving_the_tree_reruns_nothing(smoke_built, tmp_path):
    moved = tmp_path / "elsewhere" / "diffuse"
    moved.parent.mkdir()
    subprocess.run(["cp", "-a", str(smoke_built), str(moved)], check=True)  # mtimes and .snakemake/ kept
    assert planned(moved).rules == Counter()


@pytest.mark.integration
def test_learning_rate_reruns_the_adapters_and_what_follows(smoke_built, tmp_path):
    config = yaml.safe_load((smoke_built / "config" / "smoke.yaml").read_text())
    plan = planned(smoke_built, configfiles=override(tmp_path, {"training": {"learning_rate": 2e-3}}))
    expected = planned(smoke_built, "--forcerun", "train_adapter")
    assert plan.rules == expected.rules and plan.outputs == expected.outputs
    # Every adapter inherits the global learning rate in the smoke config: 2 trainsets, 5 of section 5, 2 more,
    # and the follow-up's three (calib-eq5, calib-soft, calib-hard).
    adapters = {p for p in plan.outputs if p.startswith(f"results/adapters/{MODEL}/")}
    assert len(adapters) == plan.rules["train_adapter"] == 12
    assert "rng" in {Path(p).name for p in adapters} and config["training"]["learning_rate"] != 2e-3
    assert not {"encode_targets", "ssa_names", "materialise_model", "biography_targets"} & set(plan.rules)
    assert not [p for p in plan.outputs if is_base(p)]
    assert plan.rules["sample_and_exact"] > 0


@pytest.mark.integration
def test_a_prompt_reruns_its_targets_and_what_follows(smoke_built, tmp_path):
    tasks = tmp_path / "tasks"
    shutil.copytree(smoke_built / "config" / "tasks", tasks)
    numbers = yaml.safe_load((tasks / "numbers.yaml").read_text())
    numbers["tasks"]["rng"]["prompt"] = numbers["tasks"]["rng"]["prompt"].replace(
        "random", "random random", 1
    )
    # Rewritten by the YAML dumper: other tasks of the file change in layout only, which must rerun nothing.
    (tasks / "numbers.yaml").write_text(yaml.safe_dump(numbers, sort_keys=True))
    plan = planned(smoke_built, configfiles=override(tmp_path, {"tasks_dir": str(tasks)}))
    target = f"results/targets/{MODEL}/numbers/rng.json"
    expected = planned(smoke_built, "--forcerun", target)
    assert plan.rules == expected.rules and plan.outputs == expected.outputs
    assert plan.rules["encode_targets"] == 1 and target in plan.outputs
    assert {p for p in plan.outputs if p.startswith("results/targets/")} == {target}
    assert plan.rules["train_adapter"] > 0 and "materialise_model" not in plan.rules


@pytest.mark.integration
def test_match_reruns_sampling_and_metrics_of_that_task_only(smoke_built, tmp_path):
    tasks = tmp_path / "tasks"
    shutil.copytree(smoke_built / "config" / "tasks", tasks)
    numbers = yaml.safe_load((tasks / "numbers.yaml").read_text())
    assert numbers["tasks"]["rng"].get("match", "exact") == "exact"
    numbers["tasks"]["rng"]["match"] = "casefold"
    (tasks / "numbers.yaml").write_text(yaml.safe_dump(numbers))
    plan = planned(smoke_built, configfiles=override(tmp_path, {"tasks_dir": str(tasks)}))
    # match decides which parsed answers are valid: samples and metrics, not the encoded targets or adapters.
    assert not {"encode_targets", "train_adapter", "materialise_model"} & set(plan.rules)
    samples = {p for p in plan.outputs if p.startswith("results/samples/")}
    assert samples and all(p.endswith("/numbers/rng.parquet") for p in samples)
    assert len(samples) == plan.rules["sample_and_exact"]
    # The hf backend scores a task in its sampling job: exactly those tasks' exact files are rewritten.
    exact = {p for p in plan.outputs if p.startswith("results/exact/")}
    assert exact == {p.replace("results/samples/", "results/exact/", 1) for p in samples}
    # Every metrics job (Table 1's and the one-N leave-one-out ones) that reruns is of that task.
    metrics = {p for p in plan.outputs if "/metrics/" in p}
    assert metrics and all(p.endswith("/numbers/rng.json") for p in metrics)
    assert len(metrics) == plan.rules["metrics"] + plan.rules["leave_one_out_metrics"]
    assert {
        f"results/samples/{MODEL}/base/numbers/rng.parquet",
        f"results/samples/{MODEL}/rng/numbers/rng.parquet",
    } <= samples


@pytest.mark.integration
def test_a_figure_setting_reruns_only_that_figure(smoke_built, tmp_path):
    config = yaml.safe_load((smoke_built / "config" / "smoke.yaml").read_text())
    points = config["experiments"]["biographies"]["map_points"]
    edit = {"experiments": {"biographies": {"map_points": points - 4}}}
    plan = planned(smoke_built, configfiles=override(tmp_path, edit))
    expected = planned(smoke_built, "--forcerun", "figure5")
    assert plan.rules == expected.rules and plan.outputs == expected.outputs
    assert plan.rules["figure5"] == 3 and not MODEL_RULES & set(plan.rules)


@pytest.mark.integration
def test_a_package_edit_reruns_the_jobs_whose_scripts_reach_it(smoke_built, tmp_path):
    tree = tmp_path / "tree"
    subprocess.run(["cp", "-a", str(smoke_built), str(tree)], check=True)  # mtimes and .snakemake/ kept
    package = tree / "workflow" / "diffuse"
    lm, maps = (package / "lm.py").read_text(), (package / "maps.py").read_text()
    # Comments and docstrings change no output, even in a module every model job reaches.
    (package / "lm.py").write_text("# scoring and sampling\n" + lm.replace('"""', '"""The model: ', 1))
    assert planned(tree).rules == Counter()
    # Code does: diffuse.maps is reached by Figure 5's script alone.
    (package / "maps.py").write_text(maps + "\nOCEAN = None\n")
    plan = planned(tree)
    expected = planned(smoke_built, "--forcerun", "figure5")
    assert plan.rules == expected.rules and plan.outputs == expected.outputs
    assert plan.rules == Counter({"figure5": 3, "all": 1})
