"""The offline utility check (Figure 6): KL of a tuned model from the base along the base's greedy answers."""

import copy

import pandas as pd
import pytest
import torch
from conftest import REPO

from diffuse.utility import (
    AdapterSwitch,
    SeparateModels,
    answer_logprobs,
    compare_on_answer,
    greedy_answer,
    greedy_answers,
    reference_answers,
    utility_table,
)


def test_instruction_set_is_balanced():
    table = pd.read_csv(REPO / "data" / "utility" / "instructions.csv")
    assert table["id"].is_unique and len(table) == 40
    assert table["category"].value_counts().to_dict() == {
        c: 10 for c in ("writing", "reasoning", "coding", "knowledge")
    }


def test_kl_and_loglik_against_a_hand_computation():
    base = torch.log_softmax(torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), dim=-1)
    tuned = torch.log_softmax(torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), dim=-1)
    row = compare_on_answer(base, tuned, [0, 1])
    p, q = tuned[0].exp(), base[0].exp()
    assert row["kl_per_token"] == pytest.approx(float((p * (p / q).log()).sum()) / 2)
    assert row["kl_max"] == pytest.approx(float((p * (p / q).log()).sum()))
    assert row["base_loglik_per_token"] == pytest.approx(float(base[0, 0] + base[1, 1]) / 2)
    assert row["tuned_loglik_per_token"] == pytest.approx(float(tuned[0, 0] + tuned[1, 1]) / 2)
    assert compare_on_answer(base, base, [0, 1])["kl_per_token"] == 0


def test_real_model_against_itself_and_a_perturbed_copy(model, tokenizer):
    instructions = pd.read_csv(REPO / "data" / "utility" / "instructions.csv").iloc[[0, 10, 20, 30]]
    stop = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    answers = reference_answers(model, tokenizer, instructions, max_new_tokens=16, stop_ids=stop)
    assert all(0 < len(a) <= 16 for _, a in answers.values())
    prompt, answer = answers["k01"]
    logp = answer_logprobs(model, prompt, answer)
    # The answer is greedy: each of its tokens is the argmax of the model's own next-token distribution.
    assert logp.argmax(dim=-1).tolist() == answer
    same = utility_table(SeparateModels(model, {"same": model}), instructions, answers)
    assert len(same) == 4 and same["kl_per_token"].abs().max() < 1e-5
    perturbed = copy.deepcopy(model)
    with torch.no_grad():
        perturbed.model.norm.weight.mul_(0.5)  # flatter next-token distributions everywhere
    table = utility_table(SeparateModels(model, {"perturbed": perturbed}), instructions, answers)
    assert (table["kl_per_token"] > 0.01).all()
    assert (table["tuned_loglik_per_token"] < table["base_loglik_per_token"]).all()


def test_greedy_answers_decoded_together_equal_one_at_a_time(model, tokenizer):
    """The batched greedy decoder gives model.generate's answers, rows stopping at different positions."""
    from diffuse.targets import prompt_ids

    table = pd.read_csv(REPO / "data" / "utility" / "instructions.csv").iloc[[0, 5, 10, 20, 30, 35]]
    prompts = [prompt_ids(tokenizer, text) for text in table["instruction"]]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    first = greedy_answer(model, prompts[0], 20, [end])
    stops = [end, first[3]]  # a token of the first answer: that row stops early, others may not
    want = [greedy_answer(model, prompt, 20, stops) for prompt in prompts]
    assert len(want[0]) <= 4 and len({len(a) for a in want}) > 1
    assert greedy_answers(model, prompts, 20, stops) == want
    assert greedy_answers(model, prompts[:1], 20, stops) == want[:1]


def test_one_base_switching_adapters_equals_merged_copies(model_dir, tokenizer, tmp_path):
    """The rule's AdapterSwitch (one base, unmerged adapters) gives the numbers of separate merged models."""
    from peft import LoraConfig, get_peft_model

    from diffuse.models import load_model

    adapters = {}
    for k, modules in enumerate((["q_proj", "v_proj"], ["o_proj"])):
        torch.manual_seed(k)
        config = LoraConfig(r=4, lora_alpha=8, target_modules=modules, init_lora_weights=False)
        get_peft_model(load_model(model_dir), config).save_pretrained(tmp_path / f"a{k}")
        adapters[f"a{k}"] = tmp_path / f"a{k}"
    instructions = pd.read_csv(REPO / "data" / "utility" / "instructions.csv").iloc[[1, 11]]
    stop = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    base = load_model(model_dir)
    answers = reference_answers(base, tokenizer, instructions, max_new_tokens=12, stop_ids=stop)
    merged = {name: load_model(model_dir, path, merge=True) for name, path in adapters.items()}
    want = utility_table(SeparateModels(base, merged), instructions, answers)
    switch = AdapterSwitch(load_model(model_dir), adapters)
    got = utility_table(switch, instructions, answers)
    assert got[["adapter", "id"]].equals(want[["adapter", "id"]]) and (want["kl_per_token"] > 1e-4).all()
    for column in ("kl_per_token", "base_loglik_per_token", "tuned_loglik_per_token"):
        assert got[column].to_numpy() == pytest.approx(want[column].to_numpy(), rel=1e-3, abs=1e-5)
    # The untuned view really is the base: its answer log-probabilities equal the plain model's.
    prompt, answer = answers[instructions["id"].iloc[0]]
    with switch(None) as untuned:
        assert torch.allclose(
            answer_logprobs(untuned, prompt, answer), answer_logprobs(base, prompt, answer), atol=1e-5
        )
