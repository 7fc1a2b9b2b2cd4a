# Section 3: LoRA training with Eq. 5 (one adapter per trainset), its table and curves.


rule train_adapter:
    """LoRA fine-tuning with Eq. 5 on every task of a trainset; a peft adapter, its log and summary."""
    input:
        model=model_dir,
        targets=trainset_targets,
        init=init_adapter_dir,
    output:
        directory("results/adapters/{model}/{trainset}"),
    log:
        "results/logs/train_adapter/{model}/{trainset}.log",
    benchmark:
        "results/benchmarks/train_adapter/{model}/{trainset}.tsv"
    priority: 10  # adapters head the longest chains (all-categories -> biographies-id -> biographies)
    conda:
        "../../envs/diffuse.yaml"
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(240),
    params:
        settings=lambda wc: train_params(config, TRAINSETS, wc.trainset),
        dtype=lambda wc: config["models"][wc.model]["train_dtype"],
        code=code_digest("train_adapter.py"),
    script:
        "../scripts/train_adapter.py"


rule training_table:
    """Per adapter: schedule, updates, early stop, final loss vs bound, and the share of parameters trained."""
    input:
        [f"results/adapters/{model}/{name}" for model in MODELS for name in TRAINSETS],
    output:
        csv=report(
            "results/tables/training.csv",
            caption="../report/training_table.rst",
            category="Section 3 - Training (Eq. 5)",
            subcategory="Adapters",
            labels={"paper": "Section 3 (no paper table)", "kind": "table", "scope": "all models"},
        ),
        md="results/tables/training.md",
    log:
        "results/logs/training_table.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        adapters=[[model, name] for model in MODELS for name in TRAINSETS],
        code=code_digest("training_table.py"),
    script:
        "../scripts/training_table.py"


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
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        trainsets=list(TRAINSETS),
        code=code_digest("training_curves.py"),
    script:
        "../scripts/training_curves.py"
