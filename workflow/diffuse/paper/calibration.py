"""The 2026 follow-up's fidelity figure: per family, normalised W1 and trie KL of every condition."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..calibration import SPLITS  # noqa: E402
from ..figure_data import save_figure  # noqa: E402
from ..palette import calibration_color, calibration_conditions, use_theme  # noqa: E402

use_theme()
SPLIT_TITLES = {
    "seen": "seen specs (trained on)",
    "unseen": "unseen parameters",
    "held_out": "held-out families",
}


def calibration_figure(per_spec: pd.DataFrame, out_png: str | Path, out_pdf: str | Path) -> pd.DataFrame:
    """Rows: exact normalised W1 (bars; sampled W1 as dots), exact trie KL (log scale). Columns: splits.
    Each bar is a family's mean over its specs, one bar per condition; one figure for the first model."""
    model = per_spec["model"].iloc[0]
    data = per_spec[per_spec["model"] == model]
    splits = [s for s in SPLITS if (data["split"] == s).any()]
    conditions = calibration_conditions(data["condition"])
    families = {s: sorted(data.loc[data["split"] == s, "family"].unique()) for s in splits}
    widths = [max(2, len(families[s])) for s in splits]
    fig, axes = plt.subplots(2, len(splits), figsize=(max(9.0, 2.2 + 0.75 * sum(widths)), 6.4), squeeze=False,
                             gridspec_kw={"width_ratios": widths})  # fmt: skip
    bar = 0.8 / len(conditions)
    for column, split in enumerate(splits):
        means = data[data["split"] == split].groupby(["family", "condition"]).mean(numeric_only=True)
        x = np.arange(len(families[split]))
        for k, condition in enumerate(conditions):
            offset = x - 0.4 + bar * (k + 0.5)
            per_family = means.xs(condition, level="condition").reindex(families[split])
            color = calibration_color(condition, conditions)
            top, bottom = axes[0, column], axes[1, column]
            top.bar(offset, per_family["exact_w1_normalised"], bar, color=color, label=f"{condition}, exact")
            top.scatter(offset, per_family["w1_normalised"], s=14, color="white", edgecolor="black", lw=0.7, zorder=3,
                        label=f"{condition}, sampled")  # fmt: skip
            bottom.bar(offset, per_family["trie_kl"], bar, color=color, label=condition)
        for ax in axes[:, column]:
            ax.set_xticks(
                x, [f.replace("_", " ") for f in families[split]], rotation=40, ha="right", fontsize=7
            )
        axes[0, column].set_title(SPLIT_TITLES[split])
        axes[1, column].set_title(f"trie KL, {SPLIT_TITLES[split]}", fontsize=8)
        axes[0, column].axhline(1, color="black", lw=0.8, ls=":")
        for ax in axes[:, column]:
            ax.set_yscale("log")  # both span orders of magnitude between conditions
    axes[0, 0].set_ylabel("normalised W1\n(1 = always the median)")
    axes[1, 0].set_ylabel("trie KL (nats, exact)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    names = {label: h for h, label in zip(handles, labels, strict=True)}
    shown = [f"{c}, exact" for c in conditions] + [f"{conditions[0]}, sampled"]
    # A condition scored by sampling only (SSoT) has no bars: its slot holds only its dots.
    unscored = {c for c in conditions if data.loc[data["condition"] == c, "exact_w1_normalised"].isna().all()}
    texts = [f"{c}, dots only" if c in unscored else f"{c}, exact" for c in conditions] + ["sampled (dots)"]
    fig.legend([names[s] for s in shown], texts,
               loc="upper center", bbox_to_anchor=(0.5, 0.925), ncol=len(shown), fontsize=7.5, frameon=False)  # fmt: skip
    # Conditions may sample different N (SSoT writes long answers, so fewer): name each that differs.
    per_condition = data.groupby("condition")["n_samples"].min().astype(int)
    n = int(per_condition.mode().max())
    others = "".join(f", {c}: {k}" for c, k in per_condition.items() if k != n)
    fig.suptitle(
        f"Follow-up: fidelity to distribution families, {model}\nbars: exact over the target grid; dots: {n} "
        f"samples per spec{others}, valid answers; each a family's mean over its specs",
        fontsize=9.5,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return save_figure(fig, out_png, out_pdf)


def open_random_figure(per_prompt: pd.DataFrame, out_png: str | Path, out_pdf: str | Path) -> pd.DataFrame:
    """Left: median first-token support size against p per condition (log scale), with the interquartile
    band over prompts. Right: mean unique-answer rate per category and condition. First model only."""
    from ..open_random import SUPPORT_PS

    model = per_prompt["model"].iloc[0]
    data = per_prompt[per_prompt["model"] == model]
    conditions = calibration_conditions(data["condition"])
    columns = [f"support_p{p:g}" for p in SUPPORT_PS]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1, 1.3]})
    for condition in conditions:
        part = data.loc[data["condition"] == condition, columns]
        color = calibration_color(condition, conditions)
        left.plot(SUPPORT_PS, part.median().to_numpy(), marker="o", ms=3.5, color=color, label=condition)
        left.fill_between(SUPPORT_PS, part.quantile(0.25).to_numpy(), part.quantile(0.75).to_numpy(), color=color,
                          alpha=0.15, lw=0)  # fmt: skip
    left.set_yscale("log")
    left.set_xlabel("p (top-p mass)")
    left.set_ylabel("first-token support size")
    left.set_title("support size at top-p (median, IQR over prompts)")
    left.legend(fontsize=8)
    categories = sorted(data["category"].unique())
    x = np.arange(len(categories))
    bar = 0.8 / len(conditions)
    rates = data.groupby(["condition", "category"])["unique_rate"].mean()
    for k, condition in enumerate(conditions):
        right.bar(x - 0.4 + bar * (k + 0.5), rates.loc[condition].reindex(categories).to_numpy(), bar,
                  color=calibration_color(condition, conditions), label=condition)  # fmt: skip
    right.set_xticks(x, categories)
    right.set_ylim(0, 1)
    right.set_ylabel("unique answers / samples")
    n = int(data["n_samples"].min())
    right.set_title(f"unique-answer rate ({n} samples per prompt, mean over prompts)")
    fig.suptitle(f"Follow-up transfer: open-ended random generation, {model} ({data['prompt_id'].nunique()} prompts)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)
