"""Metrics of the paper (section 2.2): entropy, coverage-N, KL; plus parse and valid rates."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

# scipy is imported where it is used: scipy.stats costs about 1 s of every model job's start-up.


def entropy(probabilities: Iterable[float]) -> float:
    """Shannon entropy in nats of a distribution, renormalised (zero entries contribute nothing); Eq. 3.
    NaN for an empty or all-zero distribution (scipy would give 0 or NaN with a warning)."""
    p = np.asarray(list(probabilities), dtype=float)
    p = p[p > 0]
    if p.size == 0:
        return float("nan")
    import scipy.stats

    return float(scipy.stats.entropy(p))


def empirical_distribution(answers: Iterable[str | None]) -> dict[str, float]:
    """Frequencies of the parsed answers; None (unparseable) is left out."""
    counts = Counter(a for a in answers if a is not None)
    total = sum(counts.values())
    return {a: c / total for a, c in counts.most_common()} if total else {}


def coverage(answers: Iterable[str | None]) -> int:
    """Coverage-N: the number of unique parsed answers among the N samples; Eq. 4."""
    return len({a for a in answers if a is not None})


def kl_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """KL(p || q) in nats over p's support; inf where q gives zero to a value p supports. Eq. 2.
    p and q are used as given (no renormalisation), so a sub-normalised q (missing mass) counts."""
    keys = [k for k, v in p.items() if v > 0]
    if not keys:
        return 0.0
    pk = np.array([p[k] for k in keys], dtype=float)
    qk = np.array([q.get(k, 0.0) for k in keys], dtype=float)
    import scipy.special

    return float(scipy.special.rel_entr(pk, qk).sum())


def restricted(p: Mapping[str, float], support: Iterable[str]) -> dict[str, float]:
    """p restricted to `support` and renormalised (empty if p puts no mass there)."""
    support = set(support)
    kept = {k: v for k, v in p.items() if k in support and v > 0}
    total = sum(kept.values())
    return {k: v / total for k, v in kept.items()} if total else {}


def smoothed(
    counts: Mapping[str, int], support: Iterable[str], n: int, pseudo: float = 1.0
) -> dict[str, float]:
    """Add-`pseudo` (Laplace) estimates (count + pseudo) / (n + pseudo * |support|) over `support`, n being
    every sample: the share of samples outside the support stays missing mass, as in a raw p_theta."""
    support = list(dict.fromkeys(support))
    total = n + pseudo * len(support)
    return {k: (counts.get(k, 0) + pseudo) / total for k in support}


def kl_to_samples(reference: Mapping[str, float], answers: list[str | None]) -> float:
    """Eq. 2 on samples: KL(p* || p_theta), p_theta(y) = (count(y) + 1) / (N + |support of p*|) over all N
    samples (unparsed and off-support ones included), so an unsampled y costs a finite amount and answers
    outside p*'s support are penalised, as they are with the exact raw probabilities."""
    reference = {k: v for k, v in reference.items() if v > 0}
    if not reference:
        return float("nan")
    total = sum(reference.values())
    reference = {k: v / total for k, v in reference.items()}
    counts = Counter(a for a in answers if a is not None)
    return kl_divergence(reference, smoothed(counts, reference, len(answers)))


def chisquare_fit(observed: Mapping, probabilities: Mapping, min_expected: float = 5.0) -> dict:
    """Pearson's chi-square goodness of fit of observed counts to an exact distribution.

    Keys of `probabilities` expected fewer than `min_expected` times, observed keys it lacks, and the mass it
    leaves unassigned (1 - sum) are lumped into one "other" bin, so a partial (enumerable) distribution
    can be tested against all N draws. Returns statistic, p-value, degrees of freedom, bins and N.
    """
    n = int(sum(observed.values()))
    if n <= 0:
        raise ValueError("chisquare_fit needs at least one observation")
    kept = [k for k, v in probabilities.items() if v * n >= min_expected]
    obs = [float(observed.get(k, 0)) for k in kept]
    exp = [float(probabilities[k]) * n for k in kept]
    other_obs = n - sum(obs)
    other_exp = max(n - sum(exp), 0.0)
    if other_obs > 0 or other_exp > 0:
        obs.append(other_obs)
        exp.append(other_exp)
    if len(obs) < 2:
        raise ValueError("chisquare_fit needs at least two bins")
    # Rounding: scipy requires the two totals to agree.
    exp = np.asarray(exp) * (n / sum(exp))
    import scipy.stats

    result = scipy.stats.chisquare(np.asarray(obs), exp)
    return {
        "statistic": float(result.statistic),
        "pvalue": float(result.pvalue),
        "dof": len(obs) - 1,
        "bins": len(obs),
        "n": n,
    }


def outside_targets(answers: Iterable[str | None], valid_values: set[str], k: int = 5) -> tuple[int, str]:
    """How many distinct parsed answers are not targets, and the k most frequent as 'answer (count)'."""
    counts = Counter(a for a in answers if a is not None and a not in valid_values)
    top = "; ".join(f"{a} ({c})" for a, c in counts.most_common(k))
    return len(counts), top


def sample_metrics(
    answers: list[str | None],
    valid_values: set[str] | None,
    natural: Mapping[str, float] | None,
    target_weights: Mapping[str, float] | None = None,
):
    """Metrics of N sampled answers (already parsed and put in match form).

    Rates are over all N samples; coverage and entropy over parsed answers, and with `_valid` over valid
    (target-set) answers. KL columns follow Eq. 2, KL(p* || p_theta), with p_theta add-one smoothed.
    """
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
        row["coverage_outside_targets"], row["top_outside_targets"] = outside_targets(parsed, valid_values)
    if target_weights is not None:
        row["kl_target_add1"] = kl_to_samples(target_weights, answers)
    if natural is not None:
        row["natural_support_rate"] = (
            sum(v for k, v in empirical.items() if k in natural) if empirical else 0.0
        )
        row["kl_natural_add1"] = kl_to_samples(natural, answers)
        # The other direction, KL(p_theta || p_natural), over parsed answers the natural distribution
        # knows: finite without smoothing, but not the paper's Eq. 2.
        in_support = restricted(empirical, natural.keys())
        row["kl_reverse_sampled_natural"] = kl_divergence(in_support, natural) if in_support else float("nan")
    return row


def reference_draws(natural: Mapping[str, float], n: int, seed: int) -> list[str]:
    """N i.i.d. draws from the natural distribution (Table 1's reference row), reproducible from `seed`."""
    keys = list(natural)
    p = np.asarray([natural[k] for k in keys], dtype=float)
    rng = np.random.default_rng(int(seed))
    return [keys[i] for i in rng.choice(len(keys), size=int(n), p=p / p.sum())]


def first_rows(samples, n: int | None, key: str, source: str = "samples"):
    """The first n rows of a sample table (i.i.d. rows, so a prefix is a sample of size n)."""
    if n is None:
        return samples
    if len(samples) < n:
        raise ValueError(
            f"{key} = {n}, but {source} has only {len(samples)} rows; lower {key} or sample more rows"
        )
    return samples.iloc[:n]


def exact_metrics(logprobs: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Metrics of the exact p_theta(y|x) over an enumerated target set with target weights p*.
    The KLs stay in log space (log p* - log p_theta) rather than scipy's rel_entr on exp(logprobs): tiny
    model probabilities underflow to 0 in exp and would turn a finite KL into inf."""
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


def overrepresentation(
    answers: list[str | None], natural: Mapping[str, float], valid_values: set[str], top_k: int
) -> list[dict]:
    """The top_k most sampled answers (match form) with their share among parsed answers, their natural
    share and the ratio of the two; the ratio is inf where the natural distribution never gives the answer
    (marked in `note`). Each row also carries N, parse rate and valid rate of the whole sample."""
    parsed = [a for a in answers if a is not None]
    counts = Counter(parsed)
    # N and the rates as every table defines them (sample_metrics), not a second copy.
    summary = sample_metrics(answers, valid_values, None)
    shared = {key: summary[key] for key in ("n_samples", "parse_rate", "valid_rate")}
    rows = []
    for rank, (answer, count) in enumerate(counts.most_common(top_k), start=1):
        share = count / len(parsed)
        natural_share = float(natural.get(answer, 0.0))
        rows.append(
            {
                **shared,
                "rank": rank,
                "answer": answer,
                "count": count,
                "sampled_share": share,
                "natural_share": natural_share,
                "ratio": share / natural_share if natural_share > 0 else math.inf,
                "note": "" if natural_share > 0 else "absent from the natural distribution",
                "valid": answer in valid_values,
            }
        )
    return rows
