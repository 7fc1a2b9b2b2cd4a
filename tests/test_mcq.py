"""The MCQ transfer test's strict parser and balance measure (diffuse.mcq)."""

from __future__ import annotations

import pytest
from scipy import stats

from diffuse.mcq import balance, parse_mcq

GOOD = """Question: Which planet is largest?
A. Mars
B. Jupiter
C. Venus
D. Earth
Correct Answer: B"""


def test_strict_parse():
    assert parse_mcq(GOOD) == "B"
    assert parse_mcq("\n" + GOOD.replace("\n", "\n\n") + "\n") == "B"  # blank lines do not count
    assert parse_mcq(GOOD.replace("Correct Answer: B", "Correct Answer: (C).")) == "C"
    for broken in [
        GOOD.replace("Correct Answer: B", "Correct Answer: E"),
        GOOD.replace("Correct Answer: B", "Correct Answer: B because it is big"),
        GOOD.replace("C. Venus\n", ""),  # an option missing
        GOOD.replace("A. Mars", "A."),  # an empty option
        GOOD + "\nExtra line",
        GOOD.replace("B. Jupiter\nC. Venus", "C. Venus\nB. Jupiter"),  # out of order
        "Sure! Here is a question.",
        "",
        None,
    ]:
        assert parse_mcq(broken) is None, broken


def test_balance():
    letters = ["A"] * 4 + ["B"] * 2 + ["C"] * 2 + [None] * 2
    row = balance(letters)
    assert row["n_samples"] == 10 and row["n_parsed"] == 8 and row["parse_rate"] == 0.8
    assert row["count_A"] == 4 and row["count_D"] == 0
    # shares 1/2, 1/4, 1/4, 0: TV = 0.5 (0.25 + 0 + 0 + 0.25)
    assert row["tv_from_uniform"] == pytest.approx(0.25)
    assert row["chi2_pvalue"] == pytest.approx(stats.chisquare([4, 2, 2, 0]).pvalue)
    assert balance(list("ABCD") * 5)["tv_from_uniform"] == 0
    assert balance([None, None])["parse_rate"] == 0


def test_balance_table_one_row_per_sample_file(tmp_path):
    import pandas as pd

    from diffuse.mcq import balance_table

    paths = []
    for adapter, answers in {"base": ["A", None, "A"], "calib-soft": ["A", "B", "C", "D"]}.items():
        path = tmp_path / "m" / f"{adapter}.parquet"
        path.parent.mkdir(exist_ok=True)
        pd.DataFrame({"answer": answers}).to_parquet(path)
        paths.append(path)
    table = balance_table(paths).set_index("adapter")
    assert table.loc["base", "condition"] == "untuned" and table.loc["calib-soft", "condition"] == "soft"
    assert (table["model"] == "m").all()
    assert table.loc["base", "n_samples"] == 3 and table.loc["base", "n_parsed"] == 2
    # Both parsed answers are A: (|1 - 1/4| + 3 x 1/4) / 2.
    assert table.loc["base", "tv_from_uniform"] == pytest.approx(0.75)
    assert table.loc["calib-soft", "tv_from_uniform"] == pytest.approx(0.0)
