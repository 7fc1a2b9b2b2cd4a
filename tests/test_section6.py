"""Section 6 on synthetic biographies: Tables 2, 4, 7, 8 and Figures 4 and 6."""

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from diffuse.biographies import biography_table
from diffuse.paper.section6 import (
    TABLE7,
    TABLE8,
    figure4,
    figure6,
    geocoding_summary,
    paper_comparison,
    paper_comparison_legend,
    section6_tables,
    table4_draw,
)
from diffuse.paper.tables import write_markdown


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
    echo = "{First name and last name} {Gender - Female/Male/Non-binary} {Date and year of birth} " * 2
    return texts + ["no braces at all"] * (n // 10) + [echo]


@pytest.fixture
def tables():
    return {
        ("smollm2-135m", "untuned"): biography_table(generations(0, 2)),
        ("smollm2-135m", "OOD"): biography_table(generations(1, 6)),
        ("smollm2-135m", "ID"): biography_table(generations(2, 10)),
    }


def test_tables(tables):
    metrics, top, diversity = section6_tables(tables)
    assert len(metrics) == 3 * 6 and set(metrics["condition"]) == {"untuned", "OOD", "ID"}
    base = metrics[(metrics["condition"] == "untuned") & (metrics["attribute"] == "first_name")].iloc[0]
    assert base["coverage_of_parsed"] <= 2 and base["n_parsed"] == 60 and base["n_biographies"] == 67
    assert (base["n_placeholder_echo"], base["n_unparsed"]) == (1, 6)
    assert top.groupby(["condition", "attribute"])["rank"].max().max() <= 5
    assert diversity["parse_rate"].tolist() == pytest.approx([60 / 67] * 3)
    paper = pd.read_csv(REPO / "data/paper/biographies.csv")
    table7 = paper_comparison(metrics, paper, TABLE7).set_index("attribute")
    assert table7.index.tolist() == list(TABLE7)
    assert table7.loc["first_name", "paper Llama-2-13B-chat ID coverage (of 1000, as printed)"] == 637
    assert table7.loc["first_name", "paper Llama-2-13B-chat ID coverage (ID/OOD swapped)"] == 375
    assert table7.loc["first_name", "smollm2-135m OOD n_parsed"] == 60
    assert "smollm2-135m OOD entropy nats (of parsed)" in table7.columns
    assert paper_comparison(metrics, paper, TABLE8)["attribute"].tolist() == list(TABLE8)
    legend = paper_comparison_legend(metrics)[0]
    assert "smollm2-135m untuned: N=67, parsed 60 (90%), placeholder echo 1, unparsed 6" in legend


def test_the_papers_impossible_cells():
    """Entropy above ln(coverage) cannot happen for one sample: exactly four printed cells do it, and the
    ID/OOD coverage swap removes all four without making a new one."""
    paper = pd.read_csv(REPO / "data/paper/biographies.csv")
    above = paper[paper["entropy_nats"] > np.log(paper["coverage"])]
    assert sorted(zip(above["attribute"], above["condition"], strict=True)) == [
        ("birth_place", "ID"), ("birth_year", "ID"), ("first_name", "OOD"), ("last_name", "OOD"),
    ]  # fmt: skip
    assert above["entropy_above_ln_coverage"].all() and paper["entropy_above_ln_coverage"].sum() == 4
    assert (paper["entropy_nats"] <= np.log(paper["coverage_id_ood_swapped"])).all()
    assert (paper["n_biographies"] == 1000).all()
    # Tuned-OOD's 21.1% on 1985 (section 6.2) caps its birth-year entropy below the 4.22 printed for ID.
    p, k = 0.211, 89
    assert -p * np.log(p) - (1 - p) * np.log((1 - p) / (k - 1)) == pytest.approx(4.048, abs=1e-3)


def test_geocoding_summary_counts_levels():
    table = biography_table(
        ["{A B} {Female} {1990} {Paris, France} {P} {x}", "{C D} {Male} {1991} {Bavaria, Germany} {P} {x}",
         "{E F} {Male} {1992} {Germany} {P} {x}", "{G H} {Male} {1993} {Atlantis} {P} {x}", "nothing",
         "{I J} {Female} {1994} {Lyon, France} {P} {x}"]
    )  # fmt: skip
    table["geocoded_level"] = ["city", "region", "country", None, None, "city"]
    row = geocoding_summary({("m", "ID"): table}).iloc[0]
    assert (row["n_biographies"], row["n_parsed"], row["n_unparsed"]) == (6, 5, 1)
    assert (row["n_city"], row["n_region"], row["n_country"], row["n_unresolved"]) == (2, 1, 1, 1)
    assert row["city_rate_of_parsed"] == pytest.approx(2 / 5) and row["unresolved_rate_of_parsed"] == 0.2


def test_table4_draw_is_seeded_and_from_parsed(tables, tmp_path):
    first = table4_draw(tables, 5, seed=7)
    assert first.equals(table4_draw(tables, 5, seed=7)) and not first.equals(table4_draw(tables, 5, seed=8))
    assert first.groupby("condition").size().to_dict() == {"untuned": 5, "OOD": 5, "ID": 5}
    # By hand: the same generator picks the same rows of the parsed biographies, in sample order.
    parsed = tables[("smollm2-135m", "OOD")]
    parsed = parsed[parsed["parsed"]]
    picks = np.sort(np.random.default_rng([7, 1]).choice(len(parsed), size=5, replace=False))
    ood = first[first["condition"] == "OOD"]
    assert ood["name"].tolist() == [
        f"{a} {b}" for a, b in parsed.iloc[picks][["first_name", "last_name"]].values
    ]
    assert ood["birth_place"].tolist() == parsed.iloc[picks]["birth_place"].tolist()
    assert (first["n_parsed"] == 60).all() and (first["n_biographies"] == 67).all()
    assert len(table4_draw({("m", "ID"): tables[("smollm2-135m", "ID")].head(3)}, 5, seed=0)) == 3
    write_markdown(first, tmp_path / "t4.csv", tmp_path / "t4.md", "Table 4", ["drawn from 60 parsed"])
    md = (tmp_path / "t4.md").read_text().splitlines()
    assert (
        md[0] == "# Table 4"
        and md[2] == "drawn from 60 parsed  "
        and md[4].startswith("| model | condition |")
    )
    assert pd.read_csv(tmp_path / "t4.csv", keep_default_na=False)["name"].tolist() == first["name"].tolist()


def test_markdown_marks_flagged_cells(tmp_path):
    table = pd.DataFrame({"a": ["x", "y"], "v": [1.5, 2.0], "flag": [True, False]})
    write_markdown(table, tmp_path / "t.csv", tmp_path / "t.md", "T", ["legend"], {"v": "flag"})
    assert (tmp_path / "t.md").read_text().splitlines()[-2:] == ["| x | 1.5† |", "| y | 2 |"]
    assert pd.read_csv(tmp_path / "t.csv")["flag"].tolist() == [True, False]


def test_figures_draw(tables, tmp_path):
    metrics, _, diversity = section6_tables(tables)
    data = figure4(metrics, diversity, tmp_path / "f4.png", tmp_path / "f4.pdf")
    assert len(pd.read_csv(tmp_path / "f4.csv")) == len(data)
    # (a): one bar per condition and attribute at its coverage; (b): the two diversities per condition.
    left, right = (
        data[(data["kind"] == "bar") & (data["panel"] == 0)],
        data[(data["kind"] == "bar") & (data["panel"] == 1)],
    )
    assert sorted(left["y"]) == pytest.approx(sorted(metrics["coverage_of_parsed"]))
    kinds = ["accomplishments_diversity_of_parsed", "biography_diversity_of_parsed"]
    assert sorted(right["y"]) == pytest.approx(sorted(diversity[kinds].to_numpy().ravel()))
    for condition in ("untuned", "OOD", "ID"):
        want = metrics[metrics["condition"] == condition]["coverage_of_parsed"]
        assert sorted(left[left["series"] == condition]["y"]) == pytest.approx(sorted(want))
    utility = pd.DataFrame(
        [
            {"model": "m", "adapter": a, "id": f"{c}{i}", "category": c, "kl_per_token": k * 0.1 + i * 0.01,
             "base_loglik_per_token": -0.5, "tuned_loglik_per_token": -0.5 - k * 0.2}
            for k, a in enumerate(["all-categories", "biographies-id"]) for c in ("writing", "coding") for i in range(3)
        ]
    )  # fmt: skip
    conditions = {"base": "untuned", "all-categories": "OOD", "biographies-id": "ID"}
    data = figure6(utility, conditions, tmp_path / "f6.png", tmp_path / "f6.pdf")
    assert len(pd.read_csv(tmp_path / "f6.csv")) == len(data)
    bars = data[data["kind"] == "bar"]
    for adapter, condition in (("all-categories", "OOD"), ("biographies-id", "ID")):
        part = utility[utility["adapter"] == adapter].groupby("category")
        series = bars["series"] == f"{condition} ({adapter})"
        kl = bars[(bars["panel"] == 0) & series].set_index("group")["y"]
        nll = bars[(bars["panel"] == 1) & series].set_index("group")["y"]
        assert kl.to_dict() == pytest.approx(part["kl_per_token"].mean().to_dict())
        assert nll.to_dict() == pytest.approx((-part["tuned_loglik_per_token"].mean()).to_dict())
    untuned = bars[(bars["panel"] == 1) & (bars["series"] == "untuned")].set_index("group")["y"]
    assert untuned.to_dict() == pytest.approx({"writing": 0.5, "coding": 0.5})
    untuned = bars[(bars["panel"] == 1) & (bars["series"] == "untuned")]
    assert untuned["y"].tolist() == pytest.approx([0.5, 0.5])
