"""Shared by the benchmark scripts: write one run's rows as CSV and print them."""

from pathlib import Path

import pandas as pd


def write_results(rows: list[dict], out: str) -> None:
    table = pd.DataFrame(rows)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))
