"""Section 5, generalization across tasks: Tables 5 and 6 (mean coverage and entropy) and Figure 3."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..config import leave_one_out_adapter  # noqa: E402
from ..figure_data import save_figure  # noqa: E402
from ..palette import CONDITION_COLORS, CONDITIONS, REFERENCE_COLOR, use_theme  # noqa: E402

use_theme()

CONDITION_ORDER = list(CONDITIONS)


def condition_of(adapter: str, category: str, base: str = "base") -> str:
    """untuned, ID (tuned on the category) or OOD (tuned on the other categories)."""
    if adapter == base:
        return "untuned"
    return "ID" if adapter == leave_one_out_adapter("id", category) else "OOD"


def leave_one_out_frame(rows: list[dict], labels: dict[str, str], base: str = "base") -> pd.DataFrame:
    """Per (model, task, condition) metrics of section 5, with the category and its label."""
    frame = pd.DataFrame(rows)
    frame["category"] = frame["task"].str.split("/").str[0]
    frame["label"] = frame["category"].map(labels)
    frame["condition"] = [
        condition_of(a, c, base) for a, c in zip(frame["adapter"], frame["category"], strict=True)
    ]
    frame["max_entropy"] = np.log(frame["n_targets"])
    columns = [
        "model", "category", "label", "task", "condition", "adapter", "n_samples", "parse_rate", "valid_rate",
        "coverage", "coverage_valid", "coverage_outside_targets", "top_outside_targets", "entropy",
        "entropy_valid", "kl_target_add1", "exact_valid_mass", "exact_entropy_valid", "exact_kl_valid",
        "n_targets", "max_entropy",
    ]  # fmt: skip
    frame["condition"] = pd.Categorical(frame["condition"], CONDITION_ORDER, ordered=True)
    columns = [c for c in columns if c in frame.columns]
    return frame[columns].sort_values(["model", "category", "task", "condition"], ignore_index=True)


def leave_one_out_summary(per_task: pd.DataFrame, value: str, labels: list[str]) -> pd.DataFrame:
    """Mean of `value` over each category's prompts: rows categories (in `labels` order), columns model x condition."""
    table = per_task.pivot_table(
        index="label", columns=["model", "condition"], values=value, aggfunc="mean", observed=True
    )
    table = table.reindex(labels)
    table.columns = [f"{model} {condition}" for model, condition in table.columns]
    return table.reset_index().rename(columns={"label": "category"})


def one_n(per_task: pd.DataFrame) -> int:
    """The N behind every cell of a table; an error if the rows disagree (a table mixing Ns misleads)."""
    ns = sorted(set(per_task["n_samples"].astype(int)))
    if len(ns) != 1:
        raise ValueError(f"rows of one table over different N: {ns}")
    return ns[0]


def leave_one_out_summaries(
    per_task: pd.DataFrame, values: dict[str, str], labels: list[str]
) -> pd.DataFrame:
    """Several means side by side: `values` maps a metric to the suffix of its columns ('' for the first)."""
    tables = []
    for value, suffix in values.items():
        table = leave_one_out_summary(per_task, value, labels).set_index("category")
        tables.append(table.add_suffix(suffix))
    return pd.concat(tables, axis=1).reset_index()


# Beside each sampled figure of Tables 5 and 6: how often answers parsed, and the exact view of the same model.
SAMPLED_CONTEXT = {"parse_rate": " parse rate", "valid_rate": " valid rate"}
EXACT_CONTEXT = {"exact_entropy_valid": " exact entropy", "exact_valid_mass": " valid mass"}


def with_paper(table: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our table with the paper's numbers (wide, one column per paper model and condition) beside it."""
    wide = paper.pivot_table(index="category", columns="model", values=["untuned", "OOD"])
    wide.columns = [f"paper {model} {condition}" for condition, model in wide.columns]
    wide = wide[sorted(wide.columns)]
    return table.merge(wide, left_on="category", right_index=True, how="left")


def figure3(
    per_task: pd.DataFrame, labels: list[str], out_png: str | Path, out_pdf: str | Path
) -> pd.DataFrame:
    """Entropy in leave-one-out generalization: one panel per category, bars untuned / OOD / ID per model.

    Bars: mean entropy of the sampled (parsed) answers over the category's prompts, with each prompt as a dot;
    black ticks: the exact entropy over the target set (renormalised); dashed: ln |targets|, the maximum.
    """
    models = list(dict.fromkeys(per_task["model"]))
    columns = min(3, len(labels))
    rows = int(np.ceil(len(labels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.6 * rows), squeeze=False)
    width = 0.8 / len(CONDITION_ORDER)
    for ax, label in zip(axes.flat, labels, strict=False):
        data = per_task[per_task["label"] == label]
        style = {"x": "model", "y": "entropy", "hue": "condition", "order": models, "ax": ax}
        style.update(hue_order=CONDITION_ORDER, palette=CONDITION_COLORS, dodge=True, legend=False)
        # Bars: the mean over prompts (no seaborn interval: every prompt is drawn as a dot instead).
        sns.barplot(data=data, errorbar=None, width=0.8, saturation=1, **style)
        dots = {**style, "palette": dict.fromkeys(CONDITION_ORDER, "black")}
        sns.stripplot(data=data, size=3.5, alpha=0.7, jitter=0.08, zorder=3, **dots)
        for m, model in enumerate(models):
            for k, condition in enumerate(CONDITION_ORDER):
                cell = data[(data["model"] == model) & (data["condition"] == condition)]
                if cell.empty:
                    continue
                x = m + (k - 1) * width
                ax.hlines(
                    cell["exact_entropy_valid"].mean(),
                    x - width / 2,
                    x + width / 2,
                    color="black",
                    lw=2,
                    zorder=4,
                )
            ax.hlines(
                data["max_entropy"].mean(), m - 0.45, m + 0.45, color=REFERENCE_COLOR, linestyles="--", lw=1
            )
        ax.set_xlabel("")
        ax.set_xticks(range(len(models)), models, fontsize=8)
        ax.set_title(label)
        ax.set_ylabel("entropy (nats)")
    for ax in list(axes.flat)[len(labels) :]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=CONDITION_COLORS[c]) for c in CONDITION_ORDER]
    names = list(CONDITION_ORDER)
    handles += [
        plt.Line2D([], [], color="black", lw=2),
        plt.Line2D([], [], color="black", marker="o", lw=0, ms=3),
        plt.Line2D([], [], color=REFERENCE_COLOR, ls="--"),
    ]
    names += ["exact, over the targets", "one prompt (sampled)", "ln |targets|"]
    fig.legend(handles, names, loc="lower center", ncol=6, fontsize=8, frameon=False)
    n = "/".join(str(v) for v in sorted(per_task["n_samples"].unique()))
    fig.suptitle(
        f"Figure 3: entropy in leave-one-out generalization (sampled answers, N = {n} per prompt; "
        "bars are means over each category's prompts)"
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, out_png, out_pdf)
