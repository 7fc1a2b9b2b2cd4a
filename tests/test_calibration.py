"""The follow-up's fidelity metrics (diffuse.calibration) against scipy and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from diffuse.calibration import (
    calibration_trainsets,
    exact_metrics,
    median_w1,
    sampled_metrics,
    split_specs,
    summary_table,
    task_suite_table,
    w1_on_grid,
)
from diffuse.families import Discretisation, FamilyError, discretise, make_spec

BLOCK = {
    "discretisation": {"decimals": 1, "max_bins": 41},
    "train": [{"family": "gaussian", "params": {"mu": 0, "sigma": 1}}, {"family": "binomial", "params": {"n": 6, "p": 0.5}}],
    "unseen": [{"family": "gaussian", "params": {"mu": 2, "sigma": 0.5}}],
    "held_out": [{"family": "poisson", "params": {"lambda": 2}}],
    "objectives": {"eq5": {"max_steps": 3}, "soft_trie_kl": {"samples_per_prompt": 4}},
}  # fmt: skip


def test_w1_on_a_grid_is_scipys():
    rng = np.random.default_rng(0)
    numbers = np.sort(rng.normal(size=12))
    p, q = rng.dirichlet(np.ones(12)), rng.dirichlet(np.ones(12))
    assert w1_on_grid(numbers, p, q) == pytest.approx(stats.wasserstein_distance(numbers, numbers, p, q))
    assert w1_on_grid(numbers, p, p) == 0


def test_normalised_w1_is_one_for_always_the_median():
    target = discretise(make_spec("binomial", {"n": 10, "p": 0.3}), Discretisation())
    assert median_w1(target) == pytest.approx(np.sum(target.probs * np.abs(target.numbers - 3)))
    always_three = ["3"] * 50
    row = sampled_metrics(make_spec("binomial", {"n": 10, "p": 0.3}), target, always_three)
    assert (
        row["w1_normalised"] == pytest.approx(1.0) and row["valid_rate"] == 1.0 and row["unique_valid"] == 1
    )


def test_sampled_metrics_count_every_answer_and_score_only_valid_ones():
    spec = make_spec("binomial", {"n": 4, "p": 0.5})
    target = discretise(spec, Discretisation())
    texts = ["2", "3", " 1\n", "2.5", "-1", "five", "", "4"]  # 2.5 and -1 parse but are not outcomes
    row = sampled_metrics(spec, target, texts)
    assert row["n_samples"] == 8 and row["parse_rate"] == 6 / 8 and row["valid_rate"] == 4 / 8
    valid = np.array([2, 3, 1, 4.0])
    assert row["w1"] == pytest.approx(
        stats.wasserstein_distance(valid, target.numbers, v_weights=target.probs)
    )
    assert row["mean_error"] == pytest.approx(abs(valid.mean() - 2.0))
    assert row["variance_error"] == pytest.approx(abs(valid.var() - 1.0))
    nothing = sampled_metrics(spec, target, ["no", "none"])
    assert nothing["valid_rate"] == 0 and np.isnan(nothing["w1"])


def test_chi_square_accepts_the_target_and_rejects_a_shift():
    spec = make_spec("gaussian", {"mu": 0, "sigma": 1})
    target = discretise(spec, Discretisation(decimals=1, max_bins=61))
    rng = np.random.default_rng(1)
    exact = [f"{v:.1f}" for v in rng.choice(target.numbers, size=2000, p=target.probs)]
    shifted = [f"{v + 0.5:.1f}" for v in rng.choice(target.numbers, size=2000, p=target.probs)]
    assert sampled_metrics(spec, target, exact)["chi2_pvalue"] > 0.01
    assert sampled_metrics(spec, target, shifted)["chi2_pvalue"] < 1e-6


def test_exact_metrics_of_the_target_itself_are_zero():
    target = discretise(make_spec("poisson", {"lambda": 2}), Discretisation())
    # A model putting half its mass on the target strings, in the target's proportions.
    row = exact_metrics(target, np.log(0.5 * target.probs), trie_kl=np.zeros(len(target.values)))
    assert row["exact_target_mass"] == pytest.approx(0.5)
    assert row["exact_w1"] == pytest.approx(0, abs=1e-12) and row["exact_kl"] == pytest.approx(0, abs=1e-12)
    flat = exact_metrics(
        target, np.log(np.full(len(target.values), 1 / len(target.values))), np.ones(len(target.values))
    )
    assert flat["exact_kl"] == pytest.approx(np.sum(target.probs * np.log(target.probs * len(target.values))))
    assert flat["trie_kl"] == pytest.approx(1.0)  # the expectation over p* of the per-path KL


def test_splits_trainsets_and_duplicates():
    items = split_specs(BLOCK)
    assert [(split, spec.id) for split, spec, _ in items] == [
        ("seen", "distributions/gaussian_mu_0_sigma_1"), ("seen", "distributions/binomial_n_6_p_0.5"),
        ("unseen", "distributions/gaussian_mu_2_sigma_0.5"), ("held_out", "distributions/poisson_lambda_2"),
    ]  # fmt: skip
    trainsets = calibration_trainsets(BLOCK)
    assert sorted(trainsets) == ["calib-eq5", "calib-soft"]
    assert trainsets["calib-soft"]["training"] == {"samples_per_prompt": 4, "objective": "soft_trie_kl"}
    assert trainsets["calib-eq5"]["tasks"] == [
        "distributions/gaussian_mu_0_sigma_1",
        "distributions/binomial_n_6_p_0.5",
    ]
    twice = {**BLOCK, "unseen": [BLOCK["train"][0]]}
    with pytest.raises(
        FamilyError, match=r"unseen\[0\]: the same spec as experiments\.calibration\.train\[0\]"
    ):
        split_specs(twice)


def test_summary_is_the_median_over_families_of_their_mean():
    import pandas as pd

    rows = []
    for family, values in {"a": [1.0, 3.0], "b": [10.0], "c": [4.0]}.items():
        for v in values:
            rows.append({"model": "m", "split": "seen", "condition": "soft", "family": family, "n_samples": 100,
                         "valid_rate": v, "w1_normalised": v, "exact_w1_normalised": v, "trie_kl": v,
                         "exact_kl": v, "exact_target_mass": v})  # fmt: skip
    table = summary_table(pd.DataFrame(rows))
    # Family means 2, 10, 4: median 4 (a plain median over the four specs would say 3.5).
    assert (
        table.loc[0, "median_trie_kl"] == 4.0 and table.loc[0, "families"] == 3 and table.loc[0, "specs"] == 4
    )


def test_ssot_answer_needs_a_closed_tag():
    from diffuse.calibration import ssot_answer

    text = "<random_string>x8Qz</random_string><thinking>...</thinking><answer> 4.25 </answer> <answer>9</answer>"
    assert ssot_answer(text) == "4.25"
    assert ssot_answer("<ANSWER>\\n3\\n</ANSWER>".replace("\\n", "\n")) == "3"
    assert ssot_answer("<answer>3") is None and ssot_answer("3") is None and ssot_answer(None) is None


def test_conditions_are_ordered_and_coloured_in_one_place():
    from diffuse.palette import calibration_color, calibration_conditions

    present = ["hard", "untuned T=10", "eq5", "untuned", "untuned SSoT", "untuned T=2", "soft"]
    order = calibration_conditions(present)
    assert order == ["untuned", "untuned T=2", "untuned T=10", "untuned SSoT", "eq5", "soft", "hard"]
    colours = [calibration_color(c, present) for c in order]
    assert len(set(colours)) == len(colours)


def test_grid_entries_expand_to_every_combination_rounded_as_the_prompt_writes_them():
    block = {
        "train": [
            {
                "family": "gaussian",
                "grid": {"mu": {"linspace": [-2, 2, 3]}, "sigma": {"geomspace": [0.5, 2, 3]}},
            }
        ],
        "objectives": {"eq5": {}},
    }
    specs = [spec for _, spec, _ in split_specs(block)]
    assert len(specs) == 9
    assert [s.params for s in specs[:3]] == [
        {"mu": -2.0, "sigma": 0.5},
        {"mu": -2.0, "sigma": 1.0},
        {"mu": -2.0, "sigma": 2.0},
    ]
    odd = {
        "train": [{"family": "exponential", "grid": {"lambda": {"geomspace": [0.5, 5, 4]}}}],
        "objectives": {"eq5": {}},
    }
    lambdas = [spec.params["lambda"] for _, spec, _ in split_specs(odd)]
    assert lambdas == [0.5, 1.077, 2.321, 5.0]  # 4 significant digits: what the prompt writes is the target's
    with pytest.raises(FamilyError, match=r"train\[0\]: give params or grid"):
        split_specs({"train": [{"family": "gaussian"}], "objectives": {"eq5": {}}})
    with pytest.raises(FamilyError, match=r"grid \(point 1\)\.params\.sigma: gaussian needs sigma positive"):
        split_specs(
            {
                "train": [{"family": "gaussian", "grid": {"mu": [0], "sigma": [1, -1]}}],
                "objectives": {"eq5": {}},
            }
        )


def test_task_suite_is_the_mean_over_each_categorys_prompts_per_condition():
    def row(adapter, task, entropy, n=50):
        metrics = dict.fromkeys(["parse_rate", "valid_rate", "coverage", "coverage_valid", "entropy_valid",
                                 "exact_entropy_valid", "exact_valid_mass"], 1.0)  # fmt: skip
        return {"model": "m", "adapter": adapter, "task": task, "n_samples": n, **metrics, "entropy": entropy}

    rows = [
        row("calib-soft", "numbers/rng", 2.0), row("base", "numbers/rng", 0.5), row("base", "numbers/prime", 1.5),
        row("calib-soft", "numbers/prime", 1.0), row("base", "fruits/a", 3.0),
    ]  # fmt: skip
    table = task_suite_table(rows, {"fruits": "FRUITS", "numbers": "NUMBERS"})
    # Categories in the labels' order, conditions in CONDITION_OF's; means over each category's prompts.
    assert table[["label", "condition", "prompts"]].values.tolist() == [
        ["FRUITS", "untuned", 1], ["NUMBERS", "untuned", 2], ["NUMBERS", "soft", 2],
    ]  # fmt: skip
    assert table["entropy"].tolist() == [3.0, 1.0, 1.5] and set(table["N"]) == {50}
    with pytest.raises(ValueError, match=r"different N: \[50, 60\]"):
        task_suite_table([*rows, row("calib-hard", "fruits/a", 1.0, n=60)], {"fruits": "F", "numbers": "N"})
