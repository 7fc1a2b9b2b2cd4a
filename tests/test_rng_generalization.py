"""Figure 2's generated prompts, confidence intervals and summary (no model needed)."""

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from diffuse.paper.section4 import figure2
from diffuse.rng_generalization import mean_with_ci, random_lows, range_prompts, summarise
from diffuse.tasks import TaskError, check_text_targets, target_values


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["experiments"]["rng_generalization"]


def test_prompts_cover_every_template_and_range(spec):
    prompts = range_prompts(spec)
    fig_a = [p for p in prompts if p.figure == "2a"]
    fig_b = [p for p in prompts if p.figure == "2b"]
    assert len(fig_a) == len(spec["highs"]) * len(spec["prompts"])
    assert len(fig_b) == len(spec["sizes"]) * spec["draws"]
    assert len({p.task.id for p in prompts}) == len(prompts)
    first = fig_a[0]
    assert first.task.prompt.startswith("Randomly pick an integer between 1 and 10.")
    assert "{number}" in first.task.prompt and "$" not in first.task.prompt
    for item in prompts:
        values, weights = target_values(item.task)
        assert values == [str(v) for v in range(item.low, item.high + 1)] and len(values) == item.size
        assert sum(weights) == pytest.approx(1.0)
        check_text_targets(item.task, [f"{{{v}}}" for v in values])
        assert (
            f"between {item.low} and {item.high}" in item.task.prompt
            or f"[{item.low}, {item.high}]" in item.task.prompt
            or f"from the range {item.low} to {item.high}" in item.task.prompt
        )


def test_random_lows_are_seeded_and_in_bounds(spec):
    lows = random_lows(spec)
    assert lows == random_lows(spec) and len(lows) == spec["draws"]
    assert all(spec["low_min"] <= low <= spec["low_max"] for low in lows)
    assert lows != random_lows({**spec, "seed": spec["seed"] + 1})
    shifted = [p for p in range_prompts(spec) if p.figure == "2b"]
    assert {p.low for p in shifted} == set(lows) and {p.size for p in shifted} == set(spec["sizes"])


def test_template_without_placeholders_is_a_clear_error(spec):
    with pytest.raises(TaskError, match=r"prompts\[0\].*\$low and \$high"):
        range_prompts({**spec, "prompts": ["Pick a number between $lo and $high."]})


def test_mean_with_ci_hand_computed():
    mean, half = mean_with_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # sd = sqrt(2.5), t(0.975, 4) = 2.7764451 (printed tables: 2.776)
    assert mean == 3.0 and half == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5))
    assert mean_with_ci([2.0]) == (2.0, 0.0)


def test_t_quantiles_match_the_printed_table():
    # The two-sided 95% table that scipy.stats.t.ppf replaced (3 decimals, 1..30 degrees of freedom).
    table = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042,
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    for df, quantile in enumerate(table, start=1):
        values = rng.normal(size=df + 1)
        _, half = mean_with_ci(values)
        old = quantile * values.std(ddof=1) / math.sqrt(len(values))
        assert half == pytest.approx(old, rel=6e-4)


def test_summarise_and_figure(tmp_path):
    rows = []
    for adapter, level in (("base", 0.5), ("rng-ranges", 2.0)):
        for high in (10, 20):
            for template in range(1, 4):
                rows.append({
                    "model": "m", "adapter": adapter, "figure": "2a", "task": f"rng-formats/p{template}-1-{high}",
                    "template": template, "draw": 0, "low": 1, "high": high, "size": high,
                    "entropy": level + 0.1 * template, "exact_entropy_valid": level, "parse_rate": 1.0,
                    "valid_rate": 1.0, "exact_valid_mass": 0.5,
                })  # fmt: skip
        rows.append({
            "model": "m", "adapter": adapter, "figure": "2b", "task": "rng-shifted/d1-500-509", "template": 1,
            "draw": 1, "low": 500, "high": 509, "size": 10, "entropy": level, "exact_entropy_valid": level,
            "parse_rate": 1.0, "valid_rate": 1.0, "exact_valid_mass": 0.5,
        })  # fmt: skip
    summary = summarise(pd.DataFrame(rows))
    assert len(summary) == 2 * 3
    point = summary[(summary["adapter"] == "base") & (summary["figure"] == "2a") & (summary["x"] == 20)].iloc[
        0
    ]
    assert point["entropy"] == pytest.approx(0.7) and point["prompts"] == 3
    assert point["entropy_ci95"] == pytest.approx(4.3026527 * 0.1 / math.sqrt(3))
    assert point["max_entropy"] == pytest.approx(np.log(20))
    shifted = summary[(summary["figure"] == "2b")]
    assert shifted["x"].tolist() == [10, 10] and (shifted["entropy_ci95"] == 0).all()
    data = figure2(pd.DataFrame(rows), "rng-ranges", tmp_path / "f2.png", tmp_path / "f2.pdf")
    assert len(pd.read_csv(tmp_path / "f2.csv")) == len(data)
    # seaborn's means and t bands from the per-prompt rows equal summarise's, per adapter and panel.
    for panel, figure in enumerate(("2a", "2b")):
        bands = data[(data["panel"] == panel) & data["kind"].str.startswith("band")]
        for adapter, name in (("base", "untuned"), ("rng-ranges", "RNG-tuned")):
            want = summary[(summary["figure"] == figure) & (summary["adapter"] == adapter)].sort_values("x")
            line = data[(data["panel"] == panel) & (data["series"] == f"{name}, sampled")]
            assert line["x"].tolist() == want["x"].tolist()
            assert line["y"].tolist() == pytest.approx(want["entropy"].tolist())
            exact = data[(data["panel"] == panel) & (data["series"] == f"{name}, exact")]
            assert exact["y"].tolist() == pytest.approx(want["exact_entropy_valid"].tolist())
            for point in want[want["entropy_ci95"] > 0].itertuples():  # one prompt: no band
                at = bands[np.isclose(bands["x"], point.x)]
                low = at[at["kind"] == "band_low"]["y"].to_numpy()
                high = at[at["kind"] == "band_high"]["y"].to_numpy()
                assert np.isclose(low, point.entropy - point.entropy_ci95).any()
                assert np.isclose(high, point.entropy + point.entropy_ci95).any()
