rule train_adapter:
    """LoRA fine-tuning with Eq. 5 on every task of a trainset; a peft adapter plus a per-step log."""
    input:
        model=model_dir,
        targets=trainset_targets,
    output:
        directory("results/adapters/{model}/{trainset}"),
    log:
        "results/logs/train_adapter/{model}/{trainset}.log",
    params:
        settings=lambda wc: train_params(config, wc.trainset),
        dtype=lambda wc: config["models"][wc.model].get("train_dtype", "float32"),
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=240,
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/train_adapter.py"
