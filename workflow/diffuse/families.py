"""Named probability distributions as target sets: the 2026 follow-up's distribution-family tasks.

A spec is a family and its parameters ("gaussian", {mu: 0, sigma: 1}). Its prompt asks for one number
from it; its target set is the distribution discretised to strings a model can write: a continuous family
on a grid of fixed decimals between two quantiles (at most max_bins points, the mass of each the CDF
between the midpoints to its neighbours, the two tails folded into the edge points), a discrete family
on its integers within its support or those quantiles. The mass the grid's range holds before the tails
are folded in is `kept_mass`; a discretisation that keeps less than `min_mass` is an error.

Families, parameterisations and the 24 + 6 split follow Baldelli et al. (2026), "Probabilistic
Calibration Is a Trainable Capability in Language Models" (github.com/chandar-lab/calibration-finetuning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .parsing import parse_number

PROMPT = (
    "Generate exactly ONE random number from a {display} distribution with parameters {params}. "
    "Output ONLY the number."
)
INF = math.inf


class FamilyError(ValueError):
    """A spec that cannot be a target set; the message names the config key."""


# A parameter's domain: the check and how the error names it.
DOMAINS = {
    "real": (lambda v: math.isfinite(v), "a finite number"),
    "positive": (lambda v: math.isfinite(v) and v > 0, "positive"),
    "probability": (lambda v: 0 < v < 1, "strictly between 0 and 1"),
    "count": (lambda v: float(v).is_integer() and v >= 0, "a non-negative integer"),
    "positive_count": (lambda v: float(v).is_integer() and v >= 1, "a positive integer"),
}


@dataclass(frozen=True)
class Family:
    name: str  # the config key
    display: str  # as the prompt writes it
    params: dict[str, str]  # name -> domain (DOMAINS), in the prompt's order
    discrete: bool
    build: object  # (scipy.stats, params) -> scipy frozen distribution; see `frozen`
    support: object = None  # params -> (low, high); default (-inf, inf), or [0, inf) for `nonnegative`
    relation: object = None  # params -> an error message for parameters that do not fit together, or None
    nonnegative: bool = False

    def frozen(self, p: dict):
        """The scipy frozen distribution of parameters p. scipy.stats is imported here, on first use: it
        costs about 1 s, and parsing the workflow imports this module."""
        import scipy.stats

        return self.build(scipy.stats, p)

    def bounds(self, p: dict) -> tuple[float, float]:
        if self.support is not None:
            return self.support(p)
        return (0.0 if self.nonnegative else -INF), INF


def _family(name, display, params, discrete=False, **kwargs) -> Family:
    return Family(name=name, display=display, params=params, discrete=discrete, **kwargs)


def _hypergeometric_support(p):
    M, K, N = p["M"], p["K"], p["N"]
    return max(0.0, N - (M - K)), min(float(N), float(K))


TRAINING_FAMILIES = [
    _family("uniform", "Uniform", {"a": "real", "b": "real"},
            build=lambda stats, p: stats.uniform(loc=p["a"], scale=p["b"] - p["a"]),
            support=lambda p: (p["a"], p["b"]), relation=lambda p: None if p["b"] > p["a"] else "b must exceed a"),
    _family("gaussian", "Gaussian", {"mu": "real", "sigma": "positive"},
            build=lambda stats, p: stats.norm(p["mu"], p["sigma"])),
    _family("beta", "Beta", {"alpha": "positive", "beta": "positive"},
            build=lambda stats, p: stats.beta(p["alpha"], p["beta"]), support=lambda p: (0.0, 1.0)),
    _family("binomial", "Binomial", {"n": "positive_count", "p": "probability"}, discrete=True,
            build=lambda stats, p: stats.binom(int(p["n"]), p["p"]), support=lambda p: (0.0, float(p["n"]))),
    _family("exponential", "Exponential", {"lambda": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.expon(scale=1 / p["lambda"])),
    _family("geometric", "Geometric", {"p": "probability"}, discrete=True,
            build=lambda stats, p: stats.geom(p["p"]), support=lambda p: (1.0, INF)),
    _family("negative_binomial", "Negative Binomial", {"r": "positive", "p": "probability"}, discrete=True,
            build=lambda stats, p: stats.nbinom(p["r"], p["p"]), nonnegative=True),
    _family("lognormal", "LogNormal", {"mu": "real", "sigma": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.lognorm(s=p["sigma"], scale=math.exp(p["mu"]))),
    _family("triangular", "Triangular", {"a": "real", "c": "real", "b": "real"},
            build=lambda stats, p: stats.triang(c=(p["c"] - p["a"]) / (p["b"] - p["a"]), loc=p["a"], scale=p["b"] - p["a"]),
            support=lambda p: (p["a"], p["b"]),
            relation=lambda p: None if p["a"] <= p["c"] <= p["b"] and p["a"] < p["b"] else "needs a <= c <= b, a < b"),
    _family("rayleigh", "Rayleigh", {"sigma": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.rayleigh(scale=p["sigma"])),
    _family("cauchy", "Cauchy", {"x0": "real", "gamma": "positive"},
            build=lambda stats, p: stats.cauchy(p["x0"], p["gamma"])),
    _family("student_t", "Student's t", {"nu": "positive"}, build=lambda stats, p: stats.t(p["nu"])),
    _family("chi_square", "Chi-Square", {"nu": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.chi2(p["nu"])),
    _family("f_distribution", "F-Distribution", {"d1": "positive", "d2": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.f(p["d1"], p["d2"])),
    _family("gamma", "Gamma", {"alpha": "positive", "beta": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.gamma(p["alpha"], scale=p["beta"])),
    _family("laplace", "Laplace", {"mu": "real", "b": "positive"}, build=lambda stats, p: stats.laplace(p["mu"], p["b"])),
    _family("logistic", "Logistic", {"mu": "real", "s": "positive"},
            build=lambda stats, p: stats.logistic(p["mu"], p["s"])),
    _family("pareto", "Pareto", {"alpha": "positive", "xm": "positive"},
            build=lambda stats, p: stats.pareto(p["alpha"], scale=p["xm"]), support=lambda p: (p["xm"], INF)),
    _family("hypergeometric", "Hypergeometric", {"M": "positive_count", "K": "count", "N": "count"}, discrete=True,
            build=lambda stats, p: stats.hypergeom(int(p["M"]), int(p["K"]), int(p["N"])), support=_hypergeometric_support,
            relation=lambda p: None if p["K"] <= p["M"] and p["N"] <= p["M"] else "needs K <= M and N <= M"),
    _family("gumbel", "Gumbel", {"mu": "real", "beta": "positive"},
            build=lambda stats, p: stats.gumbel_r(p["mu"], p["beta"])),
    _family("skellam", "Skellam", {"mu1": "positive", "mu2": "positive"}, discrete=True,
            build=lambda stats, p: stats.skellam(p["mu1"], p["mu2"])),
    _family("beta_binomial", "Beta-Binomial", {"n": "positive_count", "alpha": "positive", "beta": "positive"},
            discrete=True, build=lambda stats, p: stats.betabinom(int(p["n"]), p["alpha"], p["beta"]),
            support=lambda p: (0.0, float(p["n"]))),
    _family("lomax", "Lomax", {"alpha": "positive", "lambda": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.lomax(p["alpha"], scale=p["lambda"])),
    _family("inverse_gaussian", "Inverse Gaussian", {"mu": "positive", "lambda": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.invgauss(p["mu"] / p["lambda"], scale=p["lambda"])),
]  # fmt: skip

# The follow-up's held-out families: never trained on there, tested for transfer.
HELD_OUT_FAMILIES = [
    _family("bernoulli", "Bernoulli", {"p": "probability"}, discrete=True,
            build=lambda stats, p: stats.bernoulli(p["p"]), support=lambda p: (0.0, 1.0)),
    _family("poisson", "Poisson", {"lambda": "positive"}, discrete=True, nonnegative=True,
            build=lambda stats, p: stats.poisson(p["lambda"])),
    _family("maxwell", "Maxwell", {"scale": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.maxwell(scale=p["scale"])),
    _family("truncnorm", "TruncNorm", {"mu": "real", "sigma": "positive", "lower": "real", "upper": "real"},
            build=lambda stats, p: stats.truncnorm((p["lower"] - p["mu"]) / p["sigma"], (p["upper"] - p["mu"]) / p["sigma"],
                                            loc=p["mu"], scale=p["sigma"]),
            support=lambda p: (p["lower"], p["upper"]),
            relation=lambda p: None if p["lower"] < p["upper"] else "lower must be below upper"),
    _family("chi", "Chi", {"df": "positive"}, nonnegative=True, build=lambda stats, p: stats.chi(p["df"])),
    _family("weibull", "Weibull", {"k": "positive", "lambda": "positive"}, nonnegative=True,
            build=lambda stats, p: stats.weibull_min(p["k"], scale=p["lambda"])),
]  # fmt: skip

FAMILIES = {family.name: family for family in TRAINING_FAMILIES + HELD_OUT_FAMILIES}


@dataclass(frozen=True)
class Discretisation:
    """How a spec becomes a target set (config experiments.calibration.discretisation)."""

    decimals: int = 2  # continuous families: values on a grid of this many decimals, always written out
    max_bins: int = 201  # at most this many values (evenly thinned grid points)
    quantiles: tuple[float, float] = (0.001, 0.999)  # the range: these quantiles, within the support
    min_mass: float = 0.99  # an error below: the mass inside the range before the tails are folded in


@dataclass(frozen=True)
class Spec:
    family: str
    params: dict = field(hash=False)

    @property
    def id(self) -> str:
        """A task id: distributions/<family>_<param>_<value>..., e.g. distributions/gaussian_mu_0_sigma_1."""
        parts = [f"{name.lower()}_{format_number(value)}" for name, value in self.params.items()]
        return "distributions/" + "_".join([self.family, *parts])

    @property
    def prompt(self) -> str:
        family = FAMILIES[self.family]
        params = ", ".join(f"{name}={format_number(self.params[name])}" for name in family.params)
        return PROMPT.format(display=family.display, params=params)

    def distribution(self):
        return FAMILIES[self.family].frozen(self.params)


def format_number(value: float) -> str:
    """A parameter as the prompt writes it: integers without a decimal point, others in up to 6 digits."""
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def make_spec(family: str, params: dict, where: str = "spec") -> Spec:
    """A checked spec: a known family, its parameters (no others), each in its domain and written in full."""
    if family not in FAMILIES:
        raise FamilyError(f"{where}.family: unknown family {family!r}; known: {sorted(FAMILIES)}")
    known = FAMILIES[family].params
    if set(params) != set(known):
        missing, extra = sorted(set(known) - set(params)), sorted(set(params) - set(known))
        raise FamilyError(
            f"{where}.params: {family} takes {list(known)}" + (f"; missing {missing}" if missing else "")
            + (f"; unknown {extra}" if extra else "")
        )  # fmt: skip
    ordered = {}
    for name, domain in known.items():
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FamilyError(f"{where}.params.{name}: {value!r} is not a number")
        check, wanted = DOMAINS[domain]
        if not check(float(value)):
            raise FamilyError(f"{where}.params.{name}: {family} needs {name} {wanted}, not {value!r}")
        if float(format_number(value)) != float(value):
            raise FamilyError(
                f"{where}.params.{name}: {value!r} has more digits than the prompt writes "
                f"({format_number(value)}); round it so that the prompt states the target's parameter"
            )
        ordered[name] = float(value)
    relation = FAMILIES[family].relation
    if relation is not None and (problem := relation(ordered)):
        raise FamilyError(f"{where}.params: {family}: {problem} (got {params})")
    return Spec(family, ordered)


@dataclass(frozen=True)
class TargetSet:
    """A discretised spec: values as the model should write them, their numbers and probabilities."""

    values: list[str]
    numbers: np.ndarray
    probs: np.ndarray
    kept_mass: float  # mass inside [low, high] before the tails were folded into the edge values
    low: float
    high: float


def discretise(spec: Spec, settings: Discretisation, where: str = "spec") -> TargetSet:
    """The spec's target set (see the module docstring); FamilyError naming `where` when it keeps too little."""
    family = FAMILIES[spec.family]
    dist = spec.distribution()
    support_low, support_high = family.bounds(spec.params)
    q_low, q_high = settings.quantiles
    if family.discrete:
        low = support_low if math.isfinite(support_low) else math.floor(dist.ppf(q_low))
        high = support_high if math.isfinite(support_high) else math.ceil(dist.ppf(q_high))
        numbers = np.arange(int(low), min(int(high), int(low) + settings.max_bins - 1) + 1, dtype=float)
        high = float(numbers[-1])
        probs = dist.pmf(numbers)
        kept = float(probs.sum())
        probs[0] += dist.cdf(low - 1)
        probs[-1] += dist.sf(high)
        values = [str(int(v)) for v in numbers]
    else:
        low = max(float(dist.ppf(q_low)), support_low)
        high = min(float(dist.ppf(q_high)), support_high)
        scale = 10**settings.decimals
        first, last = math.ceil(round(low * scale, 6)), math.floor(round(high * scale, 6))
        if last < first + 1:
            raise FamilyError(
                f"{where}: {settings.decimals} decimals give fewer than two values in [{low:g}, {high:g}]; "
                "raise experiments.calibration.discretisation.decimals"
            )
        # The grid's points are first..last; thinned, only the chosen ones are built (5 decimals: millions).
        count = last - first + 1
        if count > settings.max_bins:
            steps = first + np.unique(np.round(np.linspace(0, count - 1, settings.max_bins)).astype(int))
        else:
            steps = np.arange(first, last + 1)
        numbers = steps / scale
        edges = np.concatenate([[low], (numbers[1:] + numbers[:-1]) / 2, [high]])
        cdf = dist.cdf(edges)
        probs = np.diff(cdf)
        kept = float(cdf[-1] - cdf[0])
        probs[0] += cdf[0]
        probs[-1] += 1 - cdf[-1]
        values = [f"{v:.{settings.decimals}f}" for v in numbers]
    if kept < settings.min_mass:
        raise FamilyError(
            f"{where}: the discretisation keeps {kept:.4f} of {spec.family}{spec.params}'s mass in "
            f"[{low:g}, {high:g}] (< min_mass {settings.min_mass}); raise experiments.calibration.discretisation"
            ".max_bins or widen its quantiles"
        )
    probs = np.clip(probs, 0, None)
    return TargetSet(values, numbers, probs / probs.sum(), kept, float(low), float(high))


def number_value(text: str | None) -> float | None:
    """The number a sample states (parsing.parse_number: the whole answer one plain number), or None."""
    answer = parse_number(text)
    return None if answer is None else float(answer)


def in_support(spec: Spec, value: float) -> bool:
    """Whether a number is a possible outcome: inside the support, an integer for a discrete family."""
    family = FAMILIES[spec.family]
    low, high = family.bounds(spec.params)
    return low <= value <= high and (not family.discrete or float(value).is_integer())
