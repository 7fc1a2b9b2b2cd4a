import math

import numpy as np
import pandas as pd
import pytest

from diffuse.metrics import (
    chisquare_fit,
    coverage,
    empirical_distribution,
    entropy,
    exact_metrics,
    first_rows,
    kl_divergence,
    kl_to_samples,
    overrepresentation,
    reference_draws,
    restricted,
    sample_metrics,
    smoothed,
)


def test_entropy_of_uniform_and_point_mass():
    assert entropy([0.25] * 4) == pytest.approx(math.log(4))
    assert entropy([1.0, 0.0, 0.0]) == 0.0
    # Unnormalised input is normalised; zeros contribute nothing.
    assert entropy([2, 2, 0]) == pytest.approx(math.log(2))
    assert math.isnan(entropy([]))


def test_entropy_hand_computed():
    p = [0.5, 0.25, 0.25]
    assert entropy(p) == pytest.approx(0.5 * math.log(2) + 2 * 0.25 * math.log(4))


def test_coverage_counts_unique_parsed_answers():
    assert coverage(["3", "3", "7", None, "1"]) == 3
    assert coverage([None, None]) == 0


def test_empirical_distribution_ignores_unparsed():
    dist = empirical_distribution(["a", "b", "a", None])
    assert dist == {"a": pytest.approx(2 / 3), "b": pytest.approx(1 / 3)}
    assert empirical_distribution([None]) == {}


def test_kl_divergence():
    p = {"a": 0.5, "b": 0.5}
    q = {"a": 0.25, "b": 0.75}
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(p, q) == pytest.approx(expected)
    assert kl_divergence(p, p) == 0.0
    assert kl_divergence(p, {"a": 1.0}) == math.inf


def test_restricted_renormalises():
    assert restricted({"a": 0.2, "b": 0.2, "c": 0.6}, {"a", "b"}) == {"a": 0.5, "b": 0.5}
    assert restricted({"a": 1.0}, {"z"}) == {}


def test_sample_metrics_rates_and_kl():
    answers = ["1", "1", "2", "11", None]
    row = sample_metrics(
        answers, valid_values={"1", "2"}, natural={"1": 0.5, "2": 0.5}, target_weights={"1": 0.5, "2": 0.5}
    )
    assert row["n_samples"] == 5
    assert row["parse_rate"] == pytest.approx(0.8)
    assert row["valid_rate"] == pytest.approx(0.6)
    assert row["coverage"] == 3
    assert row["coverage_valid"] == 2
    assert row["coverage_outside_targets"] == 1 and row["top_outside_targets"] == "11 (1)"
    assert row["entropy"] == pytest.approx(entropy([2, 1, 1]))
    assert row["natural_support_rate"] == pytest.approx(0.75)
    # Eq. 2, KL(p* || p_theta): counts 2 and 1 over {1, 2} among N = 5 samples, add-one: 3/7 and 2/7
    # (the 2/7 of "11" and the unparsed row stays missing mass).
    hand = 0.5 * math.log(0.5 / (3 / 7)) + 0.5 * math.log(0.5 / (2 / 7))
    assert row["kl_target_add1"] == pytest.approx(hand)
    assert row["kl_natural_add1"] == pytest.approx(hand)
    # The other direction, labelled as such: unsmoothed frequencies 2/3, 1/3 against p*.
    reverse = (2 / 3) * math.log((2 / 3) / 0.5) + (1 / 3) * math.log((1 / 3) / 0.5)
    assert row["kl_reverse_sampled_natural"] == pytest.approx(reverse)
    assert reverse != pytest.approx(hand)


def test_kl_to_samples_direction_and_unsampled_targets():
    # p* uniform over three values; the model says "a" 9 times in N = 11. The plain estimate of
    # KL(p* || p_theta) would be infinite (b and c never sampled); add-one gives 10/14, 1/14, 1/14.
    p_star = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    answers = ["a"] * 9 + [None, "zzz"]
    value = kl_to_samples(p_star, answers)
    hand = sum((1 / 3) * math.log((1 / 3) / q) for q in (10 / 14, 1 / 14, 1 / 14))
    assert value == pytest.approx(hand) and math.isfinite(value)
    assert kl_divergence(p_star, {"a": 1.0}) == math.inf
    # Weights need not be normalised; a perfect sample of a uniform target scores near 0.
    assert kl_to_samples({"a": 2, "b": 2}, ["a", "b"] * 500) == pytest.approx(0.0, abs=1e-12)
    assert smoothed({"a": 3}, ["a", "b"], n=3) == {"a": 0.8, "b": 0.2}
    # No valid answer at all is far from p*, not "uniform, hence perfect": log(N + |S|) - H(p*).
    uniform = {str(k): 0.1 for k in range(10)}
    assert kl_to_samples(uniform, ["number"] * 40) == pytest.approx(math.log(50) - math.log(10))


def test_reference_draws_are_seeded_and_follow_the_distribution():
    natural = {"five": 0.6, "one": 0.3, "ten": 0.1}
    first = reference_draws(natural, 20_000, seed=7)
    assert first == reference_draws(natural, 20_000, seed=7)
    assert first != reference_draws(natural, 20_000, seed=8)
    for key, p in natural.items():
        share = first.count(key) / len(first)
        assert abs(share - p) < 5 * math.sqrt(p * (1 - p) / len(first)), key


def test_reference_metrics_of_a_uniform_task():
    from diffuse.evaluate import reference_metrics
    from diffuse.tasks import Task

    task = Task(id="numbers/rng", source="test", prompt="p", targets={"range": [1, 10]}, natural="uniform")
    row = reference_metrics(task, 1000, seed=0)
    draws = reference_draws({str(k): 0.1 for k in range(1, 11)}, 1000, seed=0)
    assert row["n_samples"] == 1000 and row["parse_rate"] == 1.0 and row["valid_rate"] == 1.0
    assert row["coverage"] == len(set(draws)) == 10
    counts = np.array([draws.count(str(k)) for k in range(1, 11)]) / 1000
    assert row["entropy"] == pytest.approx(-(counts * np.log(counts)).sum())
    assert row["natural_entropy"] == pytest.approx(math.log(10)) and row["n_targets"] == 10


def test_first_rows_is_a_prefix_and_names_the_key():
    table = pd.DataFrame({"answer": list("abcdef")})
    assert first_rows(table, 4, "experiments.leave_one_out.n")["answer"].tolist() == list("abcd")
    assert first_rows(table, None, "k") is table
    with pytest.raises(ValueError, match=r"experiments\.leave_one_out\.n = 10, but samples has only 6 rows"):
        first_rows(table, 10, "experiments.leave_one_out.n")


def test_overrepresentation_ratios_by_hand():
    # 10 samples, 8 parsed: "Aurora" 5, "Anya" 2 (not in the natural distribution), "Emma" 1.
    answers = ["Aurora"] * 5 + ["Anya"] * 2 + ["Emma"] + [None] * 2
    natural = {"Aurora": 0.005, "Emma": 0.02, "Olivia": 0.975}
    rows = overrepresentation(answers, natural, valid_values={"Aurora", "Emma"}, top_k=2)
    assert [r["answer"] for r in rows] == ["Aurora", "Anya"]
    aurora, anya = rows
    assert aurora["sampled_share"] == pytest.approx(5 / 8) and aurora["natural_share"] == 0.005
    assert aurora["ratio"] == pytest.approx((5 / 8) / 0.005) and aurora["note"] == ""
    assert anya["natural_share"] == 0 and anya["ratio"] == math.inf and "absent" in anya["note"]
    assert aurora["n_samples"] == 10 and aurora["parse_rate"] == 0.8 and aurora["valid_rate"] == 0.6
    assert aurora["valid"] and not anya["valid"]


def test_exact_metrics_hand_computed():
    probs = np.array([0.1, 0.3])  # 0.6 of the mass is outside the target set
    weights = np.array([0.5, 0.5])
    row = exact_metrics(np.log(probs), weights)
    assert row["valid_mass"] == pytest.approx(0.4)
    assert row["entropy_valid"] == pytest.approx(entropy([0.25, 0.75]))
    assert row["target_entropy"] == pytest.approx(math.log(2))
    assert row["cross_entropy"] == pytest.approx(-0.5 * (math.log(0.1) + math.log(0.3)))
    assert row["kl"] == pytest.approx(0.5 * math.log(0.5 / 0.1) + 0.5 * math.log(0.5 / 0.3))
    assert row["kl_valid"] == pytest.approx(0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75))
    # Cross-entropy = target entropy + KL, the identity behind the early-stop bound.
    assert row["cross_entropy"] == pytest.approx(row["target_entropy"] + row["kl"])


def _entropy_before_scipy(probabilities):
    # The hand-written version replaced by scipy.stats.entropy, kept as the reference.
    p = np.asarray(list(probabilities), dtype=float)
    p = p[p > 0]
    if p.size == 0:
        return float("nan")
    p = p / p.sum()
    return float(-(p * np.log(p)).sum())


def _kl_before_scipy(p, q):
    # The hand-written version replaced by scipy.special.rel_entr, kept as the reference.
    total = 0.0
    for key, pk in p.items():
        if pk <= 0:
            continue
        qk = q.get(key, 0.0)
        if qk <= 0:
            return math.inf
        total += pk * math.log(pk / qk)
    return total


def test_scipy_entropy_and_kl_agree_with_the_hand_written_ones_on_random_inputs():
    rng = np.random.default_rng(7)
    for _ in range(200):
        size = int(rng.integers(1, 30))
        raw = rng.dirichlet(np.full(size, 0.5)) * rng.uniform(0.1, 10)
        raw[rng.random(size) < 0.2] = 0.0  # zero entries: outside the support
        assert entropy(raw) == pytest.approx(_entropy_before_scipy(raw), rel=1e-12, abs=1e-14, nan_ok=True)
        keys = [f"k{i}" for i in range(size)]
        p = dict(zip(keys, rng.dirichlet(np.ones(size)), strict=True))
        q = {
            k: v for k, v in zip(keys, rng.dirichlet(np.ones(size)) * 0.9, strict=True) if rng.random() > 0.1
        }
        assert kl_divergence(p, q) == pytest.approx(_kl_before_scipy(p, q), rel=1e-12, abs=1e-14)
    assert math.isnan(entropy([0.0, 0.0]))
    assert kl_divergence({}, {"a": 1.0}) == 0.0 == _kl_before_scipy({}, {"a": 1.0})


def test_chisquare_fit_hand_computed_with_an_other_bin():
    # p = {a: .5, b: .3} leaves .2 unassigned; "c" (unknown) and "d" (expected 100 * .004 < 5) join it.
    observed = {"a": 45, "b": 35, "c": 15, "d": 5}
    fit = chisquare_fit(observed, {"a": 0.5, "b": 0.3, "d": 0.004})
    expected = [50.0, 30.0, 20.0]
    hand = sum((o - e) ** 2 / e for o, e in zip([45, 35, 20], expected, strict=True))
    assert fit["statistic"] == pytest.approx(hand)
    assert fit["dof"] == 2 and fit["n"] == 100
    # Survival function of chi-square with 2 degrees of freedom: exp(-x / 2).
    assert fit["pvalue"] == pytest.approx(math.exp(-hand / 2))
