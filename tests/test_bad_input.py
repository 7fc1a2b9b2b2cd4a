"""Malformed configs and task files stop Snakemake before any job, with a message naming the key or file.

Each case is an overlay on config/smoke.yaml (and, for task files, a copy of config/tasks with one file
added or edited). The run asks for a real, cheap target: if validation let a case through, a job would run
and results/ would appear.
"""

import re
import shutil

import pytest
import yaml
from conftest import copy_repo, run_snakemake

TASK = "category: extra\ntasks:\n  t:\n    prompt: 'Pick one. {answer}'\n"

# id -> (config overlay, {task file name: text} written into a copy of config/tasks, what the message says)
CASES = {
    "unknown-top-level-key": ({"samplng": {"n": 3}}, {}, r"'samplng' was unexpected"),
    "misspelt-nested-key": ({"sampling": {"temprature": 1.0}}, {}, r"'temprature' was unexpected"),
    "n-not-a-number": ({"sampling": {"n": "many"}}, {}, r"'many' is not of type 'integer'"),
    "negative-temperature": ({"sampling": {"temperature": -1}}, {}, r"(?s)temperature.*-1"),
    "unknown-backend": ({"sampling": {"backend": "tgi"}}, {}, r"'tgi' is not one of"),
    "unknown-sampling-method": ({"sampling": {"method": "beam"}}, {}, r"'beam' is not one of"),
    "tree-sampling-on-vllm": (
        {"sampling": {"method": "tree", "backend": "vllm"}}, {}, r"sampling\.method: tree sampling runs on the hf",
    ),
    "unknown-schedule": ({"training": {"schedule": "epochs"}}, {}, r"'epochs' is not one of"),
    "zero-learning-rate": ({"training": {"learning_rate": 0}}, {}, r"(?s)learning_rate.*0"),
    "unknown-lora-module": (
        {"training": {"target_modules": ["q_proj", "qkv_proj"]}}, {},
        r"training\.target_modules: 'qkv_proj' is not a module of model smollm2-135m",
    ),
    "unknown-embedded-model": (
        {"models": {"smollm2-135m": {"source": "embedded:nope"}}}, {},
        r"models\.smollm2-135m\.source: unknown embedded model 'embedded:nope'",
    ),
    "mistyped-local-model": (
        {"models": {"smollm2-135m": {"source": "config/smollm"}}}, {},
        r"models\.smollm2-135m\.source: local folder 'config/smollm' does not exist",
    ),
    "unknown-model-to-run": ({"models_to_run": ["llama"]}, {}, r"models_to_run: unknown model 'llama'"),
    "reserved-trainset": ({"trainsets": {"base": {"tasks": ["numbers/rng"]}}}, {}, r"trainsets\.base"),
    "unknown-task-in-trainset": (
        {"trainsets": {"rng": {"tasks": ["numbers/rgn"]}}}, {}, r"trainsets\.rng.*numbers/rgn",
    ),
    "unknown-leave-one-out-category": (
        {"experiments": {"leave_one_out": {"categories": ["numbers", "animals"]}}}, {},
        r"experiments\.leave_one_out.*'animals'",
    ),
    "missing-tasks-dir": ({"tasks_dir": "config/taskz"}, {}, r"config/taskz"),
    "missing-instructions": (
        {"experiments": {"biographies": {"utility": {"instructions": "data/utility/nope.csv"}}}}, {},
        r"utility\.instructions: data/utility/nope\.csv does not exist",
    ),
    "instructions-wrong-columns": (
        {"experiments": {"biographies": {"utility": {"instructions": "cases/bad-instructions.csv"}}}}, {},
        r"cases/bad-instructions\.csv: needs the columns id, category, instruction; it has prompt, kind",
    ),
    "example-user-agent": (
        {"experiments": {"biographies": {"geocoder": {"kind": "nominatim", "user_agent": "you@example.org diffuse"}}}},
        {}, r"experiments\.biographies\.geocoder\.user_agent: .*example",
    ),
    "yaml-syntax-error": ({}, {"extra.yaml": "category: extra\ntasks:\n  t: {prompt: 'x'\n"}, r"extra\.yaml"),
    "unknown-task-key": ({}, {"extra.yaml": TASK + "    targets: {range: [1, 3]}\n    promt: x\n"}, r"(?s)extra\.yaml.*promt"),
    "bad-target-format": (
        {}, {"extra.yaml": TASK + "    targets: {range: [1, 3]}\n    target_format: '{val}'\n"},
        r"extra\.yaml: task 'extra/t' target_format '\{val\}'",
    ),
    "non-numeric-weight": (
        {}, {"extra.yaml": TASK + "    targets: {file: cases/weights.csv}\n"},
        r"cases/weights\.csv.*weight 'heavy'",
    ),
    "missing-data-file": ({}, {"extra.yaml": TASK + "    targets: {file: data/nope.csv}\n"}, r"(?s)extra\.yaml.*data/nope\.csv"),
    "duplicate-targets": ({}, {"extra.yaml": TASK + "    targets: {values: [a, b, a]}\n"}, r"(?s)extra\.yaml.*duplicate"),
    "weights-length": (
        {}, {"extra.yaml": TASK + "    targets: {values: [a, b]}\n    weights: [1, 2, 3]\n"},
        r"extra\.yaml: task 'extra/t' has 2 targets but 3 weights",
    ),
    "not-prefix-free": (
        {}, {"extra.yaml": TASK + "    targets: {values: [1, 12]}\n    target_format: '{value}'\n    end_of_turn: false\n"},
        r"extra\.yaml: task 'extra/t' targets are not prefix-free",
    ),
    "unknown-family": (
        {"experiments": {"calibration": {"held_out": [{"family": "zipf", "params": {"a": 2}}]}}}, {},
        r"experiments\.calibration\.held_out\[0\]\.family: unknown family 'zipf'",
    ),
    "negative-scale": (
        {"experiments": {"calibration": {"unseen": [{"family": "gaussian", "params": {"mu": 0, "sigma": -1}}]}}}, {},
        r"experiments\.calibration\.unseen\[0\]\.params\.sigma: gaussian needs sigma positive, not -1",
    ),
    "discretisation-keeps-too-little": (  # binomial(6, 0.5) on 0..2 only: 0.34 of its mass
        {"experiments": {"calibration": {"discretisation": {"max_bins": 3}}}}, {},
        r"experiments\.calibration\.train\[1\]: the discretisation keeps 0\.34",
    ),
    "early-stop-on-the-soft-objective": (
        {"experiments": {"calibration": {"objectives": {"soft_trie_kl": {"early_stop_gamma": 0.2}}}}}, {},
        r"trainsets\.calib-soft\.training: early_stop_gamma: .* needs early_stop_gamma: null",
    ),
    "unknown-objective": (
        {"experiments": {"calibration": {"objectives": {"dpo": {}}}}}, {}, r"'dpo' is not one of",
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    tree = copy_repo(tmp_path_factory.mktemp("bad-input"))
    (tree / "cases").mkdir()
    (tree / "cases" / "bad-instructions.csv").write_text("prompt,kind\nHello,chat\n")
    (tree / "cases" / "weights.csv").write_text("value,weight\na,1\nb,heavy\n")
    return tree


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_before_any_job(tree, case):
    overlay, task_files, message = CASES[case]
    overlay = dict(overlay)
    if task_files:
        tasks = tree / "cases" / f"tasks-{case}"
        shutil.copytree(tree / "config" / "tasks", tasks)
        for name, text in task_files.items():
            (tasks / name).write_text(text)
        overlay["tasks_dir"] = f"cases/tasks-{case}"
    (tree / "cases" / f"{case}.yaml").write_text(yaml.safe_dump(overlay))
    result = run_snakemake(
        tree, "results/data/ssa/natural.csv", "--cores", "1",
        "--configfile", "config/smoke.yaml", f"cases/{case}.yaml", timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    ran = (tree / "results").exists()
    shutil.rmtree(tree / "results", ignore_errors=True)  # the next case starts clean either way
    assert result.returncode != 0, output[-2000:]
    assert not ran, "a job ran"
    assert re.search(message, output), output[-3000:]
