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
    benchmark:
        "results/benchmarks/sample/{model}/{adapter}/{task}.tsv"
    params:
        task=lambda wc: TASKS[wc.task].to_params("sample"),
        backend=config["sampling"]["backend"],
        backend_options=config["sampling"].get(config["sampling"]["backend"], {}),
        sampling=lambda wc: sampling_settings(config, wc.task),
        dtype=lambda wc: config["models"][wc.model]["dtype"],
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
    benchmark:
        "results/benchmarks/exact/{model}/{adapter}/{task}.tsv"
    params:
        chunk_size=config["exact"]["chunk_size"],
        dtype=lambda wc: config["models"][wc.model]["dtype"],
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
    """Entropy, coverage-N, parse/valid rates, KL(p* || samples) (Eq. 2), exact figures; over every row."""
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
        n=None,
        n_key="",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/metrics.py"


rule leave_one_out_metrics:
    """The same metrics over the first experiments.leave_one_out.n rows: one N in every cell of Tables 5/6."""
    input:
        targets="results/targets/{model}/{task}.json",
        samples="results/samples/{model}/{adapter}/{task}.parquet",
        exact="results/exact/{model}/{adapter}/{task}.parquet",
        data=task_inputs,
    output:
        "results/leave_one_out/metrics/{model}/{adapter}/{task}.json",
    log:
        "results/logs/leave_one_out_metrics/{model}/{adapter}/{task}.log",
    params:
        task=lambda wc: TASKS[wc.task].to_params("metrics"),
        n=LEAVE_ONE_OUT_N,
        n_key="experiments.leave_one_out.n",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/metrics.py"


rule natural_reference:
    """Table 1's reference row: N seeded draws from the task's natural distribution (N: the task's sampling n)."""
    input:
        data=task_inputs,
    output:
        "results/reference/{task}.json",
    log:
        "results/logs/natural_reference/{task}.log",
    params:
        task=lambda wc: TASKS[wc.task].to_params("natural_reference"),
        n=lambda wc: sampling_settings(config, wc.task)["n"],
        seed=config["experiments"]["natural_reference"]["seed"],
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/natural_reference.py"


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
    params:
        task=lambda wc: TASKS[wc.task].to_params("temperature"),
        spec=config["experiments"].get("temperature"),
        backend=config["sampling"]["backend"],
        backend_options=config["sampling"].get(config["sampling"]["backend"], {}),
        batch_size=config["sampling"]["batch_size"],
        dtype=lambda wc: config["models"][wc.model]["dtype"],
        chunk_size=config["exact"]["chunk_size"],
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=60,
    conda:
        SAMPLING_ENV
    script:
        "../scripts/temperature.py"
