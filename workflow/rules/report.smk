rule table1:
    """Table 1: coverage-N and entropy per model x task x {natural reference, base, tuned}, N and rates beside."""
    input:
        metrics=simple_task_files("metrics"),
        reference=[f"results/reference/{entry['task']}.json" for entry in SIMPLE_TASKS],
    output:
        csv=report(
            "results/tables/table1.csv",
            caption="../report/table1.rst",
            category="Section 4 - Simple tasks",
            subcategory="Table 1 and Figure 1",
            labels={"paper": "Table 1", "kind": "table", "scope": "all models"},
        ),
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
        png=report(
            "results/figures/figure1.png",
            caption="../report/figure1.rst",
            category="Section 4 - Simple tasks",
            subcategory="Table 1 and Figure 1",
            labels={"paper": "Figure 1", "kind": "figure", "scope": "all models"},
        ),
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
        report(
            "results/figures/training_{model}.png",
            caption="../report/training_curves.rst",
            category="Section 3 - Training (Eq. 5)",
            subcategory="Adapters",
            labels={"paper": "Section 3 (no paper figure)", "kind": "figure", "scope": "{model}"},
        ),
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
        csv=report(
            "results/tables/overrepresentation.csv",
            caption="../report/overrepresentation.rst",
            category="Section 4 - Simple tasks",
            subcategory="Over-representation (4.1)",
            labels={"paper": "Section 4.1", "kind": "table", "scope": "all models"},
        ),
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
        csv=report(
            "results/tables/temperature.csv",
            caption="../report/temperature.rst",
            category="Section 4 - Simple tasks",
            subcategory="Temperature (footnote 6)",
            labels={"paper": "Footnote 6", "kind": "table", "scope": "all models"},
        ),
        md="results/tables/temperature.md",
        summary=report(
            "results/tables/temperature_crossings.csv",
            caption="../report/temperature_crossings.rst",
            category="Section 4 - Simple tasks",
            subcategory="Temperature (footnote 6)",
            labels={"paper": "Footnote 6", "kind": "table", "scope": "all models"},
        ),
        png=report(
            "results/figures/temperature.png",
            caption="../report/temperature_figure.rst",
            category="Section 4 - Simple tasks",
            subcategory="Temperature (footnote 6)",
            labels={"paper": "Footnote 6", "kind": "figure", "scope": "all models"},
        ),
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
