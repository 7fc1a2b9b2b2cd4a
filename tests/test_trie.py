"""The follow-up's soft (trie KL) and hard (cross-entropy) objectives against hand and naive computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from diffuse.settings import TrainSettings
from diffuse.targets import EncodedTarget, EncodedTask
from diffuse.train import path_step
from diffuse.trie import TargetTrie, TrieError, path_nll, trie_kl

VOCAB = 11
EOT = 10
# "1 2 <eot>", "1 3 <eot>", "4 <eot>" with p* = 0.5, 0.25, 0.25
SEQUENCES = [[1, 2, EOT], [1, 3, EOT], [4, EOT]]
WEIGHTS = [0.5, 0.25, 0.25]


def test_next_token_distributions_are_the_renormalised_child_mass():
    trie = TargetTrie(SEQUENCES, [2.0, 1.0, 1.0])  # weights are renormalised
    assert trie.next_tokens([]) == ([1, 4], [0.75, 0.25])
    tokens, probs = trie.next_tokens([1])
    assert tokens == [2, 3] and probs == pytest.approx([2 / 3, 1 / 3])
    assert trie.next_tokens([4]) == ([EOT], [1.0])
    assert trie.nodes == 5  # root, [1], [1 2], [1 3], [4]
    # Drawing token by token from the trie draws each target with probability p*(y).
    for seq, weight in zip(SEQUENCES, WEIGHTS, strict=True):
        product = math.prod(
            dict(zip(*trie.next_tokens(seq[:t]), strict=True))[seq[t]] for t in range(len(seq))
        )
        assert product == pytest.approx(weight)


def test_bad_target_sets_are_refused():
    with pytest.raises(TrieError, match="not prefix-free"):
        TargetTrie([[1, 2], [1, 2, EOT]], [1, 1], where="distributions/x")
    with pytest.raises(TrieError, match="same tokens"):
        TargetTrie([[1, EOT], [1, EOT]], [1, 1])
    with pytest.raises(TrieError, match="non-negative"):
        TargetTrie([[1, EOT], [2, EOT]], [1, -1])
    with pytest.raises(TrieError, match="no targets"):
        TargetTrie([], [])


def hand_kl(logits: np.ndarray, trie: TargetTrie, path: list[int]) -> float:
    """KL(trie || softmax(logits)) at each step of `path`, by hand, averaged over the steps."""
    total = 0.0
    for t in range(len(path)):
        logp = logits[t] - np.log(np.exp(logits[t]).sum())
        tokens, probs = trie.next_tokens(path[:t])
        total += sum(q * (math.log(q) - logp[token]) for token, q in zip(tokens, probs, strict=True))
    return total / len(path)


def test_trie_kl_is_the_hand_computation():
    trie = TargetTrie(SEQUENCES, WEIGHTS)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 3, VOCAB))
    logprobs = torch.log_softmax(torch.tensor(logits), dim=-1)
    got = trie_kl(logprobs, trie.path_targets([0, 1, 2]))
    expected = [hand_kl(logits[i, : len(s)], trie, s) for i, s in enumerate(SEQUENCES)]
    assert got.tolist() == pytest.approx(expected, rel=1e-12)
    # Hard targets: -log p(path), the sum of its token log-probabilities.
    labels = torch.tensor([[1, 2, EOT], [1, 3, EOT], [4, EOT, 0]])
    steps = torch.tensor([[True] * 3, [True] * 3, [True, True, False]])
    nll = path_nll(logprobs, labels, steps)
    by_hand = [-sum(float(logprobs[i, t, s[t]]) for t in range(len(s))) for i, s in enumerate(SEQUENCES)]
    assert nll.tolist() == pytest.approx(by_hand, rel=1e-12)


def trie_logits(trie: TargetTrie, path: list[int], outside: float) -> torch.Tensor:
    """Logits equal to log q at the trie's children after each prefix of `path`, `outside` elsewhere."""
    logits = torch.full((len(path), VOCAB), outside, dtype=torch.float64)
    for t in range(len(path)):
        tokens, probs = trie.next_tokens(path[:t])
        logits[t, tokens] = torch.tensor(probs, dtype=torch.float64).log()
    return logits


def test_trie_kl_is_zero_exactly_when_the_model_matches_the_trie():
    trie = TargetTrie(SEQUENCES, WEIGHTS)
    targets = trie.path_targets([0, 1, 2])
    steps = targets.steps.shape[1]

    def stacked(outside: float) -> torch.Tensor:
        rows = [trie_logits(trie, s, outside) for s in SEQUENCES]
        padded = [torch.cat([r, torch.zeros(steps - len(r), VOCAB, dtype=r.dtype)]) for r in rows]
        return torch.log_softmax(torch.stack(padded), dim=-1)

    # Zero up to float64 rounding (log q through a log-softmax): 1e-17 here, against 1e-4 and more below.
    assert trie_kl(stacked(-math.inf), targets).abs().max().item() < 1e-15
    # Any mass outside the children (here e^-8 relative to each other token) makes it positive, every path.
    leaky = trie_kl(stacked(-8.0), targets)
    assert (leaky > 1e-4).all()
    # The right support with the wrong split among the children is positive too.
    wrong = stacked(-math.inf).clone()
    wrong[0, 0, [1, 4]] = torch.tensor([0.5, 0.5], dtype=torch.float64).log()
    assert trie_kl(wrong, targets)[0] > 1e-3 and trie_kl(wrong, targets)[2] < 1e-15


SMALL = dict(
    vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
)  # fmt: skip


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**SMALL)).double()


def encoded_task(task_id: str, prompt: list[int]) -> EncodedTask:
    targets = [
        EncodedTarget(str(i), str(i), w, s) for i, (s, w) in enumerate(zip(SEQUENCES, WEIGHTS, strict=True))
    ]
    return EncodedTask(task_id, "", prompt, [EOT], targets)


def naive_loss(model, tasks, draws: dict[int, list[int]], objective: str) -> torch.Tensor:
    """Every drawn path on its own, repeats included: prompt + path in one full forward, losses by hand."""
    per_task = []
    for t, indices in draws.items():
        trie = TargetTrie(tasks[t].target_ids, tasks[t].weights)
        prompt = tasks[t].prompt_ids
        losses, tokens = [], 0
        for i in indices:
            path = trie.sequences[i]
            logits = model(input_ids=torch.tensor([prompt + list(path)])).logits[0]
            logp = torch.log_softmax(logits[len(prompt) - 1 : len(prompt) - 1 + len(path)], dim=-1)
            if objective == "soft_trie_kl":
                kl = 0
                for step in range(len(path)):
                    children, probs = trie.next_tokens(path[:step])
                    kl = kl + sum(
                        q * (math.log(q) - logp[step, c]) for c, q in zip(children, probs, strict=True)
                    )
                losses.append(kl / len(path))
            else:
                losses.append(-sum(logp[step, path[step]] for step in range(len(path))))
                tokens += len(path)
        per_task.append(sum(losses) / (len(indices) if objective == "soft_trie_kl" else tokens))
    return sum(per_task) / len(per_task)


@pytest.mark.parametrize("objective", ["soft_trie_kl", "hard_ce"])
def test_path_step_gradients_equal_a_naive_per_path_computation(small_model, objective):
    tasks = [encoded_task("toy/a", [3, 5, 7, 2]), encoded_task("toy/b", [6, 6, 1])]
    tries = [TargetTrie(t.target_ids, t.weights) for t in tasks]
    settings = TrainSettings(objective=objective, early_stop_gamma=None, samples_per_prompt=7, chunk_size=2)
    # The same draws the step makes: its generator, replayed.
    replay = np.random.default_rng(5)
    draws = {t: tries[t].sample(7, replay) for t in (0, 1)}
    assert any(len(set(d)) < len(d) for d in draws.values())  # repeats: weighted once in the step
    small_model.zero_grad()
    loss = path_step(small_model, tasks, tries, [0, 1], settings, np.random.default_rng(5))
    fast = {name: p.grad.clone() for name, p in small_model.named_parameters()}
    small_model.zero_grad()
    reference = naive_loss(small_model, tasks, draws, objective)
    reference.backward()
    # float64 model, but transformers' RMSNorm and rotary run in float32: agreement to ~1e-8, where a
    # wrong weighting of a path or a step would be off by a share of the whole.
    assert loss == pytest.approx(reference.item(), rel=1e-7)
    worst = max((fast[name] - p.grad).abs().max().item() for name, p in small_model.named_parameters())
    scale = max(p.grad.abs().max().item() for p in small_model.parameters())
    assert scale > 1e-2 and worst < 1e-6 * scale


def test_objective_settings_are_checked():
    with pytest.raises(ValueError, match="early_stop_gamma: null"):
        TrainSettings(objective="soft_trie_kl", early_stop_gamma=0.2)
    with pytest.raises(ValueError, match="minibatch schedule only"):
        TrainSettings(objective="hard_ce", schedule="prompt_pass", early_stop_gamma=None)
    with pytest.raises(ValueError, match="is not one of"):
        TrainSettings(objective="dpo")
