"""Section 6's tables and figures: Tables 2, 7 and 8, Figure 4 (diversity) and Figure 6 (utility retention)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..biographies import ATTRIBUTES, attribute_metrics, parse_counts, top_values, unigram_diversity  # noqa: E402
from ..figure_data import save_figure  # noqa: E402
from ..palette import use_theme  # noqa: E402

use_theme()

from ..palette import CONDITION_COLORS, CONDITIONS, label_hue  # noqa: E402

ATTRIBUTE_LABELS = {
    "first_name": "First name", "last_name": "Last name", "gender": "Gender", "birth_year": "Birth year",
    "birth_place": "Birth place", "profession": "Profession",
}  # fmt: skip
TABLE7 = ("first_name", "last_name", "birth_year")
TABLE8 = ("birth_place", "profession")


def diversity_row(table: pd.DataFrame) -> dict:
    """Normalised unigram diversity of the accomplishments and of whole parsed biographies, with parse counts."""
    parsed = table[table["parsed"]]
    whole = [" ".join(str(row[f]) for f in ATTRIBUTES + ("accomplishments",)) for _, row in parsed.iterrows()]
    return {
        **parse_counts(table),
        "accomplishments_diversity_of_parsed": unigram_diversity(parsed["accomplishments"].tolist()),
        "biography_diversity_of_parsed": unigram_diversity(whole),
    }


def section6_tables(
    tables: dict[tuple[str, str], pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """From parsed biographies per (model, condition): attribute metrics (long), Table 2 (top 5), diversity."""
    metrics, top, diversity = [], [], []
    for (model, condition), table in tables.items():
        metrics.append(attribute_metrics(table).assign(model=model, condition=condition))
        top.append(top_values(table).assign(model=model, condition=condition))
        diversity.append({"model": model, "condition": condition, **diversity_row(table)})
    order = ["model", "condition"]
    metrics = pd.concat(metrics, ignore_index=True)
    top = pd.concat(top, ignore_index=True)
    return (
        metrics[order + [c for c in metrics.columns if c not in order]],
        top[order + [c for c in top.columns if c not in order]],
        pd.DataFrame(diversity),
    )


LEVELS = ("city", "region", "country")


def geocoding_summary(tables: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """Per model and condition: parse counts, then how many parsed birth places resolved to a city, only to
    a region (state, province), only to a country, or not at all, and those shares of the parsed ones."""
    rows = []
    for (model, condition), table in tables.items():
        parsed = table[table["parsed"]]
        level = parsed["geocoded_level"].fillna("unresolved")
        row = {"model": model, "condition": condition, **parse_counts(table)}
        for name in (*LEVELS, "unresolved"):
            row[f"n_{name}"] = int((level == name).sum())
        for name in (*LEVELS, "unresolved"):
            row[f"{name}_rate_of_parsed"] = row[f"n_{name}"] / len(parsed) if len(parsed) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def paper_comparison(metrics: pd.DataFrame, paper: pd.DataFrame, attributes: tuple[str, ...]) -> pd.DataFrame:
    """Tables 7 / 8 per attribute: our coverage and entropy over parsed biographies (with n_parsed of N)
    beside the paper's Llama-2 as printed (of 1000), the flag entropy > ln(coverage) and the swapped reading."""
    ours = metrics[metrics["attribute"].isin(attributes)]
    columns = {}
    for (model, condition), part in ours.groupby(["model", "condition"], sort=False):
        part = part.set_index("attribute")
        columns[f"{model} {condition} coverage (of parsed)"] = part["coverage_of_parsed"]
        columns[f"{model} {condition} entropy nats (of parsed)"] = part["entropy_nats_of_parsed"]
        columns[f"{model} {condition} n_parsed"] = part["n_parsed"]
        columns[f"{model} {condition} N"] = part["n_biographies"]
    theirs = paper[paper["attribute"].isin(attributes)]
    for (model, condition), part in theirs.groupby(["model", "condition"], sort=False):
        part = part.set_index("attribute")
        head = f"paper {model} {condition}"
        columns[f"{head} coverage (of 1000, as printed)"] = part["coverage"]
        columns[f"{head} entropy nats (as printed)"] = part["entropy_nats"]
        columns[f"{head} entropy > ln(coverage)"] = part["entropy_nats"] > np.log(part["coverage"])
        columns[f"{head} coverage (ID/OOD swapped)"] = part["coverage_id_ood_swapped"]
    table = pd.DataFrame(columns).reindex(list(attributes))
    table.index.name = "attribute"
    return table.reset_index()


def paper_comparison_legend(metrics: pd.DataFrame) -> list[str]:
    counts = metrics.drop_duplicates(["model", "condition"])
    systems = "; ".join(
        f"{r.model} {r.condition}: N={r.n_biographies}, parsed {r.n_parsed} ({r.parse_rate:.0%}), "
        f"placeholder echo {r.n_placeholder_echo}, unparsed {r.n_unparsed}"
        for r in counts.itertuples()
    )
    return [
        "Ours: coverage (distinct values) and entropy (nats) over parsed biographies with a non-empty value; "
        f"{systems}.",
        "Paper: Llama-2-13B-chat, 1000 biographies per system, values as printed in its Appendix C.2. "
        "A dagger marks a printed entropy above ln(coverage), which cannot happen for one sample. All four such "
        "cells disappear if the paper's ID and OOD coverages are swapped; that reading is the "
        "'coverage (ID/OOD swapped)' column (see data/paper/PROVENANCE.md).",
    ]


def table4_draw(tables: dict[tuple[str, str], pd.DataFrame], k: int, seed: int) -> pd.DataFrame:
    """Table 4: k parsed biographies per (model, condition), drawn uniformly without replacement with a
    generator seeded by (seed, the system's position in `tables`), in sample order; the raw parsed fields."""
    rows = []
    for position, ((model, condition), table) in enumerate(tables.items()):
        parsed = table[table["parsed"]]
        rng = np.random.default_rng([seed, position])
        picks = np.sort(rng.choice(len(parsed), size=min(k, len(parsed)), replace=False))
        counts = parse_counts(table)
        for draw, i in enumerate(picks, start=1):
            bio = parsed.iloc[int(i)]
            row = {"model": model, "condition": condition, "draw": draw}
            if "row" in parsed.columns:
                row["sample_row"] = int(bio["row"])
            row["name"] = " ".join(
                p for p in (bio["first_name"], bio["last_name"]) if isinstance(p, str) and p
            )
            for field in ("gender", "birth_date", "birth_place", "profession", "accomplishments"):
                row[field] = bio[field]
            rows.append({**row, **counts})
    fields = ["name", "gender", "birth_date", "birth_place", "profession", "accomplishments"]
    columns = ["model", "condition", "draw", "sample_row", *fields, *parse_counts(pd.DataFrame({"parse_status": [],
               "example_copy": []}))]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def figure4(
    metrics: pd.DataFrame, diversity: pd.DataFrame, out_png: str | Path, out_pdf: str | Path
) -> pd.DataFrame:
    """(a) coverage of each categorical attribute per model and condition; (b) normalised unigram diversity.
    seaborn bars, one colour per condition; each bar is one number (no interval: one sample of biographies)."""
    models = list(dict.fromkeys(metrics["model"]))
    conditions = [c for c in CONDITIONS if c in set(metrics["condition"])]
    one_model = len(models) == 1

    def group(model, name):
        return name if one_model else f"{model}\n{name}"

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [2.2, 1]})
    coverage = metrics[metrics["attribute"].isin(ATTRIBUTES)].assign(
        group=lambda f: [
            group(m, ATTRIBUTE_LABELS[a]) for m, a in zip(f["model"], f["attribute"], strict=True)
        ]
    )
    order = [group(m, ATTRIBUTE_LABELS[a]) for m in models for a in ATTRIBUTES]
    bars = {
        "hue": "condition",
        "hue_order": conditions,
        "palette": CONDITION_COLORS,
        "errorbar": None,
        "saturation": 1,
    }
    sns.barplot(data=coverage, x="group", y="coverage_of_parsed", order=order, ax=left, **bars)
    left.set_yscale("log")
    left.set_xlabel("")
    left.tick_params(axis="x", labelsize=8, rotation=0 if one_model else 60)
    left.set_ylabel("coverage over parsed biographies (log)")
    left.set_title("(a) coverage of categorical attributes")
    left.legend(title=None, frameon=False)
    label_hue(left, CONDITION_COLORS)
    kinds = {
        "accomplishments_diversity_of_parsed": "accomplishments",
        "biography_diversity_of_parsed": "whole biography",
    }
    long = diversity.melt(
        id_vars=["model", "condition"], value_vars=list(kinds), var_name="kind", value_name="value"
    )
    long["group"] = [group(m, kinds[k]) for m, k in zip(long["model"], long["kind"], strict=True)]
    order = [group(m, name) for m in models for name in kinds.values()]
    sns.barplot(data=long, x="group", y="value", order=order, ax=right, legend=False, **bars)
    label_hue(right, CONDITION_COLORS)
    right.set_xlabel("")
    right.tick_params(axis="x", labelsize=8)
    right.set_ylim(0, 1)
    right.set_ylabel("distinct / all word unigrams")
    right.set_title("(b) normalised unigram diversity")
    parse = ", ".join(
        f"{r.condition} {r.parse_rate:.0%}" for r in diversity.itertuples() if r.model == models[0]
    )
    fig.suptitle(f"Figure 4: diversity of generated biographies ({models[0]}; parsed: {parse})", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)


def figure6(
    utility: pd.DataFrame, conditions: dict[str, str], out_png: str | Path, out_pdf: str | Path
) -> pd.DataFrame:
    """Per instruction category: (a) KL(tuned || untuned) per token and (b) each model's negative
    log-likelihood per token of the untuned model's greedy answers (lower: closer to answering as the untuned
    model does). seaborn bars: means over the category's instructions with their 95% bootstrap interval
    (seeded); one colour per condition (`conditions`: adapter -> untuned / OOD / ID)."""
    names = {a: f"{conditions.get(a, a)} ({a})" for a in dict.fromkeys(utility["adapter"])}
    colors = {names[a]: CONDITION_COLORS.get(conditions.get(a), "#2ca02c") for a in names}
    colors["untuned"] = CONDITION_COLORS["untuned"]
    order = [n for c in CONDITIONS for a, n in names.items() if conditions.get(a) == c]
    order += [n for n in names.values() if n not in order]
    categories = list(dict.fromkeys(utility["category"]))
    tuned = utility.assign(system=utility["adapter"].map(names), nll=-utility["tuned_loglik_per_token"])
    untuned = utility.drop_duplicates(["model", "id"]).assign(
        system="untuned", nll=-utility["base_loglik_per_token"]
    )
    bars = {"x": "category", "hue": "system", "order": categories, "palette": colors, "saturation": 1,
            "errorbar": ("ci", 95), "seed": 0, "err_kws": {"linewidth": 1}, "capsize": 0.1}  # fmt: skip
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    sns.barplot(data=tuned, y="kl_per_token", hue_order=order, ax=left, **bars)
    sns.barplot(data=pd.concat([untuned, tuned]), y="nll", hue_order=["untuned", *order], ax=right, **bars)
    for ax in (left, right):
        ax.legend(title=None, frameon=False, fontsize=8)  # before naming the bars, which would add entries
        label_hue(ax, colors)
        ax.set_xlabel("")
    left.set_ylabel("KL(tuned || untuned) per token (nats)")
    right.set_ylabel("negative log-likelihood per token (nats)")
    left.set_title("(a) how far the next-token distributions moved")
    right.set_title("(b) surprise at the untuned model's greedy answers")
    model = ", ".join(dict.fromkeys(utility["model"]))
    fig.suptitle(
        f"Figure 6: utility retention on {utility['id'].nunique()} general instructions ({model}; "
        "bars: means over a category's instructions, 95% bootstrap intervals)",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)


def figure6_mt_bench(
    categories: pd.DataFrame, scores: pd.DataFrame, conditions: dict, out_png, out_pdf
) -> pd.DataFrame:
    """The paper's Figure 6: MT-Bench rating per category for base, Tuned-OOD and Tuned-ID, one panel per model."""
    models = list(dict.fromkeys(scores["model"]))
    order = list(dict.fromkeys(categories["category"]))
    width_per_model = max(6.0, 1.1 * len(order) + 2)
    fig, axes = plt.subplots(1, len(models), figsize=(width_per_model * len(models), 4.6), squeeze=False)
    x = np.arange(len(order))
    width = 0.8 / len(conditions)
    for ax, model in zip(axes[0], models, strict=True):
        for k, (adapter, condition) in enumerate(conditions.items()):
            part = categories[(categories["model"] == model) & (categories["adapter"] == adapter)]
            overall = scores[(scores["model"] == model) & (scores["adapter"] == adapter)]["score"]
            label = f"{condition} (score {overall.iloc[0]:.2f})" if len(overall) else condition
            ax.bar(
                x + (k - (len(conditions) - 1) / 2) * width,
                part.set_index("category")["rating"].reindex(order),
                width, color=CONDITION_COLORS.get(condition), label=label,
            )  # fmt: skip
        ax.set_xticks(x, order, rotation=30, ha="right")
        ax.set_ylim(0, 10)
        ax.set_ylabel("MT-Bench rating (1-10)")
        ax.set_title(model)
        ax.legend(
            frameon=False, fontsize=8, ncol=len(conditions), loc="upper center", bbox_to_anchor=(0.5, -0.22)
        )
    fig.suptitle(
        "Figure 6: MT-Bench, untuned vs tuned\n(single-answer grading by the configured judge)", fontsize=10
    )
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)
