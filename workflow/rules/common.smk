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
