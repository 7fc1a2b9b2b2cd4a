"""Open-ended random generation, the follow-up's first transfer test: "Name a random city. Output ONLY the
answer." has no target set, so diversity is measured two ways (Baldelli et al., 2026):

- support size at top-p: the smallest number of first tokens whose probabilities, sorted, sum to at least
  p (exact, from one forward pass of the prompt; the follow-up reports p = 0.9);
- unique-output rate: distinct normalised answers among n samples of the prompt (normalised: first
  non-empty line, whitespace collapsed, surrounding quotes and a final full stop removed; case kept).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

SUPPORT_PS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


class PromptFileError(ValueError):
    pass


def load_prompts(path: str | Path) -> list[dict]:
    """The prompt file's rows (id, category, prompt), checked: every field present, ids unique."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"id", "category", "prompt"} <= set(rows[0]):
        raise PromptFileError(
            f"{path}: expected a CSV with columns id, category, prompt and at least one row"
        )
    ids = [row["id"] for row in rows]
    if len(set(ids)) != len(ids):
        raise PromptFileError(f"{path}: duplicate prompt ids")
    for line, row in enumerate(rows, start=2):
        if not all((row.get(key) or "").strip() for key in ("id", "category", "prompt")):
            raise PromptFileError(f"{path}: line {line}: an empty id, category or prompt")
    return [{key: row[key] for key in ("id", "category", "prompt")} for row in rows]


def select_prompts(
    prompts: list[dict], limit: int | None = None, per_category: int | None = None
) -> list[dict]:
    """The first per_category prompts of each category (file order kept), then the first limit of those."""
    if per_category is not None:
        seen: dict[str, int] = {}
        kept = []
        for row in prompts:
            seen[row["category"]] = seen.get(row["category"], 0) + 1
            if seen[row["category"]] <= per_category:
                kept.append(row)
        prompts = kept
    return prompts[:limit]


def support_sizes(probs: np.ndarray, ps=SUPPORT_PS) -> dict[float, int]:
    """For each p, the fewest tokens whose probabilities, largest first, sum to at least p."""
    cumulative = np.cumsum(np.sort(np.asarray(probs, dtype=float))[::-1])
    total = cumulative[-1]
    # A float sum may fall a hair short of 1: p is compared with the share of the total.
    return {p: int(min(np.searchsorted(cumulative, p * total, side="left") + 1, len(cumulative))) for p in ps}


def normalise_output(text: str) -> str:
    """The answer as compared for uniqueness: first non-empty line, whitespace collapsed, one pair of
    surrounding quotes and a final full stop removed, case kept."""
    line = next((line for line in (text or "").splitlines() if line.strip()), "")
    line = " ".join(line.split())
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'`":
        line = line[1:-1].strip()
    return line.removesuffix(".").strip()


def unique_rate(texts: list[str]) -> float:
    """Distinct normalised non-empty answers over all samples (empty answers count in the denominator)."""
    answers = [normalise_output(t) for t in texts]
    return len({a for a in answers if a}) / len(texts) if texts else float("nan")


def top_answer(answers: list[str]) -> str:
    """The most frequent answer; ties go to the one sampled first, never to a set's order (which changes
    with each process's string hashing)."""
    return Counter(answers).most_common(1)[0][0]


def evaluate_prompts(backend, model, prompts: list[dict], settings, ps=SUPPORT_PS) -> pd.DataFrame:
    """One row per prompt: exact first-token support sizes (teacher forcing through `model`) and the unique
    rate of settings.n samples (through `backend`)."""
    import torch

    from .lm import encode_prompt
    from .targets import end_of_turn_ids, prompt_ids

    stops = end_of_turn_ids(backend.tokenizer)
    ids = [prompt_ids(backend.tokenizer, item["prompt"]) for item in prompts]
    drawn = backend.sample_many([(i, stops) for i in ids], settings, desc="prompts")
    rows = []
    for item, item_ids, (sequences, _) in zip(prompts, ids, drawn, strict=True):
        with torch.no_grad():
            logits = encode_prompt(model, item_ids).last_logits
        probs = torch.softmax(logits.double(), dim=-1).cpu().numpy()
        texts = [backend.tokenizer.decode(seq, skip_special_tokens=True) for seq in sequences]
        answers = [normalise_output(t) for t in texts]
        top = top_answer(answers)
        row = {
            "prompt_id": item["id"],
            "category": item["category"],
            "n_samples": len(texts),
            "unique_rate": unique_rate(texts),
            "empty_rate": sum(not a for a in answers) / len(answers),
            "top_answer": top,
            "top_share": answers.count(top) / len(answers),
            "first_token_top1": float(probs.max()),
        }
        row.update({f"support_p{p:g}": size for p, size in support_sizes(probs, ps).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(per_prompt: pd.DataFrame, ps=(0.5, 0.9)) -> pd.DataFrame:
    """Per model and condition: median support size at each p and mean unique rate, over all prompts and
    per category."""
    rows = []
    for keys, group in per_prompt.groupby(["model", "condition"], sort=False):
        for category, part in [("all", group), *group.groupby("category", sort=True)]:
            row = dict(zip(["model", "condition"], keys, strict=True))
            row.update(
                {"category": category, "prompts": len(part), "n_samples": int(part["n_samples"].min())}
            )
            row.update({f"median_support_p{p:g}": float(part[f"support_p{p:g}"].median()) for p in ps})
            row.update({"mean_unique_rate": float(part["unique_rate"].mean()),
                        "mean_top_share": float(part["top_share"].mean())})  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows)
