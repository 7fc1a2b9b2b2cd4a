"""Shared-prompt sampling and scoring on the real embedded model, checked against naive computations."""

import numpy as np
import pytest
import torch

from diffuse.lm import draw_tokens, sample_continuations

PROMPT = "Generate a random number between 1 and 10. Output only the number between two curly braces."


@pytest.fixture(scope="module")
def prompt_ids(tokenizer):
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_draw_tokens_follows_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).expand(40_000, -1)
    generator = torch.Generator().manual_seed(0)
    tokens, logp = draw_tokens(logits, 1.0, generator)
    counts = np.bincount(tokens.numpy(), minlength=4)
    # Each drawn token's log-probability is its log-softmax.
    assert torch.allclose(logp, torch.log_softmax(logits[0], -1)[tokens], atol=1e-6)
    expected = torch.softmax(logits[0], -1).numpy() * 40_000
    # Within five binomial standard deviations per category.
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    # Temperature 0.5 sharpens: softmax(2 * logits).
    hot = np.bincount(draw_tokens(logits, 0.5, generator)[0].numpy(), minlength=4)
    expected_hot = torch.softmax(2 * logits[0], -1).numpy() * 40_000
    assert np.all(np.abs(hot - expected_hot) < 5 * np.sqrt(expected_hot + 1))


def test_sampled_logprobs_match_a_naive_forward(model, prompt_ids):
    # Rows stop at different steps, so the cache is pruned mid-batch; every token's log-probability
    # must still equal the one a fresh full forward of prompt + sequence gives.
    stop = [2]
    sequences, logprobs = sample_continuations(
        model, prompt_ids, n=10, seed=3, max_new_tokens=8, stop_ids=stop
    )
    lengths = {len(s) for s in sequences}
    assert len(lengths) > 1, "expected rows of different lengths"
    n = len(prompt_ids)
    for seq, logprob in zip(sequences, logprobs, strict=True):
        assert 1 <= len(seq) <= 8
        assert all(tok not in stop for tok in seq[:-1])
        with torch.no_grad():
            logits = model(torch.tensor([prompt_ids + seq])).logits[0].float()
        naive = torch.log_softmax(logits, -1)[torch.arange(n - 1, n - 1 + len(seq)), torch.tensor(seq)].sum()
        assert logprob == pytest.approx(float(naive), abs=2e-3)


def test_sampling_is_seeded(model, prompt_ids):
    first = sample_continuations(
        model, prompt_ids, n=6, seed=11, max_new_tokens=5, stop_ids=[2], batch_size=4
    )
    again = sample_continuations(
        model, prompt_ids, n=6, seed=11, max_new_tokens=5, stop_ids=[2], batch_size=4
    )
    other = sample_continuations(
        model, prompt_ids, n=6, seed=12, max_new_tokens=5, stop_ids=[2], batch_size=4
    )
    assert first == again
    assert first[0] != other[0]
    assert len(first[0]) == 6


def test_near_zero_temperature_is_greedy_generate(model, prompt_ids):
    sequences, _ = sample_continuations(
        model, prompt_ids, n=2, seed=0, max_new_tokens=6, stop_ids=[2], temperature=1e-4
    )
    greedy = model.generate(torch.tensor([prompt_ids]), max_new_tokens=6, do_sample=False, eos_token_id=2)
    expected = greedy[0, len(prompt_ids) :].tolist()
    assert sequences[0] == expected and sequences[1] == expected


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0, 10.0])
def test_exact_logprobs_at_a_temperature_match_a_naive_softmax(model, tokenizer, prompt_ids, temperature):
    # p_T(y|x) = prod over y's tokens of softmax(logits / T), from a full forward of prompt + y each time.
    from diffuse.lm import exact_logprobs

    targets = [tokenizer(f"{{{k}}}", add_special_tokens=False)["input_ids"] + [2] for k in (1, 7, 10)]
    targets.append(tokenizer("{Aurora}", add_special_tokens=False)["input_ids"])
    fast = exact_logprobs(model, prompt_ids, targets, chunk_size=2, temperature=temperature)
    n = len(prompt_ids)
    for target, value in zip(targets, fast.tolist(), strict=True):
        with torch.no_grad():
            logits = model(torch.tensor([prompt_ids + target])).logits[0].double()
        steps = torch.arange(n - 1, n - 1 + len(target))
        naive = torch.log(
            torch.softmax(logits[steps] / temperature, -1)[torch.arange(len(target)), torch.tensor(target)]
        )
        assert value == pytest.approx(float(naive.sum()), abs=2e-3)
    if temperature != 1.0:
        # The temperature is applied: T = 1 gives different numbers.
        assert not torch.allclose(fast, exact_logprobs(model, prompt_ids, targets, chunk_size=2))


def test_tree_sampled_logprobs_match_exact_scoring(model, prompt_ids):
    from diffuse.lm import exact_logprobs

    sequences, logprobs = sample_continuations(
        model, prompt_ids, n=60, seed=5, max_new_tokens=6, stop_ids=[2], batch_size=25, method="tree"
    )
    assert len(sequences) == 60 and all(1 <= len(s) <= 6 for s in sequences)
    assert all(s[-1] == 2 or len(s) == 6 for s in sequences)
    distinct = sorted({tuple(s) for s in sequences})
    scored = exact_logprobs(model, prompt_ids, [list(s) for s in distinct]).tolist()
    exact = dict(zip(distinct, scored, strict=True))
    assert max(abs(lp - exact[tuple(s)]) for s, lp in zip(sequences, logprobs, strict=True)) < 1e-3
    again, _ = sample_continuations(
        model, prompt_ids, n=60, seed=5, max_new_tokens=6, stop_ids=[2], batch_size=25, method="tree"
    )
    assert again == sequences
