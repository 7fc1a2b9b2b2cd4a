"""The open-ended transfer test's measures (diffuse.open_random) against naive computations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from diffuse.open_random import (
    PromptFileError,
    load_prompts,
    normalise_output,
    support_sizes,
    top_answer,
    unique_rate,
)

REPO = Path(__file__).resolve().parent.parent


def naive_support(probs, p) -> int:
    total, k = 0.0, 0
    for q in sorted(probs, reverse=True):
        total += q
        k += 1
        if total >= p * sum(probs) - 1e-12:
            return k
    return k


def test_support_size_is_the_fewest_tokens_reaching_p():
    probs = np.array([0.05, 0.5, 0.2, 0.25])
    assert support_sizes(probs, (0.5, 0.7, 0.75, 0.9, 0.96, 1.0)) == {
        0.5: 1,
        0.7: 2,
        0.75: 2,
        0.9: 3,
        0.96: 4,
        1.0: 4,
    }
    rng = np.random.default_rng(0)
    for _ in range(50):
        probs = rng.dirichlet(np.full(200, 0.1))
        for p, size in support_sizes(probs).items():
            assert size == naive_support(probs.tolist(), p)


def test_top_answer_ties_go_to_the_first_sampled_answer():
    assert top_answer(["b", "a", "c"]) == "b"
    assert top_answer(["z", "y", "y", "z"]) == "z"
    assert top_answer(["q", "p", "p"]) == "p"  # the most frequent wins over the first
    # the same answer in every process, whatever its string hashing (a set's order once decided it)
    script = "from diffuse.open_random import top_answer; print(top_answer([str(i) for i in range(50)]))"
    answers = {
        subprocess.run(
            [sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(REPO / "workflow")},
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        for seed in (1, 2, 3)
    }  # fmt: skip
    assert answers == {"0"}


def test_unique_rate_counts_normalised_answers():
    texts = ["Paris", "Paris.", " 'Paris' \nmore text", "paris", "Lyon", "", "\n\n"]
    assert [normalise_output(t) for t in texts] == ["Paris", "Paris", "Paris", "paris", "Lyon", "", ""]
    assert unique_rate(texts) == pytest.approx(3 / 7)  # Paris, paris, Lyon; the empty ones count as samples


def test_the_shipped_prompt_file_and_bad_ones(tmp_path):
    prompts = load_prompts("data/open_random/prompts.csv")
    assert len(prompts) == 102 and len({p["category"] for p in prompts}) == 6
    assert all(
        p["prompt"].endswith("Output ONLY the answer.") and " a random " in p["prompt"] for p in prompts
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("id,category,prompt\na,x,Name one.\na,x,Name two.\n")
    with pytest.raises(PromptFileError, match="duplicate prompt ids"):
        load_prompts(bad)
    bad.write_text("id,prompt\na,Name one.\n")
    with pytest.raises(PromptFileError, match="columns id, category, prompt"):
        load_prompts(bad)


def test_per_category_keeps_the_first_prompts_of_every_category():
    from diffuse.open_random import select_prompts

    prompts = load_prompts("data/open_random/prompts.csv")
    kept = select_prompts(prompts, per_category=4)
    categories = sorted({row["category"] for row in prompts})
    assert len(kept) == 4 * len(categories) == 24
    for category in categories:
        own = [row["id"] for row in prompts if row["category"] == category]
        assert [row["id"] for row in kept if row["category"] == category] == own[:4]
    assert select_prompts(prompts, limit=6) == prompts[:6]
    assert (
        select_prompts(prompts, limit=5, per_category=1)
        == [
            next(r for r in prompts if r["category"] == c)
            for c in dict.fromkeys(r["category"] for r in prompts)
        ][:5]
    )
