"""Tables and figures named after the paper."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .config import leave_one_out_adapter  # noqa: E402
from .figure_data import save_figure  # noqa: E402
from .palette import REFERENCE_COLOR, use_theme  # noqa: E402
from .palette import color as condition_color  # noqa: E402

use_theme()
COLORS = {
    "base": condition_color("base"),
    "tuned": condition_color("tuned"),
    "natural": REFERENCE_COLOR,
    "target": REFERENCE_COLOR,
}
TABLE1_COLUMNS = [
    "model", "task", "label", "condition", "adapter", "n_samples", "parse_rate", "valid_rate", "coverage",
    "coverage_valid", "coverage_outside_targets", "entropy", "entropy_valid", "kl_target_add1",
    "kl_natural_add1", "kl_reverse_sampled_natural", "natural_support_rate", "exact_valid_mass",
    "exact_entropy_valid", "exact_kl", "exact_kl_valid", "max_entropy",
]  # fmt: skip

# Every sampled metric's set in its name: all N samples, parsed answers, valid (target-set) answers, exact.
METRIC_NAMES = {
    "n_samples": "N",
    "parse_rate": "parse rate",
    "valid_rate": "valid rate",
    "coverage": "coverage-N (parsed)",
    "coverage_valid": "coverage-N (valid)",
    "coverage_outside_targets": "distinct parsed non-targets",
    "entropy": "entropy (parsed)",
    "entropy_valid": "entropy (valid)",
    "kl_target_add1": "KL(p* || sampled+1) targets",
    "kl_natural_add1": "KL(natural || sampled+1)",
    "kl_reverse_sampled_natural": "reverse KL(sampled || natural)",
    "natural_support_rate": "parsed in natural support",
    "exact_valid_mass": "exact valid mass",
    "exact_entropy_valid": "exact entropy (targets)",
    "exact_kl": "exact KL(p* || p)",
    "exact_kl_valid": "exact KL(p* || p) renorm.",
    "max_entropy": "ln |targets|",
}

# The legend under every table built from sample_metrics/exact_metrics rows.
METRIC_LEGEND = [
    "N: samples per row. parse rate, valid rate: shares of all N samples that parsed / are in the target set "
    "(valid). (parsed): over all parsed answers, whatever they are; (valid): over valid answers only. "
    "Entropy in nats.",
    "KL follows Eq. 2, KL(p* || p_theta): 'sampled+1' is p_theta(y) = (count(y) + 1) / (N + |support|) over "
    "p*'s support, N all samples (targets: p* the target weights over the target set; natural: p* the natural "
    "distribution, SSA counts or uniform): add-one (Laplace) smoothing, so an unsampled value costs a finite "
    "amount instead of infinity, and unparsed or off-support samples stay missing mass (as with raw exact "
    "probabilities). 'reverse KL(sampled || natural)' is the other direction, over parsed answers the "
    "natural distribution knows (their share: 'parsed in natural support'). Where p*'s support is much larger "
    "than N (BABYNAMES' natural: every SSA name of the year) the pseudo-counts dominate and the natural KL "
    "mostly measures N; the target-set KL is the comparable one.",
    "exact: p_theta(y|x) computed over the target set by teacher forcing; valid mass: its total; entropy and "
    "'renorm.' KL: p_theta renormalised to the target set; exact KL(p* || p): with the raw probabilities.",
]


def table1(metrics: pd.DataFrame) -> pd.DataFrame:
    """Coverage-N and entropy per model x task x {natural reference, base, tuned}, with N, parse and valid
    rates, KL and the exact figures beside them."""
    table = metrics.copy()
    table["max_entropy"] = np.log(table["n_targets"].where(table["task"].str.startswith("numbers/"), np.nan))
    columns = [c for c in TABLE1_COLUMNS if c in table.columns]
    order = {"natural": 0, "base": 1, "tuned": 2}
    table["_order"] = table["condition"].map(order)
    return table.sort_values(["task", "_order", "model"], ignore_index=True, kind="stable")[
        columns
    ].reset_index(drop=True)


def markdown(table: pd.DataFrame) -> str:
    """A markdown table, floats to 4 significant figures, missing values blank."""
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v + 0.0:.4g}")
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
        for row in shown.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def write_table(
    table: pd.DataFrame,
    csv_path: str | Path,
    md_path: str | Path,
    title: str,
    legend: list[str] | None = None,
    extra: pd.DataFrame | None = None,
    md_columns: dict[str, str] | None = None,
) -> None:
    """The table as CSV and markdown; the markdown has the title, the table (columns renamed by
    `md_columns`), the legend lines under it, then `extra` (a second table) if given."""
    table.to_csv(csv_path, index=False)
    parts = [f"# {title}", markdown(table.rename(columns=md_columns or {}))]
    if legend:
        parts.append("\n".join(legend).strip())
    if extra is not None and not extra.empty:
        parts.append(markdown(extra))
    Path(md_path).write_text("\n\n".join(parts) + "\n")


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
    """Output distributions, base vs tuned (vs natural/target), per task.

    Each panel dict: label, samples (base, tuned DataFrames), exact (base, tuned DataFrames), natural
    (Series of natural probabilities or None). Top row: the empirical distribution of parsed answers in N
    samples (the paper's figure); bottom row: exact p(y|x) over the target set, renormalised to it. Small
    target sets show each outcome by name, ordered by the untuned model's probability; large ones show each
    distribution sorted by probability on a log scale, with its most frequent outcomes in the legend.
    """
    fig, axes = plt.subplots(2, len(panels), figsize=(5.6 * len(panels), 8.0), squeeze=False)
    for col, panel in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        n_targets = len(panel["exact"]["base"])
        few = n_targets <= 20
        n = len(panel["samples"]["base"])

        sampled, labels = {}, {}
        for condition in ("base", "tuned"):
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
            targets = list(panel["exact"]["base"]["value"])
            order = list(
                dict.fromkeys(
                    [*sampled["base"].index[:5], *sampled["tuned"].index.intersection(targets), *targets]
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

        base_exact = panel["exact"]["base"].set_index("value")
        exact = {"target": base_exact["weight"]}
        exact_labels = {"target": "target p*"}
        for condition in ("base", "tuned"):
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


def training_curves(logs: dict[str, pd.DataFrame], out_png: str | Path, model: str) -> pd.DataFrame:
    """Per-step Eq. 5 loss against its entropy bound, and the valid mass, for each adapter."""
    fig, (loss_ax, mass_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, log in logs.items():
        line = loss_ax.plot(log["step"], log["loss"], marker="o", markersize=3, label=f"{name} loss")[0]
        loss_ax.axhline(
            log["entropy_bound"].iloc[0], color=line.get_color(), linestyle=":", label=f"{name} H(p*)"
        )
        threshold = log["early_stop_threshold"].iloc[0]
        if np.isfinite(threshold):
            loss_ax.axhline(
                threshold, color=line.get_color(), linestyle="--", lw=0.8, label=f"{name} early stop"
            )
        mass_ax.plot(
            log["step"], log["valid_mass"], marker="o", markersize=3, color=line.get_color(), label=name
        )
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
    return save_figure(fig, out_png)


CONDITION_ORDER = ["Baseline", "OOD", "ID"]
CONDITION_COLORS = {c: condition_color(c) for c in CONDITION_ORDER}


def condition_of(adapter: str, category: str, base: str = "base") -> str:
    """Baseline (untuned), ID (tuned on the category) or OOD (tuned on the other categories)."""
    if adapter == base:
        return "Baseline"
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
    wide = paper.pivot_table(index="category", columns="model", values=["Baseline", "OOD"])
    wide.columns = [f"paper {model} {condition}" for condition, model in wide.columns]
    wide = wide[sorted(wide.columns)]
    return table.merge(wide, left_on="category", right_index=True, how="left")


def figure3(
    per_task: pd.DataFrame, labels: list[str], out_png: str | Path, out_pdf: str | Path
) -> pd.DataFrame:
    """Entropy in leave-one-out generalization: one panel per category, bars Baseline / OOD / ID per model.

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
        sns.barplot(data=data, errorbar=None, width=0.8, **style)
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
    fig.suptitle(
        "Figure 3: entropy in leave-one-out generalization (sampled answers; bars are means over prompts)"
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, out_png, out_pdf)


def figure2(
    summary: pd.DataFrame, tuned: str, out_png: str | Path, out_pdf: str | Path, base: str = "base"
) -> pd.DataFrame:
    """Figure 2: entropy vs the range (2a: upper end, low = 1; 2b: size, random low), untuned vs tuned.

    Solid: entropy of the sampled answers, mean over prompts with its 95% CI, each point labelled with the share
    of answers inside the range; dashed: the exact entropy over the range (renormalised); dotted: ln(size), the
    uniform distribution's entropy.
    """
    titles = {
        "2a": "(a) five prompt formats, numbers from 1 to x",
        "2b": "(b) prompt 1, a random low in [1, 900], x numbers",
    }
    xlabels = {"2a": "upper end of the range", "2b": "size of the range"}
    models = list(dict.fromkeys(summary["model"]))
    styles = {base: ("untuned", COLORS["base"]), tuned: ("tuned", COLORS["tuned"])}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, figure in zip(axes, ("2a", "2b"), strict=True):
        data = summary[summary["figure"] == figure]
        for m, model in enumerate(models):
            for adapter, (name, color) in styles.items():
                line = data[(data["model"] == model) & (data["adapter"] == adapter)].sort_values("x")
                if line.empty:
                    continue
                label = name if len(models) == 1 else f"{model} {name}"
                marker = "os^"[m % 3]
                ax.plot(
                    line["x"], line["entropy"], color=color, marker=marker, ms=4, label=f"{label}, sampled"
                )
                ax.fill_between(
                    line["x"], line["entropy"] - line["entropy_ci95"], line["entropy"] + line["entropy_ci95"],
                    color=color, alpha=0.18, lw=0,
                )  # fmt: skip
                # Sampled entropy counts every parsed number; the share inside the range says how many count.
                for x, y, share in zip(line["x"], line["entropy"], line["valid_rate"], strict=True):
                    ax.annotate(
                        f"{share:.0%}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center",
                        fontsize=7, color=color,
                    )  # fmt: skip
                ax.plot(
                    line["x"],
                    line["exact_entropy_valid"],
                    color=color,
                    ls="--",
                    lw=1.2,
                    label=f"{label}, exact",
                )
        reference = data.drop_duplicates("x").sort_values("x")
        ax.plot(
            reference["x"], reference["max_entropy"], color="black", ls=":", lw=1, label="uniform: ln(size)"
        )
        ax.set_xscale("log")
        ax.set_xlabel(xlabels[figure])
        ax.set_ylabel("entropy (nats)")
        ax.set_title(titles[figure])
        ax.legend(fontsize=7.5)
    fig.suptitle(
        "Figure 2: generalization of RNG tuning to unseen prompt formats and ranges (95% CI over prompts)\n"
        "percentages: share of sampled answers inside the asked range",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)


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
                ("untuned", COLORS["base"]) if adapter == base else (f"tuned ({adapter})", COLORS["tuned"])
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
