"""Writing tables: CSV beside a Markdown page with its title and legend, and the names of every metric."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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


def concat_csv(paths) -> pd.DataFrame:
    """One table of the rows of several CSV files (one per model and condition), in the order given."""
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


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


def write_markdown(table: pd.DataFrame, csv_path, md_path, title: str, legend: list[str], marks=None) -> None:
    """The table as CSV and as a Markdown table under a title and legend lines; `marks` maps a column to the
    column of booleans whose true rows get a dagger in the Markdown."""
    table.to_csv(csv_path, index=False)
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    for column, flag in (marks or {}).items():
        shown[column] = [f"{v}†" if f else str(v) for v, f in zip(shown[column], table[flag], strict=True)]
    shown = shown.drop(columns=list((marks or {}).values()))
    if shown.empty:
        legend = [*legend, "(no rows: nothing to show)"]
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = [
        "| " + " | ".join(str(v).replace("|", "/") for v in row) + " |"
        for row in shown.itertuples(index=False)
    ]
    lines = "\n".join(f"{line}  " for line in legend)
    Path(md_path).write_text(f"# {title}\n\n{lines}\n\n" + "\n".join([header, rule, *body]) + "\n")
