"""Bad configurations fail before any compute, with a message naming the key or the file."""

import copy
import textwrap

import pytest
import yaml
from conftest import REPO, copy_repo, run_snakemake

from diffuse.config import ConfigError, all_trainsets, check_config, train_settings


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_shipped_config_is_consistent(config):
    tasks = check_config(config, REPO)
    assert {e["task"] for e in config["experiments"]["simple_tasks"]} <= set(tasks)
    trainsets = all_trainsets(config, tasks)
    assert train_settings(config, trainsets, "rng").early_stop_gamma is None
    assert train_settings(config, trainsets, "babynames").early_stop_gamma == 0.2


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "paper.yaml", "followup.yaml"])
def test_check_config_leaves_the_config_as_written(name):
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if name != "config.yaml":
        update_config(config, yaml.safe_load((REPO / "config" / name).read_text()))
    before = copy.deepcopy(config)
    tasks = check_config(config, REPO)
    trainsets = all_trainsets(config, tasks)
    assert config == before
    # The generated adapters come after the user's, which are unchanged.
    assert list(trainsets)[: len(before["trainsets"])] == list(before["trainsets"])
    assert {k: trainsets[k] for k in before["trainsets"]} == before["trainsets"]
    assert "all-categories" in trainsets and "all-categories" not in config["trainsets"]


def test_unknown_task_in_trainset(config):
    bad = copy.deepcopy(config)
    bad["trainsets"]["rng"]["tasks"] = ["numbers/rgn"]
    with pytest.raises(ConfigError, match=r"trainsets\.rng\.tasks: unknown task 'numbers/rgn'"):
        check_config(bad, REPO)


def test_unknown_embedded_model(config):
    bad = copy.deepcopy(config)
    bad["models"]["tiny"] = {"source": "embedded:gpt-7"}
    with pytest.raises(ConfigError, match=r"models\.tiny\.source: unknown embedded model 'embedded:gpt-7'"):
        check_config(bad, REPO)


def test_unknown_adapter_in_experiment(config):
    bad = copy.deepcopy(config)
    bad["experiments"]["simple_tasks"][0]["adapter"] = "nope"
    with pytest.raises(
        ConfigError, match=r"experiments\.simple_tasks\[0\]\.adapter: unknown trainset 'nope'"
    ):
        check_config(bad, REPO)


def test_reserved_trainset_name(config):
    bad = copy.deepcopy(config)
    bad["trainsets"]["base"] = {"tasks": ["numbers/rng"]}
    with pytest.raises(ConfigError, match=r"trainsets\.base: 'base' is reserved"):
        check_config(bad, REPO)


def test_missing_data_file_names_the_task_file(config, tmp_path):
    for shipped in (REPO / "config" / "tasks").glob("*.yaml"):
        (tmp_path / shipped.name).write_text(shipped.read_text())
    (tmp_path / "fruits.yaml").write_text(
        textwrap.dedent(
            """\
            category: fruits
            tasks:
              any:
                prompt: "A fruit, in braces."
                targets: {file: data/fruits/missing.csv}
            """
        )
    )
    bad = copy.deepcopy(config)
    bad["tasks_dir"] = str(tmp_path)
    evaluated = bad["experiments"]["leave_one_out"]["evaluate"]
    evaluated[:] = ["fruits/*" if t.startswith("fruits/") else t for t in evaluated]  # the file's one task
    with pytest.raises(ConfigError, match=r"fruits\.yaml: task 'fruits/any' reads data/fruits/missing\.csv"):
        check_config(bad, REPO)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("repo"))


def dry_run(tree, overlay: dict, name: str):
    path = tree / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(overlay))
    result = run_snakemake(tree, "-n", "--cores", "1", "--configfile", f"config/{name}.yaml", timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_snakemake_rejects_a_misspelt_key(tree):
    code, output = dry_run(tree, {"sampling": {"backend": "hf", "n": 10, "temprature": 1.0}}, "typo")
    assert code != 0
    assert "'temprature' was unexpected" in output and "['sampling']" in output
    assert "Building DAG" not in output


def test_snakemake_rejects_an_unknown_backend(tree):
    overlay = {"sampling": {"backend": "tgi", "n": 10, "temperature": 1, "max_new_tokens": 4, "seed": 0}}
    code, output = dry_run(tree, overlay, "backend")
    assert code != 0 and "'tgi' is not one of" in output


def test_snakemake_rejects_a_task_file_that_is_not_prefix_free(tree):
    tasks = tree / "config" / "tasks_bad"
    tasks.mkdir()
    (tasks / "numbers.yaml").write_text(
        "category: numbers\ntasks:\n  raw:\n    prompt: 'A number'\n    targets: {values: [1, 12]}\n"
        "    target_format: '{value}'\n    end_of_turn: false\n"
    )
    code, output = dry_run(tree, {"tasks_dir": "config/tasks_bad"}, "prefix")
    assert code != 0
    assert "tasks_bad/numbers.yaml: task 'numbers/raw' targets are not prefix-free" in output


def test_snakemake_dry_run_of_the_default_config(tree):
    result = run_snakemake(tree, "-n", "--cores", "2", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "train_adapter" in result.stdout and "figure1" in result.stdout


def test_paper_config_plans_the_three_models_with_vllm(tree):
    result = run_snakemake(tree, "-n", "--cores", "8", "--configfile", "config/paper.yaml", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for model in ("llama-2-13b-chat", "mistral-7b-instruct", "gemma-7b-it"):
        assert f"results/models/{model}" in result.stdout
    assert "smollm2-135m" not in result.stdout


def test_leave_one_out_trainsets(config):
    from diffuse.config import leave_one_out_evaluated

    checked = copy.deepcopy(config)
    tasks = check_config(checked, REPO)
    categories = checked["experiments"]["leave_one_out"]["categories"]
    trainsets = all_trainsets(checked, tasks)
    for category in categories:
        own = {t for t in tasks if t.startswith(category + "/")}
        assert set(trainsets[f"id-{category}"]["tasks"]) == own
        others = set(trainsets[f"ood-{category}"]["tasks"])
        assert not others & own and others | own == set(trainsets["all-categories"]["tasks"])
    settings = train_settings(checked, trainsets, "ood-fruits")
    assert settings.max_steps == checked["experiments"]["leave_one_out"]["training"]["max_steps"]
    evaluated = leave_one_out_evaluated(checked, tasks)
    assert list(evaluated) == categories and evaluated["numbers"] == ["numbers/rng"]


def test_leave_one_out_unknown_category(config):
    bad = copy.deepcopy(config)
    bad["experiments"]["leave_one_out"]["categories"].append("vegetables")
    with pytest.raises(
        ConfigError, match=r"leave_one_out\.categories: no task file defines category 'vegetables'"
    ):
        check_config(bad, REPO)


def test_leave_one_out_name_clash(config):
    bad = copy.deepcopy(config)
    bad["trainsets"]["id-fruits"] = {"tasks": ["numbers/rng"]}
    with pytest.raises(
        ConfigError, match=r"trainsets\.id-fruits: the name is taken by experiments\.leave_one_out"
    ):
        check_config(bad, REPO)


def test_sampling_overrides_first_match_wins(config):
    from diffuse.config import sampling_settings

    config = copy.deepcopy(config)
    config["sampling"]["overrides"] = [
        {"tasks": ["numbers/rng"], "n": 1000},
        {"tasks": ["numbers/*", "fruits/*"], "n": 70, "max_new_tokens": 9},
        {"tasks": ["*"], "n": 300},
    ]
    assert sampling_settings(config, "numbers/rng")["n"] == 1000
    suite = sampling_settings(config, "fruits/fruit-0")
    assert suite["n"] == 70 and suite["max_new_tokens"] == 9 and suite["seed"] == config["sampling"]["seed"]
    assert sampling_settings(config, "numbers/prime-50")["n"] == 70
    other = sampling_settings(config, "countries/africa")
    assert other["n"] == 300 and other["max_new_tokens"] == config["sampling"]["max_new_tokens"]
    assert "overrides" not in suite


def test_rng_generalization_unknown_trainset(config):
    bad = copy.deepcopy(config)
    bad["experiments"]["rng_generalization"]["trainset"] = "rng-typo"
    with pytest.raises(ConfigError, match=r"rng_generalization\.trainset: unknown trainset 'rng-typo'"):
        check_config(bad, REPO)


def test_a_config_without_section_6_plans_no_biography_jobs(tmp_path, config):
    """experiments.biographies is optional: without it the DAG has no biography, map or MT-Bench job."""
    tree = copy_repo(tmp_path)
    del config["experiments"]["biographies"]
    del config["trainsets"]["biographies-id"]
    (tree / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tree, "-n", "--cores", "1", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "figure1" in output and "figure3" in output
    for rule in (
        "parse_biographies",
        "biography_tables",
        "figure5",
        "utility",
        "mt_bench",
        "biography_targets",
    ):
        assert rule not in output


def test_leave_one_out_has_one_n(config):
    from diffuse.config import leave_one_out_n

    checked = copy.deepcopy(config)
    tasks = check_config(checked, REPO)
    # Every evaluated prompt is sampled at the paper's N = 1000: one N = 1000.
    assert leave_one_out_n(checked, tasks) == 1000
    checked["experiments"]["leave_one_out"]["n"] = 150
    assert leave_one_out_n(checked, tasks) == 150
    # The "*" override at 200: Table 1's two prompts keep 1000, so null takes the smallest, 200.
    assert checked["sampling"]["overrides"][-1]["tasks"] == ["*"]
    checked["sampling"]["overrides"][-1]["n"] = 200
    checked["experiments"]["leave_one_out"]["n"] = None
    assert leave_one_out_n(checked, tasks) == 200
    checked["experiments"]["leave_one_out"]["n"] = 1000
    with pytest.raises(ConfigError, match=r"experiments\.leave_one_out\.n = 1000, but sampling gives fewer"):
        leave_one_out_n(checked, tasks)


def test_schema_fills_the_defaults_the_rules_read(config):
    # The rules read models.<m>.dtype / train_dtype / mem_mb, sampling.batch_size and exact.chunk_size with
    # no fallback of their own: validate is the one place the defaults come from.
    from snakemake.utils import validate

    config["models"] = {"m": {"source": "embedded:smollm2-135m-instruct"}}
    config["exact"] = {}
    del config["sampling"]["batch_size"]
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert config["models"]["m"] == {
        "source": "embedded:smollm2-135m-instruct",
        "dtype": "float32",
        "train_dtype": "float32",
        "mem_mb": 8000,
    }
    assert config["sampling"]["batch_size"] == 250 and config["exact"]["chunk_size"] == 64
    rules = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    for fallback in (
        '.get("dtype"',
        '.get("train_dtype"',
        '.get("batch_size"',
        '.get("chunk_size"',
        '.get("mem_mb"',
    ):
        assert fallback not in rules


def test_task_suite_patterns_must_match_evaluated_prompts(config):
    from diffuse.config import calibration_task_suite

    tasks = check_config(copy.deepcopy(config), REPO)
    chosen = calibration_task_suite(config, tasks)
    assert chosen == config["experiments"]["calibration"]["task_suite"]  # in leave_one_out's order
    bad = copy.deepcopy(config)
    bad["experiments"]["calibration"]["task_suite"] = ["numbers/rng", "fruits/fruit-9"]
    with pytest.raises(
        ConfigError, match=r"experiments\.calibration\.task_suite: 'fruits/fruit-9' matches none"
    ):
        check_config(bad, REPO)
    alone = copy.deepcopy(config)
    alone["experiments"]["leave_one_out"] = None
    with pytest.raises(ConfigError, match=r"task_suite: needs experiments\.leave_one_out"):
        calibration_task_suite(alone, tasks)


def test_followup_config_trains_with_the_cosine_schedule_and_qwen3_without_thinking():
    from snakemake.utils import update_config

    from diffuse.config import train_params
    from diffuse.settings import materialise_source

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config" / "followup.yaml").read_text()))
    trainsets = all_trainsets(config, check_config(config, REPO))
    for name in ("calib-eq5", "calib-soft", "calib-hard"):
        params = train_params(config, trainsets, name)
        assert (params["lr_schedule"], params["warmup_ratio"]) == ("cosine", 0.03)
    # The 2024 paper's adapters keep the constant rate, and their params as before.
    assert "lr_schedule" not in train_params(config, trainsets, "rng")
    qwen = [m for m, spec in config["models"].items() if spec["source"].startswith("Qwen/Qwen3")]
    assert qwen and set(qwen) <= set(config["models_to_run"])
    for name in qwen:
        assert materialise_source(config["models"][name])["chat_template_variables"] == {
            "enable_thinking": False
        }
