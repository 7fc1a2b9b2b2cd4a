rule sample:
    """N generations per prompt at temperature 1 (no top-k/top-p), raw text and parsed answer."""
    input:
        model=model_dir,
        adapter=adapter_dir,
        targets="results/targets/{model}/{task}.json",
    output:
        "results/samples/{model}/{adapter}/{task}.parquet",
    log:
        "results/logs/sample/{model}/{adapter}/{task}.log",
    params:
        task=lambda wc: TASKS[wc.task].to_params("sample"),
        backend=config["sampling"]["backend"],
        backend_options=config["sampling"].get(config["sampling"]["backend"], {}),
        sampling=lambda wc: sampling_settings(config, wc.task),
        dtype=lambda wc: config["models"][wc.model].get("dtype", "float32"),
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=120,
    conda:
        SAMPLING_ENV
    script:
        "../scripts/sample.py"


rule exact:
    """p(y|x) for every target y by teacher forcing, sharing the prompt's key/value cache."""
    input:
        model=model_dir,
        adapter=adapter_dir,
        targets="results/targets/{model}/{task}.json",
    output:
        "results/exact/{model}/{adapter}/{task}.parquet",
    log:
        "results/logs/exact/{model}/{adapter}/{task}.log",
    params:
        chunk_size=config["exact"].get("chunk_size", 64),
        dtype=lambda wc: config["models"][wc.model].get("dtype", "float32"),
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=60,
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/exact.py"


rule metrics:
    """Entropy, coverage-N, parse/valid rates, KL to the natural distribution, exact figures."""
    input:
        targets="results/targets/{model}/{task}.json",
        samples="results/samples/{model}/{adapter}/{task}.parquet",
        exact="results/exact/{model}/{adapter}/{task}.parquet",
        data=task_inputs,
    output:
        "results/metrics/{model}/{adapter}/{task}.json",
    log:
        "results/logs/metrics/{model}/{adapter}/{task}.log",
    params:
        task=lambda wc: TASKS[wc.task].to_params("metrics"),
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/metrics.py"
