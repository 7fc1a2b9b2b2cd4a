"""Retention of language-model fit: teacher-forced likelihood of held-out text under each condition.

The follow-up measures PALOMA perplexity; offline, the held-out text is CPython's own reference pages
(`pydoc_data.topics`, PSF licence, shipped with every interpreter): the first `max_chars` characters of its
topics in name order, scored in windows of `window` tokens without a chat template. The text's SHA-256 and
the Python version go into the table, since another interpreter ships other pages.
"""

from __future__ import annotations

import hashlib
import platform


def held_out_text(max_chars: int) -> tuple[str, str]:
    """(text, its sha256): the topic pages in name order, cut at max_chars."""
    import pydoc_data.topics

    pages = pydoc_data.topics.topics
    text = "\n\n".join(pages[name] for name in sorted(pages))[:max_chars]
    return text, hashlib.sha256(text.encode()).hexdigest()


def text_nll(model, tokenizer, text: str, window: int) -> tuple[float, int]:
    """(summed negative log-likelihood in nats, tokens scored) of `text` in consecutive windows; each
    window's first token is conditioned on nothing but the tokenizer's BOS, when it has one."""
    import torch

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    total, scored = 0.0, 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(ids), window):
            chunk = bos + ids[start : start + window]
            if len(chunk) < 2:
                continue
            inputs = torch.tensor([chunk], device=device)
            logits = model(input_ids=inputs).logits[0, :-1].float()
            logp = torch.log_softmax(logits, dim=-1).gather(-1, inputs[0, 1:].unsqueeze(-1))
            total -= float(logp.sum())
            scored += len(chunk) - 1
    return total, scored


def retention_row(model, tokenizer, max_chars: int, window: int) -> dict:
    import math

    text, digest = held_out_text(max_chars)
    nll, tokens = text_nll(model, tokenizer, text, window)
    return {
        "text": "pydoc_data.topics", "python": platform.python_version(), "sha256": digest[:16],
        "characters": len(text), "tokens": tokens, "nll_per_token": nll / tokens,
        "perplexity": math.exp(nll / tokens),
    }  # fmt: skip


def with_nll_change(table):
    """The retention rows with nll_change: each row's NLL per token minus its model's untuned one."""
    untuned = table[table["condition"] == "untuned"].set_index("model")["nll_per_token"]
    return table.assign(nll_change=table["nll_per_token"] - table["model"].map(untuned))
