rule table1:
    """Table 1: coverage-N and entropy per model x task x {base, tuned}, parse rate beside them."""
    input:
        simple_task_files("metrics"),
    output:
        csv="results/tables/table1.csv",
        md="results/tables/table1.md",
    log:
        "results/logs/table1.log",
    params:
        experiments=SIMPLE_TASKS,
        models=MODELS,
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
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
    log:
        "results/logs/figure1.log",
    params:
        experiments=SIMPLE_TASKS,
        models=MODELS,
        tasks={entry["task"]: TASKS[entry["task"]].to_params("figure1") for entry in SIMPLE_TASKS},
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/figure1.py"


rule training_curves:
    """Per-step loss against the entropy bound, and valid mass, for every adapter of a model."""
    input:
        lambda wc: [f"results/adapters/{wc.model}/{name}" for name in config["trainsets"]],
    output:
        "results/figures/training_{model}.png",
    log:
        "results/logs/training_curves/{model}.log",
    params:
        trainsets=list(config["trainsets"]),
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/training_curves.py"
