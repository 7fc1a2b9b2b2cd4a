"""One theme, one vocabulary and one set of colours for every figure of the project.

Conditions: `untuned` (the model as released), `OOD` (adapters tuned on other tasks or categories) and `ID`
(tuned on the task itself), the values of every table's `condition` column (plus `natural` for reference
rows).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import seaborn as sns  # noqa: E402

CONDITIONS = ("untuned", "OOD", "ID")
CONDITION_COLORS = {"untuned": "#7f7f7f", "OOD": "#ff7f0e", "ID": "#d62728"}
# The 2026 follow-up's conditions (experiments.calibration): the untuned model, the untuned model sampled
# hotter ("untuned T=2", a baseline), and one adapter per objective.
CALIBRATION_CONDITIONS = ("untuned", "eq5", "soft", "hard")
CALIBRATION_COLORS = {
    "untuned": "#7f7f7f", "untuned SSoT": "#bcbd22", "eq5": "#d62728", "soft": "#2ca02c", "hard": "#9467bd"
}  # fmt: skip
HOTTER_COLORS = ("#4d4d4d", "#262626", "#000000")  # untuned at higher temperatures, darker as they rise


def calibration_conditions(present) -> list[str]:
    """The conditions present, in order: untuned, untuned at rising temperatures, eq5, soft, hard."""
    hotter = sorted((c for c in set(present) if c.startswith("untuned T=")), key=lambda c: float(c[10:]))
    return [c for c in ("untuned", *hotter, "untuned SSoT", *CALIBRATION_CONDITIONS[1:]) if c in set(present)]


def calibration_color(condition: str, present) -> str:
    if condition in CALIBRATION_COLORS:
        return CALIBRATION_COLORS[condition]
    hotter = [c for c in calibration_conditions(present) if c.startswith("untuned T=")]
    return HOTTER_COLORS[min(hotter.index(condition), len(HOTTER_COLORS) - 1)]


REFERENCE_COLOR = "#1f77b4"  # the natural / target distribution, ln |targets|
# Figure 5 markers: the finest level a birth place resolved to.
LEVEL_COLORS = {"city": "#d62728", "region": "#1f3fbf", "country": "#6a0dad"}


def use_theme() -> None:
    """seaborn's whitegrid theme for every statistical figure (called by each figure module on import)."""
    sns.set_theme(
        style="whitegrid", context="notebook", font_scale=0.8, palette=list(CONDITION_COLORS.values())
    )


def label_hue(ax, colors: dict[str, str]) -> None:
    """Name each bar container and line seaborn drew after the hue level whose colour it has (seaborn
    leaves them unnamed), so the figure's data file says which series every bar and line is. Call it after
    the legend: named artists would add entries to it."""
    from matplotlib.colors import same_color

    def name_of(color) -> str | None:
        names = [name for name, c in colors.items() if same_color(color, c)]
        return names[0] if len(names) == 1 else None

    for container in ax.containers:
        if container.patches and (name := name_of(container.patches[0].get_facecolor()[:3])):
            container.set_label(name)
    for line in ax.lines:
        if line.get_label().startswith("_") and (name := name_of(line.get_color())):
            line.set_label(name)
