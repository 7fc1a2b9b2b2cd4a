"""Section 6 reporting on synthetic biographies: Tables 2, 7, 8 and Figures 4 and 6."""

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from diffuse.biographies import biography_table
from diffuse.reporting_biographies import TABLE7, TABLE8, figure4, figure6, paper_comparison, section6_tables


def generations(seed: int, spread: int, n: int = 60) -> list[str]:
    rng = np.random.default_rng(seed)
    first = ["Evelyn", "Liam", "Ava", "Noah", "Mia", "Omar", "Yuki", "Ines", "Kofi", "Lena"][:spread]
    places = ["Paris, France", "Lagos, Nigeria", "Kyoto, Japan", "Lima, Peru", "Cairo, Egypt"][
        : max(1, spread // 2)
    ]
    texts = []
    for _ in range(n):
        name = f"{rng.choice(first)} Name{rng.integers(spread * 3)}"
        texts.append(
            f"{{{name}}} {{{rng.choice(['Female', 'Male'])}}} {{May 2, {1985 + rng.integers(spread)}}} "
            f"{{{rng.choice(places)}}} {{Painter}} {{Painted {rng.integers(spread * 20)} murals of the sea}}"
        )
    return texts + ["no braces at all"] * (n // 10)


@pytest.fixture
def tables():
    return {
        ("smollm2-135m", "Base"): biography_table(generations(0, 2)),
        ("smollm2-135m", "OOD"): biography_table(generations(1, 6)),
        ("smollm2-135m", "ID"): biography_table(generations(2, 10)),
    }


def test_tables(tables):
    metrics, top, diversity = section6_tables(tables)
    assert len(metrics) == 3 * 6 and set(metrics["condition"]) == {"Base", "OOD", "ID"}
    base = metrics[(metrics["condition"] == "Base") & (metrics["attribute"] == "first_name")].iloc[0]
    assert base["coverage"] <= 2 and base["n_parsed"] == 60 and base["n_biographies"] == 66
    assert top.groupby(["condition", "attribute"])["rank"].max().max() <= 5
    assert diversity["parse_rate"].tolist() == pytest.approx([60 / 66] * 3)
    paper = pd.read_csv(REPO / "data/paper/biographies.csv")
    table7 = paper_comparison(metrics, paper, TABLE7)
    assert table7["attribute"].tolist() == list(TABLE7)
    assert table7.set_index("attribute").loc["first_name", "paper Llama-2-13B-chat ID coverage"] == 637
    assert "smollm2-135m OOD entropy" in table7.columns
    assert paper_comparison(metrics, paper, TABLE8)["attribute"].tolist() == list(TABLE8)


def test_figures_draw(tables, tmp_path):
    metrics, _, diversity = section6_tables(tables)
    figure4(metrics, diversity, tmp_path / "f4.png", tmp_path / "f4.pdf")
    assert (tmp_path / "f4.png").stat().st_size > 20_000
    utility = pd.DataFrame(
        [
            {"model": "m", "adapter": a, "id": f"{c}{i}", "category": c, "kl_per_token": k * 0.1 + i * 0.01,
             "base_loglik_per_token": -0.5, "tuned_loglik_per_token": -0.5 - k * 0.2}
            for k, a in enumerate(["all-categories", "biographies-id"]) for c in ("writing", "coding") for i in range(3)
        ]
    )  # fmt: skip
    figure6(utility, tmp_path / "f6.png", tmp_path / "f6.pdf")
    assert (tmp_path / "f6.png").stat().st_size > 20_000
