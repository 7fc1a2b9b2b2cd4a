"""Section 5 tables and Figure 3 from metrics rows (the functions the rules call), footnote 6's crossing, the table writer."""

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from diffuse.paper.section5 import (
    EXACT_CONTEXT,
    condition_of,
    figure3,
    leave_one_out_frame,
    leave_one_out_summaries,
    leave_one_out_summary,
    with_paper,
)


def metrics_row(model, adapter, task, coverage, entropy):
    return {
        "model": model, "adapter": adapter, "task": task, "n_samples": 100, "coverage": coverage,
        "entropy": entropy, "parse_rate": 0.9, "valid_rate": 0.8, "coverage_valid": coverage,
        "entropy_valid": entropy, "exact_valid_mass": 0.5, "exact_entropy_valid": entropy + 0.1, "n_targets": 20,
    }  # fmt: skip


@pytest.fixture
def rows():
    rows = []
    for category in ("fruits", "numbers"):
        for k, task in enumerate((f"{category}/a", f"{category}/b")):
            rows += [
                metrics_row("m", "base", task, 2 + k, 0.5 + k),
                metrics_row("m", f"ood-{category}", task, 6 + k, 1.5 + k),
                metrics_row("m", f"id-{category}", task, 10 + k, 2.5 + k),
            ]
    return rows


def test_condition_of():
    assert condition_of("base", "fruits") == "untuned"
    assert condition_of("id-fruits", "fruits") == "ID"
    assert condition_of("ood-fruits", "fruits") == "OOD"


def test_leave_one_out_means_over_prompts(rows):
    labels = {"fruits": "FRUITS", "numbers": "NUMBERS"}
    per_task = leave_one_out_frame(rows, labels)
    assert len(per_task) == 12 and per_task["max_entropy"].iloc[0] == pytest.approx(np.log(20))
    coverage = leave_one_out_summary(per_task, "coverage", ["FRUITS", "NUMBERS"])
    assert list(coverage.columns) == ["category", "m untuned", "m OOD", "m ID"]
    assert coverage.set_index("category").loc["NUMBERS"].tolist() == [2.5, 6.5, 10.5]
    entropy = leave_one_out_summary(per_task, "entropy", ["NUMBERS", "FRUITS"])
    assert entropy["category"].tolist() == ["NUMBERS", "FRUITS"]
    both = leave_one_out_summaries(per_task, {"entropy": "", **EXACT_CONTEXT}, ["NUMBERS", "FRUITS"])
    assert both["category"].tolist() == ["NUMBERS", "FRUITS"]
    assert {"m OOD", "m OOD exact entropy", "m OOD valid mass"} <= set(both.columns)
    numbers = both.set_index("category").loc["NUMBERS"]
    assert numbers["m ID exact entropy"] == pytest.approx(numbers["m ID"] + 0.1)
    assert numbers["m untuned valid mass"] == pytest.approx(0.5)


def test_paper_table5_beside_ours(rows):
    per_task = leave_one_out_frame(rows, {"fruits": "FRUITS", "numbers": "NUMBERS"})
    table = with_paper(
        leave_one_out_summary(per_task, "coverage", ["FRUITS", "NUMBERS"]),
        pd.read_csv(REPO / "data/paper/table5.csv"),
    )
    fruits = table.set_index("category").loc["FRUITS"]
    assert fruits["paper Llama-2-13B-chat OOD"] == 60.5 and fruits["paper Gemma-7B-it untuned"] == 20.5


def test_figure3_draws(rows, tmp_path):
    per_task = leave_one_out_frame(rows, {"fruits": "FRUITS", "numbers": "NUMBERS"})
    data = figure3(per_task, ["FRUITS", "NUMBERS"], tmp_path / "f3.png", tmp_path / "f3.pdf")
    assert (tmp_path / "f3.pdf").exists()
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "f3.csv", keep_default_na=False), data, check_dtype=False
    )
    # Each panel: one bar per (model, condition) at the mean entropy over the category's prompts, one dot per
    # prompt, and a tick at the mean exact entropy.
    for panel, label in enumerate(["FRUITS", "NUMBERS"]):
        cells = per_task[per_task["label"] == label].groupby(["model", "condition"])
        plotted = data[data["panel"] == panel]
        assert plotted["title"].iloc[0] == label
        bars = plotted[plotted["kind"] == "bar"]
        assert sorted(bars["y"]) == pytest.approx(sorted(cells["entropy"].mean()))
        points = plotted[plotted["kind"] == "point"]
        assert sorted(points["y"]) == pytest.approx(sorted(per_task[per_task["label"] == label]["entropy"]))
        ticks = plotted[(plotted["kind"] == "hline") & (plotted["series"] == "")]
        exact = sorted(cells["exact_entropy_valid"].mean()) + [
            per_task[per_task["label"] == label]["max_entropy"].mean()
        ]
        assert sorted(ticks["y"]) == pytest.approx(sorted(exact))


def test_one_n_per_table(rows):
    from diffuse.paper.section5 import one_n

    per_task = leave_one_out_frame(rows, {"fruits": "FRUITS", "numbers": "NUMBERS"})
    assert one_n(per_task) == 100
    per_task.loc[0, "n_samples"] = 1000
    with pytest.raises(ValueError, match=r"different N: \[100, 1000\]"):
        one_n(per_task)


def test_temperature_crossing():
    from diffuse.temperature import crossings

    rows = []
    for t, base_entropy in [(1.0, 0.5), (2.0, 1.0), (10.0, 2.2), (20.0, 2.3)]:
        rows.append({"model": "m", "task": "numbers/rng", "adapter": "base", "temperature": t,
                     "entropy_valid": base_entropy, "exact_entropy_valid": base_entropy + 0.05})  # fmt: skip
    rows.append({"model": "m", "task": "numbers/rng", "adapter": "rng", "temperature": 1.0,
                 "entropy_valid": 2.1, "exact_entropy_valid": 2.3})  # fmt: skip
    summary = crossings(pd.DataFrame(rows), "base", {"numbers/rng": "rng"}).iloc[0]
    assert summary["tuned_T1_entropy_valid"] == 2.1 and summary["untuned_T_reaching_entropy_valid"] == 10.0
    # 2.35 at T = 20 reaches the tuned exact 2.3; nothing below does.
    assert summary["untuned_T_reaching_exact_entropy_valid"] == 20.0


def test_write_table_legend_and_renamed_columns(tmp_path):
    from diffuse.paper.tables import write_table

    table = pd.DataFrame({"n_samples": [10], "entropy": [0.123456], "note": [None]})
    write_table(table, tmp_path / "t.csv", tmp_path / "t.md", "T", legend=["over parsed answers"],
                md_columns={"n_samples": "N", "entropy": "entropy (parsed)"})  # fmt: skip
    text = (tmp_path / "t.md").read_text()
    assert "| N | entropy (parsed) | note |" in text and "| 10 | 0.1235 |  |" in text
    assert text.rstrip().endswith("over parsed answers")
    assert pd.read_csv(tmp_path / "t.csv").columns.tolist() == ["n_samples", "entropy", "note"]
