"""Bulk sampling behind one interface; a backend turns (model, adapter, prompt ids) into token sequences.

Backends: `hf` (transformers, shared prompt cache). A `vllm` backend plugs in here with the same signature
and the rules do not change.
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


def hf_backend(model_dir, adapter_dir, prompt_ids, stop_ids, settings: SamplingSettings):
    """Token sequences and their log-probabilities, sampled with the shared prompt cache."""
    from tqdm.auto import tqdm

    from .lm import sample_continuations
    from .models import load_model

    model = load_model(model_dir, adapter_dir, dtype=settings.dtype, merge=True)
    with tqdm(total=settings.n, desc="sample", unit="row", mininterval=1.0) as bar:
        return sample_continuations(
            model,
            prompt_ids,
            n=settings.n,
            seed=settings.seed,
            max_new_tokens=settings.max_new_tokens,
            stop_ids=stop_ids,
            temperature=settings.temperature,
            batch_size=settings.batch_size,
            progress=bar,
        )


BACKENDS = {"hf": hf_backend}


def parse_samples(task: Task, texts: list[str]) -> list[str | None]:
    parser = get_parser(task.parser)
    # The response prefix is part of the answer the user sees (it may open the braces).
    return [parser(task.response_prefix + text) for text in texts]


def sample_task(
    backend: str, model_dir, adapter_dir, task: Task, encoded: EncodedTask, settings: SamplingSettings
):
    """N generations for one task: a tidy table of raw text, parsed answer and whether the row stopped."""
    from .models import load_tokenizer

    if backend not in BACKENDS:
        raise ValueError(f"unknown sampling backend {backend!r}; known: {sorted(BACKENDS)}")
    sequences, logprobs = BACKENDS[backend](
        model_dir, adapter_dir, encoded.prompt_ids, encoded.stop_ids, settings
    )
    tokenizer = load_tokenizer(model_dir)
    stops = set(encoded.stop_ids)
    texts = [tokenizer.decode(seq, skip_special_tokens=True) for seq in sequences]
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
