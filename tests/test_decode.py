"""Shared-prefix decoding (diffuse.decode) computes what transformers' forward computes.

Each check feeds continuations one token at a time against the single prompt cache and compares the
logits with one full forward of prompt + continuation, on the embedded model and on small random models
of every covered type (Qwen2 has q/k/v biases, Mistral a sliding window)."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from diffuse.decode import SharedPrefixDecoder, supports_shared_prefix
from diffuse.lm import exact_logprobs, make_decoder, sample_continuations

SMALL = dict(
    vocab_size=97, hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6,
    num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
)  # fmt: skip


def small_model(kind: str, **extra):
    torch.manual_seed(0)
    config_class, model_class = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "mistral": (MistralConfig, MistralForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    }[kind]
    model = model_class(config_class(**SMALL, **extra)).eval()
    # Random init leaves the norms at 1 and the biases at 0: perturb them so they are tested too.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                parameter.add_(0.3 * torch.randn_like(parameter))
    return model


def stepped_logits(model, prompt: list[int], continuations: list[list[int]]) -> torch.Tensor:
    decoder = SharedPrefixDecoder(model)
    prefix = decoder.prefill(prompt)
    width = len(continuations[0])
    state = decoder.start(prefix, len(continuations), width)
    steps = [decoder.step(state, torch.tensor([c[t] for c in continuations])) for t in range(width)]
    return torch.stack(steps, dim=1)


@torch.no_grad()
def full_forward_logits(model, prompt: list[int], continuations: list[list[int]]) -> torch.Tensor:
    logits = model(input_ids=torch.tensor([prompt + c for c in continuations])).logits.float()
    return logits[:, len(prompt) :]


@pytest.mark.parametrize("kind", ["llama", "mistral", "qwen2"])
def test_small_models_match_a_full_forward(kind):
    model = small_model(kind)
    assert supports_shared_prefix(model)
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, 97, (23,), generator=generator).tolist()
    continuations = torch.randint(0, 97, (5, 7), generator=generator).tolist()
    mine = stepped_logits(model, prompt, continuations)
    reference = full_forward_logits(model, prompt, continuations)
    assert mine.shape == reference.shape
    assert (mine - reference).abs().max().item() < 1e-5


def test_embedded_model_matches_a_full_forward(model, tokenizer):
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Name a random color."}], add_generation_prompt=True, tokenize=True
    )
    prompt = prompt["input_ids"] if not isinstance(prompt, list) else prompt
    continuations = [tokenizer.encode(word)[:4] for word in (" Blue and red", "Purple is it", "I think we")]
    continuations = [c + [2] * (4 - len(c)) for c in continuations]
    mine = torch.log_softmax(stepped_logits(model, prompt, continuations), -1)
    reference = torch.log_softmax(full_forward_logits(model, prompt, continuations), -1)
    assert (mine - reference).abs().max().item() < 2e-4


def test_both_decoders_give_the_same_exact_logprobs_and_samples(model, tokenizer):
    prompt = tokenizer.encode("Pick a number from 1 to 5:")
    targets = [tokenizer.encode(f" {i}") for i in range(1, 6)] + [tokenizer.encode(" five and six")]
    shared = exact_logprobs(model, prompt, targets, chunk_size=4, attention="shared-prefix")
    cached = exact_logprobs(model, prompt, targets, chunk_size=4, attention="transformers")
    assert (shared - cached).abs().max().item() < 2e-4
    runs = {
        attention: sample_continuations(
            model, prompt, 60, seed=3, max_new_tokens=6, stop_ids=[2], batch_size=25, attention=attention
        )
        for attention in ("shared-prefix", "transformers")
    }
    same = sum(a == b for a, b in zip(runs["shared-prefix"][0], runs["transformers"][0], strict=True))
    assert same >= 57, f"only {same} of 60 rows drawn alike from (nearly) equal logits"
    close = [
        abs(a - b) < 1e-3 for a, b in zip(runs["shared-prefix"][1], runs["transformers"][1], strict=True)
    ]
    assert sum(close) >= same


def test_dropping_rows_keeps_the_others_exact():
    model = small_model("llama")
    prompt = list(range(10, 30))
    continuations = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    reference = full_forward_logits(model, prompt, continuations)
    decoder = SharedPrefixDecoder(model)
    state = decoder.start(decoder.prefill(prompt), 3, 4)
    decoder.step(state, torch.tensor([1, 5, 9]))
    state.keep(torch.tensor([True, False, True]))  # the middle row stopped
    logits = decoder.step(state, torch.tensor([2, 10]))
    assert (logits - reference[[0, 2], 1]).abs().max().item() < 1e-5


def test_limits_are_errors_not_wrong_numbers():
    model = small_model("llama")
    decoder = SharedPrefixDecoder(model)
    state = decoder.start(decoder.prefill([1, 2, 3]), 2, 1)
    decoder.step(state, torch.tensor([4, 5]))
    with pytest.raises(ValueError, match="hold 1 tokens"):
        decoder.step(state, torch.tensor([4, 5]))
    windowed = SharedPrefixDecoder(small_model("mistral", sliding_window=16))
    with pytest.raises(ValueError, match="sliding attention window"):
        windowed.start(windowed.prefill(list(range(12))), 2, 8)
    with pytest.raises(ValueError, match="attention must be"):
        make_decoder(model, "flash")


@pytest.mark.parametrize("kind", ["llama", "mistral", "qwen2"])
def test_prompts_decoded_together_match_each_prompt_alone(kind):
    """start_tails: prompts of different lengths after one shared prefix, padded to one width, then a row
    dropped and two more steps: every row's logits are those of its own prompt + continuation."""
    model = small_model(kind)
    generator = torch.Generator().manual_seed(2)
    shared = torch.randint(0, 97, (11,), generator=generator).tolist()
    tails = [torch.randint(0, 97, (k,), generator=generator).tolist() for k in (1, 6, 3)]
    steps = torch.randint(0, 97, (3, 2), generator=generator).tolist()
    decoder = SharedPrefixDecoder(model)
    state, first = decoder.start_tails(decoder.prefill(shared), tails, 2)
    for row, tail in enumerate(tails):
        reference = full_forward_logits(model, shared + tail[:-1], [[tail[-1]]])[0, 0]
        assert (first[row] - reference).abs().max().item() < 1e-5, row
    state.keep(torch.tensor([True, False, True]))
    kept = [0, 2]
    later = [decoder.step(state, torch.tensor([steps[r][t] for r in kept])) for t in range(2)]
    for i, row in enumerate(kept):
        reference = full_forward_logits(model, shared + tails[row], [steps[row]])[0]
        mine = torch.stack([later[0][i], later[1][i]])
        assert (mine - reference).abs().max().item() < 1e-5, row


def test_sampling_prompts_together_draws_what_each_alone_draws(model, tokenizer):
    """sample_prompts on the embedded model: per prompt, the sampled log-probabilities are the exact ones
    of the sampled sequences under that prompt alone, and rows never cross prompts."""
    from diffuse.lm import sample_prompts

    prompts = [
        tokenizer.encode("Pick a number from 1 to 5:"),
        tokenizer.encode("Pick a number from 1 to 10, at random:"),
        tokenizer.encode("Pick a colour:"),
    ]
    for method in ("ancestral", "tree"):
        drawn = sample_prompts(
            model, [(p, [2]) for p in prompts], n=20, seed=4, max_new_tokens=5, batch_size=60, method=method
        )
        for prompt, (sequences, logprobs) in zip(prompts, drawn, strict=True):
            assert len(sequences) == 20
            exact = exact_logprobs(model, prompt, sequences, attention="transformers")
            assert (exact - torch.tensor(logprobs)).abs().max().item() < 2e-3, method


def _teacher_forced(model, prompt, targets, weights, shared: bool):
    """continuation_logits with gradients, through the shared prompt (shared) or transformers' own cache
    copied into every row; returns the real positions' log-probabilities and every parameter's gradient."""
    from diffuse import lm

    model.zero_grad(set_to_none=True)
    applies = lm.prefix_attention_applies
    try:
        if not shared:
            lm.prefix_attention_applies = lambda *_: False
        state = lm.encode_prompt(model, prompt)
        logits, mask = lm.continuation_logits(model, state, targets)
    finally:
        lm.prefix_attention_applies = applies
    logp = torch.log_softmax(logits, -1).gather(-1, lm.token_labels(targets).unsqueeze(-1)).squeeze(-1)
    (-(weights * (logp * mask).sum(1)).sum()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return logp[mask].detach(), grads


@pytest.mark.parametrize("kind", ["llama", "mistral", "qwen2"])
def test_teacher_forcing_through_the_shared_prompt_has_the_same_values_and_gradients(kind):
    """Training's path (lm.continuation_logits): right-padded targets of different lengths attend to the
    one prompt, not to copies of it. Log-probabilities and the gradient of every parameter, the prompt's
    own tokens' included, match transformers' forward over the prompt copied into every row."""
    from diffuse.decode import prefix_attention_applies

    model = small_model(kind).train()
    generator = torch.Generator().manual_seed(3)
    prompt = torch.randint(0, 97, (19,), generator=generator).tolist()
    targets = [torch.randint(0, 97, (k,), generator=generator).tolist() for k in (3, 1, 6, 2, 5)]
    weights = torch.rand(len(targets), generator=generator)
    assert prefix_attention_applies(model, len(prompt) + 6)
    mine, my_grads = _teacher_forced(model, prompt, targets, weights, shared=True)
    reference, grads = _teacher_forced(model, prompt, targets, weights, shared=False)
    assert model.config._attn_implementation == "sdpa"  # restored after the shared forward
    assert (mine - reference).abs().max().item() < 1e-5
    assert my_grads.keys() == grads.keys() and "model.embed_tokens.weight" in grads
    for name, grad in grads.items():
        assert (my_grads[name] - grad).abs().max().item() <= 1e-5 * max(1.0, grad.abs().max().item()), name
    windowed = small_model("mistral", sliding_window=16)
    assert not prefix_attention_applies(windowed, 17) and prefix_attention_applies(windowed, 16)
