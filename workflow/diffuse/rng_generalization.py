"""RNG generalization (section 4.2, Figure 2): entropy over unseen prompt formats and number ranges.

The prompts are generated from the five templates of Appendix B.1 (with `$low` and `$high`): Figure 2a
uses every template with low = 1 and the upper end on the x-axis; Figure 2b uses template 1 with a seeded
random low in [low_min, low_max] and the size of the range on the x-axis. Every generated prompt is a task
with the integers of its range as targets; one job per (model, adapter) evaluates them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING

import numpy as np

from .tasks import Task, TaskError

# pandas and scipy are imported where used: parsing the workflow imports this module (tests/test_parse_imports.py).
if TYPE_CHECKING:
    import pandas as pd

SOURCE = "config experiments.rng_generalization"


@dataclass(frozen=True)
class RangePrompt:
    figure: str  # "2a" or "2b"
    template: int  # 1-based index into the templates
    draw: int  # 1-based random-low draw for 2b, 0 for 2a
    low: int
    high: int
    task: Task

    @property
    def size(self) -> int:
        return self.high - self.low + 1


def _prompt(template: str, low: int, high: int, index: int) -> str:
    try:
        return Template(template).substitute(low=low, high=high)
    except (KeyError, ValueError) as error:
        raise TaskError(
            f"{SOURCE}.prompts[{index}]: {error!r}; use $low and $high (and $$ for a dollar)"
        ) from None


def _task(task_id: str, prompt: str, low: int, high: int) -> Task:
    return Task(
        id=task_id,
        source=SOURCE,
        prompt=prompt,
        targets={"range": [low, high]},
        natural="uniform",
        category_label="RNG GENERALIZATION",
    )


def random_lows(spec: dict) -> list[int]:
    rng = np.random.default_rng(spec["seed"])
    return rng.integers(spec["low_min"], spec["low_max"] + 1, size=spec["draws"]).tolist()


def range_prompts(spec: dict) -> list[RangePrompt]:
    """Every prompt of Figures 2a and 2b, as tasks with ids rng-formats/... and rng-shifted/..."""
    templates = spec["prompts"]
    prompts = []
    for high in spec["highs"]:
        for k, template in enumerate(templates, start=1):
            task = _task(f"rng-formats/p{k}-1-{high}", _prompt(template, 1, high, k - 1), 1, high)
            prompts.append(RangePrompt("2a", k, 0, 1, high, task))
    for size in spec["sizes"]:
        for j, low in enumerate(random_lows(spec), start=1):
            high = low + size - 1
            task = _task(f"rng-shifted/d{j}-{low}-{high}", _prompt(templates[0], low, high, 0), low, high)
            prompts.append(RangePrompt("2b", 1, j, low, high, task))
    return prompts


def evaluate_prompts(
    backend, prompts: list[RangePrompt], settings, chunk_size: int = 64, encodings: list | None = None
) -> pd.DataFrame:
    """Sampled and exact metrics of every prompt, with one loaded model (the backend's); `encodings`: the
    prompts already encoded with the model's tokenizer (encoded here otherwise)."""
    import pandas as pd

    from .evaluate import evaluate, sample_and_score
    from .targets import encode_task

    rows = []
    if encodings is None:
        encodings = [encode_task(backend.tokenizer, item.task) for item in prompts]
    for item, encoded in zip(prompts, encodings, strict=True):
        samples, exact = sample_and_score(backend, item.task, encoded, settings, chunk_size)
        row = {
            "figure": item.figure, "task": item.task.id, "template": item.template, "draw": item.draw,
            "low": item.low, "high": item.high, "size": item.size, "max_entropy": float(np.log(item.size)),
        }  # fmt: skip
        row.update(evaluate(item.task, encoded, samples, exact))
        rows.append(row)
    return pd.DataFrame(rows)


def mean_with_ci(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% t confidence interval (0 for a single value)."""
    import pandas as pd
    import scipy.stats

    values = pd.Series(values, dtype=float).dropna()
    if len(values) < 2:
        return (float(values.mean()) if len(values) else float("nan")), 0.0
    quantile = scipy.stats.t.ppf(0.975, df=len(values) - 1)
    return float(values.mean()), float(quantile * values.std(ddof=1) / np.sqrt(len(values)))


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (model, adapter, figure, x): mean and 95% CI over prompts of sampled and exact entropy."""
    import pandas as pd

    rows = []
    frame = frame.assign(x=np.where(frame["figure"] == "2a", frame["high"], frame["size"]))
    for (model, adapter, figure, x), group in frame.groupby(["model", "adapter", "figure", "x"], sort=True):
        row = {"model": model, "adapter": adapter, "figure": figure, "x": int(x), "prompts": len(group)}
        if "n_samples" in group:
            # N per prompt; NaN flags a point whose prompts were sampled with different N.
            ns = sorted(set(group["n_samples"].astype(int)))
            row["n_samples"] = ns[0] if len(ns) == 1 else float("nan")
        for column in (
            "entropy", "entropy_valid", "coverage", "coverage_valid", "exact_entropy_valid", "parse_rate",
            "valid_rate", "exact_valid_mass",
        ):  # fmt: skip
            if column not in group:
                continue
            row[column], row[f"{column}_ci95"] = mean_with_ci(group[column])
        row["max_entropy"] = float(np.log(group["size"].mean()))
        rows.append(row)
    return pd.DataFrame(rows)
