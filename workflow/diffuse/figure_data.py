"""What a figure plots, read back from its axes and written beside it as a CSV.

Tests assert these rows (bar heights, points, reference lines) against hand computations rather than
trusting that a PNG of some size shows the right numbers; readers can use the CSV for their own plots.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["panel", "title", "kind", "series", "group", "x", "y"]


def _group(ax, x: float) -> str:
    """The x tick label nearest to x (the bar group or category it belongs to)."""
    ticks = list(zip(ax.get_xticks(), (t.get_text() for t in ax.get_xticklabels()), strict=False))
    if not ticks:
        return ""
    return min(ticks, key=lambda tick: abs(tick[0] - x))[1]


def plotted_data(fig) -> pd.DataFrame:
    """One row per bar ("bar"), line vertex ("line"), scatter point ("point"), segment ("hline") and, for
    each x of a filled band (an interval drawn with fill_between), its lower and upper edge ("band_low",
    "band_high") of every panel (errorbar caps and whiskers are lines too).

    x, y are data coordinates (a map's points stay in its projection's; they are counted, not placed);
    series is the artist's legend label ("" when it has none).
    """
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection
    from matplotlib.container import BarContainer

    rows = []
    for panel, ax in enumerate(fig.axes):
        title = ax.get_title()

        def add(kind, series, x, y, ax=ax, panel=panel, title=title):
            series = "" if series is None or str(series).startswith("_") else str(series)
            rows.append({"panel": panel, "title": title, "kind": kind, "series": series,
                         "group": _group(ax, x), "x": float(x), "y": float(y)})  # fmt: skip

        for container in ax.containers:
            if isinstance(container, BarContainer):
                for patch in container.patches:
                    add(
                        "bar",
                        container.get_label(),
                        patch.get_x() + patch.get_width() / 2,
                        patch.get_height(),
                    )
        for line in ax.lines:  # plotted curves; an axhline's x runs over the axes (0 to 1)
            for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True):
                add("line", line.get_label(), x, y)
        for collection in ax.collections:
            if isinstance(collection, PathCollection):
                for x, y in collection.get_offsets():
                    add("point", collection.get_label(), x, y)
            elif isinstance(collection, LineCollection):
                for segment in collection.get_segments():
                    (x0, y0), (x1, _) = segment[0], segment[-1]
                    add("hline", collection.get_label(), (x0 + x1) / 2, y0)
            elif isinstance(collection, PolyCollection):
                for path in collection.get_paths():
                    edges = pd.DataFrame(path.vertices, columns=["x", "y"]).groupby("x")["y"]
                    for x, low in edges.min().items():
                        add("band_low", collection.get_label(), x, low)
                    for x, high in edges.max().items():
                        add("band_high", collection.get_label(), x, high)
    return pd.DataFrame(rows, columns=COLUMNS)


def save_figure(fig, out_png: str | Path, out_pdf: str | Path | None = None) -> pd.DataFrame:
    """Save the PNG (and PDF), write plotted_data beside the PNG as <name>.csv, close; return the data."""
    import matplotlib.pyplot as plt

    data = plotted_data(fig)
    fig.savefig(out_png, dpi=130)
    if out_pdf is not None:
        fig.savefig(out_pdf)
    plt.close(fig)
    data.to_csv(Path(out_png).with_suffix(".csv"), index=False)
    return data
