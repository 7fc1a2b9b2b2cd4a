import math

import numpy as np
import pytest

from diffuse.metrics import (
    coverage,
    empirical_distribution,
    entropy,
    exact_metrics,
    kl_divergence,
    restricted,
    sample_metrics,
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
    row = sample_metrics(answers, valid_values={"1", "2"}, natural={"1": 0.5, "2": 0.5})
    assert row["n_samples"] == 5
    assert row["parse_rate"] == pytest.approx(0.8)
    assert row["valid_rate"] == pytest.approx(0.6)
    assert row["coverage"] == 3
    assert row["coverage_valid"] == 2
    assert row["entropy"] == pytest.approx(entropy([2, 1, 1]))
    assert row["natural_support_rate"] == pytest.approx(0.75)
    assert row["kl_to_natural"] == pytest.approx(
        kl_divergence({"1": 2 / 3, "2": 1 / 3}, {"1": 0.5, "2": 0.5})
    )


def test_sample_metrics_all_unparseable_does_not_crash():
    row = sample_metrics([None] * 4, valid_values={"1"}, natural={"1": 1.0})
    assert row["parse_rate"] == 0.0 and row["valid_rate"] == 0.0 and row["coverage"] == 0
    assert math.isnan(row["entropy"]) and math.isnan(row["kl_to_natural"])


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
