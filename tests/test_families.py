"""Distribution-family specs and their discretised target sets (diffuse.families) against scipy and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from diffuse.families import (
    FAMILIES,
    HELD_OUT_FAMILIES,
    TRAINING_FAMILIES,
    Discretisation,
    FamilyError,
    discretise,
    in_support,
    make_spec,
    number_value,
)

# One setting per family: the follow-up's paper-selected parameters (unseen ones for the 24).
SETTINGS = {
    "uniform": {"a": 3.5, "b": 10.5}, "gaussian": {"mu": 3.5, "sigma": 3}, "beta": {"alpha": 7, "beta": 7},
    "binomial": {"n": 25, "p": 0.5}, "exponential": {"lambda": 7}, "geometric": {"p": 0.125},
    "negative_binomial": {"r": 15, "p": 0.15}, "lognormal": {"mu": 2.5, "sigma": 2},
    "triangular": {"a": 2.5, "c": 6, "b": 9.5}, "rayleigh": {"sigma": 3}, "cauchy": {"x0": 3.5, "gamma": 3},
    "student_t": {"nu": 16}, "chi_square": {"nu": 32}, "f_distribution": {"d1": 12, "d2": 24},
    "gamma": {"alpha": 7, "beta": 7}, "laplace": {"mu": 3.5, "b": 3}, "logistic": {"mu": 3.5, "s": 3},
    "pareto": {"alpha": 6.5, "xm": 3.5}, "hypergeometric": {"M": 100, "K": 50, "N": 20},
    "gumbel": {"mu": 3.5, "beta": 3}, "skellam": {"mu1": 10.5, "mu2": 10.5},
    "beta_binomial": {"n": 40, "alpha": 6.5, "beta": 6.5}, "lomax": {"alpha": 6, "lambda": 4.5},
    "inverse_gaussian": {"mu": 5, "lambda": 7}, "bernoulli": {"p": 0.1}, "poisson": {"lambda": 12},
    "maxwell": {"scale": 1.5}, "truncnorm": {"mu": 0, "sigma": 1, "lower": -1, "upper": 1}, "chi": {"df": 5},
    "weibull": {"k": 1.5, "lambda": 1.5},
}  # fmt: skip


def test_the_follow_ups_24_plus_6_families():
    assert len(TRAINING_FAMILIES) == 24 and len(HELD_OUT_FAMILIES) == 6
    assert {f.name for f in HELD_OUT_FAMILIES} == {
        "bernoulli",
        "poisson",
        "maxwell",
        "truncnorm",
        "chi",
        "weibull",
    }
    assert set(SETTINGS) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(SETTINGS))
def test_every_family_discretises_to_a_distribution_near_its_own(family):
    spec = make_spec(family, SETTINGS[family])
    target = discretise(spec, Discretisation())
    assert len(set(target.values)) == len(target.values) >= 2
    assert target.probs.sum() == pytest.approx(1.0) and (target.probs >= 0).all()
    assert target.kept_mass >= 0.99
    assert all(in_support(spec, float(v)) for v in target.values)
    assert [number_value(v) for v in target.values] == pytest.approx(target.numbers.tolist())
    dist = spec.distribution()
    # The quantile range's mass, as scipy computes it.
    if not FAMILIES[family].discrete:
        assert target.kept_mass == pytest.approx(dist.cdf(target.high) - dist.cdf(target.low), abs=1e-12)
    # Light-tailed families: the discretised median is the distribution's, to a grid step.
    if family not in ("cauchy", "lognormal", "pareto", "lomax"):
        median = target.numbers[np.searchsorted(np.cumsum(target.probs), 0.5)]
        step = np.diff(target.numbers).max()
        assert abs(median - dist.median()) <= step + 1e-9


def test_continuous_bins_take_the_cdf_between_midpoints_and_the_tails_at_the_edges():
    spec = make_spec("uniform", {"a": 0, "b": 1})
    target = discretise(spec, Discretisation(decimals=1, max_bins=100))
    # Quantiles 0.001 / 0.999 -> values 0.1 ... 0.9; edges at the midpoints; each tail (0.001) in its edge bin.
    assert target.values == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    assert target.probs.tolist() == pytest.approx([0.15] + [0.1] * 7 + [0.15])
    assert target.kept_mass == pytest.approx(0.998)


def test_a_bin_cap_thins_the_grid_evenly():
    spec = make_spec("gaussian", {"mu": 0, "sigma": 1})
    target = discretise(spec, Discretisation(decimals=3, max_bins=101))
    assert len(target.values) == 101 and all(len(v.split(".")[1]) == 3 for v in target.values)
    gaps = np.diff(target.numbers)
    assert gaps.max() - gaps.min() <= 0.0011  # grid points of 0.001, as evenly spaced as they allow


def test_discrete_families_use_the_pmf_and_fold_the_tails():
    spec = make_spec("poisson", {"lambda": 3})
    target = discretise(spec, Discretisation())
    last = int(target.values[-1])
    assert target.values[0] == "0" and last == stats.poisson(3).ppf(0.999)
    expected = stats.poisson(3).pmf(np.arange(last + 1))
    expected[-1] += stats.poisson(3).sf(last)
    assert target.probs == pytest.approx(expected)


def test_a_discretisation_that_keeps_too_little_mass_is_refused():
    spec = make_spec("poisson", {"lambda": 12})
    with pytest.raises(FamilyError, match=r"calibration\.specs\[3\]: the discretisation keeps 0\.24"):
        discretise(spec, Discretisation(max_bins=10), where="experiments.calibration.specs[3]")
    with pytest.raises(FamilyError, match="decimals"):
        discretise(make_spec("beta", {"alpha": 2, "beta": 2}), Discretisation(decimals=0))


@pytest.mark.parametrize(
    ("family", "params", "message"),
    [
        ("gausian", {"mu": 0, "sigma": 1}, r"x\.family: unknown family 'gausian'"),
        ("gaussian", {"mu": 0, "sigma": -1}, r"x\.params\.sigma: gaussian needs sigma positive, not -1"),
        ("gaussian", {"mu": 0}, r"missing \['sigma'\]"),
        ("gaussian", {"mu": 0, "sigma": 1, "tau": 2}, r"unknown \['tau'\]"),
        ("binomial", {"n": 2.5, "p": 0.5}, r"params\.n: binomial needs n a positive integer"),
        ("bernoulli", {"p": 1.5}, r"params\.p: bernoulli needs p strictly between 0 and 1"),
        ("uniform", {"a": 2, "b": 1}, "b must exceed a"),
        (
            "gaussian",
            {"mu": 0.1234567, "sigma": 1},
            r"params\.mu: 0\.1234567 has more digits than the prompt",
        ),
        ("gaussian", {"mu": "zero", "sigma": 1}, r"params\.mu: 'zero' is not a number"),
    ],
)
def test_bad_specs_name_the_key(family, params, message):
    with pytest.raises(FamilyError, match=message):
        make_spec(family, params, where="x")


def test_prompt_and_id():
    spec = make_spec("weibull", {"lambda": 1.5, "k": 2})
    assert spec.prompt == (
        "Generate exactly ONE random number from a Weibull distribution with parameters k=2, lambda=1.5. "
        "Output ONLY the number."
    )
    assert spec.id == "distributions/weibull_k_2_lambda_1.5"


def test_parse_number_reads_only_a_plain_number():
    assert number_value(" 3.25\n") == 3.25 and number_value("-2") == -2.0 and number_value("1e3") == 1000.0
    for text in ["3.14.", "nan", "inf", "1_000", "five", "3,5", "The number is 4", "", None]:
        assert number_value(text) is None, text
    spec = make_spec("binomial", {"n": 10, "p": 0.5})
    assert in_support(spec, 3.0) and not in_support(spec, 3.5) and not in_support(spec, 11.0)


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("gaussian", {"mu": 0, "sigma": 2}),
        ("lognormal", {"mu": 1.5, "sigma": 1.25}),
        ("uniform", {"a": -5, "b": 7}),
    ],
)
def test_a_thinned_fine_grid_is_the_full_grid_thinned(family, params):
    # At 5 decimals the full grid has millions of points; discretise builds only the kept ones.
    import math

    settings = Discretisation(decimals=5, max_bins=1001)
    target = discretise(make_spec(family, params), settings)
    scale = 10**5
    first, last = math.ceil(round(target.low * scale, 6)), math.floor(round(target.high * scale, 6))
    full = np.arange(first, last + 1)
    naive = full[np.unique(np.round(np.linspace(0, len(full) - 1, 1001)).astype(int))] / scale
    assert len(full) > 100_000 and np.array_equal(target.numbers, naive)
