"""The 2026 follow-up's experiment in this DAG: Eq. 5, soft-target and hard-target adapters trained on
distribution-family specs, scored on seen specs, unseen parameters and held-out families.

Config `experiments.calibration`: the specs of each split (`train` is also the seen split), their
discretisation, and one adapter per objective (trainsets calib-eq5, calib-soft, calib-hard). The specs are
tasks (distributions/<family>_<param>_<value>...) whose target files the rule distribution_targets writes;
the rule calibration samples and scores every evaluated spec with one model load.

Metrics per spec, over valid samples (a plain number inside the support): Wasserstein-1 to the discretised
target, normalised by the W1 of always answering the target's median (1 = no better than that constant;
the follow-up's artifact states no normaliser), mean and variance errors against the discretised target's
moments, a chi-square test on the samples binned to the target's grid. Exact ones, with no sampling noise:
the model's probability of every target (teacher forcing), its mass on the target strings, W1 and KL of
the model's distribution over them (renormalised), and the trie KL (the soft loss, the follow-up's
"logit KL") as its exact expectation over p*.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

import numpy as np

from .families import (
    Discretisation,
    FamilyError,
    Spec,
    TargetSet,
    discretise,
    in_support,
    make_spec,
    number_value,
)

# pandas and scipy are imported where used: parsing the workflow imports this module (tests/test_parse_imports.py).
if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("seen", "unseen", "held_out")  # seen: the training specs themselves
OBJECTIVE_ADAPTERS = {"eq5": "calib-eq5", "soft_trie_kl": "calib-soft", "hard_ce": "calib-hard"}
# Adapter -> condition (diffuse.palette.CALIBRATION_CONDITIONS); "base" is the untuned model.
BASE_ADAPTER = "base"
CONDITION_OF = {BASE_ADAPTER: "untuned", "calib-eq5": "eq5", "calib-soft": "soft", "calib-hard": "hard"}


def hotter_condition(temperature: float) -> str:
    """The baseline condition of the untuned model sampled (and scored) at a temperature above 1."""
    return f"untuned T={temperature:g}"


TARGET_DIR = "results/data/distributions"


def discretisation(block: dict) -> Discretisation:
    settings = dict(block.get("discretisation", {}))
    if "quantiles" in settings:
        settings["quantiles"] = tuple(settings["quantiles"])
    return Discretisation(**settings)


def grid_values(axis, where: str) -> list[float]:
    """One parameter's values in a grid entry: a list, or {linspace | geomspace: [start, stop, count]},
    each rounded to 4 significant digits so that the prompt states it exactly."""
    if isinstance(axis, list):
        return [float(v) for v in axis]
    if isinstance(axis, dict) and len(axis) == 1 and next(iter(axis)) in ("linspace", "geomspace"):
        ((kind, (start, stop, count)),) = axis.items()
        if kind == "geomspace" and (start <= 0 or stop <= 0):
            raise FamilyError(f"{where}: geomspace needs positive ends, not {start}, {stop}")
        values = getattr(np, kind)(start, stop, int(count))
        return [float(f"{v:.4g}") for v in values]
    raise FamilyError(
        f"{where}: a list of values or {{linspace|geomspace: [start, stop, count]}}, not {axis!r}"
    )


def expand_entry(entry: dict, where: str) -> list[tuple[dict, str]]:
    """A spec entry's parameter settings: its `params`, or every combination of its `grid` axes."""
    if ("params" in entry) == ("grid" in entry):
        raise FamilyError(f"{where}: give params or grid, not both or neither")
    if "params" in entry:
        return [(entry["params"], where)]
    axes = {name: grid_values(axis, f"{where}.grid.{name}") for name, axis in entry["grid"].items()}
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    return [(params, f"{where}.grid (point {k})") for k, params in enumerate(combos)]


def split_specs(block: dict) -> list[tuple[str, Spec, str]]:
    """(split, spec, config key) of every evaluated spec, checked; FamilyError names the key."""
    keys = {"seen": "train", "unseen": "unseen", "held_out": "held_out"}
    items, seen_ids = [], {}
    for split in SPLITS:
        for i, entry in enumerate(block.get(keys[split], [])):
            for params, where in expand_entry(entry, f"experiments.calibration.{keys[split]}[{i}]"):
                spec = make_spec(entry["family"], params, where)
                if spec.id in seen_ids:
                    raise FamilyError(f"{where}: the same spec as {seen_ids[spec.id]}")
                seen_ids[spec.id] = where
                items.append((split, spec, where))
    if not any(split == "seen" for split, _, _ in items):
        raise FamilyError("experiments.calibration.train: no training specs")
    return items


def target_sets(block: dict) -> dict[str, TargetSet]:
    """Every spec's target set by task id, computed here so that a bad one fails before any job runs."""
    settings = discretisation(block)
    return {spec.id: discretise(spec, settings, where) for _, spec, where in split_specs(block)}


def target_file(spec: Spec) -> str:
    return f"{TARGET_DIR}/{spec.id.split('/', 1)[1]}.csv"


def calibration_tasks(block: dict) -> dict:
    """The specs as tasks: their prompt, targets from the rule distribution_targets, the whole answer a number."""
    from .tasks import Task

    tasks = {}
    for split, spec, where in split_specs(block):
        tasks[spec.id] = Task(
            id=spec.id,
            source=where,
            prompt=spec.prompt,
            targets={"file": target_file(spec)},
            target_format="{value}",
            parser="number",
            metadata={"family": spec.family, "split": split},
        )
    return tasks


def calibration_trainsets(block: dict) -> dict[str, dict]:
    """One trainset per objective (calib-eq5, calib-soft, calib-hard) on the training specs."""
    train = [spec.id for split, spec, _ in split_specs(block) if split == "seen"]
    return {
        OBJECTIVE_ADAPTERS[objective]: {"tasks": train, "training": {**overrides, "objective": objective}}
        for objective, overrides in block["objectives"].items()
    }


def spec_params(block: dict) -> dict[str, dict]:
    """Task id -> the plain data distribution_targets needs (family, params, split)."""
    return {
        spec.id: {"family": spec.family, "params": dict(spec.params), "split": split}
        for split, spec, _ in split_specs(block)
    }


# --- metrics ------------------------------------------------------------------------------------------


def w1_on_grid(numbers: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """Wasserstein-1 between two distributions on the same sorted points: sum |P - Q| x gap."""
    return float(np.sum(np.abs(np.cumsum(p) - np.cumsum(q))[:-1] * np.diff(numbers)))


def median_w1(target: TargetSet) -> float:
    """W1 from the target to a point mass at its median: the normaliser of normalised W1."""
    median = target.numbers[np.searchsorted(np.cumsum(target.probs), 0.5)]
    return float(np.sum(target.probs * np.abs(target.numbers - median)))


def moments(numbers, probs) -> tuple[float, float]:
    mean = float(np.sum(probs * numbers))
    return mean, float(np.sum(probs * (numbers - mean) ** 2))


def grid_bins(target: TargetSet, values: np.ndarray) -> np.ndarray:
    """Each value's bin on the target grid (the bins' edges are the midpoints between grid points)."""
    edges = (target.numbers[1:] + target.numbers[:-1]) / 2
    return np.searchsorted(edges, values, side="left")


def sampled_metrics(spec: Spec, target: TargetSet, texts: list[str]) -> dict:
    """Metrics of N sampled answers against the discretised target (valid: a number in the support)."""
    parsed = [number_value(t) for t in texts]
    values = np.array([v for v in parsed if v is not None and in_support(spec, v)], dtype=float)
    n = len(texts)
    row = {
        "n_samples": n,
        "parse_rate": sum(v is not None for v in parsed) / n if n else float("nan"),
        "valid_rate": len(values) / n if n else float("nan"),
        "n_valid": len(values),
        "unique_valid": len(set(values.tolist())),
    }
    if not len(values):
        return {**row, "w1": float("nan"), "w1_normalised": float("nan"), "mean_error": float("nan"),
                "variance_error": float("nan"), "chi2_pvalue": float("nan")}  # fmt: skip
    import scipy.stats

    w1 = float(scipy.stats.wasserstein_distance(values, target.numbers, v_weights=target.probs))
    mean, variance = moments(target.numbers, target.probs)
    counts = np.bincount(grid_bins(target, values), minlength=len(target.numbers))
    try:
        from .metrics import chisquare_fit

        fit = chisquare_fit(dict(enumerate(counts.tolist())), dict(enumerate(target.probs.tolist())))
        pvalue = fit["pvalue"]
    except ValueError:  # every sample in one pooled bin: no test
        pvalue = float("nan")
    return {
        **row,
        "w1": w1,
        "w1_normalised": w1 / median_w1(target),
        "mean_error": abs(float(values.mean()) - mean),
        "variance_error": abs(float(values.var()) - variance),
        "chi2_pvalue": pvalue,
    }


def exact_metrics(target: TargetSet, logprobs: np.ndarray, trie_kl: np.ndarray) -> dict:
    """The model's exact distribution over the target strings against p*, and the exact trie KL."""
    p_model = np.exp(logprobs)
    mass = float(p_model.sum())
    renormalised = p_model / mass
    positive = target.probs > 0
    kl = float(
        np.sum(target.probs[positive] * (np.log(target.probs[positive]) - np.log(renormalised[positive])))
    )
    return {
        "exact_target_mass": mass,
        "exact_w1": w1_on_grid(target.numbers, renormalised, target.probs),
        "exact_w1_normalised": w1_on_grid(target.numbers, renormalised, target.probs) / median_w1(target),
        "exact_kl": kl,
        "trie_kl": float(np.sum(target.probs * trie_kl)),
    }


def exact_scores(
    model, encoded, chunk_size: int = 64, temperature: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per target: log p_T(y|x) and its path's trie KL at temperature T (the distribution sampling at T
    draws from), one teacher-forced pass sharing the prompt's cache."""
    import torch

    from .lm import chunked, continuation_logits, encode_prompt, full_log_softmax, token_labels
    from .trie import TargetTrie, path_nll, trie_kl

    trie = TargetTrie(encoded.target_ids, encoded.weights, where=encoded.task_id)
    logps, kls = [], []
    with torch.no_grad():
        state = encode_prompt(model, encoded.prompt_ids)
        for _, chunk in chunked(list(range(len(trie))), chunk_size):
            paths = [trie.sequences[i] for i in chunk]
            logits, mask = continuation_logits(model, state, paths)
            logprobs = full_log_softmax(logits / temperature)
            logps.append(-path_nll(logprobs, token_labels(paths, logprobs.device), mask))
            kls.append(trie_kl(logprobs, trie.path_targets(chunk, logprobs.device)))
    return torch.cat(logps).double().cpu().numpy(), torch.cat(kls).double().cpu().numpy()


def grid_target(encoded) -> TargetSet:
    """The target set back from its encoding: the values are the grid's numbers as written."""
    nan = float("nan")
    numbers = np.array([float(v) for v in encoded.values])
    return TargetSet(list(encoded.values), numbers, np.asarray(encoded.weights, dtype=float), nan, nan, nan)


def evaluate_specs(backend, model, items: list[dict], encodings: list, settings, chunk_size: int = 64):
    """One row per spec: sampled (through `backend`) and exact (teacher forcing through `model`) metrics.

    items: per spec, in the order of `encodings`: {"task": Task.to_params, "family", "params", "split"}.
    """
    from .sampling import sample_encoded_many
    from .tasks import Task

    tasks = [Task.from_params(item["task"]) for item in items]
    sampled = sample_encoded_many(backend, tasks, encodings, settings, desc="specs")
    rows = []
    for item, encoded, samples in zip(items, encodings, sampled, strict=True):
        spec, target = Spec(item["family"], item["params"]), grid_target(encoded)
        logprobs, kls = exact_scores(model, encoded, chunk_size, settings.temperature)
        rows.append(
            {
                "task": spec.id, "family": spec.family, "split": item["split"], "targets": len(target.values),
                **sampled_metrics(spec, target, samples["text"].tolist()),
                **exact_metrics(target, logprobs, kls),
            }
        )  # fmt: skip
    import pandas as pd

    return pd.DataFrame(rows)


# String Seed of Thought (Misaki and Akiba, arXiv:2510.21150): the model first writes a random string, then
# derives its answer from it. Our wording of the idea, as a system message before the spec's prompt.
SSOT_SYSTEM = (
    "When a task asks for something random, do not pick it directly. First write a long, unpredictable random "
    "string of letters and digits between <random_string> and </random_string>. Then, between <thinking> and "
    "</thinking>, turn that string into your answer step by step, using all of it so that every possible answer "
    "stays as likely as the task asks. Finally write only the answer between <answer> and </answer>."
)
SSOT_CONDITION = "untuned SSoT"
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)


def ssot_answer(text: str | None) -> str | None:
    """The content of the first closed <answer>...</answer>, stripped; None without one (strict, as the
    follow-up extracts it)."""
    match = _ANSWER_TAG.search(text or "")
    return match.group(1).strip() if match else None


def evaluate_specs_ssot(backend, items: list[dict], encodings: list, settings) -> pd.DataFrame:
    """The SSoT baseline: sampled metrics only (the answer follows generated reasoning, so there is no exact
    distribution over the grid); answers without a closed answer tag count as unparsed."""
    from .targets import conversation_ids

    specs = [Spec(item["family"], item["params"]) for item in items]
    prompts = [
        (
            conversation_ids(
                backend.tokenizer,
                [{"role": "system", "content": SSOT_SYSTEM}, {"role": "user", "content": spec.prompt}],
            ),
            encoded.stop_ids,
        )
        for spec, encoded in zip(specs, encodings, strict=True)
    ]
    drawn = backend.sample_many(prompts, settings, desc="specs (SSoT)")
    rows = []
    for item, spec, encoded, (sequences, _) in zip(items, specs, encodings, drawn, strict=True):
        target = grid_target(encoded)
        texts = [backend.tokenizer.decode(seq, skip_special_tokens=True) for seq in sequences]
        answers = [ssot_answer(t) for t in texts]
        metrics = sampled_metrics(spec, target, [a if a is not None else "" for a in answers])
        metrics["answer_tag_rate"] = sum(a is not None for a in answers) / len(answers)
        rows.append({"task": spec.id, "family": spec.family, "split": item["split"], "targets": len(target.values),
                     **metrics})  # fmt: skip
    import pandas as pd

    return pd.DataFrame(rows)


def describe_targets(block: dict) -> pd.DataFrame:
    """One row per spec: its split, family, grid size and range, and the mass the discretisation keeps."""
    sets = target_sets(block)
    rows = []
    for split, spec, _ in split_specs(block):
        target = sets[spec.id]
        rows.append(
            {"task": spec.id, "split": split, "family": spec.family, "values": len(target.values),
             "low": target.values[0], "high": target.values[-1], "kept_mass": target.kept_mass}
        )  # fmt: skip
    import pandas as pd

    return pd.DataFrame(rows)


SUMMARY_METRICS = [
    "valid_rate",
    "w1_normalised",
    "exact_w1_normalised",
    "trie_kl",
    "exact_kl",
    "exact_target_mass",
]


TASK_SUITE_METRICS = [
    "parse_rate", "valid_rate", "coverage", "coverage_valid", "entropy", "entropy_valid", "exact_entropy_valid",
    "exact_valid_mass",
]  # fmt: skip


def task_suite_table(rows: list[dict], labels: dict[str, str]) -> pd.DataFrame:
    """The 2024 task suite (Tables 5/6's metrics) under each condition: per model, category and condition, the
    mean over the category's prompts of each metric; `rows` are section-5 metric records (one per model,
    adapter and prompt), `labels` category id -> label, in table order. Every row must share one N."""
    import pandas as pd

    from .paper.section5 import one_n  # plotting imports: not at parse time

    frame = pd.DataFrame(rows)
    n = one_n(frame)
    frame["category"] = frame["task"].str.split("/").str[0]
    frame["condition"] = frame["adapter"].map(CONDITION_OF)
    grouped = frame.groupby(["model", "category", "condition"], sort=False)
    table = grouped[TASK_SUITE_METRICS].mean().reset_index()
    table.insert(3, "prompts", grouped.size().to_numpy())
    table.insert(4, "N", n)
    table.insert(2, "label", table["category"].map(labels))
    order = {c: i for i, c in enumerate(labels)}
    conditions = {c: i for i, c in enumerate(CONDITION_OF.values())}
    table = table.assign(_c=table["category"].map(order), _k=table["condition"].map(conditions))
    return table.sort_values(["model", "_c", "_k"], ignore_index=True).drop(columns=["_c", "_k"])


def summary_table(per_spec: pd.DataFrame) -> pd.DataFrame:
    """Per model, split and condition: each metric's median over families of its mean over the family's specs
    (the follow-up's family-median, each family weighted once), with the family and spec counts."""
    per_family = per_spec.groupby(["model", "split", "condition", "family"], sort=False)[
        SUMMARY_METRICS
    ].mean()
    grouped = per_family.groupby(level=["model", "split", "condition"], sort=False)
    table = grouped.median().add_prefix("median_")
    table.insert(0, "families", grouped.size())
    specs = per_spec.groupby(["model", "split", "condition"], sort=False)
    table.insert(1, "specs", specs.size())
    table.insert(2, "n_samples", specs["n_samples"].min())
    table = table.reset_index()
    from .palette import calibration_conditions

    order = {c: i for i, c in enumerate(calibration_conditions(table["condition"]))}
    key = table["split"].map(SPLITS.index) * 100 + table["condition"].map(order)
    return table.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)
