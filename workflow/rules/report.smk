def simple_task_files(kind):
    """Per-model, per-task files of the section-4 experiments, for base and the task's own adapter."""
    return [
        f"results/{kind}/{model}/{adapter}/{entry['task']}.{'json' if kind == 'metrics' else 'parquet'}"
        for model in MODELS
        for entry in SIMPLE_TASKS
        for adapter in (BASE, entry["adapter"])
    ]


rule table1:
    """Table 1: coverage-N and entropy per model x task x {base, tuned}, parse rate beside them."""
    input:
        simple_task_files("metrics"),
    output:
        csv="results/tables/table1.csv",
        md="results/tables/table1.md",
    params:
        experiments=SIMPLE_TASKS,
        models=MODELS,
    localrule: True
    script:
        "../scripts/table1.py"


rule figure1:
    """Figure 1: output distributions sorted by probability, base vs tuned (vs natural for names)."""
    input:
        samples=simple_task_files("samples"),
        exact=simple_task_files("exact"),
        data=[path for entry in SIMPLE_TASKS for path in TASKS[entry["task"]].input_files],
    output:
        png="results/figures/figure1.png",
        pdf="results/figures/figure1.pdf",
    params:
        experiments=SIMPLE_TASKS,
        models=MODELS,
        tasks={entry["task"]: TASKS[entry["task"]] for entry in SIMPLE_TASKS},
    localrule: True
    script:
        "../scripts/figure1.py"


rule training_curves:
    """Per-step loss against the entropy bound, and valid mass, for every adapter of a model."""
    input:
        lambda wc: [f"results/adapters/{wc.model}/{name}" for name in config["trainsets"]],
    output:
        "results/figures/training_{model}.png",
    params:
        trainsets=list(config["trainsets"]),
    localrule: True
    script:
        "../scripts/training_curves.py"
