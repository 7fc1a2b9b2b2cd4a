"""Section 4, results on simple tasks: Table 1, Figure 1, Figure 2 and footnote 6's temperature sweep."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..figure_data import save_figure  # noqa: E402
from ..palette import CONDITION_COLORS, REFERENCE_COLOR, use_theme  # noqa: E402
from ..rng_generalization import mean_with_ci  # noqa: E402

use_theme()
COLORS = {
    "untuned": CONDITION_COLORS["untuned"],
    "ID": CONDITION_COLORS["ID"],
    "natural": REFERENCE_COLOR,
    "target": REFERENCE_COLOR,
}
TABLE1_COLUMNS = [
    "model", "task", "label", "condition", "adapter", "n_samples", "parse_rate", "valid_rate", "coverage",
    "coverage_valid", "coverage_outside_targets", "entropy", "entropy_valid", "kl_target_add1",
    "kl_natural_add1", "kl_reverse_sampled_natural", "natural_support_rate", "exact_valid_mass",
    "exact_entropy_valid", "exact_kl", "exact_kl_valid", "max_entropy",
]  # fmt: skip


def table1(metrics: pd.DataFrame) -> pd.DataFrame:
    """Coverage-N and entropy per model x task x {natural reference, untuned, ID (tuned on the task)}, with N, parse and valid
    rates, KL and the exact figures beside them."""
    table = metrics.copy()
    table["max_entropy"] = np.log(table["n_targets"].where(table["task"].str.startswith("numbers/"), np.nan))
    columns = [c for c in TABLE1_COLUMNS if c in table.columns]
    order = {"natural": 0, "untuned": 1, "ID": 2}
    table["_order"] = table["condition"].map(order)
    return table.sort_values(["task", "_order", "model"], ignore_index=True, kind="stable")[
        columns
    ].reset_index(drop=True)


def _sorted_distribution(values: pd.Series) -> pd.Series:
    return values.value_counts(normalize=True).sort_values(ascending=False)


def _short(text: str, width: int = 12) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _grouped_bars(ax, distributions: dict[str, pd.Series], order: list[str], colors: dict[str, str], labels):
    """Bars per named outcome (x ticks are the outcomes), one colour per series."""
    x = np.arange(len(order))
    width = 0.8 / len(distributions)
    for k, (name, dist) in enumerate(distributions.items()):
        offset = (k - (len(distributions) - 1) / 2) * width
        ax.bar(
            x + offset,
            dist.reindex(order).fillna(0).to_numpy(),
            width=width,
            color=colors[name],
            label=labels[name],
        )
    ax.set_xticks(x, [_short(v) for v in order], rotation=45, ha="right", fontsize=8)


def _ranked_lines(ax, distributions: dict[str, pd.Series], limit: int, colors: dict[str, str], labels):
    """Each series sorted by its own probability (the paper's Figure 1), log scale."""
    for name, dist in distributions.items():
        probs = dist.sort_values(ascending=False).to_numpy()[:limit]
        ax.plot(
            np.arange(1, len(probs) + 1),
            probs,
            drawstyle="steps-mid",
            color=colors[name],
            label=labels[name],
            lw=1.6,
        )
    ax.set_yscale("log")


def _top(dist: pd.Series, k: int = 3) -> str:
    return ", ".join(_short(str(v), 10) for v in dist.sort_values(ascending=False).index[:k])


def figure1(panels: list[dict], out_png: str | Path, out_pdf: str | Path, model: str) -> pd.DataFrame:
    """Output distributions, untuned vs ID (vs natural/target), per task.

    Each panel dict: label, samples (untuned, ID DataFrames), exact (untuned, ID DataFrames), natural
    (Series of natural probabilities or None). Top row: the empirical distribution of parsed answers in N
    samples (the paper's figure); bottom row: exact p(y|x) over the target set, renormalised to it. Small
    target sets show each outcome by name, ordered by the untuned model's probability; large ones show each
    distribution sorted by probability on a log scale, with its most frequent outcomes in the legend.
    """
    fig, axes = plt.subplots(2, len(panels), figsize=(5.6 * len(panels), 8.0), squeeze=False)
    for col, panel in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        n_targets = len(panel["exact"]["untuned"])
        few = n_targets <= 20
        n = len(panel["samples"]["untuned"])

        sampled, labels = {}, {}
        for condition in ("untuned", "ID"):
            samples = panel["samples"][condition]
            answers = samples["answer"].dropna()
            sampled[condition] = _sorted_distribution(answers)
            labels[condition] = (
                f"{condition}: parsed {len(answers) / max(len(samples), 1):.1%}, coverage {len(sampled[condition])}"
            )
            if not few:
                labels[condition] += f"\n  top: {_top(sampled[condition])}"
        if panel.get("natural") is not None:
            sampled["natural"] = panel["natural"]
            labels["natural"] = f"natural (SSA)\n  top: {_top(panel['natural'])}"
        if few:
            # The untuned model's five favourites (valid or not), then every target value.
            targets = list(panel["exact"]["untuned"]["value"])
            order = list(
                dict.fromkeys(
                    [*sampled["untuned"].index[:5], *sampled["ID"].index.intersection(targets), *targets]
                )
            )
            _grouped_bars(top, sampled, order, COLORS, labels)
            top.set_xlabel("parsed answer: the untuned model's top 5, then every target")
        else:
            _ranked_lines(top, sampled, 100, COLORS, labels)
            top.set_xlabel("outputs sorted by probability (top 100)")
        top.set_title(f"{panel['label']}\nsampled: N={n} per condition, parsed answers")
        top.set_ylabel("probability among parsed answers")
        top.legend(fontsize=7.5)

        base_exact = panel["exact"]["untuned"].set_index("value")
        exact = {"target": base_exact["weight"]}
        exact_labels = {"target": "target p*"}
        for condition in ("untuned", "ID"):
            table = panel["exact"][condition].set_index("value")
            exact[condition] = table["prob_valid"]
            exact_labels[condition] = f"{condition}: valid mass {table['prob'].sum():.2g}"
        if few:
            order = list(base_exact["prob_valid"].sort_values(ascending=False).index)
            _grouped_bars(bottom, exact, order, COLORS, exact_labels)
            bottom.set_xlabel("target (most probable under the untuned model first)")
        else:
            _ranked_lines(bottom, exact, n_targets, COLORS, exact_labels)
            bottom.set_xlabel("targets sorted by probability")
        bottom.set_title(f"{panel['label']}\nexact p(y|x) over the {n_targets} targets, renormalised")
        bottom.set_ylabel("probability")
        bottom.legend(fontsize=7.5)
    fig.suptitle(f"Figure 1 ({model}): output distributions, untuned vs tuned", fontsize=13)
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)


def figure2(
    per_prompt: pd.DataFrame, tuned: str, out_png: str | Path, out_pdf: str | Path, base: str = "base"
) -> pd.DataFrame:
    """Figure 2: entropy vs the range (2a: upper end, low = 1; 2b: size, random low), untuned vs tuned.

    From the per-prompt rows of rng_generalization, seaborn draws each point's mean over its prompts with the
    band of its 95% t interval (`mean_with_ci`, the interval of the Figure 2 table): solid, the sampled
    entropy over parsed answers, each point labelled with the mean share of answers inside the range;
    dashed, the exact entropy over the range (renormalised); dotted, ln(size), the uniform's entropy.
    """
    titles = {
        "2a": "(a) five prompt formats, numbers from 1 to x",
        "2b": "(b) prompt 1, a random low in [1, 900], x numbers",
    }
    xlabels = {"2a": "upper end of the range", "2b": "size of the range"}
    frame = per_prompt.assign(
        x=np.where(per_prompt["figure"] == "2a", per_prompt["high"], per_prompt["size"])
    )
    models = list(dict.fromkeys(frame["model"]))
    styles = {base: ("untuned", COLORS["untuned"]), tuned: ("RNG-tuned", COLORS["ID"])}
    band = {"alpha": 0.18, "lw": 0}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, figure in zip(axes, ("2a", "2b"), strict=True):
        data = frame[frame["figure"] == figure]
        for m, model in enumerate(models):
            for adapter, (name, color) in styles.items():
                part = data[(data["model"] == model) & (data["adapter"] == adapter)]
                if part.empty:
                    continue
                label = name if len(models) == 1 else f"{model} {name}"
                marker = "os^"[m % 3]
                common = {"data": part, "x": "x", "color": color, "ax": ax}
                sns.lineplot(y="entropy", errorbar=_t_interval, err_kws=band, marker=marker, ms=5,
                             label=f"{label}, sampled", **common)  # fmt: skip
                sns.lineplot(y="exact_entropy_valid", errorbar=None, ls="--", lw=1.2, label=f"{label}, exact",
                             **common)  # fmt: skip
                # Sampled entropy counts every parsed number; the share inside the range says how many count.
                means = part.groupby("x")[["entropy", "valid_rate"]].mean()
                for x, (y, share) in means.iterrows():
                    ax.annotate(
                        f"{share:.0%}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center",
                        fontsize=7, color=color,
                    )  # fmt: skip
        reference = data.groupby("x")["size"].mean()
        ax.plot(reference.index, np.log(reference.to_numpy()), color="black", ls=":", lw=1,
                label="uniform: ln(size)")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel(xlabels[figure])
        ax.set_ylabel("entropy (nats)")
        ax.set_title(titles[figure])
        ax.legend(fontsize=7.5)
    fig.suptitle(
        "Figure 2: generalization of RNG tuning to unseen prompt formats and ranges (95% t interval over "
        "prompts)\npercentages: share of sampled answers inside the asked range",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)


def _t_interval(values) -> tuple[float, float]:
    """seaborn's errorbar callable: the 95% t interval of the mean (the Figure 2 table's _ci95)."""
    mean, half = mean_with_ci(values)
    return mean - half, mean + half


def temperature_figure(
    table: pd.DataFrame, labels: dict[str, str], out_png: str | Path, out_pdf: str | Path, base: str = "base"
) -> pd.DataFrame:
    """Footnote 6: entropy (top) and parse / valid rates (bottom) against temperature, one column per
    model x task. Solid: sampled, over valid answers; dotted markers: sampled, over all parsed answers;
    dashed: exact p_T over the target set, renormalised; wide pale red band: the tuned model's exact entropy
    at T = 1, the level the untuned model must reach (footnote 6)."""
    panels = list(dict.fromkeys(zip(table["model"], table["task"], strict=True)))
    fig, axes = plt.subplots(2, len(panels), figsize=(5.4 * len(panels), 7.6), squeeze=False, sharex=True)
    for col, (model, task) in enumerate(panels):
        data = table[(table["model"] == model) & (table["task"] == task)]
        top, bottom = axes[0, col], axes[1, col]
        n = int(data["n_samples"].iloc[0])
        for adapter, group in data.groupby("adapter", sort=False):
            group = group.sort_values("temperature")
            name, color = (
                ("untuned", COLORS["untuned"]) if adapter == base else (f"ID ({adapter})", COLORS["ID"])
            )
            t = group["temperature"]
            top.plot(
                t, group["entropy_valid"], color=color, marker="o", ms=4, label=f"{name}, sampled, valid"
            )
            top.plot(
                t, group["entropy"], color=color, marker="x", ls=":", lw=1, label=f"{name}, sampled, parsed"
            )
            top.plot(t, group["exact_entropy_valid"], color=color, ls="--", lw=1.4, label=f"{name}, exact")
            bottom.plot(t, group["parse_rate"], color=color, marker="x", ls=":", label=f"{name} parse rate")
            bottom.plot(t, group["valid_rate"], color=color, marker="o", label=f"{name} valid rate")
            if adapter != base:
                at_one = group[np.isclose(group["temperature"], 1.0)]
                if not at_one.empty:
                    top.axhline(at_one["exact_entropy_valid"].iloc[0], color=color, lw=6, alpha=0.15,
                                label=f"{name} at T=1, exact")  # fmt: skip
        top.axhline(np.log(data["n_targets"].iloc[0]), color="black", ls=":", lw=1, label="ln |targets|")
        top.set_title(f"{model}: {labels.get(task, task)} (N={n} per temperature)")
        top.set_ylabel("entropy (nats)")
        top.legend(fontsize=7)
        bottom.set_xscale("log")
        bottom.set_xlabel("sampling temperature T")
        bottom.set_ylabel("share of all N samples")
        bottom.set_ylim(-0.02, 1.02)
        bottom.legend(fontsize=7)
    fig.suptitle(
        "Footnote 6: entropy against sampling temperature, untuned vs tuned "
        "(valid: answers in the target set; exact: p_T over the targets, renormalised)",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)
