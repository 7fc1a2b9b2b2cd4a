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
from ..palette import CALIBRATION_COLORS, CALIBRATION_CONDITIONS, use_theme  # noqa: E402

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
    conditions = [c for c in CALIBRATION_CONDITIONS if (data["condition"] == c).any()]
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
            color = CALIBRATION_COLORS[condition]
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
    fig.legend([names[s] for s in shown], [s.replace(f"{conditions[0]}, sampled", "sampled (dots)") for s in shown],
               loc="upper center", bbox_to_anchor=(0.5, 0.925), ncol=len(shown), fontsize=7.5, frameon=False)  # fmt: skip
    n = int(data["n_samples"].min())
    fig.suptitle(
        f"Follow-up: fidelity to distribution families, {model}\nbars: exact over the target grid; dots: {n} "
        "samples per spec, valid answers; each a family's mean over its specs",
        fontsize=9.5,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return save_figure(fig, out_png, out_pdf)
