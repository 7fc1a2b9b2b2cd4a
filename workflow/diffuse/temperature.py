"""Footnote 6: entropy against sampling temperature, untuned vs tuned (how hot must the untuned model run?).

At temperature T the model samples from p_T(y|x) = prod over y's tokens of softmax(logits / T); the exact
figures here are that distribution over the target set, renormalised to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .evaluate import natural_distribution, target_distribution
from .metrics import exact_metrics, sample_metrics
from .parsing import match_key
from .sampling import SamplingSettings, sample_encoded
from .targets import EncodedTask
from .tasks import Task

COLUMNS = [
    "temperature", "n_samples", "parse_rate", "valid_rate", "stopped_rate", "mean_new_tokens", "coverage", "entropy",
    "coverage_valid", "entropy_valid", "exact_valid_mass", "exact_entropy_valid",
]  # fmt: skip


def temperature_sweep(
    sampler,
    scorer,
    task: Task,
    encoded: EncodedTask,
    spec: dict,
    batch_size: int,
    dtype: str,
    chunk_size: int,
) -> pd.DataFrame:
    """One row per temperature of spec['temperatures']: metrics of spec['n'] samples (same seed at every
    temperature) and the exact p_T over the target set. `sampler`/`scorer`: backends (sample, exact_logprobs)."""
    valid_values = {match_key(v, task.match) for v in encoded.values}
    natural = natural_distribution(task, encoded.values)
    weights = target_distribution(task, encoded)
    rows = []
    for temperature in spec["temperatures"]:
        settings = SamplingSettings(
            n=spec["n"],
            seed=spec["seed"],
            temperature=float(temperature),
            max_new_tokens=spec["max_new_tokens"],
            batch_size=batch_size,
            dtype=dtype,
        )
        samples = sample_encoded(sampler, task, encoded, settings)
        answers = [None if a is None or pd.isna(a) else match_key(a, task.match) for a in samples["answer"]]
        row = {"temperature": float(temperature)}
        row.update(sample_metrics(answers, valid_values, natural, weights))
        row["stopped_rate"] = float(samples["stopped"].mean())
        row["mean_new_tokens"] = float(samples["n_tokens"].mean())
        logprobs = scorer.exact_logprobs(
            encoded.prompt_ids, encoded.target_ids, chunk_size, float(temperature)
        )
        exact = exact_metrics(logprobs, np.asarray(encoded.weights, dtype=float))
        row["exact_valid_mass"] = exact["valid_mass"]
        row["exact_entropy_valid"] = exact["entropy_valid"]
        rows.append(row)
    return pd.DataFrame(rows)[COLUMNS]


def first_temperature_reaching(table: pd.DataFrame, value: str, level: float) -> float:
    """The lowest temperature at which `value` reaches `level` (NaN if none does)."""
    hits = table.loc[table[value] >= level, "temperature"]
    return float(hits.min()) if len(hits) else float("nan")


def crossings(table: pd.DataFrame, base: str, tuned_of: dict[str, str]) -> pd.DataFrame:
    """Per model x task: the tuned model's entropy at T = 1 and the lowest T at which the untuned model's
    entropy (over valid answers, and exact over the target set) reaches it."""
    rows = []
    for (model, task), group in table.groupby(["model", "task"], sort=False):
        untuned = group[group["adapter"] == base]
        tuned = group[(group["adapter"] == tuned_of[task]) & np.isclose(group["temperature"], 1.0)]
        if untuned.empty or tuned.empty:
            continue
        row = {"model": model, "task": task}
        for value in ("entropy_valid", "exact_entropy_valid"):
            level = float(tuned[value].iloc[0])
            row[f"tuned_T1_{value}"] = level
            row[f"untuned_T_reaching_{value}"] = first_temperature_reaching(untuned, value, level)
        rows.append(row)
    return pd.DataFrame(rows)
