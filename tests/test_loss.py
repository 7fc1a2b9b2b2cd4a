"""Eq. 5 and the training loop, against hand computations and a naive (no shared cache) forward."""

import json
import math

import numpy as np
import pytest
import torch

from diffuse.lm import exact_logprobs
from diffuse.targets import EncodedTarget, EncodedTask
from diffuse.train import (
    MinibatchSchedule,
    TrainSettings,
    diffuse_loss,
    loss_bound,
    train_adapter,
    train_step,
)


def test_eq5_hand_computation():
    # Two targets of two tokens each: log p(y) is the sum of its token log-probabilities.
    token_probs = torch.tensor([[0.5, 0.4], [0.2, 0.9]])
    logprobs = token_probs.log().sum(dim=1)
    weights = torch.tensor([0.75, 0.25])
    expected = -(0.75 * math.log(0.5 * 0.4) + 0.25 * math.log(0.2 * 0.9))
    assert float(diffuse_loss(logprobs, weights)) == pytest.approx(expected, rel=1e-6)


def test_eq5_minimum_is_target_entropy():
    weights = torch.tensor([0.5, 0.3, 0.2])
    at_target = diffuse_loss(weights.log(), weights)
    elsewhere = diffuse_loss(torch.tensor([0.4, 0.4, 0.2]).log(), weights)
    entropy = -(weights * weights.log()).sum()
    assert float(at_target) == pytest.approx(float(entropy))
    assert float(elsewhere) > float(at_target)


def test_eq5_gradient_hand_computation():
    # d/dlogp_i of -sum_j w_j logp_j is -w_i.
    logprobs = torch.tensor([-1.0, -2.0, -3.0], requires_grad=True)
    weights = torch.tensor([0.2, 0.3, 0.5])
    diffuse_loss(logprobs, weights).backward()
    assert torch.allclose(logprobs.grad, -weights)


def test_minibatch_schedule_full_batch():
    full = MinibatchSchedule([3, 2], batch_size=10, seed=0)
    assert full.full_batch
    assert full.next() == [(0, [0, 1, 2], 0.5), (1, [0, 1], 0.5)]


def test_minibatch_schedule_epochs_and_seed():
    schedule = MinibatchSchedule([3, 3], batch_size=4, seed=0)
    steps = [schedule.next() for _ in range(3)]
    # Two targets of each task per step, drawn in epochs: every target is seen exactly twice in 3 steps.
    seen = [(t, j) for step in steps for t, indices, _ in step for j in indices]
    assert all(len(indices) == 2 for step in steps for _, indices, _ in step)
    assert sorted(set(seen)) == schedule.pairs and all(seen.count(p) == 2 for p in schedule.pairs)
    assert MinibatchSchedule([3, 3], batch_size=4, seed=0).next() == steps[0]


@pytest.mark.parametrize("prompts_per_step", [None, 1, 2])
def test_minibatch_schedule_is_unbiased(prompts_per_step):
    # The loss is the mean over tasks of a sum over targets: each pair must carry weight 1/T on average.
    sizes = [5, 1, 8]
    schedule = MinibatchSchedule(sizes, batch_size=4, seed=1, prompts_per_step=prompts_per_step)
    steps = 120 * 8 * 3  # a whole number of epochs for every queue
    weight = {pair: 0.0 for pair in schedule.pairs}
    for _ in range(steps):
        batch = schedule.next()
        assert len({t for t, _, _ in batch}) == len(batch)
        for t, indices, scale in batch:
            assert len(set(indices)) == len(indices)
            for j in indices:
                weight[(t, j)] += scale
    for pair, total in weight.items():
        assert total / steps == pytest.approx(1 / len(sizes), rel=0.02), pair


def _toy_task(tokenizer, values, weights):
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Pick a colour."}], add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    targets = [
        EncodedTarget(v, v, w, tokenizer(v + "<|im_end|>", add_special_tokens=False)["input_ids"])
        for v, w in zip(values, weights, strict=True)
    ]
    return EncodedTask("toy/colour", prompt, prompt_ids, [2], targets)


def test_train_step_loss_equals_naive_eq5(model, tokenizer):
    task = _toy_task(tokenizer, ["red", "green", "blue"], [0.5, 0.25, 0.25])
    settings = TrainSettings(chunk_size=2)  # two chunks: exercises the shared graph across chunks
    model.zero_grad(set_to_none=True)
    loss, mass = train_step(model, [task], [(0, [0, 1, 2], 1.0)], settings)
    # Naive: each full sequence through the model on its own, no cache sharing.
    naive = []
    for target in task.targets:
        ids = torch.tensor([task.prompt_ids + target.ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].float(), -1)
        n = len(task.prompt_ids)
        naive.append(sum(float(logp[n - 1 + k, tok]) for k, tok in enumerate(target.ids)))
    expected = -sum(w * lp for w, lp in zip(task.weights, naive, strict=True))
    assert loss == pytest.approx(expected, rel=1e-4)
    assert mass == pytest.approx(sum(math.exp(lp) for lp in naive), rel=1e-4)
    shared = exact_logprobs(model, task.prompt_ids, task.target_ids, chunk_size=2).numpy()
    assert np.allclose(shared, naive, atol=1e-4)


def test_training_moves_mass_onto_targets(model_dir, tokenizer, tmp_path):
    from diffuse.models import load_model

    task = _toy_task(tokenizer, ["red", "green", "blue"], [1 / 3] * 3)
    settings = TrainSettings(
        target_modules=["q_proj", "v_proj"], learning_rate=3e-3, max_steps=6, early_stop_gamma=None, seed=0
    )
    rows = train_adapter(load_model(model_dir), [task], tmp_path / "adapter", tmp_path / "log.csv", settings)
    assert len(rows) == 6
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert rows[-1]["valid_mass"] > rows[0]["valid_mass"]
    assert rows[0]["entropy_bound"] == pytest.approx(math.log(3))
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "log.csv").read_text().startswith("step,loss,entropy_bound")
    assert all(row["grad_norm"] > 0 for row in rows)  # no clipping: the norm is logged all the same
    summary = json.loads((tmp_path / "adapter" / "train_summary.json").read_text())
    assert (summary["schedule"], summary["updates"], summary["stopped_early"]) == ("minibatch", 6, False)
    assert summary["final_loss"] == pytest.approx(rows[-1]["loss"])


def test_early_stop_at_the_entropy_bound(model_dir, tokenizer, tmp_path):
    from diffuse.models import load_model

    task = _toy_task(tokenizer, ["red", "green"], [0.5, 0.5])
    # A huge gamma: the first loss is already within the bound, so training stops without an update.
    settings = TrainSettings(target_modules=["q_proj"], max_steps=5, early_stop_gamma=1e6)
    rows = train_adapter(load_model(model_dir), [task], tmp_path / "a", tmp_path / "log.csv", settings)
    assert len(rows) == 1 and rows[0]["updated"] is False and math.isnan(rows[0]["grad_norm"])
    summary = json.loads((tmp_path / "a" / "train_summary.json").read_text())
    assert summary["updates"] == 0 and summary["stopped_early"] is True
    assert loss_bound([task]) == pytest.approx(math.log(2))


def test_minibatch_early_stop_waits_for_an_epoch_of_prompts(model_dir, tokenizer, tmp_path):
    from diffuse.models import load_model

    tasks = [_toy_task(tokenizer, ["red", "green", "blue"], [1 / 3] * 3) for _ in range(3)]
    # One prompt of three per step: the stop rule averages the last three step losses, so even a
    # threshold every loss meets cannot stop training before step 3.
    settings = TrainSettings(
        target_modules=["q_proj"], max_steps=6, batch_size=2, prompts_per_step=1, early_stop_gamma=1e6
    )
    rows = train_adapter(load_model(model_dir), tasks, tmp_path / "a", tmp_path / "log.csv", settings)
    assert [row["updated"] for row in rows] == [True, True, False]
    assert rows[-1]["loss_window_mean"] == pytest.approx(np.mean([row["loss"] for row in rows]))
    assert all(row["batch_prompts"] == 1 and row["batch_pairs"] == 2 for row in rows)
