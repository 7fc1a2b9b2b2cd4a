# Shared by every section: N samples per prompt, exact target probabilities, their metrics.

# What a model job over one task reads, and the params its samples and its exact scores depend on: shared by
# `sample`, `exact` and `sample_and_exact`, so the combined rule cannot drift from the two it stands for.
TASK_MODEL_INPUT = {
    "model": model_dir,
    "adapter": adapter_dir,
    "targets": "results/targets/{model}/{task}.json",
}
SAMPLE_PARAMS = {
    "task": lambda wc: TASKS[wc.task].to_params("sample"),
    "backend_options": SAMPLING_BACKEND_OPTIONS,
    "sampling": lambda wc: sampling_settings(config, wc.task),
}
EXACT_PARAMS = {"chunk_size": config["exact"]["chunk_size"]}
SAMPLES_FILE = "results/samples/{model}/{adapter}/{task}.parquet"
EXACT_FILE = "results/exact/{model}/{adapter}/{task}.parquet"


rule sample:
    """N generations per prompt at temperature 1 (no top-k/top-p), raw text and parsed answer."""
    input:
        **TASK_MODEL_INPUT,
    output:
        SAMPLES_FILE,
    log:
        "results/logs/sample/{model}/{adapter}/{task}.log",
    benchmark:
        "results/benchmarks/sample/{model}/{adapter}/{task}.tsv"
    conda:
        SAMPLING_ENV
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(120),
    params:
        **SAMPLE_PARAMS,
        backend=SAMPLING_BACKEND,
        dtype=model_dtype,
        code=code_digest("sample.py"),
    script:
        "../scripts/sample.py"


rule exact:
    """p(y|x) for every target y by teacher forcing, sharing the prompt's key/value cache."""
    input:
        **TASK_MODEL_INPUT,
    output:
        EXACT_FILE,
    log:
        "results/logs/exact/{model}/{adapter}/{task}.log",
    benchmark:
        "results/benchmarks/exact/{model}/{adapter}/{task}.tsv"
    conda:
        "../../envs/diffuse.yaml"
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(60),
    params:
        **EXACT_PARAMS,
        dtype=model_dtype,
        code=code_digest("exact.py"),
    script:
        "../scripts/exact.py"


# The hf backend samples and scores a task in one model process: loading the model and adapter again (and,
# without the warm start, 8-14 s of imports) would be most of an exact job's time. vLLM keeps the two rules apart (its own env; its GPU memory).
# The biography task has no target set to score: its samples come from `sample`.
SCORED_TASKS = sorted(set(TASKS) - {(config["experiments"].get("biographies") or {}).get("task")})

if SAMPLING_BACKEND == "hf":

    ruleorder: sample_and_exact > sample
    ruleorder: sample_and_exact > exact

    rule sample_and_exact:
        """`sample` and `exact` of one task with one loaded model: the same two files, the same numbers."""
        input:
            **TASK_MODEL_INPUT,
        output:
            samples=SAMPLES_FILE,
            exact=EXACT_FILE,
        log:
            "results/logs/sample_and_exact/{model}/{adapter}/{task}.log",
        benchmark:
            "results/benchmarks/sample_and_exact/{model}/{adapter}/{task}.tsv"
        wildcard_constraints:
            task="|".join(map(re.escape, SCORED_TASKS)),
        conda:
            "../../envs/diffuse.yaml"
        threads: MODEL_JOB_THREADS
        resources:
            gpu=1,
            mem_mb=model_mem_mb,
            runtime=per_attempt(180),
        params:
            **SAMPLE_PARAMS,
            **EXACT_PARAMS,
            dtype=model_dtype,
            code=code_digest("sample_and_exact.py"),
        script:
            "../scripts/sample_and_exact.py"


rule metrics:
    """Entropy, coverage-N, parse/valid rates, KL(p* || samples) (Eq. 2), exact figures; over every row."""
    input:
        targets="results/targets/{model}/{task}.json",
        samples=SAMPLES_FILE,
        exact=EXACT_FILE,
        data=task_inputs,
    output:
        "results/metrics/{model}/{adapter}/{task}.json",
    log:
        "results/logs/metrics/{model}/{adapter}/{task}.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        task=lambda wc: TASKS[wc.task].to_params("metrics"),
        n=None,
        n_key="",
        code=code_digest("metrics.py"),
    script:
        "../scripts/metrics.py"
