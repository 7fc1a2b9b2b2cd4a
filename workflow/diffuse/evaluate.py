"""Per (model, adapter, task) evaluation: exact probabilities over the target set, and sample metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import entropy, exact_metrics, first_rows, reference_draws, sample_metrics
from .parsing import match_key
from .sampling import SamplingSettings, sample_encoded
from .targets import EncodedTask
from .tasks import Task, read_value_file, target_values


def exact_table(encoded: EncodedTask, logprobs) -> pd.DataFrame:
    """p_theta(y|x) for every target y from its log-probability (a backend's `exact_logprobs`):
    columns value, weight (p*), n_tokens, logprob, prob, prob_valid."""
    logprobs = np.asarray(logprobs, dtype=float)
    if logprobs.shape != (len(encoded.target_ids),):
        raise ValueError(f"{logprobs.shape[0]} log-probabilities for {len(encoded.target_ids)} targets")
    probs = np.exp(logprobs)
    return pd.DataFrame(
        {
            "value": encoded.values,
            "weight": encoded.weights,
            "n_tokens": [len(i) for i in encoded.target_ids],
            "logprob": logprobs,
            "prob": probs,
            "prob_valid": probs / probs.sum(),
        }
    )


def exact_task(backend, encoded: EncodedTask, chunk_size: int) -> pd.DataFrame:
    """The exact table of one encoded task, teacher-forced through the backend's model (the `exact` rule)."""
    return exact_table(encoded, backend.exact_logprobs(encoded.prompt_ids, encoded.target_ids, chunk_size))


def sample_and_score(
    backend, task: Task, encoded: EncodedTask, settings: SamplingSettings, chunk_size: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One task's samples and its exact table from one loaded model (`sample_and_exact`, Figure 2's prompts)."""
    return sample_encoded(backend, task, encoded, settings), exact_task(backend, encoded, chunk_size)


def natural_distribution(task: Task, values: list[str]) -> dict[str, float] | None:
    """The task's natural distribution in match form, or None when it declares none."""
    if task.natural is None:
        return None
    if task.natural == "uniform":
        keys = [match_key(v, task.match) for v in values]
        return {k: 1.0 / len(keys) for k in keys}
    names, weights = read_value_file(task.natural_file)
    if weights is None:
        weights = [1.0] * len(names)
    total = float(sum(weights))
    natural: dict[str, float] = {}
    for name, weight in zip(names, weights, strict=True):
        key = match_key(name, task.match)
        natural[key] = natural.get(key, 0.0) + weight / total
    return natural


def target_distribution(task: Task, encoded: EncodedTask) -> dict[str, float]:
    """p* over the target set in match form (weights summed where two targets share a match key)."""
    weights: dict[str, float] = {}
    for value, weight in zip(encoded.values, encoded.weights, strict=True):
        key = match_key(value, task.match)
        weights[key] = weights.get(key, 0.0) + float(weight)
    return weights


def evaluate(
    task: Task,
    encoded: EncodedTask,
    samples: pd.DataFrame,
    exact: pd.DataFrame,
    n: int | None = None,
    n_key: str = "n",
) -> dict:
    """One row of metrics: sampled (entropy, coverage-N, parse and valid rates, KL) and exact.

    With `n`, only the first n sample rows count (an error naming `n_key` if there are fewer)."""
    samples = first_rows(samples, n, n_key)
    answers = [None if a is None or pd.isna(a) else match_key(a, task.match) for a in samples["answer"]]
    valid_values = {match_key(v, task.match) for v in encoded.values}
    natural = natural_distribution(task, encoded.values)
    row = sample_metrics(answers, valid_values, natural, target_distribution(task, encoded))
    row["stopped_rate"] = float(samples["stopped"].mean())
    exact_row = exact_metrics(exact["logprob"].to_numpy(), exact["weight"].to_numpy())
    row.update({f"exact_{k}": v for k, v in exact_row.items()})
    return row


def reference_metrics(task: Task, n: int, seed: int) -> dict:
    """Table 1's reference row: the metrics of n seeded draws from the task's natural distribution."""
    values, weights = target_values(task)
    natural = natural_distribution(task, values)
    if natural is None:
        raise ValueError(f"task {task.id!r} declares no natural distribution to draw a reference from")
    answers = reference_draws(natural, n, seed)
    target: dict[str, float] = {}
    for value, weight in zip(values, weights, strict=True):
        key = match_key(value, task.match)
        target[key] = target.get(key, 0.0) + weight
    row = sample_metrics(answers, set(target), natural, target)
    row["natural_entropy"] = entropy(natural.values())
    row["n_natural"] = len(natural)
    row["n_targets"] = len(values)
    return row
