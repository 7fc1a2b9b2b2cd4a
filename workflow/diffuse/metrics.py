"""Metrics of the paper (section 2.2): entropy, coverage-N, KL; plus parse and valid rates."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np


def entropy(probabilities: Iterable[float]) -> float:
    """Shannon entropy in nats of a distribution (zero entries contribute nothing); Eq. 3."""
    p = np.asarray(list(probabilities), dtype=float)
    p = p[p > 0]
    if p.size == 0:
        return float("nan")
    p = p / p.sum()
    return float(-(p * np.log(p)).sum())


def empirical_distribution(answers: Iterable[str | None]) -> dict[str, float]:
    """Frequencies of the parsed answers; None (unparseable) is left out."""
    counts = Counter(a for a in answers if a is not None)
    total = sum(counts.values())
    return {a: c / total for a, c in counts.most_common()} if total else {}


def coverage(answers: Iterable[str | None]) -> int:
    """Coverage-N: the number of unique parsed answers among the N samples; Eq. 4."""
    return len({a for a in answers if a is not None})


def kl_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """KL(p || q) in nats over p's support; inf where q gives zero to a value p supports. Eq. 2."""
    total = 0.0
    for key, pk in p.items():
        if pk <= 0:
            continue
        qk = q.get(key, 0.0)
        if qk <= 0:
            return math.inf
        total += pk * math.log(pk / qk)
    return total


def restricted(p: Mapping[str, float], support: Iterable[str]) -> dict[str, float]:
    """p restricted to `support` and renormalised (empty if p puts no mass there)."""
    support = set(support)
    kept = {k: v for k, v in p.items() if k in support and v > 0}
    total = sum(kept.values())
    return {k: v / total for k, v in kept.items()} if total else {}


def sample_metrics(
    answers: list[str | None], valid_values: set[str] | None, natural: Mapping[str, float] | None
):
    """Metrics of N sampled answers (already parsed and put in match form)."""
    n = len(answers)
    parsed = [a for a in answers if a is not None]
    empirical = empirical_distribution(parsed)
    row = {
        "n_samples": n,
        "parse_rate": len(parsed) / n if n else float("nan"),
        "coverage": coverage(parsed),
        "entropy": entropy(empirical.values()),
    }
    if valid_values is not None:
        valid = [a for a in parsed if a in valid_values]
        row["valid_rate"] = len(valid) / n if n else float("nan")
        row["coverage_valid"] = coverage(valid)
        row["entropy_valid"] = entropy(empirical_distribution(valid).values())
    if natural is not None:
        # KL of the model's parsed answers from the natural distribution, over answers the natural
        # distribution knows (the share it does not know is reported beside it).
        in_support = restricted(empirical, natural.keys())
        row["natural_support_rate"] = (
            sum(v for k, v in empirical.items() if k in natural) if empirical else 0.0
        )
        row["kl_to_natural"] = kl_divergence(in_support, natural) if in_support else float("nan")
    return row


def exact_metrics(logprobs: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Metrics of the exact p_theta(y|x) over an enumerated target set with target weights p*."""
    logprobs = np.asarray(logprobs, dtype=float)
    weights = np.asarray(weights, dtype=float)
    weights = weights / weights.sum()
    valid_mass = float(np.exp(logprobs).sum())
    log_valid = logprobs - np.log(valid_mass)
    p_valid = np.exp(log_valid)
    support = weights > 0
    return {
        "valid_mass": valid_mass,
        "entropy_valid": entropy(p_valid),
        "target_entropy": entropy(weights),
        # Eq. 5: the training loss at these probabilities; Eq. 2 with the raw model probabilities.
        "cross_entropy": float(-(weights[support] * logprobs[support]).sum()),
        "kl": float((weights[support] * (np.log(weights[support]) - logprobs[support])).sum()),
        # The same KL with the model renormalised over the target set (the shape, apart from validity).
        "kl_valid": float((weights[support] * (np.log(weights[support]) - log_valid[support])).sum()),
    }
