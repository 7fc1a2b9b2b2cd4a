# Input functions shared by the rules.


def model_dir(wildcards):
    return f"results/models/{wildcards.model}"


def adapter_dir(wildcards):
    """The adapter folder a job needs, or nothing for the untuned model."""
    if wildcards.adapter == BASE:
        return []
    return f"results/adapters/{wildcards.model}/{wildcards.adapter}"


def task_inputs(wildcards):
    return TASKS[wildcards.task].input_files


def trainset_targets(wildcards):
    tasks = config["trainsets"][wildcards.trainset]["tasks"]
    return [f"results/targets/{wildcards.model}/{task}.json" for task in tasks]


def simple_task_files(kind):
    """Per-model, per-task files of the section-4 experiments, for base and the task's own adapter."""
    return [
        f"results/{kind}/{model}/{adapter}/{entry['task']}.{'json' if kind == 'metrics' else 'parquet'}"
        for model in MODELS
        for entry in SIMPLE_TASKS
        for adapter in (BASE, entry["adapter"])
    ]
