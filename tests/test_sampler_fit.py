"""The sampler against the exact scorer: sampled frequencies of the real (untuned) embedded model on the RNG
prompt must fit its exact p(y|x) over an enumerable set (Pearson's chi-square, the rest as one bin).

The untuned model puts almost no mass on the braced targets, so the enumerable set is the two-token
continuations: the 6 likeliest first tokens, each followed by its 6 likeliest second tokens. Both samplers
are checked, the tree sampler at two group sizes (its result must not depend on how rows are grouped).
"""

from collections import Counter

import numpy as np
import pytest
import torch
from conftest import REPO

from diffuse.lm import exact_logprobs, sample_continuations
from diffuse.metrics import chisquare_fit
from diffuse.targets import encode_task
from diffuse.tasks import load_tasks

N = 5000
TOP = 6


@pytest.fixture(scope="module", params=["ancestral:500", "tree:5000", "tree:700"])
def rng_draws(model, tokenizer, request):
    method, batch_size = request.param.split(":")
    task = load_tasks(REPO / "config" / "tasks")["numbers/rng"]
    encoded = encode_task(tokenizer, task)
    prompt = encoded.prompt_ids

    def top_next(ids):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        return torch.topk(logits, TOP).indices.tolist()

    # Rows that stop after one token are outside the set, so they fall in "other" with the rest.
    pairs = [(a, b) for a in top_next(prompt) if a not in encoded.stop_ids for b in top_next(prompt + [a])]
    exact = np.exp(exact_logprobs(model, prompt, [list(p) for p in pairs]).numpy())
    sequences, _ = sample_continuations(
        model, prompt, n=N, seed=11, max_new_tokens=2, stop_ids=encoded.stop_ids, batch_size=int(batch_size),
        method=method,
    )  # fmt: skip
    index = set(pairs)
    counts = Counter(tuple(s) if tuple(s) in index else "other" for s in sequences)
    return counts, dict(zip(pairs, exact.tolist(), strict=True))


def test_sampled_frequencies_fit_the_exact_distribution(rng_draws):
    counts, exact = rng_draws
    fit = chisquare_fit(counts, exact)
    assert fit["n"] == N and fit["bins"] >= 4, (fit, exact)
    assert fit["pvalue"] > 0.001, (fit, counts, exact)


def test_the_fit_rejects_a_wrong_distribution(rng_draws):
    counts, exact = rng_draws
    # The same mass over the set, spread uniformly.
    total = sum(exact.values())
    assert chisquare_fit(counts, {k: total / len(exact) for k in exact})["pvalue"] < 1e-6
    # Mass moved from the likeliest continuation to the second likeliest: 8 standard deviations of the
    # first's count at this N, a shift the test must see (its chi-square share alone is about 64).
    first, second = sorted(exact, key=exact.get, reverse=True)[:2]
    delta = 8 * np.sqrt(exact[first] / N)
    assert delta < exact[first], exact
    shifted = dict(exact)
    shifted[first] -= delta
    shifted[second] += delta
    assert chisquare_fit(counts, shifted)["pvalue"] < 1e-3, (counts, exact)


def test_vllm_token_budget_holds_every_prefill_whole():
    from diffuse.sampling import vllm_token_budget

    options = {"max_num_seqs": 256, "max_model_len": 2048}
    assert vllm_token_budget(options) == (2048, 256 * 2048)  # no sizing: the longest possible prompt
    model_len, batched = vllm_token_budget(options, (70, 12))
    assert model_len == 96 and model_len % 16 == 0 and model_len >= 70 + 12
    assert batched == 256 * 70  # every running row's prefill at once, 30x under the old budget
    assert vllm_token_budget({"max_num_seqs": 1}, (70, 12)) == (96, 96)  # never below one whole sequence
    with pytest.raises(ValueError, match="max_model_len 2048"):
        vllm_token_budget(options, (2040, 40))


def test_prompts_sampled_together_fit_each_prompt_alone(model, tokenizer):
    """Two section-5 prompts sampled in one batch by sample_prompts: each prompt's frequencies fit its own
    exact two-token distribution (N per prompt), so sharing the batch does not mix the prompts."""
    from diffuse.lm import sample_prompts

    tasks = load_tasks(REPO / "config" / "tasks")
    encoded = [encode_task(tokenizer, tasks[t]) for t in ("numbers/rng", "fruits/fruit-0")]

    def top_next(ids):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        return torch.topk(logits, TOP).indices.tolist()

    drawn = sample_prompts(
        model, [(e.prompt_ids, e.stop_ids) for e in encoded], n=N // 2, seed=12, max_new_tokens=2,
        batch_size=N, method="tree",
    )  # fmt: skip
    for e, (sequences, _) in zip(encoded, drawn, strict=True):
        prompt = e.prompt_ids
        pairs = [(a, b) for a in top_next(prompt) if a not in e.stop_ids for b in top_next(prompt + [a])]
        exact = np.exp(exact_logprobs(model, prompt, [list(p) for p in pairs]).numpy())
        index = set(pairs)
        counts = Counter(tuple(s) if tuple(s) in index else "other" for s in sequences)
        fit = chisquare_fit(counts, dict(zip(pairs, exact.tolist(), strict=True)))
        assert fit["n"] == N // 2 and fit["bins"] >= 4, (fit, e.task_id)
        assert fit["pvalue"] > 0.001, (fit, e.task_id, counts)
