# Section 4, results on simple tasks: Table 1 with its natural reference, Figure 1, section 4.1's
# over-representation, footnote 6's temperature sweep, and Figure 2 (RNG generalization to unseen ranges).


rule natural_reference:
    """Table 1's reference row: N seeded draws from the task's natural distribution (N: the task's sampling n)."""
    input:
        data=task_inputs,
    output:
        "results/reference/{task}.json",
    log:
        "results/logs/natural_reference/{task}.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        task=lambda wc: TASKS[wc.task].to_params("natural_reference"),
        n=lambda wc: sampling_settings(config, wc.task)["n"],
        seed=config["experiments"]["natural_reference"]["seed"],
        code=code_digest("natural_reference.py"),
    script:
        "../scripts/natural_reference.py"


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
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        experiments=SIMPLE_TASKS,
        models=MODELS,
        code=code_digest("table1.py"),
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
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        experiments=SIMPLE_TASKS,
        models=MODELS,
        tasks={entry["task"]: TASKS[entry["task"]].to_params("figure1") for entry in SIMPLE_TASKS},
        entries=simple_task_keys(),
        code=code_digest("figure1.py"),
    script:
        "../scripts/figure1.py"


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
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        experiments=SIMPLE_TASKS,
        tasks={entry["task"]: TASKS[entry["task"]].to_params("overrepresentation") for entry in SIMPLE_TASKS},
        entries=simple_task_keys(),
        top_k=config["experiments"]["overrepresentation"]["top_k"],
        code=code_digest("overrepresentation.py"),
    script:
        "../scripts/overrepresentation.py"


rule temperature:
    """Footnote 6: samples and exact p_T over the targets at every configured temperature, one model load."""
    input:
        model=model_dir,
        adapter=adapter_dir,
        targets="results/targets/{model}/{task}.json",
        data=task_inputs,
    output:
        "results/temperature/{model}/{adapter}/{task}.csv",
    log:
        "results/logs/temperature/{model}/{adapter}/{task}.log",
    benchmark:
        "results/benchmarks/temperature/{model}/{adapter}/{task}.tsv"
    conda:
        SAMPLING_ENV
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(60),
    params:
        task=lambda wc: TASKS[wc.task].to_params("temperature"),
        spec=config["experiments"].get("temperature"),
        backend=SAMPLING_BACKEND,
        backend_options=SAMPLING_BACKEND_OPTIONS,
        batch_size=config["sampling"]["batch_size"],
        dtype=model_dtype,
        chunk_size=config["exact"]["chunk_size"],
        code=code_digest("temperature.py"),
    script:
        "../scripts/temperature.py"


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
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        experiments=SIMPLE_TASKS,
        code=code_digest("temperature_report.py"),
    script:
        "../scripts/temperature_report.py"


rule rng_generalization:
    """Every Figure 2 prompt (Appendix B.1 templates over many ranges), sampled and scored exactly, one model load."""
    input:
        model=model_dir,
        adapter=adapter_dir,
    output:
        "results/rng_generalization/{model}/{adapter}.csv",
    log:
        "results/logs/rng_generalization/{model}/{adapter}.log",
    benchmark:
        "results/benchmarks/rng_generalization/{model}/{adapter}.tsv"
    conda:
        SAMPLING_ENV
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(120),
    params:
        spec=config["experiments"].get("rng_generalization"),
        backend=SAMPLING_BACKEND,
        backend_options=SAMPLING_BACKEND_OPTIONS,
        sampling=sampling_settings(config, "rng-formats/any"),
        dtype=model_dtype,
        chunk_size=config["exact"]["chunk_size"],
        code=code_digest("rng_generalization.py"),
    script:
        "../scripts/rng_generalization.py"


rule figure2:
    """Figure 2: entropy vs range, untuned vs RNG-tuned, with 95% confidence intervals over prompts."""
    input:
        rng_generalization_files(),
    output:
        png=report(
            "results/figures/figure2.png",
            caption="../report/figure2.rst",
            category="Section 4 - Simple tasks",
            subcategory="RNG formats and ranges (Figure 2)",
            labels={"paper": "Figure 2", "kind": "figure", "scope": "all models"},
        ),
        pdf="results/figures/figure2.pdf",
        table=report(
            "results/tables/figure2.csv",
            caption="../report/figure2_table.rst",
            category="Section 4 - Simple tasks",
            subcategory="RNG formats and ranges (Figure 2)",
            labels={"paper": "Figure 2 data", "kind": "table", "scope": "all models"},
        ),
        table_md="results/tables/figure2.md",
    log:
        "results/logs/figure2.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        tuned=lambda wc: config["experiments"]["rng_generalization"]["trainset"],
        code=code_digest("figure2.py"),
    script:
        "../scripts/figure2.py"
