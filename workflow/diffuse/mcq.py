"""MCQ answer-position balance, the follow-up's second transfer test: asked to write one multiple-choice
question whose correct answer is spread uniformly over A-D, does the model spread it? Measured as the total
variation distance from uniform of the correct-answer letters over the generations that parse, with the
parse rate beside it (a low TV over few parsed outputs is no success).

The prompt is written for this project after the follow-up's design (one fixed user message asking for a
four-option question in a strict line format, the correct answer to be evenly distributed over A-D).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.stats

LETTERS = ("A", "B", "C", "D")
PROMPT = (
    "Write ONE multiple-choice question about general science for a school quiz, with four options and "
    "exactly one correct answer. Across many such questions the correct answer must be spread evenly over A, "
    "B, C and D, so choose its position at random. Use exactly this format and nothing else:\n"
    "Question: <the question>\n"
    "A. <option>\n"
    "B. <option>\n"
    "C. <option>\n"
    "D. <option>\n"
    "Correct Answer: <A, B, C or D>"
)
_FIELDS = ("Question:", "A.", "B.", "C.", "D.", "Correct Answer:")
_ANSWER = re.compile(r"Correct Answer:\s*\(?([ABCD])\)?\.?\s*$")


def parse_mcq(text: str | None) -> str | None:
    """The correct-answer letter of a strictly formatted question, else None: the non-empty lines must be
    exactly Question:, A., B., C., D., Correct Answer: in that order, each with content."""
    if not isinstance(text, str):
        return None
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) != len(_FIELDS):
        return None
    for line, field in zip(lines, _FIELDS, strict=True):
        if not line.startswith(field) or not line[len(field) :].strip():
            return None
    match = _ANSWER.fullmatch(lines[-1])
    return match.group(1) if match else None


def balance(letters: list[str | None]) -> dict:
    """Counts of each letter over the parsed generations, TV from uniform (0.5 sum |freq - 1/4|), and
    Pearson's test against uniform; NaN where nothing parsed."""
    parsed = [x for x in letters if x is not None]
    counts = {x: parsed.count(x) for x in LETTERS}
    row = {"n_samples": len(letters), "n_parsed": len(parsed),
           "parse_rate": len(parsed) / len(letters) if letters else float("nan"),
           **{f"count_{x}": counts[x] for x in LETTERS}}  # fmt: skip
    if not parsed:
        return {**row, "tv_from_uniform": float("nan"), "chi2_pvalue": float("nan")}
    freqs = np.array([counts[x] for x in LETTERS]) / len(parsed)
    observed = np.array([counts[x] for x in LETTERS], dtype=float)
    return {
        **row,
        "tv_from_uniform": float(0.5 * np.abs(freqs - 0.25).sum()),
        "chi2_pvalue": float(scipy.stats.chisquare(observed).pvalue),
    }


def generate(backend, settings) -> pd.DataFrame:
    """settings.n generations of the prompt, each parsed."""
    from .targets import end_of_turn_ids, prompt_ids

    ids = prompt_ids(backend.tokenizer, PROMPT)
    sequences, _ = backend.sample(ids, end_of_turn_ids(backend.tokenizer), settings, desc="mcq")
    texts = [backend.tokenizer.decode(seq, skip_special_tokens=True) for seq in sequences]
    return pd.DataFrame({"row": range(len(texts)), "text": texts, "answer": [parse_mcq(t) for t in texts]})


def balance_table(paths) -> pd.DataFrame:
    """One balance row per sample file results/mcq/{model}/{adapter}.parquet (its `answer` letters)."""
    from pathlib import Path

    from .calibration import CONDITION_OF

    rows = []
    for path in map(Path, paths):
        model, adapter = path.parent.name, path.stem
        letters = [None if pd.isna(a) else a for a in pd.read_parquet(path)["answer"]]
        rows.append(
            {"model": model, "condition": CONDITION_OF[adapter], "adapter": adapter, **balance(letters)}
        )
    return pd.DataFrame(rows)
