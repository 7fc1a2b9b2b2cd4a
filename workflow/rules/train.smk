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
    params:
        settings=lambda wc: train_params(config, TRAINSETS, wc.trainset),
        dtype=lambda wc: config["models"][wc.model]["train_dtype"],
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=240,
    conda:
        "../../envs/diffuse.yaml"
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
    params:
        adapters=[[model, name] for model in MODELS for name in TRAINSETS],
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/training_table.py"
