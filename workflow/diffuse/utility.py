"""Utility retention offline (Figure 6): does diffuse tuning change how the model answers general instructions?

For a fixed, versioned instruction set (data/utility/instructions.csv) the untuned model's greedy answer is
the reference. Each tuned model is then scored on it by teacher forcing:
- per-token KL(tuned || base) of the next-token distributions along the reference answer (0: unchanged);
- the mean log-likelihood per token that each model gives the reference answer (the base model's is the
  ceiling-like reference; a large drop means the tuned model would answer differently).
MT-Bench itself (an LLM judge, online) is optional: diffuse.mt_bench.
"""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd
import torch

from .targets import prompt_ids


@torch.no_grad()
def greedy_answer(model, prompt_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    """The model's greedy continuation, stopped after the first stop token (kept) or max_new_tokens."""
    device = next(model.parameters()).device
    out = model.generate(
        torch.tensor([prompt_ids], device=device),
        attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long, device=device),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=list(stop_ids),
        pad_token_id=stop_ids[0],
    )
    return out[0, len(prompt_ids) :].tolist()


@torch.no_grad()
def answer_logprobs(model, prompt_ids: list[int], answer_ids: list[int]) -> torch.Tensor:
    """log-softmax of the next-token logits at every answer position: [len(answer), vocab], float32."""
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids + answer_ids], device=device)
    logits = model(input_ids=ids, logits_to_keep=len(answer_ids) + 1).logits[0, :-1]
    return torch.log_softmax(logits.float(), dim=-1).cpu()


def compare_on_answer(base_logp: torch.Tensor, tuned_logp: torch.Tensor, answer_ids: list[int]) -> dict:
    """Per-token KL(tuned || base) and each model's mean log-likelihood of the answer."""
    kl = (tuned_logp.exp() * (tuned_logp - base_logp)).sum(dim=-1)
    index = torch.tensor(answer_ids).unsqueeze(1)
    return {
        "answer_tokens": len(answer_ids),
        "kl_per_token": float(kl.mean()),
        "kl_max": float(kl.max()),
        "base_loglik_per_token": float(base_logp.gather(1, index).mean()),
        "tuned_loglik_per_token": float(tuned_logp.gather(1, index).mean()),
    }


@torch.no_grad()
def greedy_answers(
    model, prompts: list[list[int]], max_new_tokens: int, stop_ids: list[int]
) -> list[list[int]]:
    """greedy_answer of every prompt, decoded together where the model type allows (diffuse.decode): their
    common prefix encoded once, then one forward per position for all rows still running. Answers equal
    greedy_answer's up to the argmax of near-tied logits. Forty instructions one at a time through
    model.generate took most of the utility job."""
    from .decode import SharedPrefixDecoder
    from .lm import make_decoder, start_prompts

    decoder = make_decoder(model)
    if len(prompts) < 2 or not isinstance(decoder, SharedPrefixDecoder):
        return [greedy_answer(model, prompt, max_new_tokens, stop_ids) for prompt in prompts]
    state, logits = start_prompts(decoder, prompts, max_new_tokens)
    stops = set(stop_ids)
    answers = [[] for _ in prompts]
    running = list(range(len(prompts)))
    for position in range(max_new_tokens):
        tokens = logits.argmax(dim=-1).cpu()
        for row, token in zip(running, tokens.tolist(), strict=True):
            answers[row].append(token)
        going = torch.tensor([token not in stops for token in tokens.tolist()])
        if position == max_new_tokens - 1 or not going.any():
            break
        if not going.all():
            state.keep(going)
            tokens = tokens[going]
            running = [row for row, keep in zip(running, going.tolist(), strict=True) if keep]
        logits = decoder.step(state, tokens)
    return answers


def reference_answers(base_model, tokenizer, instructions: pd.DataFrame, max_new_tokens: int, stop_ids):
    """The untuned model's greedy answers: instruction id -> (prompt ids, answer ids)."""
    prompts = [prompt_ids(tokenizer, instruction) for instruction in instructions["instruction"]]
    answers = greedy_answers(base_model, prompts, max_new_tokens, stop_ids)
    return dict(zip(instructions["id"], zip(prompts, answers, strict=True), strict=True))


class SeparateModels:
    """The untuned model and each tuned one as separate models: `models(None)` or `models(name)`."""

    def __init__(self, base_model, tuned_models: dict):
        self.base, self.tuned = base_model, tuned_models
        self.names = list(tuned_models)

    @contextmanager
    def __call__(self, name: str | None):
        yield self.base if name is None else self.tuned[name]


class AdapterSwitch:
    """One copy of the base weights serving the untuned model and every LoRA adapter in turn (peft's
    multi-adapter model, unmerged): memory for one model plus the adapters, where merged copies took one
    model each (three 13B models in bf16 are about 73 GiB)."""

    def __init__(self, base_model, adapters: dict[str, str]):
        from peft import PeftModel

        self.names = list(adapters)
        first, *rest = self.names
        self.model = PeftModel.from_pretrained(base_model, str(adapters[first]), adapter_name=first)
        for name in rest:
            self.model.load_adapter(str(adapters[name]), adapter_name=name)
        self.model.eval()

    @contextmanager
    def __call__(self, name: str | None):
        if name is None:
            with self.model.disable_adapter():
                yield self.model
        else:
            self.model.set_adapter(name)
            yield self.model


def utility_table(models, instructions: pd.DataFrame, answers: dict) -> pd.DataFrame:
    """One row per tuned model and instruction: KL and log-likelihoods against the untuned model.

    models: SeparateModels or AdapterSwitch (`models(None)` the untuned model, `models(name)` a tuned one,
    `models.names` the tuned ones). The untuned log-probabilities are computed once per answer.
    """
    rows = []
    for row in instructions.itertuples(index=False):
        prompt, answer = answers[row.id]
        if not answer:
            continue
        with models(None) as base:
            base_logp = answer_logprobs(base, prompt, answer)
        for name in models.names:
            with models(name) as tuned:
                metrics = compare_on_answer(base_logp, answer_logprobs(tuned, prompt, answer), answer)
            rows.append({"adapter": name, "id": row.id, "category": row.category, **metrics})
    return pd.DataFrame(rows)
