# Input functions shared by the rules.
import re
from pathlib import Path
from diffuse.config import init_adapter, leave_one_out_compared
from diffuse.mt_bench import FASTCHAT_DATA as MT_BENCH_DATA, KEY as MT_BENCH_KEY
from diffuse.config import calibration_task_suite, leave_one_out_n
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from diffuse.calibration import CONDITION_OF as CALIBRATION_CONDITION_OF, spec_params
from diffuse.calibration import hotter_condition as calibration_hotter_condition
from diffuse.settings import materialise_source
from diffuse.code_digest import script_code_digest

# The follow-up's distribution specs by task id (experiments.calibration), and the adapters it compares.
CALIBRATION = config["experiments"].get("calibration")
CALIBRATION_SPECS = spec_params(CALIBRATION) if CALIBRATION else {}
CALIBRATION_ADAPTERS = (
    [BASE] + [a for a in CALIBRATION_CONDITION_OF if a != BASE and a in TRAINSETS] if CALIBRATION else []
)

# The section-5 prompts the follow-up's adapters are also sampled on (experiments.calibration.task_suite).
CALIBRATION_TASK_SUITE = calibration_task_suite(config, TASKS)

# One N for every cell of Tables 5 and 6 (experiments.leave_one_out.n).
LEAVE_ONE_OUT_N = leave_one_out_n(config, TASKS) if LEAVE_ONE_OUT else None

# The sampling backend (sampling.backend) and its options (sampling.<backend>), params of every model rule.
SAMPLING_BACKEND = config["sampling"]["backend"]
SAMPLING_BACKEND_OPTIONS = config["sampling"].get(SAMPLING_BACKEND, {})

# The sampling rules' conda env: the vllm backend needs vLLM installed beside the core pins.
SAMPLING_ENV = "../../envs/diffuse-vllm.yaml" if SAMPLING_BACKEND == "vllm" else "../../envs/diffuse.yaml"


def code_digest(script):
    """The param `code` of the rules that run workflow/scripts/<script>: the digest of the `diffuse` modules
    the script reaches through imports, so an edit to one reruns every job whose script may reach it
    (diffuse.code_digest)."""
    return script_code_digest(Path(PACKAGE_DIR, "scripts", script), Path(PACKAGE_DIR))


# Threads of a job that loads a model: half the cores, so two such jobs run at once. A job's first seconds
# (imports, model load) use one core, and its twin computes meanwhile (two soft-training jobs on 2 cores:
# 65 s at once, 102 s one after the other; benchmarks/README.md).
MODEL_JOB_THREADS = max(1, workflow.cores // 2)


def model_dir(wildcards):
    return f"results/models/{wildcards.model}"


WARM_START = {}  # the warm-start server of this run, while it runs (the Snakefile's onstart)


def stop_warm_start():
    if WARM_START:
        stop_server(*WARM_START.pop("server"))


def model_dtype(wildcards):
    """The dtype a model job computes in (models.<name>.dtype)."""
    return config["models"][wildcards.model]["dtype"]


def model_mem_mb(wildcards, attempt):
    """Memory of a job that loads the model (models.<name>.mem_mb; a cluster job gets it as --mem).
    A retry (the Slurm profile's `retries`) asks for it times the attempt: a job killed over its memory
    limit gets twice as much the second time."""
    return config["models"][wildcards.model]["mem_mb"] * attempt


def per_attempt(amount):
    """A resource that grows with each retry, as model_mem_mb does: `runtime=per_attempt(60)` asks for 60
    minutes, then 120 after a job ran out of time."""
    return lambda wildcards, attempt: amount * attempt


def adapter_dir(wildcards):
    """The adapter folder a job needs, or nothing for the untuned model."""
    if wildcards.adapter == BASE:
        return []
    return f"results/adapters/{wildcards.model}/{wildcards.adapter}"


def init_adapter_dir(wildcards):
    """The adapter a trainset continues from (trainsets.<name>.init_adapter), or nothing."""
    parent = init_adapter(config, TRAINSETS, wildcards.trainset)
    return [] if parent is None else f"results/adapters/{wildcards.model}/{parent}"


def training_outputs():
    return ["results/tables/training.csv", "results/tables/training.md"]


def task_inputs(wildcards):
    return TASKS[wildcards.task].input_files


def trainset_targets(wildcards):
    tasks = TRAINSETS[wildcards.trainset]["tasks"]
    return [f"results/targets/{wildcards.model}/{task}.json" for task in tasks]


def simple_task_files(kind):
    """Per-model, per-task files of the section-4 experiments, for base and the task's own adapter."""
    extension = {"metrics": "json", "temperature": "csv"}.get(kind, "parquet")
    return [
        f"results/{kind}/{model}/{adapter}/{entry['task']}.{extension}"
        for model in MODELS
        for entry in SIMPLE_TASKS
        for adapter in (BASE, entry["adapter"])
    ]


def simple_task_keys():
    """{model, adapter, task, condition} of each simple_task_files entry, in the same order."""
    return [
        {
            "model": model,
            "adapter": adapter,
            "task": entry["task"],
            "condition": "untuned" if adapter == BASE else "ID",
        }
        for model in MODELS
        for entry in SIMPLE_TASKS
        for adapter in (BASE, entry["adapter"])
    ]


def leave_one_out_metrics():
    """Metrics (first experiments.leave_one_out.n rows) of every evaluated task under base, ood-<c>, id-<c>."""
    if not LEAVE_ONE_OUT:
        return []
    return [
        f"results/leave_one_out/metrics/{model}/{adapter}/{task}.json"
        for model in MODELS
        for category, evaluated in leave_one_out_evaluated(config, TASKS).items()
        for task in evaluated
        for adapter in leave_one_out_compared(category)
    ]


def section4_outputs():
    """Footnote 6 (temperature sweep) and section 4.1's over-representation table, when configured."""
    outputs = ["results/tables/overrepresentation.csv", "results/tables/overrepresentation.md"]
    if config["experiments"].get("temperature"):
        outputs += [
            "results/tables/temperature.csv",
            "results/tables/temperature.md",
            "results/figures/temperature.png",
        ]
    return outputs


def section5_outputs():
    outputs = []
    if config["experiments"].get("rng_generalization"):
        outputs += ["results/figures/figure2.png", "results/tables/figure2.csv"]
    if LEAVE_ONE_OUT:
        outputs += [
            "results/tables/table5.csv",
            "results/tables/table6.csv",
            "results/tables/leave_one_out.csv",
            "results/tables/leave_one_out.md",
            "results/tables/outside_targets.md",
            "results/figures/figure3.png",
        ]
    return outputs


def category_labels():
    """Category id -> its label in tables and figures, in the order of experiments.leave_one_out."""
    return {c: TASKS[category_tasks(TASKS, c)[0]].category_label for c in LEAVE_ONE_OUT["categories"]}


def calibration_condition_files():
    """Every condition's per-spec table: the adapters (and base), the hotter and SSoT baselines."""
    if not CALIBRATION:
        return []
    files = [f"results/calibration/{m}/{a}.csv" for m in MODELS for a in CALIBRATION_ADAPTERS]
    for m in MODELS:
        files += [
            f"results/calibration/{m}/base-hotter/T{t:g}.csv"
            for t in CALIBRATION.get("baseline_temperatures", [])
        ]
        files += [f"results/calibration/{m}/base-prompted/ssot.csv"] if CALIBRATION.get("ssot") else []
    return files


def calibration_outputs():
    if not CALIBRATION:
        return []
    return [
        "results/tables/calibration_summary.csv",
        "results/tables/calibration_targets.csv",
        "results/figures/calibration_w1.png",
        *(
            ["results/tables/open_random_summary.csv", "results/figures/open_random_support.png"]
            if CALIBRATION.get("open_random")
            else []
        ),
        *(["results/tables/mcq.csv"] if CALIBRATION.get("mcq") else []),
        *(["results/tables/calibration_retention.csv"] if CALIBRATION.get("retention") else []),
        *(["results/tables/calibration_task_suite.csv"] if CALIBRATION_TASK_SUITE else []),
    ]


def calibration_task_suite_metrics():
    """Section-5 metrics (experiments.leave_one_out.n rows) of the task-suite prompts under every condition."""
    return [
        f"results/leave_one_out/metrics/{model}/{adapter}/{task}.json"
        for model in MODELS
        for adapter in CALIBRATION_ADAPTERS
        for task in CALIBRATION_TASK_SUITE
    ]


def rng_generalization_files():
    spec = config["experiments"].get("rng_generalization")
    if not spec:
        return []
    return [
        f"results/rng_generalization/{model}/{a}.csv" for model in MODELS for a in (BASE, spec["trainset"])
    ]


def biography_conditions():
    """Adapter -> the paper's condition name for section 6 (untuned, OOD for Tuned-OOD, ID for Tuned-ID); empty without section 6."""
    spec = config["experiments"].get("biographies")
    if not spec:
        return {}
    return {BASE: "untuned", spec["ood_adapter"]: "OOD", spec["id_trainset"]: "ID"}


def biography_tuned_adapters():
    return [adapter for adapter in biography_conditions() if adapter != BASE]


def biography_files(pattern):
    """`pattern` filled in for every model and section-6 condition ({model}, {adapter})."""
    return [pattern.format(model=m, adapter=a) for m in MODELS for a in biography_conditions()]


def biography_samples(wildcards):
    task = config["experiments"]["biographies"]["task"]
    return f"results/samples/{wildcards.model}/{wildcards.adapter}/{task}.parquet"


def section6_outputs():
    if not config["experiments"].get("biographies"):
        return []
    return (
        biography_files("results/figures/figure5_{model}_{adapter}.png")
        + [
            "results/tables/table2.csv",
            "results/tables/table4.csv",
            "results/tables/table7.csv",
            "results/tables/table8.csv",
            "results/figures/figure4.png",
            "results/figures/figure6.png",
        ]
        + mt_bench_outputs()
    )


def mt_bench_spec(require_judge=False):
    """experiments.biographies.mt_bench; with require_judge, an error naming the key when no judge is set."""
    spec = (config["experiments"].get("biographies") or {}).get("mt_bench") or {}
    if require_judge and not spec.get("judge"):
        raise WorkflowError(f"MT-Bench needs a judge: set {MT_BENCH_KEY}.judge (see config/README.md)")
    return spec


def mt_bench_outputs():
    """MT-Bench's table and figure when a judge is configured; otherwise a note that it is skipped."""
    if mt_bench_spec().get("judge"):
        return ["results/tables/mt_bench.csv", "results/figures/figure6_mt_bench.png"]
    logger.info(
        f"MT-Bench skipped: no judge configured ({MT_BENCH_KEY}.judge). Figure 6 has the offline utility "
        "measures; config/README.md says how to add a judge endpoint."
    )
    return []
