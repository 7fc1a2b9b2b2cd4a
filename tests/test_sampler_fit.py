"""The sampler against the exact scorer: sampled frequencies of the real embedded model on the RNG prompt
must fit its exact p(y|x) over the target set (Pearson's chi-square, the rest of the mass as one bin)."""

from collections import Counter

import numpy as np
import pytest
from conftest import REPO

from diffuse.lm import exact_logprobs, sample_continuations
from diffuse.metrics import chisquare_fit
from diffuse.targets import encode_task
from diffuse.tasks import load_tasks

N = 2000


@pytest.fixture(scope="module")
def rng_draws(model, tokenizer):
    task = load_tasks(REPO / "config" / "tasks")["numbers/rng"]
    encoded = encode_task(tokenizer, task)
    longest = max(len(t) for t in encoded.target_ids)
    # Targets are prefix-free and end with the end-of-turn token, so a row equal to a target is one full
    # answer; every other row (longer, shorter, off-target) is "other".
    sequences, _ = sample_continuations(
        model, encoded.prompt_ids, n=N, seed=11, max_new_tokens=longest, stop_ids=encoded.stop_ids
    )
    index = {tuple(t): v for t, v in zip(encoded.target_ids, encoded.values, strict=True)}
    counts = Counter(index.get(tuple(s), "<other>") for s in sequences)
    exact = np.exp(exact_logprobs(model, encoded.prompt_ids, encoded.target_ids).numpy())
    return counts, dict(zip(encoded.values, exact.tolist(), strict=True))


def test_sampled_frequencies_fit_the_exact_distribution(rng_draws):
    counts, exact = rng_draws
    fit = chisquare_fit(counts, exact)
    assert fit["n"] == N and fit["bins"] >= 2
    assert fit["pvalue"] > 0.001, (fit, counts, exact)


def test_the_fit_rejects_a_wrong_distribution(rng_draws):
    counts, exact = rng_draws
    # The same mass over the targets, spread uniformly: not what the untuned model samples.
    total = sum(exact.values())
    uniform = {k: total / len(exact) for k in exact}
    assert chisquare_fit(counts, uniform)["pvalue"] < 1e-6
    # Moving a tenth of the most likely answer's mass to the next one.
    first, second = sorted(exact, key=exact.get, reverse=True)[:2]
    shifted = dict(exact)
    shifted[first] -= 0.1 * exact[first]
    shifted[second] += 0.1 * exact[first]
    assert chisquare_fit(counts, shifted)["pvalue"] < 1e-3
