"""Shared-prompt computations: one prompt encoding, its key/value cache reused by many continuations.

Prompts (60-100 tokens with a chat template) are much longer than answers (3-8 tokens), so encoding the
prompt once and expanding its cache across targets (training, exact probabilities) or rows (sampling) is
where the speed is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache


@dataclass
class PromptState:
    """The prompt's per-layer key/value tensors (batch 1) and the logits after its last token."""

    key_values: list[tuple[torch.Tensor, torch.Tensor]]
    last_logits: torch.Tensor  # [vocab]
    length: int


def encode_prompt(model, prompt_ids: list[int]) -> PromptState:
    """Run the prompt once. Gradients flow through it when grad is enabled (LoRA changes the prompt's keys)."""
    device = next(model.parameters()).device
    input_ids = torch.tensor([prompt_ids], device=device)
    out = model(input_ids=input_ids, use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    key_values = [(layer.keys, layer.values) for layer in cache.layers]
    return PromptState(key_values, out.logits[0, -1], len(prompt_ids))


def expand_cache(model, state: PromptState, rows: int) -> DynamicCache:
    """A fresh cache holding the prompt `rows` times, leaving `state` untouched."""
    config = model.config
    cache = DynamicCache(config=config)
    for layer, (keys, values) in zip(cache.layers, state.key_values, strict=True):
        layer.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1))
    return cache


def target_logprobs(
    model, state: PromptState, targets: list[list[int]], temperature: float = 1.0
) -> torch.Tensor:
    """log p_T(target | prompt) for each target: the sum over its tokens of log softmax(logits / T), the
    distribution sampling at temperature T draws from; T = 1 is the model's own. Shares the prompt cache.

    The first target token is scored by the prompt's last logits; the rest by one batched forward of the
    targets without their last token (right-padded, so real positions never attend to padding).
    """
    if any(len(t) == 0 for t in targets):
        raise ValueError("empty target sequence")
    device = state.last_logits.device
    rows = len(targets)
    first = torch.tensor([t[0] for t in targets], device=device)
    logp = torch.log_softmax(state.last_logits.float() / temperature, dim=-1)[first]
    longest = max(len(t) for t in targets)
    if longest == 1:
        return logp
    width = longest - 1
    inputs = torch.zeros(rows, width, dtype=torch.long, device=device)
    labels = torch.zeros(rows, width, dtype=torch.long, device=device)
    mask = torch.zeros(rows, width, dtype=torch.bool, device=device)
    for i, t in enumerate(targets):
        n = len(t) - 1
        if n:
            inputs[i, :n] = torch.tensor(t[:-1], device=device)
            labels[i, :n] = torch.tensor(t[1:], device=device)
            mask[i, :n] = True
    attention = torch.cat(
        [torch.ones(rows, state.length, dtype=torch.long, device=device), mask.long()], dim=1
    )
    positions = (state.length + torch.arange(width, device=device)).expand(rows, -1)
    out = model(
        input_ids=inputs,
        attention_mask=attention,
        position_ids=positions,
        past_key_values=expand_cache(model, state, rows),
        use_cache=True,
    )
    token_logp = (
        torch.log_softmax(out.logits.float() / temperature, dim=-1)
        .gather(-1, labels.unsqueeze(-1))
        .squeeze(-1)
    )
    return logp + (token_logp * mask).sum(dim=1)


def draw_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """One token per row from softmax(logits / T) by inverse CDF: exact, and cheaper than multinomial."""
    probs = torch.softmax(logits.float().cpu() / temperature, dim=-1)
    cdf = torch.cumsum(probs, dim=-1)
    u = torch.rand(probs.shape[0], 1, generator=generator) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(1).clamp_(max=probs.shape[1] - 1)


def chunked(seq, size: int):
    for start in range(0, len(seq), size):
        yield start, seq[start : start + size]


# Our own scorer and sampler rather than transformers' generate(): generate() re-encodes the prompt per row
# (no shared prefix cache across rows) and its logits processors (top-k/top-p/min-p/repetition defaults from
# generation_config) would bias the samples; these two share one prompt encoding and sample the raw softmax.
@torch.no_grad()
def exact_logprobs(
    model,
    prompt_ids: list[int],
    targets: list[list[int]],
    chunk_size: int = 64,
    temperature: float = 1.0,
) -> torch.Tensor:
    """log p_T(y|x) for every y in the target set, in chunks, with one prompt encoding."""
    state = encode_prompt(model, prompt_ids)
    parts = [target_logprobs(model, state, chunk, temperature) for _, chunk in chunked(targets, chunk_size)]
    return torch.cat(parts)


@torch.no_grad()
def sample_continuations(
    model,
    prompt_ids: list[int],
    n: int,
    seed: int,
    max_new_tokens: int,
    stop_ids: list[int],
    temperature: float = 1.0,
    batch_size: int = 250,
    progress=None,
) -> tuple[list[list[int]], list[float]]:
    """Unbiased ancestral sampling (no top-k, no top-p) of `n` continuations sharing one prompt encoding.

    Rows stop at a stop token (kept in the output) or after `max_new_tokens`. Returns the token sequences
    and each one's log-probability under the sampling distribution. The same seed, n and batch_size give
    the same samples.
    """
    generator = torch.Generator().manual_seed(int(seed))
    state = encode_prompt(model, prompt_ids)
    stop = torch.tensor(sorted(set(stop_ids)))
    results: list[list[int]] = []
    logprobs: list[float] = []
    for _, rows in chunked(range(n), batch_size):
        m = len(rows)
        cache = expand_cache(model, state, m)
        logits = state.last_logits.float().expand(m, -1)
        generated = [[] for _ in range(m)]
        row_logprob = torch.zeros(m, dtype=torch.float64)
        active = torch.arange(m)
        for _step in range(max_new_tokens):
            tokens = draw_tokens(logits, temperature, generator)
            scaled = logits.float().cpu() / temperature
            token_logp = scaled.gather(1, tokens.unsqueeze(1)).squeeze(1) - torch.logsumexp(scaled, dim=-1)
            row_logprob[active] += token_logp.double()
            for row, token in zip(active.tolist(), tokens.tolist(), strict=True):
                generated[row].append(token)
            keep = ~torch.isin(tokens, stop)
            if not keep.any():
                break
            if not keep.all():
                cache.batch_select_indices(keep.nonzero().squeeze(1).to(logits.device))
                active, tokens = active[keep], tokens[keep]
            out = model(
                input_ids=tokens.unsqueeze(1).to(logits.device), past_key_values=cache, use_cache=True
            )
            logits = out.logits[:, -1]
        results.extend(generated)
        logprobs.extend(row_logprob.tolist())
        if progress is not None:
            progress.update(m)
    return results, logprobs
