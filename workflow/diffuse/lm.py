"""Shared-prompt computations: one prompt encoding, its key/value cache reused by many continuations.

Prompts (60-100 tokens with a chat template) are much longer than answers (3-8 tokens), so encoding the
prompt once and sharing its cache across targets (training, exact probabilities) or rows (sampling) is
where the speed is. Sampling and exact scoring go through a decoder: `decode.SharedPrefixDecoder` where
the model type allows (one prompt cache attended by all rows), else `TransformersDecoder` (transformers'
cache, the prompt copied into every row). Training differentiates through `target_logprobs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache

from .decode import (
    SharedPrefixDecoder,
    prefix_attention,
    prefix_attention_applies,
    supports_shared_prefix,
)


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


def continuation_logits(model, state: PromptState, sequences: list[list[int]]):
    """The model's logits before every token of each sequence after the prompt: [rows, longest, vocab]
    (position 0: the prompt's last logits), and a [rows, longest] mask of the real positions.

    One batched forward of the sequences without their last token (right-padded, so real positions never
    attend to padding); gradients flow when they are enabled. Every row attends to the one prompt encoding
    (decode.prefix_attention_forward) where the model allows it, else to transformers' cache of the prompt
    copied into each row: the same numbers, the copies 22% of a training step (benchmarks/README.md).
    """
    if any(len(t) == 0 for t in sequences):
        raise ValueError("empty target sequence")
    device = state.last_logits.device
    rows = len(sequences)
    longest = max(len(t) for t in sequences)
    mask = torch.zeros(rows, longest, dtype=torch.bool, device=device)
    for i, t in enumerate(sequences):
        mask[i, : len(t)] = True
    first = state.last_logits.expand(rows, 1, -1)
    if longest == 1:
        return first, mask
    width = longest - 1
    inputs = torch.zeros(rows, width, dtype=torch.long, device=device)
    for i, t in enumerate(sequences):
        if len(t) > 1:
            inputs[i, : len(t) - 1] = torch.tensor(t[:-1], device=device)
    positions = (state.length + torch.arange(width, device=device)).expand(rows, -1)
    if prefix_attention_applies(model, state.length + width):
        # The prompt's keys and values are attended to once for all rows, not copied into each (decode.py);
        # causal attention over right padding needs no mask.
        with prefix_attention(model):
            out = model(
                input_ids=inputs, position_ids=positions, shared_prefix=state.key_values, use_cache=False
            )
        return torch.cat([first, out.logits], dim=1), mask
    attention = torch.cat(
        [torch.ones(rows, state.length, dtype=torch.long, device=device), mask[:, 1:].long()], dim=1
    )
    out = model(
        input_ids=inputs,
        attention_mask=attention,
        position_ids=positions,
        past_key_values=expand_cache(model, state, rows),
        use_cache=True,
    )
    return torch.cat([first, out.logits], dim=1), mask


def full_log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log-softmax over the vocabulary in at least float32 (bf16 / fp16 logits are upcast, float64 kept)."""
    return torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)


def token_labels(sequences: list[list[int]], device=None) -> torch.Tensor:
    """The sequences' tokens right-padded with 0: [rows, longest], the labels of continuation_logits."""
    labels = torch.zeros(len(sequences), max(len(t) for t in sequences), dtype=torch.long)
    for i, t in enumerate(sequences):
        labels[i, : len(t)] = torch.tensor(t)
    return labels.to(device)


def target_logprobs(
    model, state: PromptState, targets: list[list[int]], temperature: float = 1.0
) -> torch.Tensor:
    """log p_T(target | prompt) for each target: the sum over its tokens of log softmax(logits / T), the
    distribution sampling at temperature T draws from; T = 1 is the model's own. Shares the prompt cache.
    """
    logits, mask = continuation_logits(model, state, targets)
    labels = token_labels(targets, logits.device)
    if temperature != 1.0:  # a division of every logit, 2% of a training step
        logits = logits / temperature
    token_logp = full_log_softmax(logits).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (token_logp * mask).sum(dim=1)


def draw_tokens(
    logits: torch.Tensor, temperature: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One token per row from softmax(logits / T) by inverse CDF (exact), and its log-probability.

    Four passes over the [rows, vocab] logits (max, shift, exp, cumulative sum): the unnormalised CDF's
    last entry is the softmax's normaliser, so log p(token) needs no second log-sum-exp."""
    scaled = logits.float().cpu()
    if temperature != 1.0:
        scaled = scaled / temperature
    top = scaled.amax(dim=-1, keepdim=True)
    cdf = torch.cumsum((scaled - top).exp_(), dim=-1)
    total = cdf[:, -1:]
    u = torch.rand(scaled.shape[0], 1, generator=generator) * total
    tokens = torch.searchsorted(cdf, u).squeeze(1).clamp_(max=scaled.shape[1] - 1)
    logp = scaled.gather(1, tokens.unsqueeze(1)) - top - total.log()
    return tokens, logp.squeeze(1)


def chunked(seq, size: int):
    for start in range(0, len(seq), size):
        yield start, seq[start : start + size]


class TransformersDecoder:
    """Any causal LM through transformers' forward and cache, with the interface of SharedPrefixDecoder."""

    def __init__(self, model):
        self.model = model

    def prefill(self, prompt_ids: list[int]) -> PromptState:
        return encode_prompt(self.model, prompt_ids)

    def start(self, prefix: PromptState, rows: int, max_tokens: int) -> _CacheState:
        return _CacheState(expand_cache(self.model, prefix, rows))

    def step(self, state: _CacheState, tokens: torch.Tensor) -> torch.Tensor:
        device = next(self.model.parameters()).device
        out = self.model(
            input_ids=tokens.unsqueeze(1).to(device), past_key_values=state.cache, use_cache=True
        )
        return out.logits[:, -1].float()


@dataclass
class _CacheState:
    cache: DynamicCache

    def keep(self, mask: torch.Tensor) -> None:
        self.select(mask.nonzero().squeeze(1))

    def select(self, index: torch.Tensor) -> None:
        self.cache.batch_select_indices(index.to(self.cache.layers[0].keys.device))


def make_decoder(model, attention: str = "auto"):
    """attention: "shared-prefix", "transformers", or "auto" (shared-prefix where the model type allows)."""
    if attention not in ("auto", "shared-prefix", "transformers"):
        raise ValueError(f"attention must be auto, shared-prefix or transformers, not {attention!r}")
    if attention == "shared-prefix" or (attention == "auto" and supports_shared_prefix(model)):
        return SharedPrefixDecoder(model)
    return TransformersDecoder(model)


def teacher_forced_logprobs(
    decoder, prefix, targets: list[list[int]], temperature: float = 1.0
) -> torch.Tensor:
    """log p_T(target | prompt) of each target, fed one position at a time through `decoder`: the same
    computation the sampler draws from. Shorter targets are padded; their padding is never scored."""
    if any(len(t) == 0 for t in targets):
        raise ValueError("empty target sequence")
    rows, width = len(targets), max(len(t) for t in targets)
    tokens = torch.zeros(rows, width, dtype=torch.long)
    for i, t in enumerate(targets):
        tokens[i, : len(t)] = torch.tensor(t)
    lengths = torch.tensor([len(t) for t in targets])
    logits = prefix.last_logits.float().cpu().expand(rows, -1)
    total = torch.zeros(rows, dtype=torch.float64)
    state = decoder.start(prefix, rows, max(width - 1, 1))
    for position in range(width):
        logp = torch.log_softmax(logits.cpu() / temperature, dim=-1)
        scored = logp.gather(1, tokens[:, position : position + 1]).squeeze(1)
        total += torch.where(position < lengths, scored, 0.0).double()
        if position + 1 < width:
            logits = decoder.step(state, tokens[:, position])
    return total.float()


# Our own scorer and sampler rather than transformers' generate(): generate() re-encodes the prompt per row
# (no shared prefix cache across rows) and its logits processors (top-k/top-p/min-p/repetition defaults from
# generation_config) would bias the samples; these share one prompt encoding and sample the raw softmax.
@torch.no_grad()
def exact_logprobs(
    model,
    prompt_ids: list[int],
    targets: list[list[int]],
    chunk_size: int = 64,
    temperature: float = 1.0,
    attention: str = "auto",
) -> torch.Tensor:
    """log p_T(y|x) for every y in the target set, in chunks, with one prompt encoding."""
    decoder = make_decoder(model, attention)
    prefix = decoder.prefill(prompt_ids)
    parts = [
        teacher_forced_logprobs(decoder, prefix, chunk, temperature)
        for _, chunk in chunked(targets, chunk_size)
    ]
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
    attention: str = "auto",
    method: str = "ancestral",
) -> tuple[list[list[int]], list[float]]:
    """Unbiased sampling (no top-k, no top-p) of `n` continuations sharing one prompt encoding.

    Rows stop at a stop token (kept in the output) or after `max_new_tokens`. Returns the token sequences
    and each one's log-probability under the sampling distribution. The same seed, n and batch_size give
    the same samples. method: "ancestral" (rows drawn token by token, `batch_size` at a time) or "tree"
    (the same distribution, each distinct prefix computed once: `_tree_samples`).
    """
    if method not in ("ancestral", "tree"):
        raise ValueError(f"sampling method must be ancestral or tree, not {method!r}")
    generator = torch.Generator().manual_seed(int(seed))
    decoder = make_decoder(model, attention)
    prefix = decoder.prefill(prompt_ids)
    if method == "tree":
        return _tree_samples(
            decoder, prefix, n, generator, max_new_tokens, set(stop_ids), temperature, batch_size, progress
        )
    stop = torch.tensor(sorted(set(stop_ids)))
    results: list[list[int]] = []
    logprobs: list[float] = []
    for _, rows in chunked(range(n), batch_size):
        m = len(rows)
        state = decoder.start(prefix, m, max(max_new_tokens - 1, 1))
        logits = prefix.last_logits.float().cpu().expand(m, -1)
        generated = [[] for _ in range(m)]
        row_logprob = torch.zeros(m, dtype=torch.float64)
        active = torch.arange(m)
        for step in range(max_new_tokens):
            tokens, token_logp = draw_tokens(logits, temperature, generator)
            row_logprob[active] += token_logp.double()
            for row, token in zip(active.tolist(), tokens.tolist(), strict=True):
                generated[row].append(token)
            keep = ~torch.isin(tokens, stop)
            if not keep.any() or step + 1 == max_new_tokens:
                break
            if not keep.all():
                state.keep(keep)
                active, tokens = active[keep], tokens[keep]
            logits = decoder.step(state, tokens).cpu()
        results.extend(generated)
        logprobs.extend(row_logprob.tolist())
        if progress is not None:
            progress.update(m)
    return results, logprobs


def _tree_samples(decoder, prefix, n, generator, max_new_tokens, stop, temperature, batch_size, progress):
    """`n` continuations distributed exactly as ancestral sampling draws them, computing each distinct
    prefix once: a node holding c rows splits them among its next tokens by one multinomial draw, c
    categorical draws from the node's softmax, so rows that share a prefix share its forward passes.

    Rows go in groups of `batch_size` (each group a tree of its own: independent rows, so still exact)
    and come out in a seeded random order, so any prefix of the rows is an i.i.d. sample as well. Pays
    where rows repeat each other (tuned models); untuned rows diverge at once and cost what they did.
    """
    finished: list[tuple[list[int], float, int]] = []
    for _, rows in chunked(range(n), batch_size):
        state = decoder.start(prefix, 1, max(max_new_tokens - 1, 1))
        logits = prefix.last_logits.float().cpu().unsqueeze(0)
        grown = _grow_trees(
            decoder, state, logits, [len(rows)], [stop], max_new_tokens, temperature, generator
        )
        finished.extend(grown[0])
        if progress is not None:
            progress.update(len(rows))
    return _shuffled_rows(finished, generator)


def _shuffled_rows(finished, generator) -> tuple[list[list[int]], list[float]]:
    """The finished (sequence, log p, count) leaves as one row per count, in a seeded random order."""
    results = [(sequence, total) for sequence, total, count in finished for _ in range(count)]
    order = torch.randperm(len(results), generator=generator).tolist()
    return [results[i][0] for i in order], [results[i][1] for i in order]


def _grow_trees(decoder, state, logits, counts, stops, max_new_tokens, temperature, generator):
    """Sample trees from the state's rows: row r holds counts[r] rows to draw and stops at a token of
    stops[r]. Returns, per starting row, its finished leaves [(sequence, log p, count)]."""
    finished: list[list[tuple[list[int], float, int]]] = [[] for _ in counts]
    nodes = [(root, [], 0.0) for root in range(len(counts))]
    counts = torch.tensor(counts)
    for step in range(max_new_tokens):
        parents, tokens, child_counts, logp = _split_counts(logits, counts, temperature, generator)
        going_on = []
        for parent, token, count, token_logp in zip(
            parents.tolist(), tokens.tolist(), child_counts.tolist(), logp.tolist(), strict=True
        ):
            root, sequence, total = nodes[parent]
            child = (root, sequence + [token], total + token_logp)
            if token in stops[root] or step + 1 == max_new_tokens:
                finished[root].append((*child[1:], count))
            else:
                going_on.append((parent, token, count, child))
        if not going_on:
            break
        state.select(torch.tensor([g[0] for g in going_on]))
        nodes = [g[3] for g in going_on]
        counts = torch.tensor([g[2] for g in going_on])
        logits = decoder.step(state, torch.tensor([g[1] for g in going_on])).cpu()
    return finished


@torch.no_grad()
def sample_prompts(
    model,
    prompts: list[tuple[list[int], list[int]]],
    n: int,
    seed: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    batch_size: int = 250,
    progress=None,
    attention: str = "auto",
    method: str = "ancestral",
) -> list[tuple[list[list[int]], list[float]]]:
    """`n` continuations of each (prompt ids, stop ids), as sample_continuations draws them, with the
    prompts decoded together: their common prefix encoded once, and at each step one forward for the
    rows of every prompt in a group of at most `batch_size` rows. Small batches of one prompt leave the
    CPU waiting on the weights; a group of prompts fills it. The same seed, prompts, n and batch_size
    give the same samples (a prompt's rows depend on the others of its group).
    """
    if method not in ("ancestral", "tree"):
        raise ValueError(f"sampling method must be ancestral or tree, not {method!r}")
    decoder = make_decoder(model, attention)
    if not isinstance(decoder, SharedPrefixDecoder) or n > batch_size or len(prompts) == 1:
        return [
            sample_continuations(
                model,
                ids,
                n,
                seed,
                max_new_tokens,
                stops,
                temperature,
                batch_size,
                progress,
                attention,
                method,
            )
            for ids, stops in prompts
        ]
    generator = torch.Generator().manual_seed(int(seed))
    per_group = max(1, batch_size // n)
    results = []
    for _, group in chunked(prompts, per_group):
        state, logits = start_prompts(decoder, [p[0] for p in group], max_new_tokens)
        stops = [set(p[1]) for p in group]
        if method == "tree":
            counts = [n] * len(group)
            rows_of = list(range(len(group)))
        else:  # one node per row: every row drawn on its own
            rows_of = [k for k in range(len(group)) for _ in range(n)]
            counts = [1] * len(rows_of)
            state.select(torch.tensor(rows_of))
            logits = logits[rows_of]
        grown = _grow_trees(
            decoder, state, logits.cpu(), counts, [stops[k] for k in rows_of], max_new_tokens, temperature,
            generator,
        )  # fmt: skip
        for k in range(len(group)):
            leaves = [
                leaf
                for row, row_leaves in zip(rows_of, grown, strict=True)
                if row == k
                for leaf in row_leaves
            ]
            results.append(_shuffled_rows(leaves, generator))
        if progress is not None:
            progress.update(n * len(group))
    return results


def start_prompts(decoder: SharedPrefixDecoder, prompts: list[list[int]], max_new_tokens: int):
    """Several prompts on one decoder: their common prefix encoded once, then each prompt's own tail (every
    prompt keeps at least its last token beyond the prefix). Returns the state, with room for the
    continuations, and the float32 logits [prompts, vocab] after each prompt."""
    shared = min(_common_prefix_length(prompts), min(len(p) for p in prompts) - 1)
    prefix = decoder.prefill(prompts[0][:shared])
    return decoder.start_tails(prefix, [p[shared:] for p in prompts], max(max_new_tokens - 1, 1))


def _common_prefix_length(sequences: list[list[int]]) -> int:
    length = 0
    for column in zip(*sequences, strict=False):
        if any(token != column[0] for token in column):
            break
        length += 1
    return length


def _split_counts(logits: torch.Tensor, counts: torch.Tensor, temperature: float, generator: torch.Generator):
    """Each node's rows split among its next tokens: counts[i] categorical draws (inverse CDF, as
    draw_tokens) from softmax(logits[i] / T), one CDF per node. Returns, per distinct (node, token) drawn:
    the node, the token, its row count and log p(token)."""
    scaled = logits.float()
    if temperature != 1.0:
        scaled = scaled / temperature
    nodes, vocab = scaled.shape
    top = scaled.amax(dim=-1, keepdim=True)
    cdf = torch.cumsum((scaled - top).exp_(), dim=-1)
    total = cdf[:, -1:]
    slots = int(counts.max())
    u = torch.rand(nodes, slots, generator=generator) * total
    drawn = torch.searchsorted(cdf, u).clamp_(max=vocab - 1)
    used = torch.arange(slots).unsqueeze(0) < counts.unsqueeze(1)
    node_of_draw = torch.arange(nodes).unsqueeze(1).expand(nodes, slots)[used]
    pairs, child_counts = torch.unique(node_of_draw * vocab + drawn[used], return_counts=True)
    parents, tokens = pairs // vocab, pairs % vocab
    logp = scaled[parents, tokens] - top[parents, 0] - total[parents, 0].log()
    return parents, tokens, child_counts, logp.double()
