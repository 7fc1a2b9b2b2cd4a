"""One theme, one vocabulary and one set of colours for every figure of the project.

Conditions: `untuned` (the model as released), `OOD` (adapters tuned on other tasks or categories) and `ID`
(tuned on the task itself), the values of every table's `condition` column (plus `natural` for reference
rows). PAPER_LABELS gives the paper's names where a table or figure is compared with the paper.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import seaborn as sns  # noqa: E402

CONDITIONS = ("untuned", "OOD", "ID")
CONDITION_COLORS = {"untuned": "#7f7f7f", "OOD": "#ff7f0e", "ID": "#d62728"}
PAPER_LABELS = {"untuned": "Baseline", "OOD": "Tuned-OOD", "ID": "Tuned-ID"}
REFERENCE_COLOR = "#1f77b4"  # the natural / target distribution, ln |targets|
# Figure 5 markers: the finest level a birth place resolved to.
LEVEL_COLORS = {"city": "#d62728", "region": "#1f3fbf", "country": "#6a0dad"}


def condition(name: str) -> str:
    """`name` if it is one of the vocabulary's conditions; a KeyError naming them otherwise."""
    if name not in CONDITION_COLORS:
        raise KeyError(f"unknown condition {name!r}; known: {CONDITIONS}")
    return name


def color(name: str) -> str:
    return CONDITION_COLORS[condition(name)]


def use_theme() -> None:
    """seaborn's whitegrid theme for every statistical figure (called by each figure module on import)."""
    sns.set_theme(
        style="whitegrid", context="notebook", font_scale=0.8, palette=list(CONDITION_COLORS.values())
    )


def label_hue_bars(ax, colors: dict[str, str]) -> None:
    """Name each bar container seaborn drew after the hue level whose colour it has (seaborn leaves them
    unnamed), so the figure's data file says which condition every bar is."""
    from matplotlib.colors import same_color

    for container in ax.containers:
        if container.patches:
            face = container.patches[0].get_facecolor()
            names = [name for name, c in colors.items() if same_color(face[:3], c)]
            if len(names) == 1:
                container.set_label(names[0])


def label_hue_lines(ax, colors: dict[str, str]) -> None:
    """The same for the lines seaborn drew (legend handles stay as seaborn made them)."""
    from matplotlib.colors import same_color

    for line in ax.lines:
        if line.get_label().startswith("_"):
            names = [name for name, c in colors.items() if same_color(line.get_color(), c)]
            if len(names) == 1:
                line.set_label(names[0])
