# The 2026 follow-up (Baldelli et al., "Probabilistic Calibration Is a Trainable Capability in Language
# Models"): Eq. 5, soft-target and hard-target adapters on distribution-family specs, beside the untuned model.


rule calibration:
    """Every evaluated spec sampled and scored exactly (model distribution over the grid, trie KL), one model load."""
    input:
        model=model_dir,
        adapter=adapter_dir,
        targets=lambda wc: [f"results/targets/{wc.model}/{task}.json" for task in CALIBRATION_SPECS],
    output:
        "results/calibration/{model}/{adapter}.csv",
    log:
        "results/logs/calibration/{model}/{adapter}.log",
    benchmark:
        "results/benchmarks/calibration/{model}/{adapter}.tsv"
    conda:
        SAMPLING_ENV
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(120),
    params:
        specs=[{"task": TASKS[task].to_params("sample"), **spec} for task, spec in CALIBRATION_SPECS.items()],
        backend=SAMPLING_BACKEND,
        backend_options=SAMPLING_BACKEND_OPTIONS,
        sampling=sampling_settings(config, "distributions/*"),
        dtype=model_dtype,
        chunk_size=config["exact"]["chunk_size"],
        adapter=lambda wc: wc.adapter,
        condition=lambda wc: CALIBRATION_CONDITION_OF[wc.adapter],
        code=code_digest("calibration.py"),
    script:
        "../scripts/calibration.py"


rule calibration_hotter:
    """The temperature baseline: the untuned model sampled, and scored exactly, at a temperature above 1."""
    input:
        model=model_dir,
        adapter=[],
        targets=lambda wc: [f"results/targets/{wc.model}/{task}.json" for task in CALIBRATION_SPECS],
    output:
        "results/calibration/{model}/base-hotter/T{temperature}.csv",
    log:
        "results/logs/calibration/{model}/base-hotter/T{temperature}.log",
    benchmark:
        "results/benchmarks/calibration/{model}/base-hotter/T{temperature}.tsv"
    wildcard_constraints:
        temperature=r"[0-9]+(\.[0-9]+)?",
    conda:
        SAMPLING_ENV
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(120),
    params:
        specs=[{"task": TASKS[task].to_params("sample"), **spec} for task, spec in CALIBRATION_SPECS.items()],
        backend=SAMPLING_BACKEND,
        backend_options=SAMPLING_BACKEND_OPTIONS,
        sampling=lambda wc: {
            **sampling_settings(config, "distributions/*"),
            "temperature": float(wc.temperature),
        },
        dtype=model_dtype,
        chunk_size=config["exact"]["chunk_size"],
        adapter=BASE,
        condition=lambda wc: calibration_hotter_condition(float(wc.temperature)),
        code=code_digest("calibration.py"),
    script:
        "../scripts/calibration.py"


rule calibration_targets_table:
    """Every spec's target set: grid size and range, and the mass the discretisation keeps."""
    input:
        expand("results/data/distributions/{spec}.csv", spec=[t.split("/", 1)[1] for t in CALIBRATION_SPECS]),
    output:
        csv=report(
            "results/tables/calibration_targets.csv",
            caption="../report/calibration_targets.rst",
            category="Follow-up - Calibration",
            subcategory="Target sets",
            labels={"paper": "Follow-up", "kind": "table", "scope": "all specs"},
        ),
        md="results/tables/calibration_targets.md",
    log:
        "results/logs/calibration_targets_table.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        block=CALIBRATION,
        code=code_digest("calibration_targets_table.py"),
    script:
        "../scripts/calibration_targets_table.py"


rule calibration_report:
    """Per spec and condition, the family-median summary, and the figure of W1 and trie KL per family."""
    input:
        calibration_condition_files(),
    output:
        per_spec=report(
            "results/tables/calibration.csv",
            caption="../report/calibration_per_spec.rst",
            category="Follow-up - Calibration",
            subcategory="Fidelity",
            labels={"paper": "Follow-up", "kind": "table", "scope": "per spec"},
        ),
        per_spec_md="results/tables/calibration.md",
        summary=report(
            "results/tables/calibration_summary.csv",
            caption="../report/calibration_summary.rst",
            category="Follow-up - Calibration",
            subcategory="Fidelity",
            labels={"paper": "Follow-up", "kind": "table", "scope": "all models"},
        ),
        summary_md="results/tables/calibration_summary.md",
        png=report(
            "results/figures/calibration_w1.png",
            caption="../report/calibration_w1.rst",
            category="Follow-up - Calibration",
            subcategory="Fidelity",
            labels={"paper": "Follow-up", "kind": "figure", "scope": "all models"},
        ),
        pdf="results/figures/calibration_w1.pdf",
    log:
        "results/logs/calibration_report.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        code=code_digest("calibration_report.py"),
    script:
        "../scripts/calibration_report.py"


rule open_random:
    """The follow-up's open-ended transfer test: first-token support size at top-p (exact) and unique answers."""
    input:
        model=model_dir,
        adapter=adapter_dir,
        prompts=lambda wc: CALIBRATION["open_random"]["prompts"],
    output:
        "results/open_random/{model}/{adapter}.csv",
    log:
        "results/logs/open_random/{model}/{adapter}.log",
    benchmark:
        "results/benchmarks/open_random/{model}/{adapter}.tsv"
    conda:
        SAMPLING_ENV
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(60),
    params:
        limit=lambda wc: CALIBRATION["open_random"].get("limit"),
        per_category=lambda wc: CALIBRATION["open_random"].get("per_category"),
        backend=SAMPLING_BACKEND,
        backend_options=SAMPLING_BACKEND_OPTIONS,
        sampling=sampling_settings(config, "open-random/*"),
        dtype=model_dtype,
        code=code_digest("open_random.py"),
    script:
        "../scripts/open_random.py"


rule open_random_report:
    """Support size against p per condition, and the unique-answer rate per category."""
    input:
        [f"results/open_random/{m}/{a}.csv" for m in MODELS for a in CALIBRATION_ADAPTERS],
    output:
        per_prompt=report(
            "results/tables/open_random.csv",
            caption="../report/open_random_per_prompt.rst",
            category="Follow-up - Calibration",
            subcategory="Transfer: open-ended random generation",
            labels={"paper": "Follow-up", "kind": "table", "scope": "per prompt"},
        ),
        per_prompt_md="results/tables/open_random.md",
        summary=report(
            "results/tables/open_random_summary.csv",
            caption="../report/open_random_summary.rst",
            category="Follow-up - Calibration",
            subcategory="Transfer: open-ended random generation",
            labels={"paper": "Follow-up", "kind": "table", "scope": "all models"},
        ),
        summary_md="results/tables/open_random_summary.md",
        png=report(
            "results/figures/open_random_support.png",
            caption="../report/open_random_support.rst",
            category="Follow-up - Calibration",
            subcategory="Transfer: open-ended random generation",
            labels={"paper": "Follow-up", "kind": "figure", "scope": "all models"},
        ),
        pdf="results/figures/open_random_support.pdf",
    log:
        "results/logs/open_random_report.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        code=code_digest("open_random_report.py"),
    script:
        "../scripts/open_random_report.py"


rule mcq:
    """The follow-up's MCQ transfer test: n generated questions, each parsed for its correct-answer letter."""
    input:
        model=model_dir,
        adapter=adapter_dir,
    output:
        "results/mcq/{model}/{adapter}.parquet",
    log:
        "results/logs/mcq/{model}/{adapter}.log",
    benchmark:
        "results/benchmarks/mcq/{model}/{adapter}.tsv"
    conda:
        SAMPLING_ENV
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(60),
    params:
        backend=SAMPLING_BACKEND,
        backend_options=SAMPLING_BACKEND_OPTIONS,
        sampling=sampling_settings(config, "mcq/any"),
        dtype=model_dtype,
        code=code_digest("mcq.py"),
    script:
        "../scripts/mcq.py"


rule mcq_report:
    """Answer-position balance per condition: TV from uniform over parsed questions, with the parse rate."""
    input:
        [f"results/mcq/{m}/{a}.parquet" for m in MODELS for a in CALIBRATION_ADAPTERS],
    output:
        csv=report(
            "results/tables/mcq.csv",
            caption="../report/mcq.rst",
            category="Follow-up - Calibration",
            subcategory="Transfer: MCQ answer positions",
            labels={"paper": "Follow-up", "kind": "table", "scope": "all models"},
        ),
        md="results/tables/mcq.md",
    log:
        "results/logs/mcq_report.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        code=code_digest("mcq_report.py"),
    script:
        "../scripts/mcq_report.py"


rule retention:
    """Held-out text likelihood under each condition (the follow-up's retention check, offline text)."""
    input:
        model=model_dir,
        adapter=adapter_dir,
    output:
        "results/retention/{model}/{adapter}.csv",
    log:
        "results/logs/retention/{model}/{adapter}.log",
    benchmark:
        "results/benchmarks/retention/{model}/{adapter}.tsv"
    conda:
        "../../envs/diffuse.yaml"
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(60),
    params:
        spec=lambda wc: CALIBRATION["retention"],
        dtype=model_dtype,
        condition=lambda wc: CALIBRATION_CONDITION_OF[wc.adapter],
        code=code_digest("retention.py"),
    script:
        "../scripts/retention.py"


rule retention_report:
    """Held-out perplexity per condition, and its change from the untuned model."""
    input:
        [f"results/retention/{m}/{a}.csv" for m in MODELS for a in CALIBRATION_ADAPTERS],
    output:
        csv=report(
            "results/tables/calibration_retention.csv",
            caption="../report/calibration_retention.rst",
            category="Follow-up - Calibration",
            subcategory="Retention",
            labels={"paper": "Follow-up", "kind": "table", "scope": "all models"},
        ),
        md="results/tables/calibration_retention.md",
    log:
        "results/logs/retention_report.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        code=code_digest("retention_report.py"),
    script:
        "../scripts/retention_report.py"


rule calibration_ssot:
    """The String Seed of Thought baseline: the untuned model writes a random string, then its answer."""
    input:
        model=model_dir,
        targets=lambda wc: [f"results/targets/{wc.model}/{task}.json" for task in CALIBRATION_SPECS],
    output:
        "results/calibration/{model}/base-prompted/ssot.csv",
    log:
        "results/logs/calibration/{model}/base-prompted/ssot.log",
    benchmark:
        "results/benchmarks/calibration/{model}/base-prompted/ssot.tsv"
    conda:
        SAMPLING_ENV
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(120),
    params:
        specs=[{"task": TASKS[task].to_params("sample"), **spec} for task, spec in CALIBRATION_SPECS.items()],
        backend=SAMPLING_BACKEND,
        backend_options=SAMPLING_BACKEND_OPTIONS,
        sampling=sampling_settings(config, "ssot/any"),
        dtype=model_dtype,
        code=code_digest("calibration_ssot.py"),
    script:
        "../scripts/calibration_ssot.py"


rule calibration_task_suite:
    """The 2024 task suite under each objective: Tables 5/6's metrics per category, untuned / eq5 / soft / hard."""
    input:
        calibration_task_suite_metrics(),
    output:
        csv=report(
            "results/tables/calibration_task_suite.csv",
            caption="../report/calibration_task_suite.rst",
            category="Follow-up - Calibration",
            subcategory="Transfer: the 2024 task suite",
            labels={"paper": "Follow-up", "kind": "table", "scope": "all models"},
        ),
        md="results/tables/calibration_task_suite.md",
    log:
        "results/logs/calibration_task_suite.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        labels=lambda wc: category_labels(),
        code=code_digest("calibration_task_suite.py"),
    script:
        "../scripts/calibration_task_suite.py"
