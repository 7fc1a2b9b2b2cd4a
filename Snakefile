# diffuse: "Forcing Diffuse Distributions out of Language Models" (Zhang et al., 2024) as one DAG.
# Default: the embedded reproduction on CPU (config/config.yaml). Cluster: --configfile config/paper.yaml.
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

# `diffuse` is imported from this checkout's workflow/, here and in every job (a conda env, a cluster
# job, or a venv holding another checkout's editable install alike).
PACKAGE_DIR = os.path.join(workflow.basedir, "workflow")
sys.path.insert(0, PACKAGE_DIR)
_inherited = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}  # unset is fine: no envvars
os.environ.update(PYTHONPATH=os.pathsep.join([PACKAGE_DIR, *_inherited.values()]))


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


from diffuse.settings import job_environment  # noqa: E402
from diffuse.warm import start_server, stop_server, wanted as warm_start_wanted  # noqa: E402
from diffuse.config import (  # noqa: E402
    BASE,
    all_trainsets,
    category_tasks,
    check_config,
    leave_one_out_evaluated,
    models_to_run,
    sampling_settings,
    train_params,
    train_settings,
)

# Fails with a message naming the key or task file before any job runs.
TASKS = check_config(config, workflow.basedir)
# The config's trainsets plus the adapters experiments.leave_one_out generates; `config` stays as written.
TRAINSETS = all_trainsets(config, TASKS)
MODELS = models_to_run(config)
# Inherited by every job, local or on Slurm (its executor exports the environment).
for _name, _value in job_environment([config["models"][m]["source"] for m in MODELS]).items():
    os.environ.setdefault(_name, _value)
SIMPLE_TASKS = config["experiments"]["simple_tasks"]
LEAVE_ONE_OUT = config["experiments"].get("leave_one_out")


wildcard_constraints:
    model=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    adapter=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    trainset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    task=r"[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*",


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/section4.smk"
include: "workflow/rules/section5.smk"
include: "workflow/rules/section6.smk"
include: "workflow/rules/calibration.smk"


rule all:
    default_target: True
    input:
        expand("results/figures/training_{model}.png", model=MODELS),
        training_outputs(),
        "results/figures/figure1.png",
        "results/figures/figure1.pdf",
        "results/tables/table1.csv",
        "results/tables/table1.md",
        section4_outputs(),
        section5_outputs(),
        section6_outputs(),
        calibration_outputs(),


# Local runs of the hf backend start their jobs warm (diffuse.warm): one process imports torch, transformers
# and peft once, and forks each job from it, so a model job skips 5-6 s of imports. vLLM, conda-env and
# cluster jobs start cold.
onstart:
    if warm_start_wanted(config, workflow):
        WARM_START["server"] = start_server("results/logs/warm_start.log")


onsuccess:
    stop_warm_start()


onerror:
    stop_warm_start()
