"""Shared-prefix decoding: every row attends to the one prompt cache, never to a copy of it.

All rows of a sampling batch (and all targets scored against one prompt) share the prompt. transformers'
cache copies the prompt's keys and values into every row, repeats them from the key/value heads to the
query heads and concatenates the cache again at each step; at batch 250 that traffic cost more than the
model's matrix products (issue 12's profile). Here, as in shared-prefix attention (Hydragen, cascade
inference), each layer takes one product of all rows' queries against the single prompt cache and one
against each row's own tokens, kept in a preallocated buffer, and combines the two softmax parts by their
log-sum-exp. The decoder blocks' own modules (projections, MLP, norms, rotary tables) do the rest, so
weights, biases and a merged LoRA are the model's.

Precision: the matrix products run in the weights' dtype (bf16 weights use the CPU's bf16 units); the
residual stream, norms, attention, softmax and log-probabilities stay float32. bf16 still rounds the
weights and every product's inputs and outputs (torch has no CPU bf16 product with a float32 output): on
the embedded model that moves exact target log-probabilities by up to 0.16 (RNG) and 0.48 (BABYNAMES)
nats (benchmarks/README.md), so float32 is the default and bf16 a measured choice (models.<name>.dtype).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Decoder blocks of the form x + attn(norm(x)), then x + mlp(norm(x)), with rotary q/k and grouped
# key/value heads: the layout this module computes. Other model types use transformers' own forward.
SHARED_PREFIX_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2"})


def supports_shared_prefix(model) -> bool:
    """A covered model type whose projections are plain linear layers (a LoRA adapter merged, not wrapped)."""
    layers = getattr(getattr(model, "model", None), "layers", None)  # None for a peft-wrapped model
    if model.config.model_type not in SHARED_PREFIX_MODEL_TYPES or layers is None:
        return False
    return all(
        type(module) is torch.nn.Linear
        for layer in layers
        for module in (
            *_projections(layer.self_attn, "qkvo"),
            *_projections(layer.mlp, ("gate", "up", "down")),
        )
    )


def _projections(owner, names) -> list:
    return [getattr(owner, f"{name}_proj", None) for name in names]


def _fuse(linears: list[torch.nn.Linear]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One weight (and bias) for several linear layers on the same input; the layers' own parameters
    become views into it, so the model's weights are not duplicated and its own forward is unchanged."""
    weight = torch.cat([linear.weight.data for linear in linears])
    bias = None
    if linears[0].bias is not None:
        bias = torch.cat([linear.bias.data for linear in linears])
    start = 0
    for linear in linears:
        rows = linear.weight.shape[0]
        linear.weight.data = weight[start : start + rows]
        if bias is not None:
            linear.bias.data = bias[start : start + rows]
        start += rows
    return weight, bias


@dataclass
class _Block:
    """One decoder layer as this module computes it: fused q/k/v and gate/up products, float32 norms."""

    attention_norm: torch.Tensor
    qkv: tuple[torch.Tensor, torch.Tensor | None]
    output: torch.nn.Linear
    mlp_norm: torch.Tensor
    gate_up: tuple[torch.Tensor, torch.Tensor | None]
    activation: object
    down: torch.nn.Linear
    eps: float


def _block(layer) -> _Block:
    attn, mlp = layer.self_attn, layer.mlp
    return _Block(
        attention_norm=layer.input_layernorm.weight.detach().float(),
        qkv=_fuse(_projections(attn, "qkv")),
        output=attn.o_proj,
        mlp_norm=layer.post_attention_layernorm.weight.detach().float(),
        gate_up=_fuse(_projections(mlp, ("gate", "up"))),
        activation=mlp.act_fn,
        down=mlp.down_proj,
        eps=layer.input_layernorm.variance_epsilon,
    )


def _sliding_window(config) -> int | None:
    """The attention window transformers applies, if any (Qwen2 only with use_sliding_window)."""
    if config.model_type == "qwen2" and not getattr(config, "use_sliding_window", False):
        return None
    return getattr(config, "sliding_window", None)


@dataclass
class Prefix:
    """The prompt's per-layer keys and values (float32, [kv_heads, length, head_dim], after rotary) and
    the float32 logits after its last token."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    last_logits: torch.Tensor
    length: int


class SharedPrefixDecoder:
    """Rows decoded one token at a time against one shared prompt; see the module docstring.

    Usage: `prefix = decoder.prefill(prompt_ids)`, `state = decoder.start(prefix, rows, max_tokens)`, then
    `logits = decoder.step(state, tokens)` per position, `state.keep(mask)` to drop finished rows.
    """

    def __init__(self, model):
        if not supports_shared_prefix(model):
            raise ValueError(
                f"shared-prefix decoding covers {sorted(SHARED_PREFIX_MODEL_TYPES)} with plain (merged) linear "
                f"layers, not this {model.config.model_type!r} model"
            )
        self.model = model
        inner = model.model
        self.embed = inner.embed_tokens
        self.layers = list(inner.layers)
        self.blocks = [_block(layer) for layer in self.layers]
        self.final_norm = inner.norm.weight.detach().float()
        self.final_eps = inner.norm.variance_epsilon
        self.rotary = inner.rotary_emb
        self.output_head = model.get_output_embeddings()
        config = model.config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.scale = self.layers[0].self_attn.scaling
        self.dtype = self.embed.weight.dtype
        self.device = self.embed.weight.device

    @torch.no_grad()
    def prefill(self, prompt_ids: list[int]) -> Prefix:
        """Encode the prompt once with transformers' forward (batch 1) and keep its cache as float32."""
        input_ids = torch.tensor([prompt_ids], device=self.device)
        out = self.model(input_ids=input_ids, use_cache=True, logits_to_keep=1)
        layers = out.past_key_values.layers
        return Prefix(
            keys=[layer.keys[0].float() for layer in layers],
            values=[layer.values[0].float() for layer in layers],
            last_logits=out.logits[0, -1].float(),
            length=len(prompt_ids),
        )

    def start(self, prefix: Prefix, rows: int, max_tokens: int) -> DecodeState:
        window = _sliding_window(self.model.config)
        if window is not None and prefix.length + max_tokens > window:
            raise ValueError(
                f"prompt + continuation ({prefix.length} + {max_tokens} tokens) exceed the model's sliding "
                f"attention window ({window}), which shared-prefix decoding does not apply"
            )
        shape = (rows, self.kv_heads, max_tokens, self.head_dim)
        zeros = [torch.zeros(shape, device=self.device) for _ in self.layers]
        return DecodeState(prefix, zeros, [torch.zeros_like(z) for z in zeros], 0)

    def start_tails(
        self, prefix: Prefix, tails: list[list[int]], max_tokens: int
    ) -> tuple[DecodeState, torch.Tensor]:
        """Several prompts that share `prefix`: row i is the prefix followed by tails[i] (each non-empty).

        The tails are left-padded to one width and fed together; a padded slot is never attended to and each
        row's positions count its own tokens only, so row i computes what prefix + tails[i] alone computes.
        Returns the state (room for `max_tokens` more tokens per row) and the float32 logits [rows, vocab]
        after each row's last tail token.
        """
        if not tails or any(len(t) == 0 for t in tails):
            raise ValueError("every prompt needs at least one token after the shared prefix")
        width = max(len(t) for t in tails)
        state = self.start(prefix, len(tails), width + max_tokens)
        pads = torch.tensor([width - len(t) for t in tails])
        state.offsets = pads
        state.real = torch.arange(width + max_tokens).unsqueeze(0) >= pads.unsqueeze(1)
        tokens = torch.zeros(len(tails), width, dtype=torch.long)
        for i, tail in enumerate(tails):
            tokens[i, width - len(tail) :] = torch.tensor(tail)
        for t in range(width):
            logits = self.step(state, tokens[:, t])
        return state, logits

    def _rotary(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        probe = torch.zeros(1, device=self.device)
        cos, sin = self.rotary(probe, torch.tensor([[position]], device=self.device))
        return cos[0, 0].float(), sin[0, 0].float()

    def _row_rotary(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin [rows, 1, 1, d] at each row's own position."""
        probe = torch.zeros(1, device=self.device)
        cos, sin = self.rotary(probe, positions.clamp(min=0).unsqueeze(0).to(self.device))
        return cos[0].float()[:, None, None], sin[0].float()[:, None, None]

    @torch.no_grad()
    def step(self, state: DecodeState, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per active row at the next position; float32 logits [rows, vocab]."""
        rows, t = tokens.shape[0], state.length
        if t >= state.keys[0].shape[2]:
            raise ValueError(f"the row buffers hold {state.keys[0].shape[2]} tokens; step {t + 1} overflows")
        if state.offsets is None:
            cos, sin = self._rotary(state.prefix.length + t)
            query_cos, query_sin, key_cos, key_sin, real = cos, sin, cos, sin, None
        else:  # rows of different prompts: each at its own position, padded slots masked
            query_cos, query_sin = self._row_rotary(state.prefix.length + t - state.offsets)
            key_cos, key_sin = query_cos[:, :, 0], query_sin[:, :, 0]
            real = state.real[:, : t + 1].to(self.device)
        hidden = self.embed(tokens.to(self.device)).float()
        group, d = self.heads // self.kv_heads, self.head_dim
        width = hidden.shape[1]
        for index, block in enumerate(self.blocks):
            normed = F.rms_norm(hidden, (width,), block.attention_norm, block.eps).to(self.dtype)
            qkv = F.linear(normed, *block.qkv).float()
            q, k, v = qkv.split((self.heads * d, self.kv_heads * d, self.kv_heads * d), dim=1)
            q = q.reshape(rows, self.kv_heads, group, d)
            k = k.reshape(rows, self.kv_heads, d)
            q = q * query_cos + _rotate_half(q) * query_sin
            state.keys[index][:, :, t] = k * key_cos + _rotate_half(k) * key_sin
            state.values[index][:, :, t] = v.reshape(rows, self.kv_heads, d)
            mixed = _shared_prefix_attention(
                q * self.scale,
                state.prefix.keys[index],
                state.prefix.values[index],
                state.keys[index][:, :, : t + 1],
                state.values[index][:, :, : t + 1],
                real,
            )
            hidden = hidden + block.output(mixed.reshape(rows, -1).to(self.dtype)).float()
            normed = F.rms_norm(hidden, (width,), block.mlp_norm, block.eps).to(self.dtype)
            gate, up = F.linear(normed, *block.gate_up).chunk(2, dim=1)
            hidden = hidden + block.down(block.activation(gate) * up).float()
        state.length = t + 1
        normed = F.rms_norm(hidden, (width,), self.final_norm, self.final_eps)
        return self.output_head(normed.to(self.dtype)).float()


@dataclass
class DecodeState:
    """The rows' own keys and values ([rows, kv_heads, max_tokens, head_dim] per layer) after `length`
    steps, beside the shared prefix."""

    prefix: Prefix
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    length: int
    # Rows of several prompts (start_tails): each row's padded slot count and its real slots [rows, max_tokens].
    offsets: torch.Tensor | None = None
    real: torch.Tensor | None = None

    def keep(self, mask: torch.Tensor) -> None:
        """Keep only the rows where `mask` is true (finished rows leave the batch)."""
        self.select(mask.nonzero().squeeze(1))

    def select(self, index: torch.Tensor) -> None:
        """Row i becomes the old row index[i] (rows may repeat: a prefix shared by its continuations)."""
        index = index.to(self.keys[0].device)
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]
        if self.offsets is not None:
            self.offsets = self.offsets.index_select(0, index.cpu())
            self.real = self.real.index_select(0, index.cpu())


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _shared_prefix_attention(q, prefix_keys, prefix_values, row_keys, row_values, real=None) -> torch.Tensor:
    """softmax over [prompt; row] keys of one query per row, computed in two parts.

    q: [rows, kv_heads, group, d] (already scaled); prefix_*: [kv_heads, P, d]; row_*: [rows, kv_heads, S, d];
    real: None or [rows, S], the row slots that may be attended to (padding is not).
    The prompt part is one batched product per key/value head over all rows' queries at once.
    """
    rows, kv_heads, group, d = q.shape
    by_head = q.permute(1, 0, 2, 3).reshape(kv_heads, rows * group, d)
    prefix_scores = torch.bmm(by_head, prefix_keys.transpose(1, 2))  # [kv, rows*group, P]
    row_scores = torch.matmul(q, row_keys.transpose(2, 3))  # [rows, kv, group, S]
    if real is not None:
        row_scores = row_scores.masked_fill(~real[:, None, None, :], -torch.inf)
    prefix_scores = prefix_scores.view(kv_heads, rows, group, -1).permute(1, 0, 2, 3)
    top = torch.maximum(prefix_scores.amax(-1, keepdim=True), row_scores.amax(-1, keepdim=True))
    prefix_weights = torch.exp(prefix_scores - top)
    row_weights = torch.exp(row_scores - top)
    total = prefix_weights.sum(-1, keepdim=True) + row_weights.sum(-1, keepdim=True)
    prefix_part = torch.bmm(
        prefix_weights.permute(1, 0, 2, 3).reshape(kv_heads, rows * group, -1), prefix_values
    ).view(kv_heads, rows, group, d)
    row_part = torch.matmul(row_weights, row_values)  # [rows, kv, group, d]
    return (prefix_part.permute(1, 0, 2, 3) + row_part) / total


# Teacher forcing (training and exact paths): every row's tokens at once, the prompt shared. transformers'
# forward does the projections, norms and rotary (LoRA layers wrapped or not); only its attention call is
# ours, through transformers' attention interface. A forward given `shared_prefix` (the prompt's per-layer
# keys and values, batch 1) attends to it without copying it into every row; any other forward is sdpa's.
PREFIX_ATTENTION = "diffuse_shared_prefix"


def prefix_attention_forward(
    module, query, key, value, attention_mask, dropout=0.0, scaling=None, shared_prefix=None, **kwargs
):
    """softmax over [prompt; the row's own tokens up to this one], the prompt's keys stored once.

    query [rows, heads, W, d]; key, value [rows, kv_heads, W, d]: the rows' own tokens, right-padded (a
    padded position only ever sees earlier ones, so real positions compute what a full forward does).
    The scores and the softmax are at least float32; returns [rows, W, heads, d] in the query's dtype, as
    sdpa does.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if shared_prefix is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    prefix_keys, prefix_values = shared_prefix[module.layer_idx]  # [1, kv_heads, P, d]
    rows, heads, width, d = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads
    scale = d**-0.5 if scaling is None else scaling
    exact = torch.promote_types(query.dtype, torch.float32)  # bf16 upcast, float64 kept
    q = (query.to(exact) * scale).view(rows, kv_heads, group, width, d)
    by_head = q.permute(1, 0, 2, 3, 4).reshape(kv_heads, rows * group * width, d)
    prefix_scores = torch.bmm(by_head, prefix_keys[0].to(exact).transpose(1, 2))  # [kv, rows*group*W, P]
    prefix_scores = prefix_scores.view(kv_heads, rows, group, width, -1).permute(1, 0, 2, 3, 4)
    own_keys = key.to(exact).unsqueeze(2)  # [rows, kv, 1, W, d]
    own_scores = torch.matmul(q, own_keys.transpose(-1, -2))  # [rows, kv, group, W, W]
    later = torch.ones(width, width, dtype=torch.bool, device=query.device).triu(1)
    own_scores = own_scores.masked_fill(later, -torch.inf)
    weights = torch.softmax(torch.cat([prefix_scores, own_scores], dim=-1), dim=-1)
    prefix_weights, own_weights = weights.split([prefix_scores.shape[-1], width], dim=-1)
    prefix_part = torch.bmm(
        prefix_weights.permute(1, 0, 2, 3, 4).reshape(kv_heads, rows * group * width, -1),
        prefix_values[0].to(exact),
    ).view(kv_heads, rows, group, width, d)
    own_part = torch.matmul(own_weights, value.to(exact).unsqueeze(2))  # [rows, kv, group, W, d]
    mixed = prefix_part.permute(1, 0, 2, 3, 4) + own_part
    return mixed.reshape(rows, heads, width, d).transpose(1, 2).contiguous().to(query.dtype), None


def prefix_attention_applies(model, total_length: int) -> bool:
    """Teacher forcing can share the prompt: a covered model type on sdpa attention, no window reached."""
    config = model.config
    if config.model_type not in SHARED_PREFIX_MODEL_TYPES:
        return False
    if config._attn_implementation not in ("sdpa", PREFIX_ATTENTION):
        return False
    window = _sliding_window(config)
    return window is None or total_length <= window


@functools.cache
def _register_prefix_attention() -> None:
    """Once per process: the attention function, and sdpa's masks for any forward that is not shared."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(PREFIX_ATTENTION, prefix_attention_forward)
    AttentionMaskInterface.register(PREFIX_ATTENTION, sdpa_mask)


class prefix_attention:  # noqa: N801 - a context manager, used as `with prefix_attention(model):`
    """The model's attention goes through prefix_attention_forward inside the block (sdpa outside it)."""

    def __init__(self, model):
        _register_prefix_attention()
        self.config = model.config

    def __enter__(self):
        self.previous = self.config._attn_implementation
        self.config._attn_implementation = PREFIX_ATTENTION
        return self

    def __exit__(self, *exc):
        self.config._attn_implementation = self.previous
        return False
