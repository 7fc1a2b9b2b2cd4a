"""Tables and figures named after the paper."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {"base": "#7f7f7f", "tuned": "#d62728", "natural": "#1f77b4", "target": "#1f77b4"}
TABLE1_COLUMNS = [
    "model", "task", "label", "condition", "adapter", "n_samples", "coverage", "entropy", "parse_rate",
    "valid_rate", "natural_support_rate", "kl_to_natural", "exact_valid_mass", "exact_entropy_valid",
    "exact_kl_valid", "max_entropy",
]  # fmt: skip


def table1(metrics: pd.DataFrame) -> pd.DataFrame:
    """Coverage-N and entropy per model x task x {base, tuned}, with parse rate and exact figures beside them."""
    table = metrics.copy()
    table["max_entropy"] = np.log(table["n_targets"].where(table["task"].str.startswith("numbers/"), np.nan))
    columns = [c for c in TABLE1_COLUMNS if c in table.columns]
    return table[columns].sort_values(["model", "task", "condition"], ignore_index=True)


def write_table(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, title: str) -> None:
    table.to_csv(csv_path, index=False)
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    Path(md_path).write_text(f"# {title}\n\n" + "\n".join([header, rule, *body]) + "\n")


def _sorted_distribution(values: pd.Series) -> pd.Series:
    return values.value_counts(normalize=True).sort_values(ascending=False)


def _bar_or_line(ax, probs: np.ndarray, label: str, color: str, offset: float, width: float, few: bool):
    x = np.arange(1, len(probs) + 1)
    if few:
        ax.bar(x + offset, probs, width=width, color=color, label=label)
    else:
        ax.plot(x, probs, drawstyle="steps-mid", color=color, label=label, linewidth=1.6)


def figure1(panels: list[dict], out_png: str | Path, out_pdf: str | Path, model: str) -> None:
    """Output distributions sorted by probability, base vs tuned (vs natural/target), per task.

    Each panel dict: label, samples (base, tuned DataFrames), exact (base, tuned DataFrames), natural
    (Series of natural probabilities or None). Top row: the empirical distribution of parsed answers in N
    samples (the paper's figure); bottom row: exact p(y|x) over the target set, renormalised to it.
    """
    fig, axes = plt.subplots(2, len(panels), figsize=(5.2 * len(panels), 7.2), squeeze=False)
    for col, panel in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        n_targets = len(panel["exact"]["base"])
        few = n_targets <= 20
        sampled = {}
        for condition in ("base", "tuned"):
            samples = panel["samples"][condition]
            answers = samples["answer"].dropna()
            sampled[condition] = (_sorted_distribution(answers), len(answers) / max(len(samples), 1))
        series = [("base", sampled["base"][0]), ("tuned", sampled["tuned"][0])]
        if panel.get("natural") is not None:
            series.append(("natural", panel["natural"].sort_values(ascending=False)))
        limit = 20 if few else 100
        width = 0.8 / len(series)
        for k, (name, dist) in enumerate(series):
            probs = dist.to_numpy()[:limit]
            if name in sampled:
                label = f"{name} (parsed {sampled[name][1]:.1%}, coverage {len(dist)})"
            else:
                label = "natural (SSA)"
            _bar_or_line(top, probs, label, COLORS[name], (k - (len(series) - 1) / 2) * width, width, few)
        top.set_title(f"{panel['label']}: sampled (N={len(panel['samples']['base'])}, parsed answers)")
        top.set_ylabel("probability")
        top.set_xlabel(f"outputs sorted by probability (top {limit})")
        if not few:
            top.set_yscale("log")
        top.legend(fontsize=8)

        exact_series = [("target", panel["exact"]["base"]["weight"].to_numpy())]
        masses = {}
        for condition in ("base", "tuned"):
            table = panel["exact"][condition]
            exact_series.append((condition, table["prob_valid"].to_numpy()))
            masses[condition] = table["prob"].sum()
        width = 0.8 / len(exact_series)
        for k, (name, probs) in enumerate(exact_series):
            probs = np.sort(probs)[::-1]
            label = "target p*" if name == "target" else f"{name} (valid mass {masses[name]:.2g})"
            _bar_or_line(bottom, probs, label, COLORS[name], (k - 1) * width, width, few)
        bottom.set_title(f"{panel['label']}: exact p(y|x) over the {n_targets} targets, renormalised")
        bottom.set_ylabel("probability")
        bottom.set_xlabel("targets sorted by probability")
        if not few:
            bottom.set_yscale("log")
        bottom.legend(fontsize=8)
    fig.suptitle(f"Figure 1 ({model}): output distributions, untuned vs tuned", fontsize=13)
    fig.tight_layout()
    fig.savefig(out_png, dpi=130)
    fig.savefig(out_pdf)
    plt.close(fig)


def training_curves(logs: dict[str, pd.DataFrame], out_png: str | Path, model: str) -> None:
    """Per-step Eq. 5 loss against its entropy bound, and the valid mass, for each adapter."""
    fig, (loss_ax, mass_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, log in logs.items():
        line = loss_ax.plot(log["step"], log["loss"], marker="o", markersize=3, label=f"{name} loss")[0]
        loss_ax.axhline(log["entropy_bound"].iloc[0], color=line.get_color(), linestyle=":", label=f"{name} H(p*)")
        mass_ax.plot(log["step"], log["valid_mass"], marker="o", markersize=3, color=line.get_color(), label=name)
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("Eq. 5 loss (nats)")
    loss_ax.set_yscale("log")
    loss_ax.legend(fontsize=8)
    mass_ax.set_xlabel("step")
    mass_ax.set_ylabel("probability mass on the targets")
    mass_ax.set_ylim(0, 1.02)
    mass_ax.legend(fontsize=8)
    fig.suptitle(f"LoRA training ({model})")
    fig.tight_layout()
    fig.savefig(out_png, dpi=130)
    plt.close(fig)
