rule table1:
    """Table 1: coverage-N and entropy per model x task x {natural reference, base, tuned}, N and rates beside."""
    input:
        metrics=simple_task_files("metrics"),
        reference=[f"results/reference/{entry['task']}.json" for entry in SIMPLE_TASKS],
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
        entries=simple_task_keys(),
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/figure1.py"


rule training_curves:
    """Per-step loss against the entropy bound, and valid mass, for every adapter of a model."""
    input:
        lambda wc: [f"results/adapters/{wc.model}/{name}" for name in TRAINSETS],
    output:
        "results/figures/training_{model}.png",
    log:
        "results/logs/training_curves/{model}.log",
    params:
        trainsets=list(TRAINSETS),
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/training_curves.py"


rule overrepresentation:
    """Section 4.1: the answers sampled most often against their natural frequency, per model x task x condition."""
    input:
        samples=simple_task_files("samples"),
        data=[path for entry in SIMPLE_TASKS for path in TASKS[entry["task"]].input_files],
    output:
        csv="results/tables/overrepresentation.csv",
        md="results/tables/overrepresentation.md",
    log:
        "results/logs/overrepresentation.log",
    params:
        experiments=SIMPLE_TASKS,
        tasks={entry["task"]: TASKS[entry["task"]].to_params("overrepresentation") for entry in SIMPLE_TASKS},
        entries=simple_task_keys(),
        top_k=config["experiments"]["overrepresentation"]["top_k"],
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/overrepresentation.py"


rule temperature_report:
    """Footnote 6: entropy against temperature, untuned vs tuned, as a table and a figure."""
    input:
        simple_task_files("temperature"),
    output:
        csv="results/tables/temperature.csv",
        md="results/tables/temperature.md",
        summary="results/tables/temperature_crossings.csv",
        png="results/figures/temperature.png",
        pdf="results/figures/temperature.pdf",
    log:
        "results/logs/temperature_report.log",
    params:
        experiments=SIMPLE_TASKS,
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/temperature_report.py"
