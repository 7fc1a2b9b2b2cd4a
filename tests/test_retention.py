"""Held-out text likelihood (diffuse.retention) against a token-by-token computation."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from diffuse.retention import held_out_text, text_nll


def test_windows_score_every_token_once(tokenizer):
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=128)
    ).eval()  # fmt: skip
    text, digest = held_out_text(300)
    assert len(text) == 300 and len(digest) == 64 and held_out_text(300)[1] == digest
    nll, tokens = text_nll(model, tokenizer, text, window=40)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    expected, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), 40):
            chunk = bos + ids[start : start + 40]
            for t in range(1, len(chunk)):  # every token given only its window's prefix
                logits = model(input_ids=torch.tensor([chunk[:t]])).logits[0, -1]
                expected -= float(torch.log_softmax(logits, -1)[chunk[t]])
                count += 1
    # With a BOS every text token is scored; without, each window's first token has no context.
    assert tokens == count == (len(ids) if bos else len(ids) - -(-len(ids) // 40))
    assert nll == pytest.approx(expected, rel=1e-5)


def test_nll_change_is_against_each_models_untuned_row():
    import pandas as pd

    from diffuse.retention import with_nll_change

    table = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "condition": ["untuned", "soft", "soft", "untuned"],
            "nll_per_token": [2.0, 2.5, 1.2, 1.0],
        }
    )
    assert with_nll_change(table)["nll_change"].tolist() == pytest.approx([0.0, 0.5, 0.2, 0.0])
