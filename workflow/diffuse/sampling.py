"""Bulk sampling behind one interface: a backend is built once per (model, adapter) and samples prompts.

Backends: `hf` (transformers with the prompt's key/value cache shared by every row). A `vllm` backend plugs
in with the same two methods and the rules do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .parsing import get_parser, match_key
from .targets import EncodedTask
from .tasks import Task


@dataclass(frozen=True)
class SamplingSettings:
    n: int
    seed: int
    temperature: float = 1.0
    max_new_tokens: int = 32
    batch_size: int = 250
    dtype: str = "float32"

    @classmethod
    def from_config(cls, block: dict, dtype: str = "float32") -> SamplingSettings:
        """From a config `sampling` block (after per-task overrides)."""
        return cls(
            n=block["n"],
            seed=block["seed"],
            temperature=block["temperature"],
            max_new_tokens=block["max_new_tokens"],
            batch_size=block.get("batch_size", 250),
            dtype=dtype,
        )


class HFBackend:
    """transformers on the materialised model, the LoRA adapter merged into the weights for speed."""

    def __init__(self, model_dir, adapter_dir=None, dtype: str = "float32"):
        from .models import load_model, load_tokenizer

        self.model = load_model(model_dir, adapter_dir, dtype=dtype, merge=True)
        self.tokenizer = load_tokenizer(model_dir)

    def sample(
        self, prompt_ids: list[int], stop_ids: list[int], settings: SamplingSettings, desc: str = "sample"
    ):
        """Token sequences and their log-probabilities."""
        from tqdm.auto import tqdm

        from .lm import sample_continuations

        with tqdm(total=settings.n, desc=desc, unit="row", mininterval=1.0) as bar:
            return sample_continuations(
                self.model,
                prompt_ids,
                n=settings.n,
                seed=settings.seed,
                max_new_tokens=settings.max_new_tokens,
                stop_ids=stop_ids,
                temperature=settings.temperature,
                batch_size=settings.batch_size,
                progress=bar,
            )


BACKENDS = {"hf": HFBackend}


def make_backend(name: str, model_dir, adapter_dir=None, dtype: str = "float32"):
    if name not in BACKENDS:
        raise ValueError(f"unknown sampling backend {name!r}; known: {sorted(BACKENDS)}")
    return BACKENDS[name](model_dir, adapter_dir, dtype)


def parse_samples(task: Task, texts: list[str]) -> list[str | None]:
    parser = get_parser(task.parser)
    # The response prefix is part of the answer the user sees (it may open the braces).
    return [parser(task.response_prefix + text) for text in texts]


def sample_encoded(backend, task: Task, encoded: EncodedTask, settings: SamplingSettings) -> pd.DataFrame:
    """N generations for one task: a tidy table of raw text, parsed answer and whether the row stopped."""
    sequences, logprobs = backend.sample(encoded.prompt_ids, encoded.stop_ids, settings, desc=task.id)
    stops = set(encoded.stop_ids)
    texts = [backend.tokenizer.decode(seq, skip_special_tokens=True) for seq in sequences]
    answers = parse_samples(task, texts)
    valid = {match_key(v, task.match) for v in encoded.values}
    return pd.DataFrame(
        {
            "row": range(len(sequences)),
            "text": texts,
            "n_tokens": [len(s) for s in sequences],
            "logprob": logprobs,
            "stopped": [bool(s) and s[-1] in stops for s in sequences],
            "answer": answers,
            "valid": [a is not None and match_key(a, task.match) in valid for a in answers],
        }
    )


def sample_task(
    backend: str, model_dir, adapter_dir, task: Task, encoded: EncodedTask, settings: SamplingSettings
):
    """One task with a backend built for it (the `sample` rule)."""
    return sample_encoded(
        make_backend(backend, model_dir, adapter_dir, settings.dtype), task, encoded, settings
    )
